"""KCP_API settings, the client IP, the system checks and the prune command of the REST API."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import RequestFactory, override_settings
from django.utils import timezone

from kcp_django.api.client_ip import client_ip
from kcp_django.checks.configuration import check_api_settings
from kcp_django.conf import kcp_settings
from kcp_django.models import AttemptCounter, IdempotencyKey
from tests.api_support import make_user

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SHARED = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "kcp_cache"}}
#: This module doubles as a URLconf that does not mount the API.
urlpatterns: list[Any] = []


def test_defaults() -> None:
    with override_settings(KCP_API=None):
        api = kcp_settings.API

    assert api.permission_classes == ("rest_framework.permissions.IsAuthenticated",)
    assert api.authentication_classes == ("rest_framework.authentication.SessionAuthentication",)
    assert api.rejection_detail == "none"
    assert dict(api.limits) == {"reference": 5, "user": 20, "account": 5}
    assert dict(api.throttle_rates) == {"kcp_verify": "10/min", "kcp_read": "60/min"}
    assert (api.idempotency_ttl, api.idempotency_wait, api.idempotency_lease) == (86400, 5, 120)
    assert api.trusted_proxies == ()
    assert api.throttles_enabled


def test_a_changed_api_setting_is_read_again() -> None:
    assert kcp_settings.API is kcp_settings.API
    with override_settings(KCP_API={"MERCHANT": "second"}):
        assert kcp_settings.API.merchant == "second"
    assert kcp_settings.API.merchant == "default"


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"LIMIT": {}}, "unknown keys"),
        ({"LIMITS": {"user": 0}}, "LIMITS"),
        ({"LIMITS": {"ip": 3}}, "LIMITS"),
        ({"THROTTLE_RATES": {"kcp_verify": "ten a minute"}}, "THROTTLE_RATES"),
        ({"PERMISSION_CLASSES": "rest_framework.permissions.AllowAny"}, "PERMISSION_CLASSES"),
        ({"IDEMPOTENCY_TTL": 5}, "IDEMPOTENCY_TTL"),
        ({"TRUSTED_PROXIES": ["10.0.0.0/8", "proxy.local"]}, "TRUSTED_PROXIES"),
        ([1], "must be a dict"),
        ({"REJECTION_DETAIL": "codes"}, "REJECTION_DETAIL"),
        ({"AUTHENTICATION_CLASSES": None}, "AUTHENTICATION_CLASSES"),
        ({"AUTHENTICATION_CLASSES": "rest_framework.authentication.BasicAuthentication"}, "AUTHENTICATION_CLASSES"),
    ],
)
def test_a_wrong_setting_names_the_key(setting: Any, named: str) -> None:
    with override_settings(KCP_API=setting), pytest.raises(ImproperlyConfigured, match=named):
        _ = kcp_settings.API


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.7", "", [], "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", [], "203.0.113.7"),  # no trusted proxy: the header is ignored
        ("10.0.0.1", "198.51.100.1", ["10.0.0.0/8"], "198.51.100.1"),
        ("10.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.2", ["10.0.0.0/8"], "198.51.100.1"),  # left part is the client's
        ("10.0.0.1", "not-an-ip", ["10.0.0.0/8"], "10.0.0.1"),
        ("10.0.0.1", "", ["10.0.0.0/8"], "10.0.0.1"),
        ("::ffff:203.0.113.7", "", [], "203.0.113.7"),
        ("fe80::1%eth0", "", [], "fe80::1"),
        ("", "", [], None),
    ],
)
def test_client_ip(remote: str, forwarded: str, trusted: list[str], expected: str | None) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(KCP_TRUSTED_PROXIES=trusted):
        networks = kcp_settings.TRUSTED_PROXIES

    assert client_ip(request, networks) == expected


def test_trusted_proxies_in_kcp_api_are_still_read_with_a_deprecation_warning() -> None:
    with (
        override_settings(KCP_API={"TRUSTED_PROXIES": ["10.0.0.0/8"]}),
        pytest.deprecated_call(match="KCP_TRUSTED_PROXIES"),
    ):
        assert [str(network) for network in kcp_settings.TRUSTED_PROXIES] == ["10.0.0.0/8"]
    with override_settings(KCP_API={"TRUSTED_PROXIES": ["10.0.0.0/8"]}, KCP_TRUSTED_PROXIES=["192.0.2.1"]):
        assert [str(network) for network in kcp_settings.TRUSTED_PROXIES] == ["192.0.2.1/32"]


@pytest.mark.parametrize("value", ["10.0.0.1", ["proxy.local"], [7]])
def test_a_wrong_trusted_proxies_setting_is_named(value: Any) -> None:
    with override_settings(KCP_TRUSTED_PROXIES=value), pytest.raises(ImproperlyConfigured, match="KCP_TRUSTED_PROXIES"):
        _ = kcp_settings.TRUSTED_PROXIES


def test_the_old_api_settings_module_still_imports_with_a_warning() -> None:
    import importlib
    import sys

    sys.modules.pop("kcp_django.api.conf", None)
    with pytest.deprecated_call(match="kcp_django.conf"):
        old = importlib.import_module("kcp_django.api.conf")
    assert old.get_api_settings() is kcp_settings.API


def check_ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.id or "" for message in check_api_settings()]


def test_throttles_on_a_per_process_cache_are_warned_about() -> None:
    assert check_ids(CACHES=LOCMEM, KCP_API={}) == ["kcp_django.W002"]
    assert check_ids(CACHES=SHARED, KCP_API={}) == []
    assert check_ids(CACHES=LOCMEM, KCP_API={"THROTTLE_RATES": {"kcp_verify": None, "kcp_read": None}}) == []


def test_without_the_api_mounted_there_is_nothing_to_warn_about() -> None:
    assert check_ids(CACHES=LOCMEM, KCP_API={}, ROOT_URLCONF=__name__) == []


def test_a_broken_api_setting_is_an_error_of_its_own() -> None:
    assert check_ids(KCP_API={"LIMITS": {"user": -1}}) == ["kcp_django.E002"]
    assert check_ids(CACHES=SHARED, KCP_API={"THROTTLE_CACHE": "throttles"}) == ["kcp_django.E002"]
    assert check_ids(CACHES=SHARED, KCP_API={"MERCHANT": "elsewhere"}) == ["kcp_django.E002"]


def test_a_wrong_api_merchant_names_the_key_and_the_configured_aliases() -> None:
    with override_settings(CACHES=SHARED, KCP_API={"MERCHANT": "elsewhere"}):
        [message] = check_api_settings()

    assert "KCP_API['MERCHANT']" in message.msg
    assert "'elsewhere' is not an alias in KCP_MERCHANTS (configured: default)" in message.msg
    assert message.hint is not None and "KCP_API['MERCHANT']" in message.hint


@pytest.mark.django_db  # from Django 6.1 the model checks ask the database
def test_a_broken_merchant_is_not_reported_again_as_an_api_problem() -> None:
    broken = {"default": {"BACKEND": "sandbox", "OPTIONS": {"MODE": "real", "SITE_CD": "A52Q7"}}}

    assert check_ids(CACHES=SHARED, KCP_API={}, KCP_MERCHANTS=broken) == []
    with override_settings(CACHES=SHARED, KCP_API={}, KCP_MERCHANTS=broken):
        kcp = [m for m in run_checks() if (m.id or "").startswith("kcp_django.")]
    # The merchant's own problems, all in one run: its options (E001) and the sandbox in real mode (E011).
    assert sorted(m.id or "" for m in kcp) == ["kcp_django.E001", "kcp_django.E011"]
    assert not any("REST API" in (m.hint or "") for m in kcp)


@pytest.mark.django_db  # from Django 6.1 the model checks ask the database
def test_a_development_server_is_not_warned_about_its_one_process_cache() -> None:
    # A fresh project: DEBUG on, Django's default LocMemCache, the API mounted.
    with override_settings(DEBUG=True, CACHES=LOCMEM, KCP_API={}):
        plain = [m.id for m in run_checks()]
        deploy = [m.id for m in run_checks(include_deployment_checks=True)]

    assert "kcp_django.W002" not in plain
    assert deploy.count("kcp_django.W002") == 1


@pytest.mark.django_db  # from Django 6.1 the model checks ask the database
def test_with_debug_off_the_per_process_cache_is_warned_about_once() -> None:
    with override_settings(DEBUG=False, CACHES=LOCMEM, KCP_API={}):
        plain = [m.id for m in run_checks()]
        deploy = [m.id for m in run_checks(include_deployment_checks=True)]

    assert plain.count("kcp_django.W002") == 1
    assert deploy.count("kcp_django.W002") == 1


@pytest.mark.django_db
def test_prune_deletes_expired_keys_and_old_counters() -> None:
    user = make_user("customer")
    now = timezone.now()
    today = timezone.localdate()
    for name, expires in (("old", now - dt.timedelta(seconds=1)), ("live", now + dt.timedelta(hours=1))):
        IdempotencyKey.objects.create(
            user=user, key=name, fingerprint="f", ordr_idxx=name, claimed_at=now, expires_at=expires
        )
    AttemptCounter.objects.create(scope="user", key="k", day=today - dt.timedelta(days=1), count=1)
    AttemptCounter.objects.create(scope="user", key="k", day=today, count=1)
    out = StringIO()

    call_command("kcp_prune_api", stdout=out)

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["live"]
    assert list(AttemptCounter.objects.values_list("day", flat=True)) == [today]
    assert "Deleted 1 expired idempotency keys and 1 attempt counters" in out.getvalue()
