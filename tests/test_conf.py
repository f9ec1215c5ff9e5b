"""Settings: read lazily, validated, and every error names the setting to fix."""

from __future__ import annotations

from typing import Any

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from kcp_django import conf

REAL_KEY = "Zq9vX2mK7pL4sT8wR3nB6yC1_"


def merchant(**options: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": "sandbox", "OPTIONS": options}}


def test_test_mode_falls_back_to_kcps_public_test_merchant() -> None:
    with override_settings(KCP_MERCHANTS=merchant(MODE="test")):
        config = conf.get_merchant()
    assert config.site_cd == "T0000"
    assert config.site_key == conf.TEST_CREDENTIALS["T0000"]
    assert config.gateway_host == "testpaygw.kcp.co.kr"
    assert config.backend == conf.SANDBOX_BACKEND


def test_settings_are_read_when_used_not_at_import() -> None:
    with override_settings(KCP_MERCHANTS=merchant(MODE="real", SITE_CD="A52Q7", SITE_KEY=REAL_KEY, TIMEOUT=7)):
        config = conf.get_merchant()
    assert (config.mode, config.site_cd, config.timeout) == ("real", "A52Q7", 7.0)
    assert config.gateway_host == "paygw.kcp.co.kr"


def test_a_changed_merchant_setting_is_read_again() -> None:
    # The configuration is kept between calls, and forgotten when the setting changes.
    assert conf.get_merchant() is conf.get_merchant()
    with override_settings(KCP_MERCHANTS=merchant(MODE="test", SANDBOX_LATENCY=0.25)):
        assert conf.get_merchant().options["SANDBOX_LATENCY"] == 0.25
    assert conf.get_merchant().options.get("SANDBOX_LATENCY") != 0.25


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"MODE": "real", "SITE_CD": "T0000", "SITE_KEY": REAL_KEY}, "SITE_CD"),
        ({"MODE": "real", "SITE_CD": "T0007", "SITE_KEY": REAL_KEY}, "SITE_CD"),
        ({"MODE": "real", "SITE_CD": "A52Q7", "SITE_KEY": ""}, "SITE_KEY"),
        ({"MODE": "real", "SITE_CD": "A52Q7", "SITE_KEY": conf.TEST_CREDENTIALS["T0000"]}, "SITE_KEY"),
        ({"MODE": "live"}, "MODE"),
        ({"MODE": "test", "TIMEOUT": "soon"}, "TIMEOUT"),
        ({"MODE": "test", "SITE_CD": "TOO-LONG-CODE"}, "SITE_CD"),
        ({"MODE": "test", "SITE_KEY": "a,b"}, "SITE_KEY"),
        ({"MODE": "test", "SANDBOX_LATENCY": "slow"}, "SANDBOX_LATENCY"),
        ({"MODE": "test", "SANDBOX_LATENCY": -1}, "SANDBOX_LATENCY"),
        ({"MODE": "test", "LAYOUT": {"tx_cd": "{ordr_idxx}"}}, "LAYOUT']['tx_cd"),
        ({"MODE": "test", "LAYOUT": ["not", "a", "dict"]}, "LAYOUT"),
        ({"MODE": "test", "REFUND_LAYOUTS": {"escrow-refnd": {}}}, "REFUND_LAYOUTS"),
        ({"MODE": "test", "REFUND_LAYOUTS": {"escrow-refund": {"tx_cd": "123"}}}, "REFUND_LAYOUTS']['escrow-refund"),
    ],
)
def test_a_bad_merchant_setting_is_refused_naming_it(options: dict[str, Any], named: str) -> None:
    with override_settings(KCP_MERCHANTS=merchant(**options)), pytest.raises(ImproperlyConfigured) as caught:
        conf.get_merchant()
    assert f"KCP_MERCHANTS['default']['OPTIONS']['{named}']" in str(caught.value)
    assert REAL_KEY not in str(caught.value)


def test_every_problem_of_a_merchant_is_reported_at_once() -> None:
    options = {"MODE": "real", "SITE_CD": "T0000", "SITE_KEY": "", "TIMEOUT": 900, "SANDBOX_LATENCY": "x"}
    with override_settings(KCP_MERCHANTS=merchant(**options)), pytest.raises(conf.SettingError) as caught:
        conf.get_merchant()

    named = [error.setting.removeprefix("KCP_MERCHANTS['default']['OPTIONS']") for error in caught.value.errors]
    assert named == ["['SITE_CD']", "['SITE_KEY']", "['TIMEOUT']", "['SANDBOX_LATENCY']"]
    assert str(caught.value).count("\n") == 3


def test_the_typed_settings_are_validated_at_first_use_and_read_again_on_change() -> None:
    assert conf.kcp_settings.BULK_CONCURRENCY == 8
    assert conf.kcp_settings.REFUND_VERIFICATION_MAX_AGE.days == 7
    with override_settings(KCP_BULK_CONCURRENCY=3):
        assert conf.kcp_settings.BULK_CONCURRENCY == 3
    assert conf.kcp_settings.BULK_CONCURRENCY == 8
    with override_settings(KCP_BULK_CONCURRENCY="3"), pytest.raises(conf.SettingError, match="KCP_BULK_CONCURRENCY"):
        _ = conf.kcp_settings.BULK_CONCURRENCY
    with pytest.raises(AttributeError, match="not a kcp-django setting"):
        _ = conf.kcp_settings.BULK_CONCURENCY


def test_a_setting_error_is_a_kcp_configuration_error() -> None:
    from kcp_django.exceptions import KcpConfigurationError, KcpError

    assert issubclass(conf.SettingError, KcpConfigurationError)
    assert issubclass(conf.SettingError, KcpError) and issubclass(conf.SettingError, ImproperlyConfigured)


def test_an_unknown_alias_names_the_configured_ones() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"no such merchant alias.*default"):
        conf.get_merchant("other")


def test_real_mode_refuses_to_run_without_keys() -> None:
    real = merchant(MODE="real", SITE_CD="A52Q7", SITE_KEY=REAL_KEY)
    with (
        override_settings(KCP_MERCHANTS=real, KCP_ENCRYPTION_KEYS=[]),
        pytest.raises(ImproperlyConfigured, match="KCP_ENCRYPTION_KEYS"),
    ):
        conf.get_encryption_keys()
    with (
        override_settings(KCP_MERCHANTS=real, KCP_INDEX_KEY=""),
        pytest.raises(ImproperlyConfigured, match="KCP_INDEX_KEY"),
    ):
        conf.get_index_key()


def test_test_mode_without_keys_uses_the_development_keys() -> None:
    no_keys = {"KCP_ENCRYPTION_KEYS": None, "KCP_INDEX_KEY": None}
    with override_settings(KCP_MERCHANTS=merchant(MODE="test"), **no_keys):
        assert conf.get_encryption_keys()[0][0] == "dev"
        assert len(conf.get_index_key()) == 32
        assert conf.uses_development_keys()


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (["no-colon-here"], "k1:<base64"),
        (["k1:bm90LTMyLWJ5dGVz"], "32 bytes"),
        (["k1:" + "A" * 43, "k1:" + "B" * 43], "repeats key id"),
    ],
)
def test_malformed_encryption_keys_are_refused_naming_the_entry(keys: list[str], problem: str) -> None:
    with override_settings(KCP_ENCRYPTION_KEYS=keys), pytest.raises(ImproperlyConfigured) as caught:
        conf.get_encryption_keys()
    assert "KCP_ENCRYPTION_KEYS[" in str(caught.value)
    assert problem in str(caught.value)


def test_the_index_key_may_not_be_the_secret_key() -> None:
    key = "aW5kZXgta2V5LWZvci10ZXN0cy1vbmx5LTMyYnl0ZXM="
    with override_settings(KCP_INDEX_KEY=key, SECRET_KEY=key), pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        conf.get_index_key()


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_MODE", "real")
    monkeypatch.setenv("KCP_SITE_CD", "A52Q7")
    monkeypatch.setenv("KCP_SITE_KEY", REAL_KEY)
    monkeypatch.setenv("KCP_GATEWAY", "ppcli")
    monkeypatch.setenv("KCP_HOME_DIR", "/opt/kcp")
    monkeypatch.setenv("KCP_TIMEOUT", "9")
    monkeypatch.setenv("KCP_ENCRYPTION_KEYS", "k2:" + "A" * 43 + ",k1:" + "B" * 43)
    monkeypatch.setenv("KCP_INDEX_KEY", "C" * 43)

    built = conf.settings_from_env(environ.Env())

    with override_settings(**built):
        config = conf.get_merchant()
        keys = conf.get_encryption_keys()
    assert config.backend == conf.PPCLI_BACKEND
    assert (config.mode, config.site_cd, config.home_dir, config.log_dir, config.timeout) == (
        "real",
        "A52Q7",
        "/opt/kcp",
        "/opt/kcp/log",
        9.0,
    )
    assert [key_id for key_id, _ in keys] == ["k2", "k1"]


def test_the_environment_helper_defaults_to_the_sandbox_in_test_mode_with_debug_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("KCP_MODE", "KCP_SITE_CD", "KCP_SITE_KEY", "KCP_GATEWAY", "KCP_ENCRYPTION_KEYS", "KCP_INDEX_KEY"):
        monkeypatch.delenv(name, raising=False)

    built = conf.settings_from_env(environ.Env())

    with override_settings(DEBUG=True, **built):
        config = conf.get_merchant()
    assert (config.backend, config.mode, config.site_cd) == (conf.SANDBOX_BACKEND, "test", "T0000")


def test_with_debug_off_an_unset_mode_is_an_error_naming_kcp_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # A forgotten environment must not run a production shop on the sandbox.
    for name in ("KCP_MODE", "KCP_SITE_CD", "KCP_SITE_KEY", "KCP_GATEWAY", "KCP_ENCRYPTION_KEYS", "KCP_INDEX_KEY"):
        monkeypatch.delenv(name, raising=False)

    with (
        override_settings(DEBUG=False, **conf.settings_from_env(environ.Env())),
        pytest.raises(conf.SettingError, match=r"^KCP_MODE: must be set to 'test' or 'real' when DEBUG is False"),
    ):
        conf.get_merchant()


@pytest.mark.parametrize("merchants", [None, merchant(SITE_CD="T0000")])
def test_with_debug_off_a_merchant_without_mode_is_refused(merchants: Any) -> None:
    with (
        override_settings(DEBUG=False, KCP_MERCHANTS=merchants),
        pytest.raises(conf.SettingError, match=r"^KCP_MERCHANTS\['default'\]\['OPTIONS'\]\['MODE'\]: must be set"),
    ):
        conf.get_merchant()
    with override_settings(DEBUG=True, KCP_MERCHANTS=merchants):
        assert conf.get_merchant().mode == "test"


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("KCP_TIMEOUT", "abc", "must be a number of seconds"),
        ("KCP_TIMEOUT", "15s", "must be a number of seconds"),
        ("KCP_LOG_LEVEL", "debug", "must be a whole number"),
    ],
)
def test_a_number_variable_that_is_no_number_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, rule: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ImproperlyConfigured) as caught:
        conf.settings_from_env(environ.Env())

    assert str(caught.value).startswith(f"{variable}: {rule}")
    assert repr(value) in str(caught.value)


def test_an_error_in_a_setting_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_MODE", "real")
    monkeypatch.setenv("KCP_SITE_CD", "T0000")
    monkeypatch.setenv("KCP_SITE_KEY", REAL_KEY)

    built = conf.settings_from_env(environ.Env())

    with override_settings(**built), pytest.raises(ImproperlyConfigured) as caught:
        conf.get_merchant()
    assert str(caught.value).startswith("KCP_SITE_CD: 'T0000' is a KCP test site code")
    # The merchant is still the plain dict it was: only the error messages know where it came from.
    assert built["KCP_MERCHANTS"]["default"]["OPTIONS"]["SITE_CD"] == "T0000"
    assert dict(built["KCP_MERCHANTS"]["default"]) == built["KCP_MERCHANTS"]["default"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("KCP_ADMIN_BULK_MAX", 50, 50),
        ("KCP_ADMIN_BULK_THRESHOLD", 0, 0),
        ("KCP_BULK_TASK_BACKEND", "bulk", "bulk"),
        ("KCP_RECONCILE_MAX_ATTEMPTS", None, 3),
    ],
)
def test_every_setting_is_read_through_the_table_when_used(name: str, value: object, expected: object) -> None:
    with override_settings(**{name: value}):
        assert conf.get(name) == expected
    assert conf.get(name) == next(row.default for row in conf.SETTINGS if row.name == name)


def test_a_name_outside_the_table_is_no_setting() -> None:
    with pytest.raises(LookupError, match="KCP_BULK_MAXIMUM is not a kcp-django setting"):
        conf.get("KCP_BULK_MAXIMUM")


def test_an_option_changed_after_the_environment_is_named_as_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCP_MODE", "test")
    monkeypatch.setenv("KCP_TIMEOUT", "20")
    built = conf.settings_from_env(environ.Env())
    built["KCP_MERCHANTS"]["default"]["OPTIONS"]["TIMEOUT"] = 900  # the settings module's own value

    with override_settings(**built), pytest.raises(ImproperlyConfigured) as caught:
        conf.get_merchant()
    assert str(caught.value).startswith("KCP_MERCHANTS['default']['OPTIONS']['TIMEOUT']: must be between 0 and 300")


def test_settings_from_the_environment_survive_a_deep_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    import copy

    monkeypatch.setenv("KCP_MODE", "test")
    monkeypatch.setenv("KCP_SITE_CD", "TOO-LONG")
    built = conf.settings_from_env(environ.Env())

    for twin in (copy.deepcopy(built), copy.copy(built)):
        assert twin == built
        with override_settings(**twin), pytest.raises(ImproperlyConfigured, match=r"^KCP_SITE_CD: must be"):
            conf.get_merchant()
