"""KCP_API settings, the client IP, the system checks and the prune command of the REST API."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from kcp_django import conf
from kcp_django.client_ip import client_ip
from kcp_django.conf import kcp_settings

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


@pytest.mark.parametrize(
    ("module", "name", "now"),
    [
        ("kcp_django.api.conf", "get_api_settings", lambda: kcp_settings.API),
        ("kcp_django.api.conf", "ApiSettings", lambda: conf.ApiSettings),
        ("kcp_django.api.conf", "SETTING", lambda: "KCP_API"),
        ("kcp_django.notices.conf", "notice_networks", lambda: kcp_settings.NOTICE_IPS),
        ("kcp_django.notices.conf", "trusted_proxies", lambda: kcp_settings.TRUSTED_PROXIES),
        ("kcp_django.notices.conf", "DEFAULT_NOTICE_IPS", lambda: conf.DEFAULT_NOTICE_IPS),
    ],
)
def test_the_old_settings_modules_still_answer_with_a_warning(module: str, name: str, now: Any) -> None:
    old = importlib.import_module(module)
    with pytest.deprecated_call(match="kcp_django.conf"):
        value = getattr(old, name)
    assert (value() if callable(value) and name.islower() else value) == now()
