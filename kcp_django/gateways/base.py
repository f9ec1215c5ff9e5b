"""The contract between the service and a gateway.

A gateway gets a normalised request and returns KCP's answer as a :class:`GatewayResult`, whether
KCP said yes (``res_cd == "0000"``) or no. When there is no trustworthy answer it raises
:class:`~kcp_django.exceptions.OutcomeUnknown`; when nothing was sent,
:class:`~kcp_django.exceptions.GatewayUnavailable`. Gateways never touch the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from kcp_django.masking import mask_fields

if TYPE_CHECKING:
    from kcp_django.conf import MerchantConfig

SUCCESS_CODE = "0000"
KST = ZoneInfo("Asia/Seoul")


@dataclass(frozen=True)
class VerificationRequest:
    """One account-certification request, already normalised by :mod:`kcp_django.validation`.

    ``owner_nm`` is NFC text (gateways encode it); ``account_no`` is digits only; ``bank_code``
    is the current two-digit code.
    """

    ordr_idxx: str
    bank_code: str
    account_no: str
    owner_nm: str
    cust_ip: str = ""

    def __repr__(self) -> str:
        masked = mask_fields({"account_no": self.account_no, "owner_nm": self.owner_nm})
        return (
            f"VerificationRequest(ordr_idxx={self.ordr_idxx!r}, bank_code={self.bank_code!r}, "
            f"account_no={masked['account_no']!r}, owner_nm={masked['owner_nm']!r})"
        )


#: The refund kinds, as the service and the layout tables name them.
REFUND_KINDS = ("escrow-cancel", "escrow-refund", "vbank-refund")


@dataclass(frozen=True)
class RefundRequest:
    """One refund to a bank account, checked by :mod:`kcp_django.refunds` before it gets here.

    ``tno`` is the original payment's 14-digit number. ``bank_code`` is the two-digit code of the
    guide's table (the layout writes KCP's ``BKxx`` form). ``amount`` and ``remaining`` are whole
    won, both set for a partial refund and both ``None`` for a full one.
    """

    kind: str
    ordr_idxx: str
    tno: str
    mod_type: str
    bank_code: str
    account_no: str
    owner_nm: str
    reason: str = ""
    mod_ip: str = ""
    amount: int | None = None
    remaining: int | None = None

    @property
    def is_partial(self) -> bool:
        return self.remaining is not None

    def __repr__(self) -> str:
        masked = mask_fields({"account_no": self.account_no, "owner_nm": self.owner_nm})
        return (
            f"RefundRequest(kind={self.kind!r}, ordr_idxx={self.ordr_idxx!r}, tno={self.tno!r}, "
            f"mod_type={self.mod_type!r}, bank_code={self.bank_code!r}, account_no={masked['account_no']!r}, "
            f"owner_nm={masked['owner_nm']!r}, amount={self.amount!r}, remaining={self.remaining!r})"
        )


@dataclass(frozen=True)
class GatewayResult:
    """KCP's answer. ``raw`` holds every field KCP sent, masked by field name."""

    res_cd: str
    res_msg: str
    tno: str = ""
    app_time: dt.datetime | None = None
    ordr_idxx: str = ""
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def is_success(self) -> bool:
        return self.res_cd == SUCCESS_CODE

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> GatewayResult:
        """Build a result from KCP's ``key=value`` fields (already decoded to ``str``)."""
        return cls(
            res_cd=fields.get("res_cd", "").strip(),
            res_msg=fields.get("res_msg", "").strip(),
            tno=fields.get("tno", "").strip(),
            app_time=parse_app_time(fields.get("app_time", "")),
            ordr_idxx=fields.get("ordr_idxx", "").strip(),
            raw=mask_fields(fields),
        )


def parse_app_time(value: str) -> dt.datetime | None:
    """KCP's ``YYYYMMDDHHMMSS`` in Korean time, as an aware datetime; ``None`` if absent or malformed."""
    value = value.strip()
    if len(value) != 14 or not (value.isascii() and value.isdigit()):
        return None
    try:
        # Sliced by hand: strptime costs more than the rest of reading an answer.
        year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8])
        return dt.datetime(year, month, day, int(value[8:10]), int(value[10:12]), int(value[12:14]), tzinfo=KST)
    except ValueError:
        return None


def format_app_time(moment: dt.datetime) -> str:
    return moment.astimezone(KST).strftime("%Y%m%d%H%M%S")


@runtime_checkable
class Gateway(Protocol):
    """What a ``KCP_MERCHANTS[alias]["BACKEND"]`` class provides.

    It is constructed with the merchant's validated configuration, once per call.
    """

    def __init__(self, merchant: MerchantConfig) -> None: ...

    def verify(self, request: VerificationRequest) -> GatewayResult: ...


@runtime_checkable
class RefundGateway(Protocol):
    """A gateway that can also pay refunds. Same rules as :meth:`Gateway.verify`: KCP's answer as
    a :class:`GatewayResult`, :class:`~kcp_django.exceptions.OutcomeUnknown` when there is no
    trustworthy one, :class:`~kcp_django.exceptions.GatewayUnavailable` when nothing was sent."""

    def __init__(self, merchant: MerchantConfig) -> None: ...

    def refund(self, request: RefundRequest) -> GatewayResult: ...
