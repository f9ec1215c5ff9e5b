"""Where each field of an account-certification request goes in ``pp_cli``'s argument.

**Inferred, to be confirmed against the kit KCP sends with the contract.** KCP's ``pp_cli_hub``
page for account certification is not public, so the ``tx_cd`` and the placement of the fields
below are a guess by analogy with KCP's other HUB certification products, which send
``tx_cd=00402200`` with a ``payx_data`` ``common`` sub-record (``amount=0``, ``cust_ip``) plus a
product sub-record. The product sub-record is named ``acco`` after ``pay_method=ACCO``, the way
KCP names ``card``/``bank``/``vcnt`` after their pay methods. See ``docs/ppcli.md``.

The whole mapping is one table, :data:`DEFAULT_LAYOUT`. A merchant overrides any part of it with
``KCP_MERCHANTS[alias]["OPTIONS"]["LAYOUT"]``, a dict merged over the default key by key (nested
dicts are merged too; ``None`` removes an entry)::

    "LAYOUT": {
        "tx_cd": "00402300",
        "payx_data": {"acco": {"req_tx": None}},      # drop one field
        "ordr_data": {"good_name": "refund check"},   # add a constant
    }

Values are constant text, or exactly ``"{field}"`` for a field of
:class:`~kcp_django.gateways.base.VerificationRequest` (``ordr_idxx``, ``bank_code``,
``account_no``, ``owner_nm``, ``cust_ip``). Pairs whose value ends up empty are left out, as KCP's
libraries do.

This module needs no Django settings: the fake ``pp_cli`` uses it outside Django.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from kcp_django.exceptions import KcpConfigurationError
from kcp_django.gateways.base import VerificationRequest

#: The sections of pp_cli's argument that hold ``key=value`` pairs, in KCP's order.
PAIR_SECTIONS: Final = ("ordr_data", "rcvr_data", "escw_data", "modx_data")
#: Top-level entries of the table that are single values (templates).
HEADER_KEYS: Final = ("tx_cd", "ordr_idxx", "cust_ip")
REQUEST_FIELDS: Final = tuple(f.name for f in fields(VerificationRequest))

#: The default (inferred) account-certification layout.
DEFAULT_LAYOUT: Final[Mapping[str, Any]] = {
    "tx_cd": "00402200",
    "ordr_idxx": "{ordr_idxx}",
    "cust_ip": "{cust_ip}",
    "payx_data": {
        "common": {"amount": "0", "cust_ip": "{cust_ip}"},
        "acco": {
            "pay_method": "ACCO",
            "req_tx": "pay",
            "owner_nm": "{owner_nm}",
            "account_no": "{account_no}",
            "bank_code": "{bank_code}",
        },
    },
    "ordr_data": {"ordr_idxx": "{ordr_idxx}"},
    "rcvr_data": {},
    "escw_data": {},
    "modx_data": {},
}

Pairs = list[tuple[str, str]]


@dataclass(frozen=True)
class Layout:
    """A validated layout table."""

    tx_cd: str
    ordr_idxx: str
    cust_ip: str
    payx_data: dict[str, dict[str, str]]
    sections: dict[str, dict[str, str]]


@dataclass(frozen=True)
class RenderedRequest:
    """A request placed into pp_cli's sections, values still text (encoding is the gateway's job)."""

    tx_cd: str
    ordr_idxx: str
    cust_ip: str
    payx_data: list[tuple[str, Pairs]]
    sections: dict[str, Pairs]


def _error(where: str, problem: str) -> KcpConfigurationError:
    return KcpConfigurationError(f"KCP_MERCHANTS[...]['OPTIONS']['LAYOUT']{where}: {problem}")


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _field_reference(template: str) -> str | None:
    """The request field a template names, or ``None`` for a constant."""
    if template.startswith("{") and template.endswith("}"):
        return template[1:-1]
    return None


def _check_template(where: str, template: Any) -> str:
    if not isinstance(template, str):
        raise _error(where, f"must be text, not {type(template).__name__}.")
    reference = _field_reference(template)
    if reference is not None and reference not in REQUEST_FIELDS:
        raise _error(where, f"names no request field (known: {', '.join(REQUEST_FIELDS)}).")
    if reference is None and ("{" in template or "}" in template):
        raise _error(where, "a value is either constant text or exactly '{field}'.")
    return template


def _check_pairs(where: str, pairs: Any) -> dict[str, str]:
    if not isinstance(pairs, Mapping):
        raise _error(where, "must be a dict of name -> value.")
    checked: dict[str, str] = {}
    for name, template in pairs.items():
        if not isinstance(name, str) or not name.isascii() or not name or not name.isprintable() or "=" in name:
            raise _error(where, f"{name!r} is not a usable field name.")
        checked[name] = _check_template(f"{where}[{name!r}]", template)
    return checked


def load_layout(overrides: Mapping[str, Any] | None = None) -> Layout:
    """:data:`DEFAULT_LAYOUT` with ``overrides`` merged over it, validated."""
    table = copy.deepcopy(dict(DEFAULT_LAYOUT))
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise _error("", "must be a dict merged over the default layout.")
        table = _merge(table, overrides)
    known = {*HEADER_KEYS, "payx_data", *PAIR_SECTIONS}
    unknown = sorted(set(table) - known)
    if unknown:
        raise _error("", f"unknown entries {unknown} (known: {', '.join(sorted(known))}).")
    headers = {key: _check_template(f"[{key!r}]", table.get(key, "")) for key in HEADER_KEYS}
    if not headers["tx_cd"] or _field_reference(headers["tx_cd"]) is not None:
        raise _error("['tx_cd']", "must be KCP's constant transaction code.")
    payx = table.get("payx_data", {})
    if not isinstance(payx, Mapping):
        raise _error("['payx_data']", "must be a dict of sub-record name -> {name: value}.")
    payx_data: dict[str, dict[str, str]] = {}
    for sub, pairs in payx.items():
        if not isinstance(sub, str) or not sub.isascii() or not sub.isidentifier():
            raise _error("['payx_data']", f"{sub!r} is not a usable sub-record name.")
        payx_data[sub] = _check_pairs(f"['payx_data'][{sub!r}]", pairs)
    return Layout(
        tx_cd=headers["tx_cd"],
        ordr_idxx=headers["ordr_idxx"],
        cust_ip=headers["cust_ip"],
        payx_data=payx_data,
        sections={name: _check_pairs(f"[{name!r}]", table.get(name, {})) for name in PAIR_SECTIONS},
    )


def layout_from_json(text: str) -> Layout:
    """A layout from a JSON object of overrides (used by the fake pp_cli's ``KCP_FAKE_LAYOUT``)."""
    try:
        overrides = json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise _error("", f"is not valid JSON ({exc}).") from None
    return load_layout(overrides)


def _fill(template: str, request: VerificationRequest) -> str:
    reference = _field_reference(template)
    return str(getattr(request, reference)) if reference else template


def _fill_pairs(pairs: Mapping[str, str], request: VerificationRequest) -> Pairs:
    return [(name, _fill(template, request)) for name, template in pairs.items()]


def render(layout: Layout, request: VerificationRequest) -> RenderedRequest:
    """``request`` placed where ``layout`` says, as text."""
    return RenderedRequest(
        tx_cd=layout.tx_cd,
        ordr_idxx=_fill(layout.ordr_idxx, request),
        cust_ip=_fill(layout.cust_ip, request),
        payx_data=[(sub, _fill_pairs(pairs, request)) for sub, pairs in layout.payx_data.items()],
        sections={name: _fill_pairs(pairs, request) for name, pairs in layout.sections.items()},
    )


@dataclass(frozen=True)
class Extracted:
    """What a receiver (the fake pp_cli) reads back through a layout."""

    request: VerificationRequest
    #: ``(where, expected, got)`` for every constant of the layout that did not come back as sent.
    mismatched_constants: list[tuple[str, str, str]]


def extract(
    layout: Layout,
    header: Mapping[str, str],
    payx_data: Mapping[str, Mapping[str, str]],
    sections: Mapping[str, Mapping[str, str]],
) -> Extracted:
    """The reverse of :func:`render`: read a request back from parsed pp_cli sections.

    A request field placed in several spots takes the first non-empty value found.
    """
    found: dict[str, str] = {}
    mismatched: list[tuple[str, str, str]] = []

    def visit(where: str, template: str, value: str) -> None:
        reference = _field_reference(template)
        if reference is None:
            if value != template:
                mismatched.append((where, template, value))
        elif value and not found.get(reference):
            found[reference] = value

    visit("tx_cd", layout.tx_cd, header.get("tx_cd", ""))
    visit("ordr_idxx", layout.ordr_idxx, header.get("ordr_idxx", ""))
    visit("cust_ip", layout.cust_ip, header.get("cust_ip", ""))
    for sub, pairs in layout.payx_data.items():
        for name, template in pairs.items():
            visit(f"payx_data.{sub}.{name}", template, payx_data.get(sub, {}).get(name, ""))
    for section, pairs in layout.sections.items():
        for name, template in pairs.items():
            visit(f"{section}.{name}", template, sections.get(section, {}).get(name, ""))
    request = VerificationRequest(**{name: found.get(name, "") for name in REQUEST_FIELDS})
    return Extracted(request=request, mismatched_constants=mismatched)
