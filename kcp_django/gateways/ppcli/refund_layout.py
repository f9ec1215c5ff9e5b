"""Which fields each refund kind sends to KCP: one declarative table per kind.

Every refund is a modification request (``modx_data``, sent by pp_cli as ``mod_data``) with a
``tx_cd`` chosen by its kind. What is **verified** (several copies of KCP's own pages agree) and
what is **inferred** (to confirm against the kit KCP sends with the refund contract):

==============  ========  ================================================================  ============
kind            tx_cd     fields                                                            confidence
==============  ========  ================================================================  ============
escrow-cancel   00200000  tno, mod_type (STE2 before shipping, STE4 after), mod_ip,         names verified;
                          mod_desc, refund_account, refund_nm, bank_code                    ``BKxx`` bank inferred
escrow-refund   70200200  tno, mod_type=STE9, mod_ip, mod_desc, mod_desc_cd=CA06,            full refund verified
                          sub_mod_type=STHD, mod_sub_type=MDSC00, mod_bankcode,
                          mod_account, mod_depositor
vbank-refund    00200000  tno, mod_type (STHD full, STPD partial), mod_ip, mod_desc,        verified
                          mod_bankcode, mod_account, mod_depositor, mod_sub_type
                          (MDSC00 full, MDSC03 partial), mod_mny + rem_mny (partial),
                          mod_comp_type=MDCP01 (KCP checks the account in the same call)
==============  ========  ================================================================  ============

Banks go out as ``BK`` + the guide's two-digit code (``BK04``). A merchant overrides any part
with ``KCP_MERCHANTS[alias]["OPTIONS"]["REFUND_LAYOUTS"]``: ``{kind: {"tx_cd": ..., "fields":
{name: template or None}}}``, merged over the default (``None`` removes a field). A template is
constant text or exactly ``"{field}"`` for one of :data:`TEMPLATE_FIELDS`; pairs whose value is
empty are left out, as KCP's libraries do.

Pure data and string work: no Django settings, so the fake ``pp_cli`` can use it too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kcp_django.exceptions import KcpConfigurationError
from kcp_django.gateways.base import REFUND_KINDS, RefundCall

SETTING: Final = "KCP_MERCHANTS[...]['OPTIONS']['REFUND_LAYOUTS']"
#: What a template may name: the request's fields, and ``bank_code_bk`` (``BK`` + bank code).
TEMPLATE_FIELDS: Final = (
    "ordr_idxx",
    "tno",
    "mod_type",
    "mod_ip",
    "reason",
    "bank_code",
    "bank_code_bk",
    "account_no",
    "owner_nm",
    "amount",
    "remaining",
    "mod_sub_type",
)

#: What every refund kind sends first: the payment, the modification, who asked it and why.
_EVERY_MODIFICATION: Final[Mapping[str, str]] = {
    "tno": "{tno}",
    "mod_type": "{mod_type}",
    "mod_ip": "{mod_ip}",
    "mod_desc": "{reason}",
}

DEFAULT_REFUND_LAYOUTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "escrow-cancel": {
        "tx_cd": "00200000",
        "fields": {
            **_EVERY_MODIFICATION,
            "refund_account": "{account_no}",
            "refund_nm": "{owner_nm}",
            "bank_code": "{bank_code_bk}",
        },
    },
    "escrow-refund": {
        "tx_cd": "70200200",
        "fields": {
            **_EVERY_MODIFICATION,
            "mod_desc_cd": "CA06",
            "sub_mod_type": "STHD",
            "mod_sub_type": "{mod_sub_type}",
            "mod_bankcode": "{bank_code_bk}",
            "mod_account": "{account_no}",
            "mod_depositor": "{owner_nm}",
        },
    },
    "vbank-refund": {
        "tx_cd": "00200000",
        "fields": {
            **_EVERY_MODIFICATION,
            "mod_bankcode": "{bank_code_bk}",
            "mod_account": "{account_no}",
            "mod_depositor": "{owner_nm}",
            "mod_sub_type": "{mod_sub_type}",
            "mod_mny": "{amount}",
            "rem_mny": "{remaining}",
            "mod_comp_type": "MDCP01",
        },
    },
}


@dataclass(frozen=True)
class RenderedRefund:
    """A refund placed into KCP's fields, values still text (encoding is the gateway's job)."""

    tx_cd: str
    ordr_idxx: str
    mod_data: list[tuple[str, str]]


def refund_layout(kind: str, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The table for ``kind``, with a merchant's ``REFUND_LAYOUTS`` merged over the default."""
    if kind not in REFUND_KINDS:
        raise KcpConfigurationError(f"unknown refund kind {kind!r} (known: {', '.join(REFUND_KINDS)}).")
    table = copy.deepcopy(dict(DEFAULT_REFUND_LAYOUTS[kind]))
    table["fields"] = dict(table["fields"])
    if override is None:
        return table
    if not isinstance(override, Mapping):
        raise KcpConfigurationError(f"{SETTING}: must be a dict of refund kind -> {{'tx_cd': ..., 'fields': ...}}.")
    unknown = sorted(str(name) for name in override if name not in REFUND_KINDS)
    if unknown:
        raise KcpConfigurationError(f"{SETTING}: unknown refund kinds {unknown} (known: {', '.join(REFUND_KINDS)}).")
    mine = override.get(kind)
    if mine is None:
        return table
    where = f"{SETTING}[{kind!r}]"
    if not isinstance(mine, Mapping):
        raise KcpConfigurationError(f"{where}: must be a dict with 'tx_cd' and/or 'fields'.")
    extra = sorted(str(name) for name in mine if name not in ("tx_cd", "fields"))
    if extra:
        raise KcpConfigurationError(f"{where}: unknown entries {extra} (known: tx_cd, fields).")
    if not isinstance(mine.get("fields") or {}, Mapping):
        raise KcpConfigurationError(f"{where}['fields']: must be a dict of field name -> template or None.")
    if "tx_cd" in mine:
        tx_cd = mine["tx_cd"]
        if not (isinstance(tx_cd, str) and tx_cd.isascii() and tx_cd.isdigit() and len(tx_cd) == 8):
            raise KcpConfigurationError(f"{where}['tx_cd']: must be 8 digits.")
        table["tx_cd"] = mine["tx_cd"]
    for name, template in dict(mine.get("fields") or {}).items():
        if not isinstance(name, str) or not name or not name.isascii() or not name.isprintable() or "=" in name:
            raise KcpConfigurationError(f"{where}['fields']: {name!r} is not a usable field name.")
        if template is None:
            table["fields"].pop(name, None)
            continue
        _check_template(f"{where}['fields'][{name!r}]", template)
        table["fields"][str(name)] = template
    return table


def _check_template(where: str, template: object) -> None:
    if not isinstance(template, str):
        raise KcpConfigurationError(f"{where}: must be text.")
    if template.startswith("{") and template.endswith("}"):
        if template[1:-1] not in TEMPLATE_FIELDS:
            raise KcpConfigurationError(f"{where}: names no refund field (known: {', '.join(TEMPLATE_FIELDS)}).")
    elif "{" in template or "}" in template:
        raise KcpConfigurationError(f"{where}: a value is either constant text or exactly '{{field}}'.")


def template_values(request: RefundCall) -> dict[str, str]:
    """The text each template field stands for in ``request``."""
    # MDSC03 marks a partial virtual-account refund; every full refund is MDSC00.
    sub_type = "MDSC03" if request.kind == "vbank-refund" and request.is_partial else "MDSC00"
    return {
        "ordr_idxx": request.ordr_idxx,
        "tno": request.tno,
        "mod_type": request.mod_type,
        "mod_ip": request.mod_ip,
        "reason": request.reason,
        "bank_code": request.bank_code,
        "bank_code_bk": f"BK{request.bank_code}",
        "account_no": request.account_no,
        "owner_nm": request.owner_nm,
        "amount": "" if request.amount is None else str(request.amount),
        "remaining": "" if request.remaining is None else str(request.remaining),
        "mod_sub_type": sub_type,
    }


def render_refund(request: RefundCall, override: Mapping[str, Any] | None = None) -> RenderedRefund:
    """``request`` placed by its kind's table; empty values are left out."""
    table = refund_layout(request.kind, override)
    values = template_values(request)
    pairs: list[tuple[str, str]] = []
    for name, template in table["fields"].items():
        is_field = template.startswith("{") and template.endswith("}")
        value = values[template[1:-1]] if is_field else template
        if value:
            pairs.append((name, value))
    return RenderedRefund(tx_cd=table["tx_cd"], ordr_idxx=request.ordr_idxx, mod_data=pairs)
