"""The one way a refund is sent, and the only ways a refund moves on afterwards.

:func:`request_refund`:

1. checks the input (:class:`~kcp_django.exceptions.InvalidRequest`, nothing stored) and the
   rules (:class:`~kcp_django.exceptions.RefundRefused`, nothing stored): the account comes from a
   VERIFIED verification of the same merchant, not purged and not older than
   ``KCP_REFUND_VERIFICATION_MAX_AGE``; only ``vbank-refund`` may take an account given directly
   (KCP checks it in the same call) or refund part of a payment; partial refunds of one payment
   form a chain (each one's ``remaining`` is the last one's ``remaining - amount``);
2. commits a PENDING row holding its place on the payment (``slot_key``, unique in the database:
   one full refund per payment, one partial refund per remaining amount) *before* KCP is called;
   a refund is never sent inside the caller's transaction (:class:`RefundInTransaction`);
3. calls the gateway with no lock held, and stores ACCEPTED (``res_cd == "0000"``), REJECTED
   (another code; the place on the payment is given back) or UNKNOWN (no trustworthy answer);
4. sends :data:`~kcp_django.signals.refund_accepted` for an accepted refund.

The same idempotency key again returns the stored refund without a second call. An UNKNOWN
refund, or one left PENDING, is never sent again by code: it keeps its place on the payment, so
a repeat with a new key is refused too, until staff record what KCP's admin shows
(:func:`resolve_refund`). KCP's notice completes an accepted refund (:func:`complete_refund`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from kcp_django import conf, core
from kcp_django.core import Outcome, Verdict
from kcp_django.crypto import blind_index, last_four
from kcp_django.exceptions import AnswerNotStored, KcpConfigurationError, RefundInTransaction, RefundRefused
from kcp_django.gateways.base import RefundCall
from kcp_django.models import (
    HOLDING_REFUNDS,
    AccountVerification,
    KcpNotice,
    Payment,
    Refund,
    RefundState,
    VerificationState,
)
from kcp_django.refunds.inputs import RefundInput, normalize_refund
from kcp_django.signals import refund_accepted, refund_completed
from kcp_django.validation import generate_ordr_idxx, normalize, normalize_client_ip

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

logger = logging.getLogger("kcp_django.refunds")

__all__ = [
    "HOLDING_STATES",
    "account_rule",
    "check_refund",
    "complete_refund",
    "default_account_rule",
    "mod_type_for",
    "request_refund",
    "resolve_refund",
    "send_signal_again",
    "slot_key",
    "still_being_sent",
    "verification_max_age",
]

#: States in which a refund keeps its place on the payment.
HOLDING_STATES = (RefundState.PENDING, RefundState.ACCEPTED, RefundState.COMPLETED, RefundState.UNKNOWN)


def verification_max_age() -> dt.timedelta:
    """``KCP_REFUND_VERIFICATION_MAX_AGE``: a timedelta, or seconds (default 7 days)."""
    age: dt.timedelta = conf.get("KCP_REFUND_VERIFICATION_MAX_AGE")
    return age


def mod_type_for(kind: str, *, partial: bool, after_shipping: bool) -> str:
    """KCP's ``mod_type`` for a refund (docs/refunds.md)."""
    if kind == "escrow-cancel":
        return "STE4" if after_shipping else "STE2"
    if kind == "escrow-refund":
        return "STE9"
    return "STPD" if partial else "STHD"


def slot_key(site_cd: str, tno: str, remaining: int | None) -> str:
    """The refund's place on its payment, a backstop in the database under the payment's lock: one
    full refund, or one partial refund per remaining amount."""
    return f"{site_cd}|{tno}|{'full' if remaining is None else remaining}"


@sensitive_variables("account_no", "owner_nm", "account", "request")
def request_refund(
    *,
    kind: str,
    tno: object,
    verification: AccountVerification | None = None,
    bank_code: object = None,
    account_no: object = None,
    owner_nm: object = None,
    amount: object = None,
    remaining: object = None,
    after_shipping: bool = False,
    reason: object = "",
    idempotency_key: object = None,
    reference: str = "",
    merchant: str | None = None,
    user: AbstractBaseUser | AnonymousUser | None = None,
    client_ip: str | None = None,
    using: str = "default",
) -> Refund:
    """Refund payment ``tno`` into the account of ``verification`` (or, for ``vbank-refund`` only,
    the account given by ``bank_code``, ``account_no`` and ``owner_nm``).

    Returns the stored :class:`~kcp_django.models.Refund`; its ``state`` tells the outcome. Raises
    :class:`~kcp_django.exceptions.InvalidRequest` or :class:`~kcp_django.exceptions.RefundRefused`
    (nothing stored, nothing sent), :class:`~kcp_django.exceptions.RefundInTransaction`,
    ``ImproperlyConfigured`` for a merchant that cannot refund, and
    :class:`~kcp_django.exceptions.AnswerNotStored` when KCP was asked but the database would not
    take its answer (the row stays PENDING for staff; it is never sent again by code).
    """
    data = normalize_refund(kind=kind, tno=tno, amount=amount, remaining=remaining, reason=reason, key=idempotency_key)
    client_ip = normalize_client_ip(client_ip)
    alias = _merchant_alias(merchant, verification)
    merchant_config = conf.get_merchant(alias)
    # No test double in real mode, a gateway able to refund, constructed: all before a row exists.
    gateway = core.open_gateway(merchant_config, "refund")
    if not transaction.get_autocommit(using):
        raise RefundInTransaction(
            "request_refund() was called inside a transaction: a refund's row must be committed before KCP is "
            "called. Call it outside transaction.atomic() (decorate views with transaction.non_atomic_requests)."
        )
    payment = _registered_payment(using, merchant_config, data.tno)
    account = _account(
        data,
        verification,
        merchant_config,
        payment,
        user,
        bank_code=bank_code,
        account_no=account_no,
        owner_nm=owner_nm,
    )
    fingerprint = _fingerprint(data, alias, account, verification, after_shipping)
    if data.idempotency_key is not None:
        repeat = _repeat(using, alias, data.idempotency_key, fingerprint)
        if repeat is not None:
            return repeat

    row = Refund(
        merchant=alias,
        payment=payment,
        kind=data.kind,
        tno=data.tno,
        ordr_idxx=generate_ordr_idxx().replace("KCPD", "KCPR", 1),
        mod_type=mod_type_for(data.kind, partial=data.is_partial, after_shipping=after_shipping),
        after_shipping=after_shipping and data.kind == "escrow-cancel",
        verification=verification,
        bank_code=account["bank_code"],
        account_no=account["account_no"],
        account_index=blind_index(account["bank_code"], account["account_no"]),
        account_last4=last_four(account["account_no"]),
        owner_nm=account["owner_nm"],
        amount=data.amount,
        reason=data.reason,
        reference=str(reference or payment.reference)[:100],
        idempotency_key=data.idempotency_key,
        fingerprint=fingerprint,
        requested_by_id=core.user_pk(user),
        client_ip=client_ip or None,
    )
    try:
        _hold(using, payment, row, data)  # committed before KCP is asked, the payment's lock released
    except IntegrityError:
        if data.idempotency_key is not None:
            repeat = _repeat(using, alias, data.idempotency_key, fingerprint)
            if repeat is not None:
                return repeat
        raise RefundRefused(
            "refund_in_progress", _("Another refund of this payment was stored at the same moment; look again.")
        ) from None

    request = RefundCall(
        kind=row.kind,
        ordr_idxx=row.ordr_idxx,
        tno=row.tno,
        mod_type=row.mod_type,
        bank_code=row.bank_code,
        account_no=account["account_no"],
        owner_nm=row.owner_nm,
        reason=row.reason,
        mod_ip=client_ip or "",
        amount=row.amount,
        remaining=row.remaining,
    )
    logger.info(
        "kcp_django: refund %s (%s) of tno %s to bank=%s account=%s: sending to KCP",
        row.ordr_idxx,
        row.kind,
        row.tno,
        row.bank_code,
        row.account_no_masked,
    )
    outcome = core.call(gateway, "refund", request, label=f"refund {row.ordr_idxx}")
    if not _store(using, row, columns_of(outcome)):
        _keep_late_answer(using, row, outcome)
    logger.info(
        "kcp_django: refund %s (%s) of tno %s: %s res_cd=%s",
        row.ordr_idxx,
        row.kind,
        row.tno,
        row.state,
        row.res_cd or "-",
    )
    if row.state == RefundState.ACCEPTED and not row.late_answer:
        core.send_after_commit(refund_accepted, sender=Refund, using=using, refund=row)
    return row


@sensitive_variables("account_no", "owner_nm", "checked")
def _account(
    data: RefundInput,
    verification: AccountVerification | None,
    config: conf.MerchantConfig,
    payment: Payment,
    user: Any,
    *,
    bank_code: object,
    account_no: object,
    owner_nm: object,
) -> dict[str, str]:
    """The account to pay into, after the rules on where it comes from and whose it is."""
    given = any(value not in (None, "") for value in (bank_code, account_no, owner_nm))
    sender = core.user_pk(user)
    if verification is None:
        if data.kind != "vbank-refund":
            raise RefundRefused(
                "verification_required",
                _("%(kind)s pays only to the account of a VERIFIED verification; give its id.") % {"kind": data.kind},
            )
        if not given:
            raise RefundRefused(
                "account_required", _("Give a verification, or the bank, account number and holder name.")
            )
        if sender is not None and sender == payment.payer_id:
            # Four eyes: whoever types an account in does not also refund their own payment into it.
            raise RefundRefused(
                "account_not_for_payment",
                _("You paid this payment yourself: another staff member must refund it to an account typed in."),
            )
        checked = normalize(bank_code=bank_code, account_no=account_no, owner_nm=owner_nm, ordr_idxx="REFUND")
        return {"bank_code": checked.bank_code, "account_no": checked.account_no, "owner_nm": checked.owner_nm}
    if given:
        raise RefundRefused(
            "account_twice", _("Give either a verification or an account, not both: the refund pays the verified one.")
        )
    if verification.state != VerificationState.VERIFIED:
        raise RefundRefused(
            "verification_not_verified",
            _("The verification is %(state)s; a refund pays only to a VERIFIED account.")
            % {"state": verification.get_state_display()},
        )
    if verification.purged_at is not None or not verification.account_no:
        raise RefundRefused(
            "verification_purged", _("The verification's personal data was purged; verify the account again.")
        )
    if (verification.site_cd, verification.mode) != (config.site_cd, config.mode) or (
        config.mode == "real" and verification.test_double
    ):
        raise RefundRefused(
            "verification_mode",
            _(
                "The verification was answered under another site code or mode, or by a test gateway; verify the "
                "account again under this merchant."
            ),
        )
    verified_at = verification.completed_at or verification.created_at
    max_age = verification_max_age()
    if verified_at < timezone.now() - max_age:
        raise RefundRefused(
            "verification_stale",
            _(
                "The verification is older than %(days)s days (KCP_REFUND_VERIFICATION_MAX_AGE); "
                "verify the account again."
            )
            % {"days": f"{max_age.total_seconds() / 86400:g}"},
        )
    if account_rule()(payment, verification, user) is not True:
        raise RefundRefused(
            "account_not_for_payment",
            _(
                "This account was not verified for this payment's order, or the person who entered it cannot also "
                "refund into it; verify the customer's account under the order."
            ),
        )
    return {
        "bank_code": verification.bank_code,
        "account_no": str(verification.account_no),
        "owner_nm": verification.owner_nm,
    }


def default_account_rule(payment: Payment, verification: AccountVerification, user: Any) -> bool:
    """The built-in ``KCP_REFUND_ACCOUNT_RULE``: the verification was made for the payment's order
    (same ``reference``), and a verification someone other than the payer entered (staff) is
    refunded by another user: no one both enters an account and pays into it."""
    if not payment.reference or verification.reference != payment.reference:
        return False
    entered_by = verification.requested_by_id
    if entered_by is not None and entered_by != payment.payer_id:
        return bool(core.user_pk(user) != entered_by)
    return True


def account_rule() -> Callable[[Payment, AccountVerification, Any], bool]:
    """``KCP_REFUND_ACCOUNT_RULE`` imported, or :func:`default_account_rule`."""
    path: str = conf.get("KCP_REFUND_ACCOUNT_RULE")
    if not path:
        return default_account_rule
    try:
        rule: Callable[[Payment, AccountVerification, Any], bool] = import_string(path)
    except ImportError as exc:
        raise KcpConfigurationError(f"KCP_REFUND_ACCOUNT_RULE: {path} cannot be imported ({exc}).") from exc
    return rule


def _fingerprint(
    data: RefundInput,
    merchant: str,
    account: dict[str, str],
    verification: AccountVerification | None,
    after_shipping: bool,
) -> str:
    """What a repeat with the same idempotency key must match: never the account number itself."""
    payload = {
        "merchant": merchant,
        "kind": data.kind,
        "tno": data.tno,
        "amount": data.amount,
        "remaining": data.remaining,
        "reason": data.reason,
        "after_shipping": after_shipping,
        "verification": verification.pk if verification is not None else None,
        "account": blind_index(account["bank_code"], account["account_no"]),
        "owner_nm": account["owner_nm"],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _repeat(using: str, merchant: str, key: str, fingerprint: str) -> Refund | None:
    stored = Refund.objects.using(using).filter(merchant=merchant, idempotency_key=key).first()
    if stored is None:
        return None
    if stored.fingerprint != fingerprint:
        raise RefundRefused(
            "idempotency_key_reused", _("This idempotency key was used for a different refund; use a new key.")
        )
    stored.replayed = True
    return stored


def _hold(using: str, payment: Payment, row: Refund, data: RefundInput) -> None:
    """Check the payment's other refunds and store ``row`` PENDING, in one short transaction that
    holds the payment's lock, committed before KCP is asked (no lock is held during the call).

    The lock is the payment row itself: an UPDATE first (a row lock on PostgreSQL and MariaDB,
    SQLite's write lock), so two requests for one payment take turns, whatever they ask for.
    """
    with transaction.atomic(using=using):
        Payment.objects.using(using).filter(pk=payment.pk).update(updated_at=timezone.now())
        refunds = Refund.objects.using(using).filter(payment=payment).filter(HOLDING_REFUNDS)
        if connections[using].features.has_select_for_update:
            refunds = refunds.select_for_update()  # read as committed now, not as of a snapshot
        row.remaining = _payment_allows(payment, _holding(refunds), data)
        row.slot_key = slot_key(payment.site_cd, payment.tno, row.remaining)
        row.save(using=using, force_insert=True)


def _holding(refunds: QuerySet[Refund]) -> list[Refund]:
    return list(refunds.only("pk", "public_id", "state", "amount", "remaining", "merchant", "created_at"))


def _payment_allows(payment: Payment, holding: list[Refund], data: RefundInput) -> int | None:
    """The rules the payment's other refunds set; the refund's ``remaining`` (None for a full one)."""
    full = next((refund for refund in holding if refund.remaining is None), None)
    if full is not None:
        raise _full_refund_held(full)
    if not data.is_partial:
        if holding:
            raise RefundRefused(
                "partial_refunds_exist",
                _("This payment has partial refunds; refund the rest as a partial refund of the remaining amount."),
            )
        return None
    left = payment.amount - sum(refund.amount or 0 for refund in holding)
    if data.remaining is not None and data.remaining != left:
        raise RefundRefused(
            "chain_mismatch",
            _("The payment has %(left)s won left to refund, not %(given)s.")
            % {"left": f"{left:,}", "given": f"{data.remaining:,}"},
        )
    assert data.amount is not None
    if data.amount > left:
        raise RefundRefused(
            "amount_exceeds_remaining",
            _("The payment has only %(left)s won left to refund.") % {"left": f"{max(left, 0):,}"},
        )
    return left


@sensitive_variables("account_no", "owner_nm")
def check_refund(
    *,
    kind: object,
    tno: object,
    verification: AccountVerification | None = None,
    bank_code: object = None,
    account_no: object = None,
    owner_nm: object = None,
    amount: object = None,
    remaining: object = None,
    after_shipping: bool = False,
    reason: object = "",
    merchant: str | None = None,
    user: AbstractBaseUser | AnonymousUser | None = None,
    using: str = "default",
) -> None:
    """Every rule :func:`request_refund` applies, with nothing stored, locked or sent: for a form to
    show a broken rule before staff confirm. :func:`request_refund` checks them all again, under the
    payment's lock, when the refund is sent."""
    data = normalize_refund(kind=kind, tno=tno, amount=amount, remaining=remaining, reason=reason)
    alias = _merchant_alias(merchant, verification)
    config = conf.get_merchant(alias)
    payment = _registered_payment(using, config, data.tno)
    _account(data, verification, config, payment, user, bank_code=bank_code, account_no=account_no, owner_nm=owner_nm)
    holding = Refund.objects.using(using).filter(payment=payment).filter(HOLDING_REFUNDS)
    _payment_allows(payment, _holding(holding), data)


def _merchant_alias(merchant: str | None, verification: AccountVerification | None) -> str:
    """The merchant a refund goes through: the one named, else its verification's, else the default."""
    return merchant or (verification.merchant if verification is not None else conf.DEFAULT_ALIAS)


def _registered_payment(using: str, config: conf.MerchantConfig, tno: str) -> Payment:
    """The payment ``tno`` under the merchant's SITE_CD; refused when the shop never registered it."""
    payment = Payment.objects.using(using).filter(site_cd=config.site_cd, tno=tno).first()
    if payment is None:
        raise RefundRefused(
            "payment_unknown",
            _("No payment %(tno)s is registered for this merchant: register it first (register_payment).")
            % {"tno": tno},
        )
    return payment


def _full_refund_held(refund: Refund) -> RefundRefused:
    if refund.state == RefundState.PENDING and still_being_sent(refund):
        return RefundRefused(
            "refund_in_progress",
            _("A refund of this payment is being sent to KCP right now (%(id)s); wait for its answer.")
            % {"id": refund.public_id},
        )
    if refund.state in (RefundState.UNKNOWN, RefundState.PENDING):
        return RefundRefused(
            "earlier_refund_unknown",
            _(
                "An earlier refund of this payment (%(id)s) has no known outcome yet: nothing is sent again until "
                "staff check KCP's admin and resolve it."
            )
            % {"id": refund.public_id},
            refund_id=str(refund.public_id),
        )
    return RefundRefused(
        "full_refund_exists",
        _("This payment was already refunded in full (%(state)s).") % {"state": refund.get_state_display()},
    )


#: A refund's state for each verdict of the core.
STATES = {
    Verdict.ACCEPTED: RefundState.ACCEPTED,
    Verdict.REJECTED: RefundState.REJECTED,
    Verdict.UNKNOWN: RefundState.UNKNOWN,
    # Nothing left this machine: the refund was not made.
    Verdict.NOT_SENT: RefundState.REJECTED,
}


def columns_of(outcome: Outcome) -> dict[str, Any]:
    """The refund row's columns an outcome of the core sets. A rejected refund (KCP's "no", or
    nothing sent) gives its place on the payment back; any other keeps it."""
    columns: dict[str, Any] = {"state": STATES[outcome.verdict], "raw_response": dict(outcome.raw_response)}
    if outcome.answered_at is not None:
        columns["answered_at"] = outcome.answered_at
    if outcome.has_answer:
        columns.update(
            res_cd=outcome.res_cd, res_msg=outcome.res_msg, answer_tno=outcome.tno, app_time=outcome.app_time
        )
    if outcome.verdict is Verdict.NOT_SENT:
        columns["failure_reason"] = f"not sent: {outcome.failure_reason}"
    elif outcome.failure_reason:
        columns["failure_reason"] = outcome.failure_reason
    if columns["state"] == RefundState.REJECTED:
        columns["slot_key"] = None
    return columns


def _store(using: str, row: Refund, changes: Mapping[str, Any]) -> bool:
    """Write the outcome over the PENDING row, trying again while the database is briefly away;
    False when staff resolved the row first (``row`` is then reloaded as stored)."""
    return core.store(
        row,
        changes,
        guard={"state": RefundState.PENDING},
        using=using,
        label=f"refund {row.ordr_idxx}",
        not_stored=lambda exc: _not_stored(row, changes, exc),
    )


def _keep_late_answer(using: str, row: Refund, outcome: Outcome) -> None:
    """KCP answered after staff resolved the refund: keep the answer beside theirs, flag the row."""
    late = {
        "state": STATES[outcome.verdict],
        "res_cd": outcome.res_cd,
        "res_msg": outcome.res_msg,
        "tno": outcome.tno,
        "failure_reason": outcome.failure_reason,
        "answered_at": (outcome.answered_at or timezone.now()).isoformat(),
    }
    Refund.objects.using(using).filter(pk=row.pk).update(late_answer=late, needs_review=True, updated_at=timezone.now())
    row.refresh_from_db(using=using)
    logger.error(
        "kcp_django: refund %s was resolved by staff as %s while KCP was still answering; KCP's answer (%s res_cd=%s) "
        "is kept on the row and it is flagged for review",
        row.ordr_idxx,
        row.state,
        late["state"],
        outcome.res_cd or "-",
    )


def _not_stored(row: Refund, changes: Mapping[str, Any], exc: BaseException) -> AnswerNotStored:
    answer = f"state={changes['state']} res_cd={changes.get('res_cd') or '-'}"
    logger.error(
        "kcp_django: the outcome of refund %s (%s) could not be stored: %s; it stays PENDING and is "
        "never sent again by code: check KCP's admin and resolve it",
        row.ordr_idxx,
        answer,
        type(exc).__name__,
    )
    return AnswerNotStored(
        f"refund {row.public_id} (ordr_idxx {row.ordr_idxx}): KCP answered ({answer}) but the database "
        "did not take it. The refund stays PENDING and is never sent again by code; staff resolve it "
        "after checking KCP's admin.",
        public_id=row.public_id,
        ordr_idxx=row.ordr_idxx,
        state=row.state,
    )


def still_being_sent(refund: Refund) -> bool:
    """A PENDING refund younger than its merchant's timeout plus a margin may still get KCP's answer."""
    until = core.in_flight_until(refund.merchant, refund.created_at)
    return until is not None and timezone.now() < until


def resolve_refund(refund: Refund, *, accepted: bool, note: str, user: Any = None, using: str = "default") -> bool:
    """Record what staff found in KCP's admin for a refund whose answer was lost (UNKNOWN, or
    PENDING); True when it moved. A refund found rejected gives its place on the payment back."""
    note = note.strip()
    if not note:
        raise RefundRefused("note_required", _("Say what KCP's admin shows: a note is required."))
    if refund.state == RefundState.PENDING and still_being_sent(refund):
        raise RefundRefused(
            "still_being_sent",
            _("This refund is still being sent to KCP; wait for its answer before resolving it."),
        )
    changes: dict[str, Any] = {
        "state": RefundState.ACCEPTED if accepted else RefundState.REJECTED,
        "resolved_by_id": core.user_pk(user),
        "resolved_at": timezone.now(),
        "resolution_note": note[:2000],
        "updated_at": timezone.now(),
    }
    if not accepted:
        changes["slot_key"] = None
    moved = (
        Refund.objects.using(using)
        .filter(pk=refund.pk, state__in=(RefundState.UNKNOWN, RefundState.PENDING))
        .update(**changes)
    )
    if moved:
        for name, value in changes.items():
            setattr(refund, name, value)
        logger.warning("kcp_django: refund %s resolved by staff as %s: %s", refund.ordr_idxx, refund.state, note[:200])
        if accepted:
            core.send_after_commit(refund_accepted, sender=Refund, using=using, refund=refund)
    else:
        refund.refresh_from_db(using=using)
    return bool(moved)


def complete_refund(refund: Refund, notice: KcpNotice, *, using: str = "default") -> bool:
    """Mark ``refund`` COMPLETED on KCP's matching notice; True when it moved.

    A notice is KCP's word that the money went out, so it completes an accepted refund and also
    one whose answer was lost (UNKNOWN or PENDING). A rejected refund stays rejected (the notice
    is flagged for staff by the caller).
    """
    now = timezone.now()
    moved = (
        Refund.objects.using(using)
        .filter(pk=refund.pk)
        .filter(Q(state__in=(RefundState.ACCEPTED, RefundState.UNKNOWN, RefundState.PENDING)))
        .update(state=RefundState.COMPLETED, completed_at=now, updated_at=now)
    )
    if moved:
        refund.state, refund.completed_at = RefundState.COMPLETED, now
        core.send_after_commit(refund_completed, sender=Refund, using=using, refund=refund, notice=notice)
    return bool(moved)


def send_signal_again(refund: Refund, *, using: str = "default") -> bool:
    """Send the signal of ``refund``'s stored state again, for staff after a receiver failed (its
    error is in the log): ``refund_accepted`` for an accepted refund, ``refund_completed`` (with the
    notice that completed it) for a completed one. False for any other state: nothing is sent."""
    refund.refresh_from_db(using=using)
    if refund.state == RefundState.ACCEPTED:
        core.send_after_commit(refund_accepted, sender=Refund, using=using, refund=refund)
        return True
    if refund.state == RefundState.COMPLETED:
        notice = KcpNotice.objects.using(using).filter(refund=refund).order_by("received_at").first()
        core.send_after_commit(refund_completed, sender=Refund, using=using, refund=refund, notice=notice)
        return True
    return False
