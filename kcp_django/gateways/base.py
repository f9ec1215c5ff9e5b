"""The contract between the service and a gateway.

A gateway gets a normalised request and returns KCP's answer as a :class:`GatewayResult`, whether
KCP said yes (``res_cd == "0000"``) or no. When there is no trustworthy answer it raises
:class:`~kcp_django.exceptions.OutcomeUnknown`; when nothing was sent,
:class:`~kcp_django.exceptions.GatewayUnavailable`. Gateways never touch the database.

Before a gateway class is used, :func:`ensure_usable` refuses a test double in real mode and asks
the class whether this server is ready (see :class:`Gateway`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kcp_django.exceptions import KcpConfigurationError
from kcp_django.masking import mask_fields
from kcp_django.refund_kinds import REFUND_KINDS as REFUND_KINDS  # re-exported: the layouts and the fake use it
from kcp_django.timezones import KST

if TYPE_CHECKING:
    from kcp_django.conf import MerchantConfig

__all__ = [
    "SUCCESS_CODE",
    "Gateway",
    "GatewayResult",
    "RefundCall",
    "RefundGateway",
    "VerificationRequest",
    "check_ready",
    "ensure_usable",
    "format_app_time",
    "is_test_double",
    "parse_app_time",
    "refuse_test_double",
]

SUCCESS_CODE = "0000"


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


@dataclass(frozen=True)
class RefundCall:
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
            f"RefundCall(kind={self.kind!r}, ordr_idxx={self.ordr_idxx!r}, tno={self.tno!r}, "
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

    Two optional class members are read before the class is used (by the service before it stores
    anything, by the system checks and by ``manage.py kcp_check``); leaving them out means "no":

    ``is_test_double: ClassVar[bool]``
        True for a gateway that answers without asking KCP (the sandbox, a test's stand-in). A
        merchant in real mode refuses it: its answers would say nothing about real accounts.
    ``check_ready(merchant: MerchantConfig) -> None`` (a classmethod or staticmethod)
        Raises :class:`~kcp_django.exceptions.KcpConfigurationError`, naming the setting to fix,
        when this server cannot send ``merchant``'s requests at all (e.g. pp_cli's binary is
        missing). It runs before every request: keep it cheap (a stat, never a subprocess or a
        network call).
    """

    def __init__(self, merchant: MerchantConfig) -> None: ...

    def verify(self, request: VerificationRequest) -> GatewayResult: ...


@runtime_checkable
class RefundGateway(Protocol):
    """A gateway that can also pay refunds. Same rules as :meth:`Gateway.verify`: KCP's answer as
    a :class:`GatewayResult`, :class:`~kcp_django.exceptions.OutcomeUnknown` when there is no
    trustworthy one, :class:`~kcp_django.exceptions.GatewayUnavailable` when nothing was sent."""

    def __init__(self, merchant: MerchantConfig) -> None: ...

    def refund(self, request: RefundCall) -> GatewayResult: ...


def is_test_double(gateway_class: type) -> bool:
    """Whether ``gateway_class`` declares itself a test double (``is_test_double = True``)."""
    return getattr(gateway_class, "is_test_double", False) is True


def refuse_test_double(gateway_class: type, merchant: MerchantConfig) -> None:
    """Raise :class:`KcpConfigurationError` when ``merchant`` is in real mode on a test double."""
    if merchant.mode == "real" and is_test_double(gateway_class):
        raise KcpConfigurationError(
            f"KCP_MERCHANTS[{merchant.alias!r}]['BACKEND']: {merchant.backend} is a test double that answers "
            "without asking KCP, and OPTIONS['MODE'] is 'real': real mode needs KCP's pp_cli "
            "(BACKEND 'ppcli', KCP_GATEWAY=ppcli)."
        )


def check_ready(gateway_class: type, merchant: MerchantConfig) -> None:
    """The gateway class's own ``check_ready(merchant)``, when it has one."""
    ready = getattr(gateway_class, "check_ready", None)
    if callable(ready):
        ready(merchant)


def ensure_usable(gateway_class: type, merchant: MerchantConfig) -> None:
    """Raise :class:`KcpConfigurationError` when ``merchant`` must not send through ``gateway_class``:
    a test double in real mode, or a gateway whose ``check_ready`` says this server is not ready."""
    refuse_test_double(gateway_class, merchant)
    check_ready(gateway_class, merchant)


def __getattr__(name: str) -> Any:
    # ``RefundRequest`` was renamed: it read like a shop's own refund request model.
    if name == "RefundRequest":
        import warnings

        warnings.warn(
            "kcp_django.gateways.base.RefundRequest is now RefundCall; the old name goes in kcp-django 0.3.",
            DeprecationWarning,
            stacklevel=2,
        )
        return RefundCall
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
