"""Building KCP's notices as KCP sends them: url-encoded EUC-KR form bodies."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from django.test import Client

from kcp_django.models import Refund

URL = "/kcp/notices/"
#: One of KCP's published sender addresses (in KCP_NOTICE_IPS' default).
KCP_ADDRESS = "203.238.36.58"
FORM = "application/x-www-form-urlencoded"
ACCOUNT = "123-456-789012"
TNO = "20261127000001"
TNO_REFUSED = "20261127000008"


def body(fields: dict[str, str]) -> bytes:
    """The form as KCP encodes it (EUC-KR, percent-escaped)."""
    return urlencode(fields, encoding="euc-kr").encode("ascii")


def tx01(refund: Refund, **changes: str) -> dict[str, str]:
    """KCP's "virtual-account refund done" notice for ``refund``, with ``changes`` applied."""
    fields = {
        "site_cd": "T0000",
        "tno": refund.tno,
        "order_no": "ORDER-1",
        "tx_cd": "TX01",
        "tx_tm": "20261130120000",
        "refund_nm": refund.owner_nm,
        "refund_mny": str(refund.amount or 10000),
        "bank_code": refund.bank_code,
    }
    fields.update(changes)
    return fields


def post(
    fields: dict[str, str],
    *,
    address: str = KCP_ADDRESS,
    content_type: str = FORM,
    client: Client | None = None,
    **extra: Any,
) -> Any:
    return (client or Client()).post(URL, data=body(fields), content_type=content_type, REMOTE_ADDR=address, **extra)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name"):
            self.inputs.setdefault(values["name"] or "", values.get("value") or "")


def result_of(response: Any) -> str | None:
    """The ``result`` value of KCP's answer page, as KCP reads it (None when the page has none)."""
    form = _Form()
    form.feed(response.content.decode())
    return form.inputs.get("result")
