"""``manage.py check``: kcp_django.E001-E003 / W001-W002, one message per problem, hints naming what was set."""

from __future__ import annotations

from typing import Any

import environ
import pytest
from django.core.checks import CheckMessage, run_checks
from django.test import override_settings

from kcp_django import conf

REAL_KEY = "Zq9vX2mK7pL4sT8wR3nB6yC1_"

# From Django 6.1 the model checks ask the database which features it has (JSONField support).
pytestmark = pytest.mark.django_db


def kcp_messages(**overrides: Any) -> list[CheckMessage]:
    """kcp_django's messages but W002 (the tests' per-process cache; tests/api/test_conf.py covers it)."""
    with override_settings(**overrides):
        return [m for m in run_checks() if (m.id or "").startswith("kcp_django.") and m.id != "kcp_django.W002"]


def merchant(**options: Any) -> dict[str, Any]:
    return {"BACKEND": "sandbox", "OPTIONS": options}


def test_a_bad_merchant_setting_is_one_error_naming_the_option() -> None:
    [message] = [
        m
        for m in kcp_messages(KCP_MERCHANTS={"default": merchant(MODE="real", SITE_CD="A52Q7")})
        if m.id == "kcp_django.E001"
    ]

    assert message.id == "kcp_django.E001"
    assert "KCP_MERCHANTS['default']['OPTIONS']['SITE_KEY']: is empty" in message.msg
    assert message.hint is not None
    assert "KCP_MERCHANTS['default']['OPTIONS']['SITE_KEY']" in message.hint
    assert "environment variable" not in message.hint


def test_each_broken_alias_is_reported_once() -> None:
    merchants = {
        "shop": merchant(MODE="live"),
        "market": merchant(MODE="test", TIMEOUT="soon"),
        "default": merchant(MODE="test"),
    }

    messages = kcp_messages(KCP_MERCHANTS=merchants)

    assert [m.id for m in messages] == ["kcp_django.E001", "kcp_django.E001"]
    assert "KCP_MERCHANTS['shop']['OPTIONS']['MODE']" in messages[0].msg
    assert "KCP_MERCHANTS['market']['OPTIONS']['TIMEOUT']" in messages[1].msg


def test_settings_from_the_environment_are_named_by_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_MODE", "real")
    monkeypatch.setenv("KCP_SITE_CD", "A52Q7")
    monkeypatch.setenv("KCP_SITE_KEY", "")

    messages = kcp_messages(**conf.settings_from_env(environ.Env()))

    [message] = [m for m in messages if "KCP_SITE_KEY" in m.msg]
    assert message.id == "kcp_django.E001"
    assert message.msg.startswith("KCP settings are invalid: KCP_SITE_KEY: is empty")
    assert "OPTIONS" not in message.msg
    assert message.hint is not None and message.hint.startswith("Set the environment variable KCP_SITE_KEY ")


def test_an_environment_timeout_out_of_range_names_kcp_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_MODE", "test")
    monkeypatch.setenv("KCP_TIMEOUT", "900")

    [message] = kcp_messages(**conf.settings_from_env(environ.Env()))

    assert "KCP_TIMEOUT: must be between 0 and 300 seconds" in message.msg
    assert message.hint is not None and "environment variable KCP_TIMEOUT" in message.hint


def test_real_mode_reports_every_problem_in_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # KCP_MODE=real alone: the site code, the site key, both keys and the sandbox, not one per fix.
    for name in ("KCP_SITE_CD", "KCP_SITE_KEY", "KCP_GATEWAY", "KCP_ENCRYPTION_KEYS", "KCP_INDEX_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KCP_MODE", "real")

    messages = kcp_messages(**conf.settings_from_env(environ.Env()))

    errors = sorted(
        m.msg.removeprefix("KCP settings are invalid: ").split(":")[0] for m in messages if m.id == "kcp_django.E001"
    )
    assert errors == ["KCP_ENCRYPTION_KEYS", "KCP_INDEX_KEY", "KCP_SITE_CD", "KCP_SITE_KEY"]
    [sandbox] = [m for m in messages if m.id != "kcp_django.E001"]
    assert sandbox.id == "kcp_django.E011" and "a test double that answers without asking KCP" in sandbox.msg


def test_with_debug_off_an_unset_mode_fails_the_check() -> None:
    messages = kcp_messages(DEBUG=False, KCP_MERCHANTS=None)

    assert [m.id for m in messages] == ["kcp_django.E001"]
    assert "KCP_MERCHANTS['default']['OPTIONS']['MODE']: must be set to 'test' or 'real'" in messages[0].msg


def test_missing_keys_in_real_mode_are_one_error_each() -> None:
    merchants = {"default": merchant(MODE="real", SITE_CD="A52Q7", SITE_KEY=REAL_KEY)}

    found = kcp_messages(KCP_MERCHANTS=merchants, KCP_ENCRYPTION_KEYS=[], KCP_INDEX_KEY="")

    # The merchant is the sandbox in real mode, which is its own error (E011, tests/checks/test_gateways.py).
    assert sorted(m.id for m in found) == ["kcp_django.E001", "kcp_django.E001", "kcp_django.E011"]
    messages = [m for m in found if m.id == "kcp_django.E001"]
    assert "KCP_ENCRYPTION_KEYS: is required in real mode" in messages[0].msg
    assert "KCP_INDEX_KEY: is required in real mode" in messages[1].msg


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("KCP_BULK_CONCURRENCY", 0),
        ("KCP_ADMIN_BULK_THRESHOLD", -1),
        ("KCP_RECONCILE_MAX_ATTEMPTS", 101),
        ("KCP_BULK_QUEUE_NAME", ""),
        ("KCP_REFUND_VERIFICATION_MAX_AGE", 0),
    ],
)
def test_another_bad_setting_is_its_own_error_naming_it(setting: str, value: object) -> None:
    [message] = kcp_messages(**{setting: value})

    assert message.id == "kcp_django.E003"
    assert f"{setting}: must be" in message.msg
    assert message.hint == f"Fix {setting} in the settings module; see docs/settings.md."


def test_a_correct_configuration_gives_no_message() -> None:
    assert kcp_messages() == []
