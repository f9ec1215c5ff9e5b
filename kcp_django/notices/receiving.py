"""KCP's notices (공통 통보): stored once, personal fields masked, and matched to refunds.

:func:`receive_notice` is what the notice view calls once the sender's address is accepted:

1. ``site_cd`` must be the SITE_CD of a configured merchant, and ``tx_cd`` must be given; otherwise
   nothing is stored and the answer is not ``0000``;
2. the notice is stored as one :class:`~kcp_django.models.KcpNotice` (``digest`` is unique: the same
   notice sent again finds its row and is answered ``0000`` without a second row or signal);
3. in the same transaction it is matched: TX01 completes a ``vbank-refund`` or ``escrow-refund``
   of that ``tno`` and merchant when the holder name (``refund_nm``) and, for a refund with an
   amount, ``refund_mny`` agree; TX05/TX06 complete an ``escrow-cancel`` of that ``tno`` and
   merchant. TX00 (a virtual-account deposit) records the deposit on the registered payment of that
   SITE_CD and ``tno`` when ``ipgm_mnyx`` is its amount, once. A notice that matches nothing it
   should is kept with ``needs_review`` and a reason; the refund or payment stays as it was. Other
   ``tx_cd`` values are stored and signalled only;
4. :data:`~kcp_django.signals.notice_received` is sent after commit, robustly: a receiver that
   raises is logged and the answer to KCP stays ``0000`` (and
   :data:`~kcp_django.signals.refund_completed` by :func:`~kcp_django.refunds.service.complete_refund`).

A database error anywhere rolls all of it back and answers ``9999``: KCP sends the notice again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from kcp_django import conf, core
from kcp_django.masking import mask_fields
from kcp_django.models import KcpNotice, Payment, Refund, RefundKind, RefundState
from kcp_django.refunds import complete_refund
from kcp_django.signals import notice_received

__all__ = [
    "COMPLETABLE_STATES",
    "COMPLETING_KINDS",
    "DEPOSIT_NOTICE",
    "RESULT_INCOMPLETE",
    "RESULT_NOT_STORED",
    "RESULT_STORED",
    "RESULT_UNKNOWN_SITE",
    "NoticeOutcome",
    "merchant_aliases_for",
    "notice_digest",
    "receive_notice",
]

logger = logging.getLogger("kcp_django.notices")

#: The answer KCP takes as "stored"; anything else and KCP sends the notice again.
RESULT_STORED = "0000"
#: Answers that tell KCP (and a person reading its admin) why a notice was not taken.
RESULT_INCOMPLETE = "9001"
RESULT_UNKNOWN_SITE = "9002"
RESULT_NOT_STORED = "9999"

#: Notices that say a refund was paid, and the refund kinds each one completes.
COMPLETING_KINDS: dict[str, tuple[str, ...]] = {
    "TX01": (RefundKind.VBANK_REFUND, RefundKind.ESCROW_REFUND),
    "TX05": (RefundKind.ESCROW_CANCEL,),
    "TX06": (RefundKind.ESCROW_CANCEL,),
}
#: The notice that says a customer paid into their virtual account: it records the payment's deposit.
DEPOSIT_NOTICE = "TX00"
#: A refund in one of these states is completed by its notice.
COMPLETABLE_STATES = (RefundState.ACCEPTED, RefundState.UNKNOWN, RefundState.PENDING)


@dataclass(frozen=True)
class NoticeOutcome:
    """What became of one notice: ``result`` is the value the page answers KCP with."""

    result: str
    notice: KcpNotice | None = None
    #: True when this notice was already stored (a repeat): nothing was stored or signalled again.
    repeat: bool = False
    #: Why the notice was not stored, for the log (never personal data).
    reason: str = ""

    @property
    def stored(self) -> bool:
        return self.result == RESULT_STORED


def notice_digest(fields: Mapping[str, str]) -> str:
    """The notice's identity: an HMAC-SHA256 (keyed with ``KCP_INDEX_KEY``) over its sorted fields.

    Keyed, because the fields hold a name and an account number that the stored row only shows
    masked: a plain hash of them could be guessed back from the masked row.
    """
    canonical = json.dumps(sorted(fields.items()), ensure_ascii=False, separators=(",", ":"))
    return hmac.new(conf.get_index_key(), canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def merchant_aliases_for(site_cd: str) -> list[str]:
    """The configured merchant aliases whose SITE_CD is ``site_cd`` (case does not matter)."""
    wanted = site_cd.strip().upper()
    return [merchant.alias for merchant in conf.all_merchants() if wanted and merchant.site_cd.upper() == wanted]


def receive_notice(fields: dict[str, str], *, remote_addr: str, using: str = "default") -> NoticeOutcome:
    """Store KCP's notice ``fields`` (already decoded) once and match it; see the module's docstring.

    ``remote_addr`` is the sender's address, already accepted by the caller. Never raises for a
    database error: the outcome's ``result`` is then :data:`RESULT_NOT_STORED`.
    """
    # A NUL is refused by PostgreSQL's text and jsonb: it would keep the notice from ever being stored.
    fields = {name.replace("\x00", ""): value.replace("\x00", "") for name, value in fields.items()}
    site_cd = fields.get("site_cd", "").strip()
    tx_cd = fields.get("tx_cd", "").strip().upper()
    if not site_cd or not tx_cd:
        logger.warning("kcp_django: notice from %s without site_cd or tx_cd: not stored", remote_addr)
        return NoticeOutcome(RESULT_INCOMPLETE, reason="site_cd and tx_cd are required")
    aliases = merchant_aliases_for(site_cd)
    if not aliases:
        logger.warning(
            "kcp_django: notice %s from %s for site_cd %s, which is no configured merchant's: not stored",
            tx_cd[:8],
            remote_addr,
            site_cd[:10],
        )
        return NoticeOutcome(RESULT_UNKNOWN_SITE, reason="site_cd is not the SITE_CD of a configured merchant")

    digest = notice_digest(fields)
    try:
        with transaction.atomic(using=using):
            notice = KcpNotice.objects.using(using).create(
                merchant=aliases[0],
                site_cd=site_cd[:10],
                tx_cd=tx_cd[:8],
                tno=fields.get("tno", "").strip()[:20],
                order_no=fields.get("order_no", "").strip()[:40],
                tx_tm=fields.get("tx_tm", "").strip()[:20],
                digest=digest,
                fields=mask_fields(fields),
                remote_addr=remote_addr or None,
            )
            _match(notice, fields, aliases, using)
            core.send_after_commit(notice_received, sender=KcpNotice, using=using, notice=notice)
    except IntegrityError:
        # The unique digest: this notice is stored already (maybe by a copy arriving at the same time).
        stored = _stored(digest, using)
        if stored is None:
            logger.error("kcp_django: notice %s of tno %s could not be stored (integrity error)", tx_cd, _tno(fields))
            return NoticeOutcome(RESULT_NOT_STORED, reason="the database refused the notice")
        logger.info("kcp_django: notice %s of tno %s received again: already stored", tx_cd, _tno(fields))
        return NoticeOutcome(RESULT_STORED, notice=stored, repeat=True)
    except DatabaseError as exc:
        logger.error(
            "kcp_django: notice %s of tno %s could not be stored (%s); KCP will send it again",
            tx_cd,
            _tno(fields),
            type(exc).__name__,
        )
        return NoticeOutcome(RESULT_NOT_STORED, reason="the database is unavailable")
    logger.info(
        "kcp_django: notice %s of tno %s stored%s",
        notice.tx_cd,
        notice.tno or "-",
        f" (needs review: {notice.review_reason})" if notice.needs_review else "",
    )
    return NoticeOutcome(RESULT_STORED, notice=notice)


def _tno(fields: Mapping[str, str]) -> str:
    return fields.get("tno", "").strip()[:20] or "-"


def _stored(digest: str, using: str) -> KcpNotice | None:
    try:
        return KcpNotice.objects.using(using).filter(digest=digest).first()
    except DatabaseError:
        return None


def _match(notice: KcpNotice, fields: Mapping[str, str], aliases: list[str], using: str) -> None:
    """Complete the refund the notice names (or record the deposit on the payment it names), or flag the
    notice for staff; inside the caller's transaction."""
    if notice.tx_cd == DEPOSIT_NOTICE:
        _record_deposit(notice, fields, aliases, using)
        return
    kinds = COMPLETING_KINDS.get(notice.tx_cd)
    if kinds is None:
        return  # TX02, TX03, ...: stored and signalled only
    refund, problem = _find_refund(notice, fields, aliases, kinds, using)
    if refund is not None and complete_refund(refund, notice, using=using):
        notice.refund, notice.merchant, notice.matched = refund, refund.merchant, True
        notice.save(using=using, update_fields=["refund", "merchant", "matched"])
        logger.info("kcp_django: notice %s completed refund %s", notice.tx_cd, refund.ordr_idxx)
        return
    if refund is not None:
        refund.refresh_from_db(using=using, fields=["state"])
        if refund.state == RefundState.COMPLETED:
            problem = f"refund {refund.ordr_idxx} was already completed by an earlier notice"
        else:
            problem = f"refund {refund.ordr_idxx} is {refund.state}: a notice completes only an accepted refund"
        notice.refund, notice.merchant = refund, refund.merchant
    notice.needs_review, notice.review_reason = True, problem
    notice.save(using=using, update_fields=["refund", "merchant", "needs_review", "review_reason"])
    logger.warning("kcp_django: notice %s of tno %s needs review: %s", notice.tx_cd, notice.tno or "-", problem)


def _find_refund(
    notice: KcpNotice, fields: Mapping[str, str], aliases: list[str], kinds: Iterable[str], using: str
) -> tuple[Refund | None, str]:
    """The refund this notice is about, or None and why none is (never personal data in the reason)."""
    kind_names = ", ".join(kinds)
    if not notice.tno:
        return None, "the notice has no tno"
    candidates = list(
        Refund.objects.using(using)
        .filter(merchant__in=aliases, tno=notice.tno, kind__in=list(kinds))
        .order_by("created_at", "id")
    )
    if not candidates:
        return None, f"no {kind_names} refund of tno {notice.tno} for site_cd {notice.site_cd}"
    if notice.tx_cd != "TX01":
        return _prefer_completable(candidates), ""
    name = _name(fields.get("refund_nm", ""))
    named = [refund for refund in candidates if _name(refund.owner_nm) == name]
    if not named:
        return None, f"refund_nm does not match the holder name of any refund of tno {notice.tno}"
    amount_text = fields.get("refund_mny", "").strip()
    amount = int(amount_text) if amount_text.isdigit() else None
    paid = [refund for refund in named if refund.amount is None or refund.amount == amount]
    if not paid:
        amounts = ", ".join(str(refund.amount) for refund in named)
        return None, f"refund_mny {amount_text or '(none)'} does not match the refund's amount ({amounts} won)"
    return _prefer_completable(paid), ""


def _record_deposit(notice: KcpNotice, fields: Mapping[str, str], aliases: list[str], using: str) -> None:
    """Record a TX00's deposit on the registered payment it names (SITE_CD, ``tno``, amount), once."""
    payment, problem = _find_deposited_payment(notice, fields, aliases, using)
    if payment is not None:
        now = timezone.now()
        # Guarded: of two deposit notices of one payment (even at the same moment), only one records it.
        recorded = (
            Payment.objects.using(using)
            .filter(pk=payment.pk, deposited_at__isnull=True)
            .update(deposited_at=now, deposit_notice=notice, updated_at=now)
        )
        if recorded:
            notice.merchant, notice.matched = payment.merchant, True
            notice.save(using=using, update_fields=["merchant", "matched"])
            logger.info("kcp_django: notice TX00 recorded the deposit of payment %s", payment.tno)
            return
        problem = f"the deposit of payment {payment.tno} was already recorded by an earlier notice"
        notice.merchant = payment.merchant
    notice.needs_review, notice.review_reason = True, problem
    notice.save(using=using, update_fields=["merchant", "needs_review", "review_reason"])
    logger.warning("kcp_django: notice TX00 of tno %s needs review: %s", notice.tno or "-", problem)


def _find_deposited_payment(
    notice: KcpNotice, fields: Mapping[str, str], aliases: list[str], using: str
) -> tuple[Payment | None, str]:
    """The registered payment a TX00 is about, or None and why none is (never personal data in the reason)."""
    if not notice.tno:
        return None, "the notice has no tno"
    site_codes = {conf.get_merchant(alias).site_cd for alias in aliases}
    payment = Payment.objects.using(using).filter(site_cd__in=site_codes, tno=notice.tno).first()
    if payment is None:
        return None, f"no registered payment of tno {notice.tno} for site_cd {notice.site_cd}"
    amount_text = fields.get("ipgm_mnyx", "").strip()
    if not amount_text.isdigit() or int(amount_text) != payment.amount:
        return None, (
            f"ipgm_mnyx {amount_text[:12] or '(none)'} does not match the amount of payment {payment.tno} "
            f"({payment.amount} won)"
        )
    return payment, ""


def _prefer_completable(refunds: list[Refund]) -> Refund:
    """The oldest refund a notice can still complete, else the oldest (whose state the reason names)."""
    for refund in refunds:
        if refund.state in COMPLETABLE_STATES:
            return refund
    return refunds[0]


def _name(value: str) -> str:
    """A holder name as the refund stores it: NFC, trimmed, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", value).split())
