"""``manage.py kcp_refund``: pay one refund into a verified account through KCP, or show one.

::

    kcp_refund --kind {escrow-cancel,escrow-refund,vbank-refund} --tno TNO
               (--verification ID | --bank-code B --account-no N --owner-nm NAME)
               [--after-shipping] [--amount WON --remaining WON] [--reason TEXT] [--key KEY]
               [--reference REF] [--merchant ALIAS] [--json]
    kcp_refund --show ID [--json]

It calls :func:`kcp_django.refunds.request_refund`, never a gateway, so every rule of the
service applies. Exit status: 0 accepted or completed, 1 rejected, 2 invalid input or refused by a
rule (nothing sent), 3 unknown or pending (staff resolve it: it is never sent again by code),
4 configuration (a setting or a system check is wrong, or the verification's stored account cannot be
decrypted; nothing sent). With ``--json`` the one JSON object (a refund, or an error object as
:mod:`kcp_django.management.scripted` describes) is all the command writes.

The command runs Django's system checks itself (``requires_system_checks = []``), so that a
configuration problem, whoever finds it, exits 4 with its message (a JSON object with ``--json``).
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandParser
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kcp_django.exceptions import (
    AnswerNotStored,
    DecryptionError,
    InvalidRequest,
    RefundInTransaction,
    RefundRefused,
)
from kcp_django.management.scripted import (
    CommandFailure,
    ScriptedCommand,
    configuration_failure,
    field_failure,
    find_by_id,
    invalid_failure,
    is_id,
    unreadable_account_failure,
)
from kcp_django.models import AccountVerification, Refund, RefundState
from kcp_django.refunds import request_refund
from kcp_django.serialization import refund_as_dict

if TYPE_CHECKING:
    from django.db.models import QuerySet

R = TypeVar("R", bound=models.Model)

EXIT_CODES = {
    RefundState.ACCEPTED: 0,
    RefundState.COMPLETED: 0,
    RefundState.REJECTED: 1,
    RefundState.UNKNOWN: 3,
    RefundState.PENDING: 3,
}
EXIT_INVALID = 2
EXIT_UNKNOWN = 3
EXIT_CONFIGURATION = 4
KINDS = ("escrow-cancel", "escrow-refund", "vbank-refund")
#: ``--account-no -`` reads the number from standard input, keeping it out of the shell's history.
FROM_STDIN = "-"
#: The options of a new refund, which ``--show`` does not take.
REQUEST_OPTIONS = (
    "kind",
    "tno",
    "verification",
    "bank_code",
    "account_no",
    "owner_nm",
    "amount",
    "remaining",
    "reason",
    "key",
    "reference",
    "merchant",
)


class Command(ScriptedCommand):
    help = (
        "Refund a KCP payment into a verified account (환불), or show a refund. "
        "Exit: 0 accepted, 1 rejected, 2 invalid or refused, 3 unknown, 4 configuration."
    )
    exit_statuses = (
        (0, _("accepted or completed: KCP took the refund")),
        (1, _("rejected: KCP refused the refund")),
        (2, _("invalid input, or refused by a rule; nothing was sent to KCP")),
        (3, _("unknown or pending: KCP's answer is not known; check KCP's admin and resolve it, never resend")),
        (
            4,
            _(
                "configuration: a setting or a system check is wrong, or the stored account cannot be decrypted "
                "(its encryption key is missing); nothing was sent to KCP"
            ),
        ),
    )
    exit_statuses_note = _(
        "Prefer --verification: an account number typed on the command line stays in the shell's "
        "history. --account-no - reads it from standard input instead."
    )
    #: ``call_command(..., stdin=...)`` gives the stream ``--account-no -`` reads.
    stealth_options = ("stdin",)

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            metavar="{" + ",".join(KINDS) + "}",
            help="escrow-cancel (STE2/STE4), escrow-refund (after the buyer confirmed) or vbank-refund",
        )
        parser.add_argument("--tno", help="KCP's 14-digit number of the payment to refund")
        parser.add_argument(
            "--verification",
            metavar="ID",
            help="a VERIFIED verification: its id (the UUID kcp_verify and the API print) or its number; preferred",
        )
        parser.add_argument("--bank-code", help="vbank-refund only, instead of --verification: bank code, e.g. 04")
        parser.add_argument(
            "--account-no",
            help="vbank-refund only: account number; '-' reads it from standard input (kept out of shell history)",
        )
        parser.add_argument("--owner-nm", help="vbank-refund only: account holder name (예금주명)")
        parser.add_argument("--after-shipping", action="store_true", help="escrow-cancel after shipping (STE4)")
        parser.add_argument("--amount", metavar="WON", help="vbank-refund partial refund: the amount to refund")
        parser.add_argument("--remaining", metavar="WON", help="with --amount: what was left before this refund")
        parser.add_argument("--reason", default="", help="reason sent to KCP (mod_desc), at most 100 bytes in EUC-KR")
        parser.add_argument("--key", help="idempotency key: the same key again shows the stored refund, sends nothing")
        parser.add_argument("--reference", default="", help="your order or refund id, kept with the row")
        parser.add_argument("--merchant", default=None, help="alias in KCP_MERCHANTS (default: the verification's)")
        parser.add_argument(
            "--show", metavar="ID", help="show the refund with this id (its UUID or number) instead of sending one"
        )

    def act(self, options: dict[str, Any]) -> Refund:
        return self._show(options) if options.get("show") else self._request(options)

    def as_dict(self, result: Refund) -> dict[str, Any]:
        return refund_as_dict(result)

    def exit_code(self, result: Refund) -> int:
        return EXIT_CODES[RefundState(result.state)]

    def _request(self, options: dict[str, Any]) -> Refund:
        verification = _verification(options.get("verification"))
        account_no = options.get("account_no")
        if account_no == FROM_STDIN:
            account_no = _read_account_no(options.get("stdin") or sys.stdin)
        try:
            return request_refund(
                kind=options.get("kind") or "",
                tno=options.get("tno") or "",
                verification=verification,
                bank_code=options.get("bank_code"),
                account_no=account_no,
                owner_nm=options.get("owner_nm"),
                amount=options.get("amount"),
                remaining=options.get("remaining"),
                after_shipping=bool(options.get("after_shipping")),
                reason=options.get("reason") or "",
                idempotency_key=options.get("key"),
                reference=options.get("reference") or "",
                merchant=options.get("merchant"),
            )
        except InvalidRequest as exc:
            raise invalid_failure(EXIT_INVALID, exc.errors) from None
        except RefundRefused as exc:
            message = str(exc.message)
            raise CommandFailure(
                EXIT_INVALID,
                "refused",
                message,
                rule=exc.rule,
                extra={"refund": exc.refund_id} if exc.refund_id else None,
                lines=[f"refused [{exc.rule}]: {message}"],
            ) from None
        except DecryptionError as exc:
            raise unreadable_account_failure(EXIT_CONFIGURATION, exc) from None
        except (ImproperlyConfigured, RefundInTransaction) as exc:
            raise configuration_failure(EXIT_CONFIGURATION, [str(exc)]) from None
        except AnswerNotStored as exc:
            raise CommandFailure(
                EXIT_UNKNOWN,
                "outcome_not_stored",
                str(exc),
                extra={"id": str(exc.public_id), "status": str(exc.state).lower()},
            ) from None

    def _show(self, options: dict[str, Any]) -> Refund:
        given = [name for name in REQUEST_OPTIONS if options.get(name) not in (None, "")]
        if given or options.get("after_shipping"):
            names = ", ".join("--" + name.replace("_", "-") for name in given or ["after_shipping"])
            message = gettext("--show takes only --json; remove %(options)s.") % {"options": names}
            raise field_failure(EXIT_INVALID, "invalid", "show", "show_alone", message)
        return _row(Refund.objects.select_related("verification"), "show", options["show"], gettext("refund"))

    def report(self, row: Refund) -> None:
        data = refund_as_dict(row)
        style = {
            RefundState.ACCEPTED: self.style.SUCCESS,
            RefundState.COMPLETED: self.style.SUCCESS,
            RefundState.REJECTED: self.style.ERROR,
        }.get(RefundState(row.state), self.style.WARNING)
        self.stdout.write(style(f"{data['status']}  {row.get_state_display()}"))
        bank = f"{data['bank_name']} ({row.bank_code})" if data["bank_name"] else row.bank_code
        lines = [
            ("id", data["id"]),
            ("kind", f"{row.kind} ({row.mod_type})"),
            ("tno", row.tno),
            ("account", f"{bank} {row.account_no_masked}"),
            ("amount", "full" if row.amount is None else f"{row.amount:,} of {row.remaining:,} won"),
            ("res_cd", f"{row.res_cd} {row.res_msg}".strip()),
            ("failure_reason", row.failure_reason),
            ("reference", row.reference),
        ]
        for key, value in lines:
            if value:
                self.stdout.write(f"  {key}: {value}")
        if row.state in (RefundState.UNKNOWN, RefundState.PENDING):
            self.stdout.write(
                gettext("  KCP's answer is not known: check KCP's admin and resolve the refund; never send it again.")
            )


def _row(queryset: QuerySet[R], option: str, value: str, what: str) -> R:
    """The row ``--{option}`` names by its id (the UUID) or its number."""
    if not is_id(value):
        message = gettext(
            "%(option)s must be an id like 0b6f7c1e-8d2a-4c3e-9f10-2a3b4c5d6e7f or a number, not %(value)r."
        ) % {"option": option, "value": value}
        raise field_failure(EXIT_INVALID, "invalid", option, "id_format", message)
    row = find_by_id(queryset, value)
    if row is None:
        message = gettext("No %(what)s has the id %(id)s.") % {"what": what, "id": str(value).strip()}
        raise field_failure(EXIT_INVALID, "not_found", option, "not_found", message)
    return row


def _verification(value: str | None) -> AccountVerification | None:
    if value is None or value == "":
        return None
    return _row(AccountVerification.objects.all(), "verification", value, gettext("verification"))


def _read_account_no(stream: IO[str]) -> str:
    line = stream.readline()
    if not line.strip():
        message = gettext("'--account-no -' reads the number from standard input, which was empty.")
        raise field_failure(EXIT_INVALID, "invalid", "account_no", "required", message)
    return line.strip()
