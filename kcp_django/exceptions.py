"""What callers catch. Imports nothing else of the app so every layer can use it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise

__all__ = [
    "REFUND_RULES",
    "RESOLVE_RULES",
    "AnswerNotStored",
    "DecryptionError",
    "DuplicateOrderError",
    "FieldError",
    "GatewayError",
    "GatewayUnavailable",
    "InvalidRequest",
    "KcpConfigurationError",
    "KcpError",
    "OutcomeUnknown",
    "RefundInTransaction",
    "RefundRefused",
    "SettingError",
]


class KcpError(Exception):
    """Base of every error raised by kcp_django."""


class KcpConfigurationError(KcpError, ImproperlyConfigured):
    """A setting is missing or wrong; the message names the setting to fix."""


class SettingError(KcpConfigurationError):
    """A setting breaks a rule: ``setting`` is where it lives in the settings module, ``variable``
    the environment variable that fed it (empty when the settings module set it directly).

    The message names what the user actually set: the variable when there is one. ``errors`` lists
    every problem found in one reading (itself alone, or each problem of :meth:`combine`).
    """

    def __init__(self, setting: str, problem: str, variable: str = "") -> None:
        self.setting = setting
        self.problem = problem
        self.variable = variable
        self.errors: list[SettingError] = [self]
        super().__init__(f"{variable or setting}: {problem}")

    @classmethod
    def combine(cls, errors: Iterable[SettingError]) -> SettingError:
        """One error holding every problem of ``errors`` (which must not be empty), so that a fix
        is not followed by the next problem, one run at a time."""
        found = list(errors)
        if len(found) == 1:
            return found[0]
        combined = cls(found[0].setting, "; ".join(str(error) for error in found[1:]), found[0].variable)
        combined.args = ("\n".join(str(error) for error in found),)
        combined.errors = found
        return combined


@dataclass(frozen=True)
class FieldError:
    """One broken rule on one input field.

    ``rule`` is a stable machine-readable id (e.g. ``"max_bytes"``); ``message`` is a lazy
    translation naming the field and the rule, rendered in the active language.
    """

    field: str
    rule: str
    message: str | Promise

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidRequest(KcpError, ValueError):
    """The input breaks the guide's rules. Nothing was stored and nothing was sent."""

    def __init__(self, errors: Iterable[FieldError]):
        self.errors: list[FieldError] = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    def by_field(self) -> dict[str, list[FieldError]]:
        grouped: dict[str, list[FieldError]] = {}
        for error in self.errors:
            grouped.setdefault(error.field, []).append(error)
        return grouped


class DuplicateOrderError(KcpError, ValueError):
    """An ``ordr_idxx`` already used for a different bank account or holder name."""


class GatewayError(KcpError):
    """The gateway gave no usable answer. ``reason`` is safe to store and log (already masked)."""

    def __init__(self, reason: str, *, raw: dict[str, str] | None = None):
        self.reason = reason
        self.raw: dict[str, str] = dict(raw or {})
        super().__init__(reason)


class OutcomeUnknown(GatewayError):
    """The request may have reached KCP, but no trustworthy answer came back
    (timeout, crash, garbage). Never treat as a "no": reconcile or retry."""


class GatewayUnavailable(GatewayError):
    """The request was not sent at all (binary missing, not executable, refused before exec)."""


class DecryptionError(KcpError):
    """A stored ciphertext could not be decrypted: tampered, or its key is no longer configured.

    ``key_id`` names the key the value says it was encrypted with (``None`` when the value is not
    even shaped like a ciphertext); ``missing_key`` is true when that key is not configured.
    """

    def __init__(self, message: str, *, key_id: str | None = None, missing_key: bool = False) -> None:
        super().__init__(message)
        self.key_id = key_id
        self.missing_key = missing_key


class AnswerNotStored(KcpError):
    """The gateway was called, but the database would not take what happened, even after retries.

    Nothing is lost: the row keeps its state (``PENDING`` for a new request) and
    ``manage.py kcp_reconcile`` completes it later. ``public_id`` and ``ordr_idxx`` name the row.
    """

    def __init__(self, message: str, *, public_id: object, ordr_idxx: str, state: str):
        self.public_id = public_id
        self.ordr_idxx = ordr_idxx
        self.state = state
        super().__init__(message)


class RefundRefused(KcpError, ValueError):
    """A refund that breaks a rule (a stale or unverified account, an amount that does not fit the
    payment, a refund already under way). Nothing was sent to KCP.

    ``rule`` is a stable machine-readable id; ``message`` names the rule in the active language;
    ``refund_id`` is the public id of the earlier refund that holds the payment, when one does
    (``earlier_refund_unknown``): staff resolve that refund before another is sent.
    """

    def __init__(self, rule: str, message: str | Promise, *, refund_id: str | None = None):
        self.rule = rule
        self.message = message
        self.refund_id = refund_id
        super().__init__(f"{rule}: {message}")


#: Every rule by which ``request_refund`` refuses a refund (``RefundRefused.rule``), in the order they
#: are checked; the REST API answers each with 409 and the rule as ``code``. A test keeps it complete.
REFUND_RULES = (
    "payment_unknown",
    "verification_required",
    "account_required",
    "account_twice",
    "account_not_for_payment",
    "verification_not_verified",
    "verification_purged",
    "verification_mode",
    "verification_stale",
    "idempotency_key_reused",
    "full_refund_exists",
    "earlier_refund_unknown",
    "partial_refunds_exist",
    "chain_mismatch",
    "amount_exceeds_remaining",
    "refund_in_progress",
)
#: The rules by which staff's ``resolve_refund`` refuses.
RESOLVE_RULES = ("note_required", "still_being_sent")


class RefundInTransaction(KcpError, RuntimeError):
    """A refund was asked for inside a database transaction.

    A refund moves money: its row must be committed before KCP is called, and no rollback of the
    caller's may take it away. Call it outside ``transaction.atomic()`` (a view under
    ``ATOMIC_REQUESTS`` needs ``transaction.non_atomic_requests``).
    """
