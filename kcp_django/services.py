"""The one way in: every caller (REST, admin, commands, tasks) verifies accounts through here.

Order of work, and why:

1. validate and normalise (bad input creates no row);
2. write a PENDING row *before* calling the gateway;
3. call the gateway (:func:`ask_gateway`) with no lock of ours held;
4. store the answer (VERIFIED / REJECTED) or the reason there is none (UNKNOWN) with
   :func:`record_outcome`, the one way an outcome reaches a row (``kcp_reconcile`` uses it too);
5. send :data:`~kcp_django.signals.verification_finished` when the caller commits.

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

import datetime as dt
import logging
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, InterfaceError, OperationalError, connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables

from kcp_django import conf
from kcp_django.crypto import blind_index, last_four
from kcp_django.exceptions import AnswerNotStored, DuplicateOrderError, GatewayError
from kcp_django.gateways.base import GatewayResult, VerificationRequest, ensure_usable
from kcp_django.models import AccountVerification, VerificationState
from kcp_django.signals import verification_finished
from kcp_django.validation import NormalizedInput, normalize, normalize_client_ip

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    from kcp_django.gateways.base import Gateway

logger = logging.getLogger("kcp_django")
#: Gateway calls made inside a caller's transaction, before and after: what outlives its rollback.
trail = logging.getLogger("kcp_django.trail")

#: Answers that KCP's client library makes up when it could not get a verdict (docs/ppcli.md):
#: 9502 empty output, 6001-6004 request build/encryption errors, 9601 enc_data without enc_info.
CLIENT_ERROR_CODES = frozenset({"9502", "6001", "6002", "6003", "6004", "9601"})
#: Pauses (seconds) between tries to store an outcome while the database is unavailable.
STORE_RETRY_DELAYS = (0.1, 0.4, 1.0)


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
    gateway_class: type[Gateway] = import_string(merchant_config.backend)
    # A test double in real mode, or a gateway that could send nothing: refuse before any row exists.
    ensure_usable(gateway_class, merchant_config)

    row, created = _claim(using, data, merchant_config.alias, _user_pk(user), client_ip or None)
    if created:
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
        outcome = ask_gateway(gateway_class(merchant_config), request, slot=gateway_slot)
        try:
            stored = record_outcome(row, outcome, using=using)
        except AnswerNotStored:
            if in_caller_transaction:
                _trail_after(row, outcome, stored=False)
            raise
        if in_caller_transaction:
            _trail_after(row, outcome, stored)
        transaction.on_commit(
            lambda: verification_finished.send(sender=AccountVerification, verification=row), using=using
        )
    return row


def _user_pk(user: Any) -> Any:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


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
        outcome.state,
        outcome.res_cd or "-",
        outcome.tno or "-",
        "" if stored else " (not written: the row was settled first)",
    )


def _claim(
    db: str, data: NormalizedInput, merchant: str, user_pk: Any, client_ip: str | None
) -> tuple[AccountVerification, bool]:
    """Commit a PENDING row for ``data.ordr_idxx``, or find the one already there.

    The insert comes first and the unique ``ordr_idxx`` finds the row already there (a repeat, a
    racing request): an order number is nearly always new, so no lookup precedes every call.
    """
    account_index = blind_index(data.bank_code, data.account_no)
    try:
        row = _insert(
            db,
            AccountVerification(
                merchant=merchant,
                ordr_idxx=data.ordr_idxx,
                bank_code=data.bank_code,
                account_no=data.account_no,
                account_index=account_index,
                account_last4=last_four(data.account_no),
                owner_nm=data.owner_nm,
                reference=data.reference,
                requested_by_id=user_pk,
                client_ip=client_ip,
            ),
        )
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


@dataclass(frozen=True)
class Outcome:
    """What one gateway call came to, as the columns it writes on a verification row."""

    state: VerificationState
    res_cd: str = ""
    res_msg: str = ""
    tno: str = ""
    app_time: dt.datetime | None = None
    failure_reason: str = ""
    raw_response: Mapping[str, Any] = field(default_factory=dict)
    completed_at: dt.datetime | None = None

    def columns(self) -> dict[str, Any]:
        """The row's columns this outcome sets (fields left at their default are not written)."""
        written: dict[str, Any] = {"state": self.state, "raw_response": dict(self.raw_response)}
        for name in ("res_cd", "res_msg", "tno", "app_time", "failure_reason", "completed_at"):
            value = getattr(self, name)
            if value:
                written[name] = value
        return written


def ask_gateway(
    gateway: Gateway, request: VerificationRequest, *, slot: AbstractContextManager[object] | None = None
) -> Outcome:
    """Call ``gateway`` and say what happened; never raises for what the gateway does.

    ``slot`` is held only during the call (bulk runs bound the calls in flight with it).
    """
    try:
        with slot or nullcontext():
            result = gateway.verify(request)
    except GatewayError as exc:
        return Outcome(state=VerificationState.UNKNOWN, failure_reason=exc.reason, raw_response=exc.raw)
    except Exception as exc:
        # Whatever a gateway does, the row must say what happened rather than stay silent.
        logger.exception("kcp_django: gateway %s failed on %s", type(gateway).__name__, request.ordr_idxx)
        return Outcome(state=VerificationState.UNKNOWN, failure_reason=f"gateway error: {type(exc).__name__}")
    return outcome_of(result)


def record_outcome(
    row: AccountVerification,
    outcome: Outcome,
    *,
    only_if: Q | None = None,
    also: Mapping[str, Any] | None = None,
    using: str = "default",
) -> bool:
    """Write ``outcome`` over ``row``; True when it landed, False when the row was settled first.

    The row must still be PENDING, or match ``only_if`` (``kcp_reconcile`` passes its lease).
    ``also`` names extra columns written in the same UPDATE. Raises
    :class:`~kcp_django.exceptions.AnswerNotStored` when the database will not take it.
    """
    stored = _store(using, row, only_if, **outcome.columns(), **(also or {}))
    logger.info(
        "kcp_django: %s bank=%s account=%s state=%s res_cd=%s",
        row.ordr_idxx,
        row.bank_code,
        row.account_no_masked,
        row.state,
        row.res_cd or "-",
    )
    return stored


def is_client_error(res_cd: str) -> bool:
    """Codes made by KCP's client itself (not sent, or no verdict): the account was never judged."""
    return res_cd.startswith("S") or res_cd in CLIENT_ERROR_CODES


def outcome_of(result: GatewayResult) -> Outcome:
    """KCP's answer as an outcome: VERIFIED, REJECTED, or UNKNOWN for codes that judge nothing."""
    if not result.res_cd or is_client_error(result.res_cd):
        reason = f"KCP client error {result.res_cd}: {result.res_msg}" if result.res_cd else "answer without res_cd"
        return Outcome(
            state=VerificationState.UNKNOWN,
            res_cd=result.res_cd,
            res_msg=result.res_msg[:200],
            failure_reason=reason,
            raw_response=result.raw,
        )
    return Outcome(
        state=VerificationState.VERIFIED if result.is_success else VerificationState.REJECTED,
        res_cd=result.res_cd,
        res_msg=result.res_msg[:200],
        tno=result.tno[:20],
        app_time=result.app_time,
        raw_response=result.raw,
        completed_at=timezone.now(),
    )


def _store(db: str, row: AccountVerification, guard: Q | None = None, **changes: Any) -> bool:
    """Write the outcome over a row still PENDING (or matching ``guard``); True when it landed.

    Otherwise someone moved the row on first (a reconciler, or the original request) and the row is
    reloaded. A database that is briefly unavailable gets a few more tries; after that
    :class:`AnswerNotStored` says so, and the row keeps its state for ``kcp_reconcile``.
    """
    changes["updated_at"] = timezone.now()
    target = AccountVerification.objects.using(db).filter(
        Q(state=VerificationState.PENDING) if guard is None else guard, pk=row.pk
    )
    updated = 0
    # Asked once, while the connection is still there: inside the caller's transaction a failed
    # write cannot be tried again, the transaction is broken.
    retryable = transaction.get_autocommit(db)
    for delay in (*STORE_RETRY_DELAYS, None):
        try:
            updated = target.update(**changes)
            if not updated:
                row.refresh_from_db(using=db)
            break
        except (OperationalError, InterfaceError) as exc:
            if delay is None or not retryable:
                raise _not_stored(row, changes, exc) from exc
            logger.warning(
                "kcp_django: storing the outcome of %s failed (%s); retrying in %gs",
                row.ordr_idxx,
                _first_line(exc),
                delay,
            )
            _drop_broken_connection(db)
            time.sleep(delay)
    if updated:
        for name, value in changes.items():
            setattr(row, name, value)
    return bool(updated)


def _drop_broken_connection(db: str) -> None:
    # A connection the server closed stays unusable; closing it lets the next query reconnect.
    # A healthy one (e.g. SQLite waiting on a lock) is kept with its session settings.
    connection = connections[db]
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _first_line(exc: BaseException) -> str:
    """The error's class and first line: database messages name no stored values, only what failed."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:200]


def _not_stored(row: AccountVerification, changes: dict[str, Any], exc: BaseException) -> AnswerNotStored:
    answer = f"state={changes.get('state', '-')} res_cd={changes.get('res_cd') or '-'} tno={changes.get('tno') or '-'}"
    logger.error(
        "kcp_django: the outcome of %s (id %s, %s) could not be stored: %s; the row stays %s for kcp_reconcile",
        row.ordr_idxx,
        row.public_id,
        answer,
        _first_line(exc),
        row.state,
    )
    return AnswerNotStored(
        f"verification {row.public_id} (ordr_idxx {row.ordr_idxx}): the database did not take the gateway's "
        f"outcome ({answer}) after {len(STORE_RETRY_DELAYS) + 1} tries ({_first_line(exc)}). Nothing is lost: "
        f"the row stays {row.state} and `manage.py kcp_reconcile` completes it.",
        public_id=row.public_id,
        ordr_idxx=row.ordr_idxx,
        state=row.state,
    )
