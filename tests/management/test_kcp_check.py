"""``manage.py kcp_check`` against the fake pp_cli and broken installations."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.ppcli_standins import SITE_KEY, install, install_fake


def ppcli_settings(home: Path, **options: Any) -> dict[str, Any]:
    merged = {"MODE": "test", "SITE_CD": "T0000", "SITE_KEY": SITE_KEY, "HOME_DIR": str(home), "TIMEOUT": 1}
    return {"default": {"BACKEND": "ppcli", "OPTIONS": {**merged, **options}}}


def run_check(merchants: dict[str, Any], *args: str, **settings: Any) -> tuple[int, str]:
    out = StringIO()
    with override_settings(KCP_MERCHANTS=merchants, **settings):
        try:
            call_command("kcp_check", *args, stdout=out, no_color=True)
        except CommandError as exc:
            return exc.returncode, out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A KCP home whose bin/pp_cli is the fake (a symlink to the console script when installed)."""
    kcp_home = tmp_path / "kcp"
    (kcp_home / "bin").mkdir(parents=True)
    (kcp_home / "log").mkdir()
    script = Path(sys.executable).parent / "kcp-fake-pp-cli"
    if script.exists():
        (kcp_home / "bin" / "pp_cli").symlink_to(script)
    else:
        install_fake(kcp_home / "bin" / "pp_cli")
    return kcp_home


def lines_of(output: str, status: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(status)]


def test_passes_against_the_fake(home: Path) -> None:
    status, output = run_check(ppcli_settings(home))
    assert status == 0, output
    assert not lines_of(output, "FAIL")
    assert any("S102" in line for line in lines_of(output, "OK"))
    assert "All checks passed." in output
    assert SITE_KEY not in output


def test_a_refund_layout_that_cannot_render_fails_naming_the_setting(home: Path) -> None:
    status, output = run_check(ppcli_settings(home, REFUND_LAYOUTS={"escrow-cancel": {"tx_cd": "002"}}))

    assert status == 1
    (failure,) = lines_of(output, "FAIL")
    # The settings refuse it when the merchant is first read, naming the alias, the kind and the entry.
    assert failure.startswith("FAIL settings:")
    assert (
        "KCP_MERCHANTS['default']['OPTIONS']['REFUND_LAYOUTS']['escrow-cancel']['tx_cd']: must be 8 digits" in failure
    )
    assert any(
        line.startswith("OK   refund layouts: default") for line in lines_of(run_check(ppcli_settings(home))[1], "OK")
    )


def test_missing_binary_fails_naming_it(home: Path) -> None:
    (home / "bin" / "pp_cli").unlink()
    status, output = run_check(ppcli_settings(home))
    assert status == 1
    (failure,) = lines_of(output, "FAIL")
    assert failure.startswith("FAIL binary:")
    assert str(home / "bin" / "pp_cli") in failure


def test_non_executable_binary_fails_with_the_fix(home: Path) -> None:
    binary = home / "bin" / "pp_cli"
    binary.unlink()
    install_fake(binary).chmod(0o644)
    status, output = run_check(ppcli_settings(home))
    assert status == 1
    assert "chmod 755" in lines_of(output, "FAIL")[0]


def test_binary_that_does_not_answer_s102_fails(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "bin" / "pp_cli").unlink()
    install("printer", home / "bin" / "pp_cli")
    monkeypatch.setenv("KCP_FAKE_STANDIN_STDOUT", b"hello\n".hex())
    status, output = run_check(ppcli_settings(home))
    assert status == 1
    (failure,) = lines_of(output, "FAIL")
    assert failure.startswith("FAIL installation (pp_cli -h): answered nothing readable")


def test_log_dir_under_static_root_fails(home: Path) -> None:
    status, output = run_check(ppcli_settings(home), STATIC_ROOT=str(home.parent))
    assert status == 1
    failures = lines_of(output, "FAIL")
    assert any(line.startswith("FAIL log dir not web-served:") and "STATIC_ROOT" in line for line in failures)
    assert any(line.startswith("FAIL home dir not web-served:") for line in failures)


def test_log_dir_under_media_root_or_staticfiles_dirs_fails(home: Path, tmp_path: Path) -> None:
    log_dir = tmp_path / "public" / "kcp-log"
    log_dir.mkdir(parents=True)
    merchants = ppcli_settings(home, LOG_DIR=str(log_dir))
    status, output = run_check(merchants, MEDIA_ROOT=str(tmp_path / "public"))
    assert status == 1
    assert "MEDIA_ROOT" in lines_of(output, "FAIL")[0]
    status, output = run_check(merchants, STATICFILES_DIRS=[("assets", str(tmp_path / "public"))])
    assert status == 1
    assert "STATICFILES_DIRS[0]" in lines_of(output, "FAIL")[0]


def test_missing_log_dir_fails(home: Path) -> None:
    (home / "log").rmdir()
    status, output = run_check(ppcli_settings(home))
    assert status == 1
    (failure,) = lines_of(output, "FAIL")
    assert failure.startswith("FAIL log dir:")
    assert "does not exist" in failure


def test_broken_settings_fail(tmp_path: Path) -> None:
    status, output = run_check(ppcli_settings(tmp_path, SITE_CD="bad code"))
    assert status == 1
    assert lines_of(output, "FAIL")[0].startswith("FAIL settings:")
    assert "SITE_CD" in output


def test_unknown_alias_fails(home: Path) -> None:
    status, output = run_check(ppcli_settings(home), "--merchant", "other")
    assert status == 1
    assert "no such merchant alias" in output


def test_sandbox_needs_no_binary() -> None:
    merchants = {"default": {"BACKEND": "sandbox", "OPTIONS": {"MODE": "test", "SITE_KEY": SITE_KEY}}}
    status, output = run_check(merchants)
    assert status == 0
    assert "sandbox needs no binary" in output
    assert SITE_KEY not in output


def test_merchant_option_picks_the_alias(home: Path) -> None:
    merchants = {
        "default": {"BACKEND": "sandbox", "OPTIONS": {"MODE": "test"}},
        "shop2": ppcli_settings(home)["default"],
    }
    status, output = run_check(merchants, "--merchant", "shop2")
    assert status == 0, output
    assert "merchant 'shop2'" in output
    assert "S102" in output


# --- test doubles in real mode -----------------------------------------------------------------

REAL_KEY = "Zq9vX2mK7pL4sT8wR3nB6yC1_"
REAL = {"MODE": "real", "SITE_CD": "A52Q7", "SITE_KEY": REAL_KEY}


def test_real_mode_on_the_sandbox_fails_saying_it_is_a_test_double() -> None:
    status, output = run_check({"default": {"BACKEND": "sandbox", "OPTIONS": REAL}})
    assert status == 1
    (failure,) = lines_of(output, "FAIL")
    assert failure.startswith("FAIL backend: KCP_MERCHANTS['default']['BACKEND']")
    assert "test double" in failure
    assert "KCP_GATEWAY=ppcli" in failure
    assert "All checks passed." not in output
    assert REAL_KEY not in output


def test_real_mode_on_a_tests_own_double_fails() -> None:
    merchants = {"default": {"BACKEND": "tests.support.gateways.ExplodingGateway", "OPTIONS": REAL}}
    status, output = run_check(merchants)
    assert status == 1
    assert "test double" in lines_of(output, "FAIL")[0]


def test_real_mode_on_the_fake_pp_cli_fails_naming_it(home: Path) -> None:
    status, output = run_check(ppcli_settings(home, **REAL))
    assert status == 1
    (failure,) = lines_of(output, "FAIL")
    assert failure.startswith("FAIL installation (pp_cli -h):")
    assert "kcp-django's fake pp_cli" in failure
    assert "real mode" in failure
    assert REAL_KEY not in output


def test_test_mode_on_the_fake_pp_cli_passes_and_says_it_is_the_fake(home: Path) -> None:
    status, output = run_check(ppcli_settings(home))
    assert status == 0, output
    assert any("kcp-django's fake pp_cli" in line for line in lines_of(output, "OK"))


def test_an_unimportable_backend_fails() -> None:
    merchants = {"default": {"BACKEND": "tests.no_such_module.Gateway", "OPTIONS": {"MODE": "test"}}}
    status, output = run_check(merchants)
    assert status == 1
    assert lines_of(output, "FAIL")[0].startswith("FAIL backend: tests.no_such_module.Gateway cannot be imported")


# --- as an operator runs it: real processes on the example project ----------------------------

ROOT = Path(__file__).resolve().parents[2]


def operator_env(tmp_path: Path, **kcp: str) -> dict[str, str]:
    """The example shop's environment in real mode (the default backend: the sandbox)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCP_", "DJANGO_"))}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        "KCP_MODE": "real",
        "KCP_SITE_CD": "A52Q7",
        "KCP_SITE_KEY": REAL_KEY,
        "KCP_ENCRYPTION_KEYS": "k1:" + base64.urlsafe_b64encode(b"operator-test-encryption-key-32b").decode(),
        "KCP_INDEX_KEY": base64.urlsafe_b64encode(b"operator-test-index-key-32-bytes").decode(),
        **kcp,
    }
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_real_mode_on_the_default_sandbox_fails_check_and_kcp_check(tmp_path: Path) -> None:
    env = operator_env(tmp_path)

    check = manage(env, "check")
    kcp_check = manage(env, "kcp_check", "--no-color")

    assert check.returncode == 1
    assert "kcp_django.E011" in check.stderr
    assert kcp_check.returncode == 1
    assert "FAIL backend:" in kcp_check.stdout
    assert "test double" in kcp_check.stdout
    assert "All checks passed." not in kcp_check.stdout
    assert REAL_KEY not in check.stderr + kcp_check.stdout + kcp_check.stderr


def test_kcp_check_runs_and_explains_even_when_the_system_checks_fail(tmp_path: Path) -> None:
    env = operator_env(tmp_path, KCP_MODE="test", KCP_SITE_CD="T0000", KCP_GATEWAY="ppcli")
    env["KCP_HOME_DIR"] = str(tmp_path / "no-kit")

    assert "kcp_django.E012" in manage(env, "check").stderr
    done = manage(env, "kcp_check", "--no-color")

    assert done.returncode == 1
    assert "FAIL binary: pp_cli not found at" in done.stdout
    assert "SystemCheckError" not in done.stderr


def test_real_mode_on_a_kit_running_the_fake_fails_kcp_check(tmp_path: Path, home: Path) -> None:
    env = operator_env(tmp_path, KCP_GATEWAY="ppcli", KCP_HOME_DIR=str(home))

    done = manage(env, "kcp_check", "--no-color")

    assert done.returncode == 1
    (failure,) = lines_of(done.stdout, "FAIL")
    assert failure.startswith("FAIL installation (pp_cli -h):")
    assert "kcp-django's fake pp_cli" in failure
