"""The one core every call to KCP goes through: a feature supplies its request and its rules, this
module does the rest, the same way for verifications, refunds and whatever comes next.

1. :func:`open_gateway`: import the merchant's gateway class, refuse a test double in real mode or
   a server that cannot send (``check_ready``), and construct it, all *before* the feature stores
   a row, so a broken configuration leaves nothing behind;
2. :func:`call`: call the gateway with no lock of ours held and say what happened as an
   :class:`Outcome`; it never raises for what a gateway does (hang, crash, garbage, refusal);
3. :func:`classify`: read KCP's answer once, through one table per provider
   (:data:`ANSWER_CODES`): ``accepted``, ``rejected`` (a verdict the provider is known to give),
   ``unknown`` (no verdict: a code the provider's client makes up locally, or one nobody can
   source as a verdict);
4. :func:`store`: write the feature's columns over its row only while the row is still where the
   feature left it, trying again while the database blinks, and say whether the write landed;
5. :func:`send_after_commit`: signal once the caller's transaction commits; a receiver that fails
   is logged and changes no answer.

The next provider needs a gateway class (``answer_codes = "name"``) and an entry in
:data:`ANSWER_CODES`; nothing else here changes.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import Field, Model
from django.dispatch import Signal
from django.utils import timezone
from django.utils.module_loading import import_string

from kcp_django import conf
from kcp_django.exceptions import AnswerNotStored, GatewayError, GatewayUnavailable, KcpConfigurationError
from kcp_django.gateways.base import GatewayResult, ensure_usable

if TYPE_CHECKING:
    from kcp_django.conf import MerchantConfig

__all__ = [
    "ANSWER_CODES",
    "STORE_RETRY_DELAYS",
    "AnswerCodes",
    "Guard",
    "Operation",
    "Outcome",
    "Verdict",
    "call",
    "classify",
    "first_line",
    "guarded_update",
    "in_flight_until",
    "open_gateway",
    "send_after_commit",
    "store",
    "user_pk",
]

logger = logging.getLogger("kcp_django")

#: What a gateway is asked to do; each has its own line in a provider's table.
Operation = Literal["verify", "refund"]
#: Pauses (seconds) between tries to store an outcome while the database is unavailable.
STORE_RETRY_DELAYS: tuple[float, ...] = (0.1, 0.4, 1.0)

RequestT = TypeVar("RequestT")


class Verdict(enum.StrEnum):
    """What one call to a gateway came to, before a feature names it in its own states."""

    #: The provider said yes (``0000``).
    ACCEPTED = "accepted"
    #: The provider said no, with a code it is known to answer with.
    REJECTED = "rejected"
    #: No verdict: the request may or may not have been acted on.
    UNKNOWN = "unknown"
    #: Nothing left this machine (the gateway said so before sending).
    NOT_SENT = "not_sent"


@dataclass(frozen=True)
class AnswerCodes:
    """How one provider's answers read.

    ``refusals`` maps an operation to the codes that are the provider's own "no" for it; ``None``
    means every code that is neither success nor made up locally is a "no". A code outside a
    listed set is read as no verdict at all (``unknown``): for money, a code nobody can source
    must not free a payment.
    """

    success: frozenset[str]
    #: Codes the provider's client makes up on this machine when it has no verdict.
    local: frozenset[str] = frozenset()
    local_prefixes: tuple[str, ...] = ()
    refusals: Mapping[str, frozenset[str] | None] = field(default_factory=dict)

    def is_local(self, res_cd: str) -> bool:
        return res_cd in self.local or res_cd.startswith(self.local_prefixes)

    def verdict(self, res_cd: str, operation: Operation) -> Verdict:
        if not res_cd or self.is_local(res_cd):
            return Verdict.UNKNOWN
        if res_cd in self.success:
            return Verdict.ACCEPTED
        refusals = self.refusals.get(operation)
        if refusals is None or res_cd in refusals:
            return Verdict.REJECTED
        return Verdict.UNKNOWN


#: One entry per provider, named by the gateway class's ``answer_codes`` (``"kcp"`` when it names none).
#: Sources and the reasoning for each list: docs/ppcli.md#result-codes.
ANSWER_CODES: dict[str, AnswerCodes] = {
    # KCP (pp_cli and KCP's own libraries): 9502 empty output, 6001-6004 request build/encryption
    # errors, 9601 enc_data without enc_info, and every S code (S101-S204: not sent, or no answer
    # read) are made up by the client, never by KCP's server. An account certification answered
    # with any other code is KCP's "no" for that account: nothing moves on it. For refunds KCP
    # publishes no code list, and no code other than 0000 can be sourced as a verdict: a refund
    # answered with one is UNKNOWN, holds its payment, and staff resolve it from KCP's admin.
    "kcp": AnswerCodes(
        success=frozenset({"0000"}),
        local=frozenset({"9502", "6001", "6002", "6003", "6004", "9601"}),
        local_prefixes=("S",),
        refusals={"verify": None, "refund": frozenset()},
    ),
    # The embedded sandbox answers from its own documented table (docs/sandbox.md).
    "sandbox": AnswerCodes(
        success=frozenset({"0000"}),
        refusals={"verify": frozenset({"8104", "8105"}), "refund": frozenset({"8801", "8104", "8105"})},
    ),
}


@dataclass(frozen=True)
class Outcome:
    """What one gateway call came to. Features turn it into their own row's columns."""

    verdict: Verdict
    res_cd: str = ""
    res_msg: str = ""
    tno: str = ""
    app_time: dt.datetime | None = None
    #: Why there is no verdict (empty for accepted and rejected); safe to store and log.
    failure_reason: str = ""
    raw_response: Mapping[str, Any] = field(default_factory=dict)
    #: When an answer (or the gateway's word that nothing was sent) came back; None when none did.
    answered_at: dt.datetime | None = None

    @property
    def has_answer(self) -> bool:
        """KCP answered with a code (a verdict or not)."""
        return bool(self.res_cd)


def answer_codes_for(gateway: object) -> AnswerCodes:
    """The table entry a gateway (class or instance) reads its answers with."""
    name = getattr(gateway, "answer_codes", "kcp")
    try:
        return ANSWER_CODES[name]
    except KeyError:
        raise KcpConfigurationError(
            f"{type(gateway).__name__}.answer_codes names {name!r}, which kcp_django.core.ANSWER_CODES does not list."
        ) from None


def open_gateway(merchant: MerchantConfig, operation: Operation) -> Any:
    """The merchant's gateway, constructed and able to do ``operation``, or
    :class:`~kcp_django.exceptions.KcpConfigurationError` naming what to fix.

    Called before a feature stores anything: a failure here leaves no row behind.
    """
    try:
        gateway_class: type = import_string(merchant.backend)
    except ImportError as exc:
        raise KcpConfigurationError(
            f"KCP_MERCHANTS[{merchant.alias!r}]['BACKEND']: {merchant.backend} cannot be imported ({exc})."
        ) from exc
    ensure_usable(gateway_class, merchant)  # no test double in real mode; a server that can send
    if not callable(getattr(gateway_class, operation, None)):
        raise KcpConfigurationError(
            f"KCP_MERCHANTS[{merchant.alias!r}]['BACKEND']: {merchant.backend} cannot {operation} "
            f"(it has no {operation}())."
        )
    answer_codes_for(gateway_class)
    try:
        return gateway_class(merchant)
    except KcpConfigurationError:
        raise
    except Exception as exc:
        raise KcpConfigurationError(
            f"KCP_MERCHANTS[{merchant.alias!r}]['BACKEND']: {merchant.backend} could not be set up "
            f"({type(exc).__name__}); nothing was stored or sent."
        ) from exc


def call(
    gateway: Any,
    operation: Operation,
    request: RequestT,
    *,
    label: str,
    slot: AbstractContextManager[object] | None = None,
) -> Outcome:
    """Ask ``gateway`` to do ``operation`` with ``request`` and say what happened; never raises
    for what the gateway does. ``label`` names the request in logs (an order number, never
    personal data). ``slot`` is held only during the call (bulk runs bound calls in flight)."""
    method: Callable[[RequestT], GatewayResult] = getattr(gateway, operation)
    try:
        with slot or nullcontext():
            result = method(request)
    except GatewayUnavailable as exc:
        return Outcome(
            verdict=Verdict.NOT_SENT, failure_reason=exc.reason, raw_response=exc.raw, answered_at=timezone.now()
        )
    except GatewayError as exc:
        return Outcome(verdict=Verdict.UNKNOWN, failure_reason=exc.reason, raw_response=exc.raw)
    except Exception as exc:
        # Whatever a gateway does, the row must say what happened rather than stay silent.
        logger.exception("kcp_django: gateway %s failed on %s %s", type(gateway).__name__, operation, label)
        return Outcome(verdict=Verdict.UNKNOWN, failure_reason=f"gateway error: {type(exc).__name__}")
    return classify(result, operation, answer_codes_for(gateway))


def classify(result: GatewayResult, operation: Operation, codes: AnswerCodes | None = None) -> Outcome:
    """The provider's answer as an :class:`Outcome`, read once through its table."""
    codes = codes or ANSWER_CODES["kcp"]
    verdict = codes.verdict(result.res_cd, operation)
    reason = ""
    if verdict is Verdict.UNKNOWN:
        if not result.res_cd:
            reason = "answer without res_cd"
        elif codes.is_local(result.res_cd):
            reason = f"KCP client error {result.res_cd}: {result.res_msg}"
        else:
            reason = f"code {result.res_cd} is not a known {operation} verdict: {result.res_msg}"
    return Outcome(
        verdict=verdict,
        res_cd=result.res_cd,
        res_msg=result.res_msg[:200],
        tno=result.tno[:20],
        app_time=result.app_time,
        failure_reason=reason[:500],
        raw_response=result.raw,
        answered_at=timezone.now(),
    )


#: Where a row must still be for :func:`store` to write over it: a field's name and its value, or a
#: tuple or frozenset of values (any one of them); every entry must hold.
Guard = Mapping[str, Any]


def store(
    row: Model,
    changes: Mapping[str, Any],
    *,
    guard: Guard,
    using: str,
    label: str,
    not_stored: Callable[[BaseException], AnswerNotStored],
) -> bool:
    """Write ``changes`` over ``row`` where ``guard`` still holds; True when it landed.

    Otherwise someone moved the row on first and ``row`` is reloaded from the database. A database
    that is briefly unavailable gets :data:`STORE_RETRY_DELAYS` more tries in autocommit (inside a
    caller's transaction a failed write breaks that transaction: no retry); after that
    ``not_stored(error)`` is raised.

    The write is one UPDATE statement of the row's key and the guard's columns, built once per shape
    (:func:`guarded_update`): every answer from KCP passes here, and a bulk run stores thousands a
    minute.
    """
    written = {**changes, "updated_at": timezone.now()}
    retryable = transaction.get_autocommit(using)  # asked while the connection is still there
    updated = 0
    for delay in (*STORE_RETRY_DELAYS, None):
        try:
            updated = guarded_update(type(row), row.pk, written, guard, using=using)
            break
        except (OperationalError, InterfaceError) as exc:
            if delay is None or not retryable:
                raise not_stored(exc) from exc
            logger.warning(
                "kcp_django: storing the outcome of %s failed (%s); retrying in %gs", label, first_line(exc), delay
            )
            _drop_broken_connection(using)
            time.sleep(delay)
    if updated:
        for name, value in written.items():
            setattr(row, name, value)
    else:
        row.refresh_from_db(using=using)
    return bool(updated)


def guarded_update(model: type[Model], pk: Any, values: Mapping[str, Any], guard: Guard, *, using: str) -> int:
    """``UPDATE`` the row ``pk`` of ``model`` with ``values`` where ``guard`` holds; the rows written (0 or 1).

    What ``QuerySet.filter(pk=pk, **guard).update(**values)`` does, as one statement whose text is
    built once per model, columns and guard, and whose values go through each field's
    ``get_db_prep_save`` (encryption, JSON, time zones) as the ORM's would. Values must be plain
    values (or model instances for relations), not query expressions.
    """
    connection = connections[using]
    meta = model._meta
    params: list[Any] = []
    for name, value in values.items():
        if hasattr(value, "resolve_expression"):
            raise TypeError(f"guarded_update(): {name} is a query expression; store plain values.")
        field = _column_field(model, name)
        if isinstance(value, Model):
            value = value.pk
        params.append(field.get_db_prep_save(value, connection=connection))
    params.append(meta.pk.get_db_prep_value(pk, connection))
    shape: list[tuple[str, int | None]] = []
    for name, expected in guard.items():
        field = _column_field(model, name)
        if isinstance(expected, tuple | frozenset):
            if not expected:
                raise ValueError(f"guarded_update(): the guard on {name} allows no value.")
            params.extend(field.get_db_prep_value(value, connection) for value in expected)
            shape.append((name, len(expected)))
        elif expected is None:
            shape.append((name, None))
        else:
            params.append(field.get_db_prep_value(expected, connection))
            shape.append((name, 1))
    sql = _update_statement(model, tuple(values), tuple(shape), using)
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


@functools.lru_cache(maxsize=1024)
def _column_field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete:
        raise ValueError(f"guarded_update(): {model._meta.label}.{name} is not a column.")
    return field


@functools.lru_cache(maxsize=256)
def _update_statement(
    model: type[Model], names: tuple[str, ...], guard: tuple[tuple[str, int | None], ...], using: str
) -> str:
    """The text of :func:`guarded_update`'s statement for one shape on the database ``using`` (whose
    backend quotes the names)."""
    meta = model._meta
    quote = connections[using].ops.quote_name

    def column(name: str) -> str:
        return quote(str(_column_field(model, name).column))

    conditions = [f"{column(meta.pk.name)} = %s"]
    for name, count in guard:
        if count is None:
            conditions.append(f"{column(name)} IS NULL")
        elif count == 1:
            conditions.append(f"{column(name)} = %s")
        else:
            conditions.append(f"{column(name)} IN ({', '.join(['%s'] * count)})")
    assignments = ", ".join(f"{column(name)} = %s" for name in names)
    # Only quoted names from the model's meta and placeholders: every value is a parameter.
    return f"UPDATE {quote(str(meta.db_table))} SET {assignments} WHERE {' AND '.join(conditions)}"  # noqa: S608


def send_after_commit(signal: Signal, *, sender: type, using: str, **kwargs: Any) -> None:
    """Send ``signal`` once the transaction on ``using`` commits (at once in autocommit).

    Every receiver runs even when one fails; a failure is logged with its traceback and changes
    no answer, to KCP or to the caller. Staff can send it again (docs/operations.md).
    """

    def send() -> None:
        for receiver, response in signal.send_robust(sender=sender, **kwargs):
            if isinstance(response, Exception):
                logger.error(
                    "kcp_django: receiver %s of a %s signal failed; the stored state is unchanged",
                    getattr(receiver, "__qualname__", repr(receiver)),
                    sender.__name__,
                    exc_info=(type(response), response, response.__traceback__),
                )

    transaction.on_commit(send, using=using)


#: A merchant's TIMEOUT when its settings cannot be read (the setting's default).
DEFAULT_TIMEOUT = 15.0


def in_flight_until(merchant: str, started_at: dt.datetime) -> dt.datetime | None:
    """Until when a call for ``merchant`` whose row was written at ``started_at`` may still be
    running: its merchant's ``TIMEOUT`` (pp_cli's process group is killed then) plus
    ``KCP_IN_FLIGHT_MARGIN`` (the wait for a call slot, clocks of other hosts). None when
    ``merchant`` is no longer configured: nothing can be in flight for it.
    """
    try:
        timeout = conf.get_merchant(merchant).timeout
    except KcpConfigurationError:
        timeout = DEFAULT_TIMEOUT
    except Exception:
        return None
    return started_at + dt.timedelta(seconds=timeout) + conf.kcp_settings.IN_FLIGHT_MARGIN


def user_pk(user: Any) -> Any:
    """The primary key of an authenticated user, else None (anonymous users and no user)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def first_line(exc: BaseException) -> str:
    """The error's class and first line: database messages name no stored values, only what failed."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:200]


def _drop_broken_connection(db: str) -> None:
    # A connection the server closed stays unusable; closing it lets the next query reconnect.
    # A healthy one (e.g. SQLite waiting on a lock) is kept with its session settings.
    connection = connections[db]
    if connection.connection is not None and not connection.is_usable():
        connection.close()
