"""``manage.py check --deploy``: kcp_django.E1xx / W1xx for settings that are wrong in production."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from kcp_django.conf import TEST_CREDENTIALS

INDEX_KEY = settings.KCP_INDEX_KEY
K2, K1 = settings.KCP_ENCRYPTION_KEYS
REAL_KEY = "Zq9vX2mK7pL4sT8wR3nB6yC1_"
DEPLOY_ID = re.compile(r"kcp_django\.[EW]1\d\d")

# From Django 6.1 the model checks ask the database which features it has (JSONField support).
pytestmark = pytest.mark.django_db


def real_merchant(**options: Any) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "ppcli",
            "OPTIONS": {"MODE": "real", "SITE_CD": "A52Q7", "SITE_KEY": REAL_KEY, "HOME_DIR": "/opt/kcp", **options},
        }
    }


PRODUCTION = {"DEBUG": False, "KCP_MERCHANTS": real_merchant(), "STATIC_ROOT": "/srv/shop/static"}


def kcp_deploy_ids(**overrides: Any) -> list[str]:
    with override_settings(**{**PRODUCTION, **overrides}):
        messages = run_checks(include_deployment_checks=True)
    return sorted(m.id for m in messages if m.id and DEPLOY_ID.fullmatch(m.id))


def test_a_sound_production_setup_passes() -> None:
    assert kcp_deploy_ids() == []


@pytest.mark.parametrize(
    "options",
    [
        {"SITE_CD": "T0000"},
        {"SITE_KEY": TEST_CREDENTIALS["T0007"]},
        {"SITE_CD": "T0007", "SITE_KEY": TEST_CREDENTIALS["T0007"]},
    ],
)
def test_real_mode_with_kcps_test_credentials_is_an_error(options: dict[str, str]) -> None:
    assert kcp_deploy_ids(KCP_MERCHANTS=real_merchant(**options)) == ["kcp_django.E101"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"SECRET_KEY": INDEX_KEY},
        {"SECRET_KEY_FALLBACKS": [INDEX_KEY]},
        {"SECRET_KEY": INDEX_KEY.rstrip("=")},  # the same 32 bytes, written without padding
    ],
)
def test_an_index_key_equal_to_secret_key_is_an_error(overrides: dict[str, Any]) -> None:
    assert kcp_deploy_ids(**overrides) == ["kcp_django.E102"]


def test_an_index_key_that_is_also_an_encryption_key_is_an_error() -> None:
    assert kcp_deploy_ids(KCP_INDEX_KEY=K1.partition(":")[2]) == ["kcp_django.E103"]
    assert kcp_deploy_ids(KCP_INDEX_KEY=K2.partition(":")[2].rstrip("=")) == ["kcp_django.E103"]


def test_an_encryption_key_equal_to_secret_key_is_an_error() -> None:
    assert kcp_deploy_ids(SECRET_KEY=K1.partition(":")[2]) == ["kcp_django.E105"]


@pytest.mark.parametrize(
    ("options", "served"),
    [
        ({"LOG_DIR": "/srv/shop/static/kcp-log"}, {}),
        ({"HOME_DIR": "/srv/shop/media/kcp"}, {"MEDIA_ROOT": "/srv/shop/media"}),  # its log/ too: one error
        ({"LOG_DIR": "/srv/shop/assets/logs"}, {"STATICFILES_DIRS": [("assets", "/srv/shop/assets")]}),
        ({"BIN": "/srv/shop/static/bin/pp_cli", "LOG_DIR": "/var/log/kcp"}, {}),
    ],
)
def test_kcp_folders_inside_a_web_served_folder_are_an_error(options: dict[str, str], served: dict[str, Any]) -> None:
    ids = kcp_deploy_ids(KCP_MERCHANTS=real_merchant(**options), **served)

    assert set(ids) == {"kcp_django.E104"}


def test_folders_beside_the_web_served_ones_are_fine(tmp_path: Path) -> None:
    served = {"STATIC_ROOT": str(tmp_path / "static"), "MEDIA_ROOT": str(tmp_path / "media")}
    options = {"HOME_DIR": str(tmp_path / "kcp"), "LOG_DIR": str(tmp_path / "static-logs")}

    assert kcp_deploy_ids(KCP_MERCHANTS=real_merchant(**options), **served) == []


def test_the_test_mode_warning_says_what_the_sandbox_is() -> None:
    merchants = {
        "default": {"BACKEND": "sandbox", "OPTIONS": {"MODE": "test"}},
        "kit": {"BACKEND": "ppcli", "OPTIONS": {"MODE": "test", "HOME_DIR": "/opt/kcp"}},
    }
    with override_settings(**{**PRODUCTION, "KCP_MERCHANTS": merchants}):
        warnings = {
            m.msg.split("]")[0]: m.msg for m in run_checks(include_deployment_checks=True) if m.id == "kcp_django.W101"
        }

    sandbox, kit = warnings["KCP_MERCHANTS['default'"], warnings["KCP_MERCHANTS['kit'"]
    assert "asks KCP nothing" in sandbox and "fixed rules" in sandbox
    assert "test server" not in sandbox
    assert "KCP's test server (testpaygw.kcp.co.kr)" in kit


def test_test_mode_without_debug_is_a_warning_per_merchant() -> None:
    merchants = {
        "default": {"BACKEND": "sandbox", "OPTIONS": {"MODE": "test"}},
        "second": {"BACKEND": "sandbox", "OPTIONS": {}},
        **{"real": real_merchant()["default"]},
    }

    # "second" has no MODE: with DEBUG off that is an error (kcp_django.E001), not a warning.
    assert kcp_deploy_ids(KCP_MERCHANTS=merchants) == ["kcp_django.W101"]
    assert kcp_deploy_ids(KCP_MERCHANTS=merchants, DEBUG=True) == []


def test_check_deploy_runs_them_and_plain_check_does_not() -> None:
    bad = {**PRODUCTION, "KCP_MERCHANTS": real_merchant(SITE_CD="T0000")}
    with override_settings(**bad):
        with pytest.raises(SystemCheckError, match=r"kcp_django\.E101"):
            call_command("check", "--deploy", stdout=StringIO(), stderr=StringIO())
        plain = [m.id for m in run_checks()]
    assert "kcp_django.E101" not in plain
    assert "kcp_django.E001" in plain, "conf refuses test credentials in real mode everywhere"


def test_the_messages_show_no_secret() -> None:
    overrides = {"SECRET_KEY": INDEX_KEY, "KCP_MERCHANTS": real_merchant(SITE_KEY=TEST_CREDENTIALS["T0000"])}
    with override_settings(**{**PRODUCTION, **overrides}):
        text = " ".join(f"{m.msg} {m.hint}" for m in run_checks(include_deployment_checks=True))

    for secret in (INDEX_KEY, INDEX_KEY.rstrip("="), TEST_CREDENTIALS["T0000"], REAL_KEY, K1, K2):
        assert secret not in text
