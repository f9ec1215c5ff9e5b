"""The embedded sandbox: KCP's account certification without a network.

Outcomes are a pure function of the request, so shops can script every path:

=====================================  ======  ===========================  ==========
input                                  res_cd  res_msg                      state
=====================================  ======  ===========================  ==========
account number starting with ``999``   (none)  no answer (transport timeout) UNKNOWN
account number starting with ``000``   8105    계좌 없음 또는 해지된 계좌   REJECTED
holder name containing ``불일치``        8104    예금주명 불일치              REJECTED
or ``mismatch`` (any case)
anything else                          0000    정상처리                     VERIFIED
=====================================  ======  ===========================  ==========

The codes 8104 and 8105 are the sandbox's own: KCP publishes no code list for this product.

Refunds (:meth:`SandboxGateway.refund`) are decided by the payment's ``tno`` and, for
``vbank-refund`` (where KCP checks the account in the same call), by the account as above:

=====================================  ======  ===========================  ==========
input                                  res_cd  res_msg                      refund
=====================================  ======  ===========================  ==========
``tno`` ending in ``9``                (none)  no answer (transport timeout) UNKNOWN
``tno`` ending in ``8``                8801    환불 불가 거래               REJECTED
vbank-refund: account / holder rules   8105 / 8104 as above                 REJECTED
anything else                          0000    정상처리                     ACCEPTED
=====================================  ======  ===========================  ==========
``tno`` is 14 digits (the KST date and six digits derived from ``ordr_idxx``); ``app_time`` is the
current time in KST. ``OPTIONS["SANDBOX_LATENCY"]`` (seconds) adds a delay to every call.
:data:`outbox` keeps the latest 1,000 requests, for tests.

It is a test double (``is_test_double = True``): a merchant in real mode refuses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from kcp_django.exceptions import OutcomeUnknown
from kcp_django.gateways.base import (
    SUCCESS_CODE,
    GatewayResult,
    RefundCall,
    VerificationRequest,
    format_app_time,
)
from kcp_django.timezones import KST

if TYPE_CHECKING:
    from kcp_django.conf import MerchantConfig

__all__ = [
    "ACCOUNT_NOT_FOUND",
    "HOLDER_MISMATCH",
    "MISMATCH_MARKERS",
    "NOT_FOUND_PREFIX",
    "NO_ANSWER",
    "OUTBOX_SIZE",
    "REFUND_NO_ANSWER_SUFFIX",
    "REFUND_REFUSED",
    "REFUND_REFUSED_SUFFIX",
    "TIMEOUT_PREFIX",
    "VERIFIED",
    "Outbox",
    "Request",
    "SandboxGateway",
    "SandboxOutcome",
    "answer_fields",
    "decide",
    "decide_refund",
    "outbox",
    "refund_answer_fields",
    "refund_outbox",
    "sandbox_tno",
]

TIMEOUT_PREFIX = "999"
NOT_FOUND_PREFIX = "000"
MISMATCH_MARKERS = ("불일치", "mismatch")

HOLDER_MISMATCH = ("8104", "예금주명 불일치")
ACCOUNT_NOT_FOUND = ("8105", "계좌 없음 또는 해지된 계좌")
VERIFIED = (SUCCESS_CODE, "정상처리")
REFUND_NO_ANSWER_SUFFIX = "9"
REFUND_REFUSED_SUFFIX = "8"
REFUND_REFUSED = ("8801", "환불 불가 거래")


@dataclass(frozen=True)
class SandboxOutcome:
    """What the sandbox answers for a request; ``res_cd`` is empty when it gives no answer."""

    res_cd: str
    res_msg: str

    @property
    def answers(self) -> bool:
        return bool(self.res_cd)


NO_ANSWER = SandboxOutcome("", "")


def decide(request: VerificationRequest) -> SandboxOutcome:
    """The sandbox's outcome for ``request``: a pure function of its fields."""
    if request.account_no.startswith(TIMEOUT_PREFIX):
        return NO_ANSWER
    if request.account_no.startswith(NOT_FOUND_PREFIX):
        return SandboxOutcome(*ACCOUNT_NOT_FOUND)
    name = request.owner_nm.casefold()
    if any(marker in name for marker in MISMATCH_MARKERS):
        return SandboxOutcome(*HOLDER_MISMATCH)
    return SandboxOutcome(*VERIFIED)


def sandbox_tno(ordr_idxx: str, moment: dt.datetime) -> str:
    digest = int.from_bytes(hashlib.sha256(ordr_idxx.encode()).digest()[:8], "big")
    return moment.astimezone(KST).strftime("%Y%m%d") + f"{digest % 1_000_000:06d}"


def answer_fields(request: VerificationRequest, now: dt.datetime | None = None) -> dict[str, str]:
    """KCP's answer fields for ``request`` (what pp_cli would print), or ``{}`` for no answer."""
    return _fields(decide(request), request.ordr_idxx, None, now)


def decide_refund(request: RefundCall) -> SandboxOutcome:
    """The sandbox's outcome for a refund: a pure function of its fields."""
    if request.tno.endswith(REFUND_NO_ANSWER_SUFFIX):
        return NO_ANSWER
    if request.tno.endswith(REFUND_REFUSED_SUFFIX):
        return SandboxOutcome(*REFUND_REFUSED)
    if request.kind == "vbank-refund":
        check = decide(
            VerificationRequest(
                ordr_idxx=request.ordr_idxx,
                bank_code=request.bank_code,
                account_no=request.account_no,
                owner_nm=request.owner_nm,
            )
        )
        if check.res_cd != SUCCESS_CODE:
            return check
    return SandboxOutcome(*VERIFIED)


def refund_answer_fields(request: RefundCall, now: dt.datetime | None = None) -> dict[str, str]:
    """KCP's answer fields for a refund (what pp_cli would print), or ``{}`` for no answer."""
    return _fields(decide_refund(request), request.ordr_idxx, request.tno, now)


def _fields(
    outcome: SandboxOutcome, ordr_idxx: str, payment_tno: str | None, now: dt.datetime | None
) -> dict[str, str]:
    """What KCP prints for ``outcome``: a success carries a ``tno`` (the payment's for a refund, a new
    one for a verification) and the time it was answered."""
    if not outcome.answers:
        return {}
    fields = {"res_cd": outcome.res_cd, "res_msg": outcome.res_msg, "ordr_idxx": ordr_idxx}
    if outcome.res_cd == SUCCESS_CODE:
        moment = now or dt.datetime.now(KST)
        fields["tno"] = payment_tno or sandbox_tno(ordr_idxx, moment)
        fields["app_time"] = format_app_time(moment)
    return fields


#: How many requests :data:`outbox` keeps: a long-running process (a demo shop, a load test) would
#: otherwise keep every request it ever received.
OUTBOX_SIZE = 1000


Request = TypeVar("Request", VerificationRequest, RefundCall)


class Outbox(Generic[Request]):
    """The latest requests the sandbox received in this process (at most ``maxlen``), for tests
    (like ``mail.outbox``)."""

    def __init__(self, maxlen: int = OUTBOX_SIZE) -> None:
        self._lock = threading.Lock()
        self._requests: deque[Request] = deque(maxlen=maxlen)

    def append(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._requests)

    def __iter__(self) -> Iterator[Request]:
        with self._lock:
            return iter(list(self._requests))


outbox: Outbox[VerificationRequest] = Outbox()
#: The refunds the sandbox received, apart from the verifications.
refund_outbox: Outbox[RefundCall] = Outbox()


class SandboxGateway:
    """The default gateway: KCP's rules and documented outcomes, in process."""

    #: It never asks KCP: real mode refuses it (see :class:`~kcp_django.gateways.base.Gateway`).
    is_test_double: ClassVar[bool] = True
    #: Its answers read through the sandbox's own line of :data:`kcp_django.core.ANSWER_CODES`.
    answer_codes: ClassVar[str] = "sandbox"

    def __init__(self, merchant: MerchantConfig) -> None:
        self.merchant = merchant
        self.latency = float(merchant.options.get("SANDBOX_LATENCY", 0) or 0)

    def verify(self, request: VerificationRequest) -> GatewayResult:
        return self._answer(outbox, request, answer_fields, "")

    def refund(self, request: RefundCall) -> GatewayResult:
        return self._answer(refund_outbox, request, refund_answer_fields, " to the refund")

    def _answer(
        self, box: Outbox[Request], request: Request, answer: Callable[[Request], dict[str, str]], about: str
    ) -> GatewayResult:
        """Keep ``request`` in ``box``, take the configured latency, then answer as pp_cli would."""
        box.append(request)
        if self.latency:
            time.sleep(self.latency)
        fields = answer(request)
        if not fields:
            raise OutcomeUnknown(f"sandbox: no answer{about} within {self.merchant.timeout:g}s (transport timeout)")
        return GatewayResult.from_fields(fields)
