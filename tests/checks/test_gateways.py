"""``manage.py check`` (always, not only ``--deploy``): kcp_django.E011 / E012 on each merchant's gateway."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import CheckMessage, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from tests.fake_kit import make_fake_kit
from tests.ppcli_standins import SITE_KEY

REAL_KEY = "Zq9vX2mK7pL4sT8wR3nB6yC1_"
GATEWAY_IDS = {"kcp_django.E011", "kcp_django.E012"}

# From Django 6.1 the model checks ask the database which features it has (JSONField support).
pytestmark = pytest.mark.django_db


def merchant(backend: str, **options: Any) -> dict[str, Any]:
    real = options.get("MODE") == "real"
    base = {"MODE": "test", "SITE_CD": "A52Q7" if real else "T0000", "SITE_KEY": REAL_KEY if real else SITE_KEY}
    return {"BACKEND": backend, "OPTIONS": {**base, **options}}


def gateway_messages(**merchants: dict[str, Any]) -> list[CheckMessage]:
    with override_settings(KCP_MERCHANTS=merchants):
        return [m for m in run_checks() if m.id in GATEWAY_IDS]


def test_real_mode_on_the_sandbox_is_an_error_with_a_hint() -> None:
    (message,) = gateway_messages(default=merchant("sandbox", MODE="real"))

    assert message.id == "kcp_django.E011"
    assert message.is_serious()
    assert "KCP_MERCHANTS['default']" in message.msg
    assert "kcp_django.gateways.sandbox.SandboxGateway" in message.msg
    assert "test double" in message.msg
    assert message.hint is not None
    assert "KCP_GATEWAY=ppcli" in message.hint
    assert "KCP_HOME_DIR" in message.hint


def test_plain_check_fails_on_it_not_only_check_deploy() -> None:
    with (
        override_settings(KCP_MERCHANTS={"default": merchant("sandbox", MODE="real")}),
        pytest.raises(SystemCheckError, match=r"kcp_django\.E011"),
    ):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_any_backend_declaring_itself_a_test_double_is_refused_in_real_mode() -> None:
    messages = gateway_messages(
        default=merchant("tests.gateways_for_tests.ExplodingGateway", MODE="real"),
        counting=merchant("tests.reconcile_gateways.CountingGateway", MODE="real"),
    )
    assert [m.id for m in messages] == ["kcp_django.E011", "kcp_django.E011"]
    assert "KCP_MERCHANTS['counting']" in messages[1].msg


def test_test_doubles_in_test_mode_are_fine() -> None:
    assert (
        gateway_messages(
            default=merchant("sandbox"),
            other=merchant("tests.gateways_for_tests.ExplodingGateway"),
        )
        == []
    )


def test_pp_cli_on_a_ready_kit_is_fine_in_test_mode(tmp_path: Path) -> None:
    kit = make_fake_kit(tmp_path / "kcp")
    assert gateway_messages(default=merchant("ppcli", HOME_DIR=str(kit))) == []


def test_real_mode_on_the_fake_pp_cli_is_an_error_in_plain_check(tmp_path: Path) -> None:
    """Guards issue 18 item 3: the fake pp_cli in real mode passed ``manage.py check``; only
    ``kcp_check`` noticed it, and every account then came back UNKNOWN."""
    kit = make_fake_kit(tmp_path / "kcp")

    (message,) = gateway_messages(real=merchant("ppcli", MODE="real", HOME_DIR=str(kit)))

    assert message.id == "kcp_django.E011"
    assert message.is_serious()
    assert "KCP_MERCHANTS['real']" in message.msg
    assert "kcp-django's fake pp_cli" in message.msg
    assert str(kit / "bin" / "pp_cli") in message.msg
    assert message.hint is not None
    assert "KCP_MODE=test" in message.hint


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({}, "neither OPTIONS['HOME_DIR'] nor OPTIONS['BIN']"),
        ({"HOME_DIR": "/nonexistent/kcp"}, "/nonexistent/kcp/bin/pp_cli"),
        ({"BIN": "/nonexistent/pp_cli"}, "/nonexistent/pp_cli"),
    ],
    ids=["no-home-no-bin", "missing-binary", "missing-bin"],
)
@pytest.mark.parametrize("mode", ["test", "real"])
def test_pp_cli_that_could_send_nothing_is_an_error(options: dict[str, str], named: str, mode: str) -> None:
    (message,) = gateway_messages(default=merchant("ppcli", MODE=mode, **options))

    assert message.id == "kcp_django.E012"
    assert message.is_serious()
    assert named in message.msg
    assert message.hint is not None
    for setting in ("OPTIONS['HOME_DIR']", "KCP_HOME_DIR", "OPTIONS['BIN']", "KCP_BIN", "kcp_check"):
        assert setting in message.hint


def test_a_non_executable_binary_is_an_error(tmp_path: Path) -> None:
    kit = make_fake_kit(tmp_path / "kcp")
    binary = kit / "bin" / "pp_cli"
    binary.unlink()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o644)

    (message,) = gateway_messages(default=merchant("ppcli", HOME_DIR=str(kit)))
    assert message.id == "kcp_django.E012"
    assert f"chmod 755 {binary}" in message.msg


def test_a_backend_that_cannot_be_imported_is_an_error() -> None:
    (message,) = gateway_messages(default=merchant("tests.no_such_module.Gateway"))
    assert message.id == "kcp_django.E012"
    assert "tests.no_such_module.Gateway cannot be imported" in message.msg


def test_a_merchant_conf_refuses_is_left_to_e001_but_its_test_double_is_said_in_the_same_run() -> None:
    with override_settings(KCP_MERCHANTS={"default": merchant("sandbox", MODE="real", SITE_CD="T0000")}):
        ids = [m.id for m in run_checks()]
    assert "kcp_django.E001" in ids
    assert GATEWAY_IDS.intersection(ids) == {"kcp_django.E011"}


def test_a_merchant_with_bad_options_still_has_its_missing_binary_reported_in_the_same_run(tmp_path: Path) -> None:
    # Real mode with a test site code and no pp_cli: two fixes, both named by one `check`.
    broken = merchant("ppcli", MODE="real", SITE_CD="T0000", HOME_DIR=str(tmp_path / "no-kit"))
    with override_settings(KCP_MERCHANTS={"default": broken}):
        messages = [m for m in run_checks() if (m.id or "").startswith("kcp_django.E0")]

    assert sorted(m.id or "" for m in messages) == ["kcp_django.E001", "kcp_django.E012"]
    assert "KCP_MERCHANTS['default']['OPTIONS']['SITE_CD']" in messages[0].msg + messages[1].msg
    assert str(tmp_path / "no-kit") in next(m.msg for m in messages if m.id == "kcp_django.E012")
