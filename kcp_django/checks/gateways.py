"""System checks on each merchant's gateway (ids ``kcp_django.E011`` / ``E012``).

They run with every ``manage.py check`` (and before ``runserver``, ``migrate``...), not only with
``--deploy``: a merchant that cannot verify a single account must not start quietly.

- ``E011``: a merchant in real mode on a test double (the sandbox, a test's stand-in, or pp_cli
  whose binary is kcp-django's fake ``kcp-fake-pp-cli``), which would answer every request without
  asking KCP;
- ``E012``: a gateway that cannot be imported, or whose ``check_ready`` says this server cannot
  send anything (for pp_cli: no ``HOME_DIR``/``BIN``, a missing or non-executable binary, a broken
  ``LAYOUT``).

A merchant whose settings ``kcp_django.conf`` refuses is left to ``kcp_django.E001``.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from kcp_django import conf
from kcp_django.gateways.base import check_ready, is_test_double
from kcp_django.gateways.ppcli.client import PpCliGateway
from kcp_django.gateways.ppcli.installation import runs_fake_pp_cli


@register(Tags.compatibility)
def check_gateways(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        aliases = conf.merchant_aliases()
    except ImproperlyConfigured:
        return []  # kcp_django.E001 explains
    messages: list[CheckMessage] = []
    for alias in aliases:
        try:
            merchant = conf.get_merchant(alias)
        except ImproperlyConfigured:
            # kcp_django.E001 explains the options; the gateway's own problems are said in the same run.
            declared = conf.declared_merchant(alias)
            if declared is None:
                continue
            merchant = declared
        messages += _check_merchant(merchant)
    return messages


def _check_merchant(merchant: conf.MerchantConfig) -> list[CheckMessage]:
    where = f"KCP_MERCHANTS[{merchant.alias!r}]"
    try:
        gateway_class = import_string(merchant.backend)
    except ImportError as exc:
        return [
            Error(
                f"{where}['BACKEND']: {merchant.backend} cannot be imported ({exc}).",
                hint="Set BACKEND to 'ppcli' (KCP_GATEWAY=ppcli), 'sandbox', or the dotted path of a gateway class.",
                id="kcp_django.E012",
            )
        ]
    if merchant.mode == "real" and is_test_double(gateway_class):
        return [
            Error(
                f"{where} is in real mode on {merchant.backend}, a test double that answers without asking KCP: "
                "every refund account would come back with a made-up answer.",
                hint=f"Set {where}['BACKEND'] = 'ppcli' (KCP_GATEWAY=ppcli) with OPTIONS['HOME_DIR'] "
                "(KCP_HOME_DIR) at KCP's kit; or, on a server that must not reach KCP, set OPTIONS['MODE'] = 'test' "
                "(KCP_MODE=test).",
                id="kcp_django.E011",
            )
        ]
    fake = (
        runs_fake_pp_cli(merchant)
        if merchant.mode == "real" and isinstance(gateway_class, type) and issubclass(gateway_class, PpCliGateway)
        else None
    )
    if fake is not None:
        return [
            Error(
                f"{where} is in real mode on {fake}, kcp-django's fake pp_cli (kcp-fake-pp-cli), a test double "
                "that never asks KCP: every refund account would come back unknown and nothing would be paid.",
                hint=f"Install KCP's own pp_cli from the kit of your contract at {fake} (or point OPTIONS['BIN'], "
                "KCP_BIN, at it); on a server that must not reach KCP, set OPTIONS['MODE'] = 'test' (KCP_MODE=test).",
                id="kcp_django.E011",
            )
        ]
    try:
        check_ready(gateway_class, merchant)
    except ImproperlyConfigured as exc:
        return [
            Error(
                f"{exc} No request of merchant {merchant.alias!r} can be sent until this is fixed.",
                hint="For pp_cli, set OPTIONS['HOME_DIR'] (KCP_HOME_DIR) to KCP's kit holding an executable "
                "bin/pp_cli, or OPTIONS['BIN'] (KCP_BIN) to the binary; then run `manage.py kcp_check`.",
                id="kcp_django.E012",
            )
        ]
    return []
