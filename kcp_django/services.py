"""The one way in: every caller (REST, admin, commands, tasks) verifies accounts through here.

Order of work, and why:

1. validate and normalise (bad input creates no row);
2. commit a PENDING row *before* calling the gateway, on a connection outside any transaction the
   caller holds, so the record of a call that may cost money survives the caller's rollback;
3. call the gateway with no database lock held;
4. store the answer (VERIFIED / REJECTED) or the reason there is none (UNKNOWN);
5. send :data:`~kcp_django.signals.verification_finished` when the caller commits.

The same ``ordr_idxx`` twice, even from racing requests, gives the stored row and one gateway call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, InterfaceError, OperationalError, connections, transaction
from django.db.models import Q
from django.db.utils import load_backend
from django.utils import timezone
from django.utils.module_loading import import_string

from kcp_django import conf
from kcp_django.crypto import blind_index, last_four
from kcp_django.exceptions import AnswerNotStored, DuplicateOrderError, GatewayError
from kcp_django.gateways.base import GatewayResult, VerificationRequest, ensure_usable
from kcp_django.models import AccountVerification, VerificationState
from kcp_django.signals import verification_finished
from kcp_django.validation import NormalizedInput, normalize

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    from kcp_django.gateways.base import Gateway

logger = logging.getLogger("kcp_django")

AUTONOMOUS_SUFFIX = "__kcp_autonomous"
#: Answers that KCP's client library makes up when it could not get a verdict (CONTRACT.md):
#: 9502 empty output, 6001-6004 request build/encryption errors, 9601 enc_data without enc_info.
CLIENT_ERROR_CODES = frozenset({"9502", "6001", "6002", "6003", "6004", "9601"})
#: Pauses (seconds) between tries to store an outcome while the database is unavailable.
STORE_RETRY_DELAYS = (0.1, 0.4, 1.0)


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
    merchant_config = conf.get_merchant(merchant)
    gateway_class: type[Gateway] = import_string(merchant_config.backend)
    # A test double in real mode, or a gateway that could send nothing: refuse before any row exists.
    ensure_usable(gateway_class, merchant_config)

    with _outside_caller_transaction(using) as write_db:
        row, created = _claim(write_db, data, merchant_config.alias, _user_pk(user), client_ip or None)
        if created:
            request = VerificationRequest(
                ordr_idxx=data.ordr_idxx,
                bank_code=data.bank_code,
                account_no=data.account_no,
                owner_nm=data.owner_nm,
                cust_ip=client_ip or "",
            )
            _call_gateway(write_db, row, gateway_class(merchant_config), request, slot=gateway_slot)
    if created:
        transaction.on_commit(
            lambda: verification_finished.send(sender=AccountVerification, verification=row), using=using
        )
    row._state.db = using
    return row


def _user_pk(user: Any) -> Any:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def _caller_holds_transaction(using: str) -> bool:
    # Atomic blocks opened by Django's TestCase are not the caller's: inside them we write on the
    # test's own connection, so each test stays isolated (Django's durable atomic does the same).
    connection = connections[using]
    return connection.in_atomic_block and any(
        not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


@contextmanager
def _outside_caller_transaction(using: str) -> Iterator[str]:
    """The alias to write on so each write commits at once, whatever transaction the caller holds.

    Inside the caller's transaction that is a second, short-lived connection to the same database,
    closed when the call ends.
    """
    if not _caller_holds_transaction(using):
        yield using
        return
    settings_dict = dict(connections[using].settings_dict)
    alias = using + AUTONOMOUS_SUFFIX
    connections[alias] = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]


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
        existing = AccountVerification.objects.using(db).get(ordr_idxx=data.ordr_idxx)
    if (existing.account_index, existing.owner_nm, existing.merchant) != (account_index, data.owner_nm, merchant):
        raise DuplicateOrderError(
            f"ordr_idxx {data.ordr_idxx!r} was already used for a different account, holder or merchant."
        )
    return existing, False


def _insert(db: str, row: AccountVerification) -> AccountVerification:
    """Save ``row`` so that it is committed when this returns.

    On a connection in autocommit (the usual case) the ``INSERT`` commits by itself. Inside an atomic
    block (a test's transaction) it runs in a savepoint, so a duplicate leaves that block usable.
    """
    if connections[db].in_atomic_block:
        with transaction.atomic(using=db):
            row.save(using=db, force_insert=True)
    else:
        row.save(using=db, force_insert=True)
    return row


def _call_gateway(
    db: str,
    row: AccountVerification,
    gateway: Gateway,
    request: VerificationRequest,
    *,
    guard: Q | None = None,
    slot: AbstractContextManager[object] | None = None,
    **also: Any,
) -> bool:
    """Ask the gateway and store what happened; True when this call's outcome landed on the row.

    ``guard`` and ``also`` are for :mod:`kcp_django.maintenance.reconcile`: which rows the outcome may
    overwrite (default: still PENDING) and extra columns written with it (its lease).
    """
    try:
        with slot or nullcontext():
            result = gateway.verify(request)
    except GatewayError as exc:
        changes = {"state": VerificationState.UNKNOWN, "failure_reason": exc.reason, "raw_response": exc.raw}
    except Exception as exc:
        # Whatever a gateway does, the row must say what happened rather than stay silent.
        logger.exception("kcp_django: gateway %s failed on %s", type(gateway).__name__, row.ordr_idxx)
        changes = {"state": VerificationState.UNKNOWN, "failure_reason": f"gateway error: {type(exc).__name__}"}
    else:
        changes = _result_changes(result)
    stored = _store(db, row, guard, **changes, **also)
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


def _result_changes(result: GatewayResult) -> dict[str, Any]:
    if not result.res_cd or is_client_error(result.res_cd):
        reason = f"KCP client error {result.res_cd}: {result.res_msg}" if result.res_cd else "answer without res_cd"
        return {
            "state": VerificationState.UNKNOWN,
            "res_cd": result.res_cd,
            "res_msg": result.res_msg[:200],
            "failure_reason": reason,
            "raw_response": result.raw,
        }
    return {
        "state": VerificationState.VERIFIED if result.is_success else VerificationState.REJECTED,
        "res_cd": result.res_cd,
        "res_msg": result.res_msg[:200],
        "tno": result.tno[:20],
        "app_time": result.app_time,
        "raw_response": result.raw,
        "completed_at": timezone.now(),
    }


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
    for delay in (*STORE_RETRY_DELAYS, None):
        try:
            updated = target.update(**changes)
            if not updated:
                row.refresh_from_db(using=db)
            break
        except (OperationalError, InterfaceError) as exc:
            if delay is None or connections[db].in_atomic_block:
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
