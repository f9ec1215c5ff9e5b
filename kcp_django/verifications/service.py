"""The one way in: every caller (REST, admin, commands, tasks) verifies accounts through here.

Order of work, and why:

1. validate and normalise (bad input creates no row);
2. set up the merchant's gateway (:func:`kcp_django.core.open_gateway`): a broken configuration
   stores nothing;
3. write a PENDING row *before* calling the gateway;
4. call the gateway through the core (:func:`ask_gateway`) with no lock of ours held;
5. store the answer (VERIFIED / REJECTED) or the reason there is none (UNKNOWN) with
   :func:`record_outcome`, the one way an outcome reaches a row (``kcp_reconcile`` uses it too);
6. send :data:`~kcp_django.signals.verification_finished` when the caller commits.

The same ``ordr_idxx`` twice, even from racing requests, gives the stored row and one gateway call.

Transactions: the service writes where the caller is.

- A caller in autocommit (a view without ``ATOMIC_REQUESTS``, a command, a task): the PENDING row
  commits before the gateway is called and the outcome commits after it, each on its own. A crash
  in between leaves the PENDING row for ``kcp_reconcile``.
- A caller inside ``transaction.atomic()``: the row is written in the caller's transaction (in a
  savepoint), so it may point at a user the caller created a moment ago, and no second connection
  waits on the caller's locks (SQLite's database lock, InnoDB's row locks). If the caller commits,
  the row and its outcome are committed with it. If the caller rolls back, the row goes too; what
  stays is the trail: two records on the ``kcp_django.trail`` logger, one before the gateway call
  (order number, merchant, bank, masked account, reference) and one with KCP's answer (state,
  ``res_cd``, ``tno``), which name the call by the ``ordr_idxx`` KCP's own admin shows. Route that
  logger to durable storage in production (docs/operations.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from kcp_django import conf, core
from kcp_django.core import Outcome, Verdict
from kcp_django.crypto import blind_index, last_four
from kcp_django.exceptions import AnswerNotStored, DuplicateOrderError
from kcp_django.gateways.base import GatewayResult, VerificationRequest, is_test_double
from kcp_django.models import AccountVerification, VerificationState
from kcp_django.signals import verification_finished
from kcp_django.validation import NormalizedInput, normalize, normalize_client_ip

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

__all__ = [
    "Claim",
    "Outcome",
    "ask_gateway",
    "claim_many",
    "outcome_of",
    "record_outcome",
    "send_claimed",
    "settle_lost_call",
    "state_of",
    "verify_normalized",
    "verify_refund_account",
]

logger = logging.getLogger("kcp_django")
#: Gateway calls made inside a caller's transaction, before and after: what outlives its rollback.
trail = logging.getLogger("kcp_django.trail")

#: A verification's state for each verdict of the core.
STATES = {
    Verdict.ACCEPTED: VerificationState.VERIFIED,
    Verdict.REJECTED: VerificationState.REJECTED,
    Verdict.UNKNOWN: VerificationState.UNKNOWN,
    # Nothing was sent: no verdict either; kcp_reconcile asks again later.
    Verdict.NOT_SENT: VerificationState.UNKNOWN,
}


@sensitive_variables()  # crash reports show no account number or name, here or below
def verify_refund_account(
    *,
    bank_code: object,
    account_no: object,
    owner_nm: object,
    ordr_idxx: object = None,
    reference: object = "",
    merchant: str = conf.DEFAULT_ALIAS,
    user: AbstractBaseUser | AnonymousUser | None = None,
    client_ip: str | None = None,
    using: str = "default",
    gateway_slot: AbstractContextManager[object] | None = None,
) -> AccountVerification:
    """Verify that ``owner_nm`` holds account ``account_no`` at ``bank_code``.

    Returns the stored :class:`AccountVerification`, whose ``state`` tells the outcome. Raises
    :class:`~kcp_django.exceptions.InvalidRequest` for bad input (nothing stored),
    :class:`~kcp_django.exceptions.DuplicateOrderError` when ``ordr_idxx`` was used for another
    account, ``ImproperlyConfigured`` for a broken merchant setting, and
    :class:`~kcp_django.exceptions.AnswerNotStored` when the gateway was called but the database
    would not take the outcome (the row stays PENDING for ``manage.py kcp_reconcile``).

    ``gateway_slot`` is held only while the gateway is called: bulk runs pass a semaphore, so the
    number of calls in flight stays bounded while other threads store their rows.
    """
    data = normalize(
        bank_code=bank_code, account_no=account_no, owner_nm=owner_nm, ordr_idxx=ordr_idxx, reference=reference
    )
    return verify_normalized(
        data, merchant=merchant, user=user, client_ip=client_ip, using=using, gateway_slot=gateway_slot
    )


@sensitive_variables()
def verify_normalized(
    data: NormalizedInput,
    *,
    merchant: str = conf.DEFAULT_ALIAS,
    user: AbstractBaseUser | AnonymousUser | None = None,
    client_ip: str | None = None,
    using: str = "default",
    gateway_slot: AbstractContextManager[object] | None = None,
) -> AccountVerification:
    """:func:`verify_refund_account` for input that :func:`~kcp_django.validation.normalize` has
    already checked (the REST API does, to report every broken rule before anything else)."""
    client_ip = normalize_client_ip(client_ip)
    merchant_config = conf.get_merchant(merchant)
    # A test double in real mode, a gateway that could send nothing or fails to start: refuse before any row.
    gateway = core.open_gateway(merchant_config, "verify")

    row, created = _claim(
        using,
        data,
        merchant_config,
        core.user_pk(user),
        client_ip or None,
        test_double=is_test_double(type(gateway)),
    )
    if created:
        _send(row, data, gateway, client_ip=client_ip, using=using, gateway_slot=gateway_slot)
    return row


def _send(
    row: AccountVerification,
    data: NormalizedInput,
    gateway: Any,
    *,
    client_ip: str | None,
    using: str,
    gateway_slot: AbstractContextManager[object] | None,
) -> None:
    """Call the gateway for ``row`` (written by this caller, PENDING), store the outcome, signal."""
    request = VerificationRequest(
        ordr_idxx=data.ordr_idxx,
        bank_code=data.bank_code,
        account_no=data.account_no,
        owner_nm=data.owner_nm,
        cust_ip=client_ip or "",
    )
    in_caller_transaction = not transaction.get_autocommit(using)
    if in_caller_transaction:
        _trail_before(row)
    outcome = ask_gateway(gateway, request, slot=gateway_slot)
    try:
        stored = record_outcome(row, outcome, using=using)
    except AnswerNotStored:
        if in_caller_transaction:
            _trail_after(row, outcome, stored=False)
        raise
    if in_caller_transaction:
        _trail_after(row, outcome, stored)
    core.send_after_commit(verification_finished, sender=AccountVerification, using=using, verification=row)


@dataclass(frozen=True)
class Claim:
    """One request of :func:`claim_many`: its checked input and its row. ``created`` says the row
    was written by this claim, so :func:`send_claimed` calls KCP for it; otherwise the row was
    already there (a request made before) and is the answer."""

    data: NormalizedInput
    row: AccountVerification
    created: bool
    client_ip: str | None


@sensitive_variables()
def claim_many(
    requests: Sequence[NormalizedInput],
    *,
    merchant: str = conf.DEFAULT_ALIAS,
    user: AbstractBaseUser | AnonymousUser | None = None,
    client_ip: str | None = None,
    using: str = "default",
) -> list[Claim | DuplicateOrderError]:
    """Step one of a bulk run: the PENDING rows of many checked requests, in one INSERT.

    Each request gets its :class:`Claim`, or the :class:`~kcp_django.exceptions.DuplicateOrderError`
    it would get from :func:`verify_normalized`. The gateway is set up first, so a broken
    configuration raises before any row is written. When the INSERT meets an ``ordr_idxx`` already
    stored (a chunk run again), or outside autocommit, each request is claimed on its own as
    :func:`verify_normalized` does. Call :func:`send_claimed` for each claim soon after: a row older
    than its merchant's ``TIMEOUT`` plus ``KCP_IN_FLIGHT_MARGIN`` is taken for a call that was lost.
    """
    client_ip = normalize_client_ip(client_ip) or None
    config = conf.get_merchant(merchant)
    test_double = is_test_double(type(core.open_gateway(config, "verify")))
    user_pk = core.user_pk(user)
    if requests and transaction.get_autocommit(using):
        rows = [_new_row(data, config, user_pk, client_ip, test_double=test_double) for data in requests]
        try:
            AccountVerification.objects.using(using).bulk_create(rows)
        except IntegrityError:
            pass  # one of them was stored before: claim each on its own below
        else:
            if any(row.pk is None for row in rows):  # databases that return no keys from a bulk INSERT
                keys = dict(
                    AccountVerification.objects.using(using)
                    .filter(ordr_idxx__in=[row.ordr_idxx for row in rows])
                    .values_list("ordr_idxx", "pk")
                )
                for row in rows:
                    row.pk = keys[row.ordr_idxx]
            return [Claim(data, row, True, client_ip) for data, row in zip(requests, rows, strict=True)]
    claims: list[Claim | DuplicateOrderError] = []
    for data in requests:
        try:
            row, created = _claim(using, data, config, user_pk, client_ip, test_double=test_double)
        except DuplicateOrderError as exc:
            claims.append(exc)
        else:
            claims.append(Claim(data, row, created, client_ip))
    return claims


@sensitive_variables()
def send_claimed(
    claim: Claim, *, using: str = "default", gateway_slot: AbstractContextManager[object] | None = None
) -> AccountVerification:
    """Step two of a bulk run: call KCP for a claim whose row it wrote and store the outcome, as
    :func:`verify_normalized` does; a claim that found its row returns it and calls nothing."""
    if claim.created:
        gateway = core.open_gateway(conf.get_merchant(claim.row.merchant), "verify")
        _send(claim.row, claim.data, gateway, client_ip=claim.client_ip, using=using, gateway_slot=gateway_slot)
    return claim.row


def _trail_before(row: AccountVerification) -> None:
    trail.warning(
        "kcp_django: calling KCP inside the caller's transaction: ordr_idxx=%s merchant=%s bank=%s account=%s "
        "reference=%s; the row is lost if the caller rolls back",
        row.ordr_idxx,
        row.merchant,
        row.bank_code,
        row.account_no_masked,
        row.reference or "-",
    )


def _trail_after(row: AccountVerification, outcome: Outcome, stored: bool) -> None:
    trail.warning(
        "kcp_django: KCP's outcome for ordr_idxx=%s inside the caller's transaction: state=%s res_cd=%s tno=%s%s",
        row.ordr_idxx,
        state_of(outcome),
        outcome.res_cd or "-",
        outcome.tno or "-",
        "" if stored else " (not written: the row was settled first)",
    )


def _claim(
    db: str,
    data: NormalizedInput,
    config: conf.MerchantConfig,
    user_pk: Any,
    client_ip: str | None,
    *,
    test_double: bool,
) -> tuple[AccountVerification, bool]:
    """Commit a PENDING row for ``data.ordr_idxx``, or find the one already there.

    The insert comes first and the unique ``ordr_idxx`` finds the row already there (a repeat, a
    racing request): an order number is nearly always new, so no lookup precedes every call.
    """
    merchant = config.alias
    row = _new_row(data, config, user_pk, client_ip, test_double=test_double)
    account_index = row.account_index
    try:
        _insert(db, row)
        return row, True
    except IntegrityError:
        # This ordr_idxx was stored before, or by a racing request that committed first: its row answers.
        existing = _stored_order(db, data.ordr_idxx)
        if existing is None:
            raise  # not the order number (a foreign key, say): the caller must see what it is
    if (existing.account_index, existing.owner_nm, existing.merchant) != (account_index, data.owner_nm, merchant):
        raise DuplicateOrderError(
            f"ordr_idxx {data.ordr_idxx!r} was already used for a different account, holder or merchant."
        )
    return existing, False


def _new_row(
    data: NormalizedInput, config: conf.MerchantConfig, user_pk: Any, client_ip: str | None, *, test_double: bool
) -> AccountVerification:
    return AccountVerification(
        merchant=config.alias,
        site_cd=config.site_cd,
        mode=config.mode,
        test_double=test_double,
        ordr_idxx=data.ordr_idxx,
        bank_code=data.bank_code,
        account_no=data.account_no,
        account_index=blind_index(data.bank_code, data.account_no),
        account_last4=last_four(data.account_no),
        owner_nm=data.owner_nm,
        reference=data.reference,
        requested_by_id=user_pk,
        client_ip=client_ip,
    )


def _stored_order(db: str, ordr_idxx: str) -> AccountVerification | None:
    """The row holding ``ordr_idxx``; inside a transaction read as committed now, not as of its
    snapshot (InnoDB's repeatable read would not show a racing request's row otherwise)."""
    rows = AccountVerification.objects.using(db).filter(ordr_idxx=ordr_idxx)
    if not transaction.get_autocommit(db):
        rows = rows.select_for_update()
    return rows.first()


def _insert(db: str, row: AccountVerification) -> AccountVerification:
    """Save ``row``: committed at once in autocommit; inside the caller's transaction, in a
    savepoint, so a duplicate leaves that transaction usable."""
    if not transaction.get_autocommit(db):
        with transaction.atomic(using=db):
            row.save(using=db, force_insert=True)
    else:
        row.save(using=db, force_insert=True)
    return row


def state_of(outcome: Outcome) -> VerificationState:
    """The verification state an outcome of the core stands for."""
    return STATES[outcome.verdict]


def columns_of(outcome: Outcome) -> dict[str, Any]:
    """The verification row's columns an outcome sets (values left empty are not written)."""
    written: dict[str, Any] = {"state": state_of(outcome), "raw_response": dict(outcome.raw_response)}
    for name in ("res_cd", "res_msg", "failure_reason"):
        value = getattr(outcome, name)
        if value:
            written[name] = value
    if outcome.verdict in (Verdict.ACCEPTED, Verdict.REJECTED):
        # Only a verdict completes a verification; its tno and app_time are KCP's.
        written.update(completed_at=outcome.answered_at, tno=outcome.tno)
        if outcome.app_time is not None:
            written["app_time"] = outcome.app_time
        if not outcome.tno:
            del written["tno"]
    return written


def ask_gateway(
    gateway: Any, request: VerificationRequest, *, slot: AbstractContextManager[object] | None = None
) -> Outcome:
    """Ask ``gateway`` to verify ``request`` through the core; never raises for what the gateway does.

    ``slot`` is held only during the call (bulk runs bound the calls in flight with it).
    """
    return core.call(gateway, "verify", request, label=request.ordr_idxx, slot=slot)


def outcome_of(result: GatewayResult) -> Outcome:
    """KCP's answer to a verification, read through the core's table for KCP."""
    return core.classify(result, "verify")


def record_outcome(
    row: AccountVerification,
    outcome: Outcome,
    *,
    only_if: core.Guard | None = None,
    also: Mapping[str, Any] | None = None,
    using: str = "default",
) -> bool:
    """Write ``outcome`` over ``row``; True when it landed, False when the row was settled first
    (``row`` is then reloaded).

    The row must still be PENDING, or match ``only_if`` (``kcp_reconcile`` passes its lease: see
    :data:`kcp_django.core.Guard`).
    ``also`` names extra columns written in the same UPDATE. Raises
    :class:`~kcp_django.exceptions.AnswerNotStored` when the database will not take it.
    """
    changes = {**columns_of(outcome), **(also or {})}
    stored = core.store(
        row,
        changes,
        guard={"state": VerificationState.PENDING} if only_if is None else only_if,
        using=using,
        label=row.ordr_idxx,
        not_stored=lambda exc: _not_stored(row, changes, exc),
    )
    logger.info(
        "kcp_django: %s bank=%s account=%s state=%s res_cd=%s",
        row.ordr_idxx,
        row.bank_code,
        row.account_no_masked,
        row.state,
        row.res_cd or "-",
    )
    return stored


#: Why a PENDING row found again after its call must have ended is UNKNOWN.
LOST_CALL = "no outcome stored: the process that called KCP stopped before storing it; kcp_reconcile asks again"


def settle_lost_call(row: AccountVerification, *, using: str = "default") -> bool:
    """Mark ``row`` UNKNOWN when it is PENDING and its call can no longer be running (its merchant's
    ``TIMEOUT`` plus ``KCP_IN_FLIGHT_MARGIN`` have passed since it was written): the process that
    made it died, so ``kcp_reconcile`` settles it. True when it moved; a younger row is left alone,
    and the UPDATE only lands while the row is still PENDING. KCP is never called here.
    """
    if row.state != VerificationState.PENDING:
        return False
    until = core.in_flight_until(row.merchant, row.created_at)
    if until is not None and timezone.now() < until:
        return False
    return record_outcome(row, Outcome(verdict=Verdict.UNKNOWN, failure_reason=LOST_CALL), using=using)


def _not_stored(row: AccountVerification, changes: Mapping[str, Any], exc: BaseException) -> AnswerNotStored:
    answer = f"state={changes.get('state', '-')} res_cd={changes.get('res_cd') or '-'} tno={changes.get('tno') or '-'}"
    logger.error(
        "kcp_django: the outcome of %s (id %s, %s) could not be stored: %s; the row stays %s for kcp_reconcile",
        row.ordr_idxx,
        row.public_id,
        answer,
        core.first_line(exc),
        row.state,
    )
    return AnswerNotStored(
        f"verification {row.public_id} (ordr_idxx {row.ordr_idxx}): the database did not take the gateway's "
        f"outcome ({answer}) after {len(core.STORE_RETRY_DELAYS) + 1} tries ({core.first_line(exc)}). Nothing is "
        f"lost: the row stays {row.state} and `manage.py kcp_reconcile` completes it.",
        public_id=row.public_id,
        ordr_idxx=row.ordr_idxx,
        state=row.state,
    )
