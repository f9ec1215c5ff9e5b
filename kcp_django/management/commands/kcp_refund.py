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
4 configuration (a setting or a system check is wrong; nothing sent).

The command runs Django's system checks itself (``requires_system_checks = []``), so that a
configuration problem, whoever finds it, exits 4 with its message (a JSON object with ``--json``).
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import IO, Any, NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandParser
from django.utils import translation
from django.utils.translation import gettext

from kcp_django.exceptions import AnswerNotStored, InvalidRequest, RefundInTransaction, RefundRefused
from kcp_django.management.scripted import ExitCodesHelpFormatter, system_check_errors
from kcp_django.models import AccountVerification, Refund, RefundState
from kcp_django.refunds import request_refund
from kcp_django.serialization import refund_as_dict

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


def exit_codes_help() -> str:
    return "\n".join(
        [
            gettext("exit status:"),
            "  0  " + gettext("accepted or completed: KCP took the refund"),
            "  1  " + gettext("rejected: KCP refused the refund"),
            "  2  " + gettext("invalid input, or refused by a rule; nothing was sent to KCP"),
            "  3  "
            + gettext("unknown or pending: KCP's answer is not known; check KCP's admin and resolve it, never resend"),
            "  4  " + gettext("configuration: a setting or a system check is wrong; nothing was sent to KCP"),
            "",
            gettext(
                "Prefer --verification: an account number typed on the command line stays in the shell's "
                "history. --account-no - reads it from standard input instead."
            ),
        ]
    )


class _Failure(Exception):
    """Ends the command with ``code`` and one error object."""

    def __init__(self, code: int, body: dict[str, Any], lines: list[str]) -> None:
        super().__init__(code)
        self.code = code
        self.body = body
        self.lines = lines


class Command(BaseCommand):
    help = (
        "Refund a KCP payment into a verified account (환불), or show a refund. "
        "Exit: 0 accepted, 1 rejected, 2 invalid or refused, 3 unknown, 4 configuration."
    )
    #: The checks run inside handle(), so that their errors exit 4 like every other configuration problem.
    requires_system_checks: list[str] = []
    #: ``call_command(..., stdin=...)`` gives the stream ``--account-no -`` reads.
    stealth_options = ("stdin",)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", ExitCodesHelpFormatter)
        kwargs.setdefault("epilog", exit_codes_help())
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            metavar="{" + ",".join(KINDS) + "}",
            help="escrow-cancel (STE2/STE4), escrow-refund (after the buyer confirmed) or vbank-refund",
        )
        parser.add_argument("--tno", help="KCP's 14-digit number of the payment to refund")
        parser.add_argument(
            "--verification",
            metavar="ID",
            help="id of a VERIFIED verification (the `id` kcp_verify and the API print); preferred",
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
        parser.add_argument("--show", metavar="ID", help="show the refund with this id instead of sending one")
        parser.add_argument("--json", action="store_true", help="print one JSON object (errors too)")
        parser.add_argument("--skip-checks", action="store_true", help="skip the system checks")

    def handle(self, *args: Any, **options: Any) -> None:
        as_json = bool(options["json"])
        try:
            if not options.get("skip_checks"):
                self._check_configuration()
            row = self._show(options) if options.get("show") else self._request(options)
        except _Failure as failure:
            self._fail(failure, as_json)
        self._report(row, as_json)
        sys.exit(EXIT_CODES[RefundState(row.state)])

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
            raise _invalid(exc) from None
        except RefundRefused as exc:
            message = str(exc.message)
            raise _Failure(
                EXIT_INVALID,
                {"error": "refused", "rule": exc.rule, "message": message},
                [f"refused [{exc.rule}]: {message}"],
            ) from None
        except (ImproperlyConfigured, RefundInTransaction) as exc:
            raise _configuration([str(exc)]) from None
        except AnswerNotStored as exc:
            message = str(exc)
            raise _Failure(
                EXIT_UNKNOWN,
                {
                    "error": "answer_not_stored",
                    "id": str(exc.public_id),
                    "status": str(exc.state).lower(),
                    "message": message,
                },
                [message],
            ) from None

    def _show(self, options: dict[str, Any]) -> Refund:
        given = [name for name in REQUEST_OPTIONS if options.get(name) not in (None, "")]
        if given or options.get("after_shipping"):
            names = ", ".join("--" + name.replace("_", "-") for name in given or ["after_shipping"])
            message = gettext("--show takes only --json; remove %(options)s.") % {"options": names}
            raise _Failure(
                EXIT_INVALID, {"error": "invalid", "fields": ["show"], "message": message}, [f"show: {message}"]
            )
        wanted = _public_id("show", options["show"])
        row = Refund.objects.select_related("verification").filter(public_id=wanted).first()
        if row is None:
            message = gettext("show: no refund has the id %(id)s.") % {"id": wanted}
            raise _Failure(EXIT_INVALID, {"error": "not_found", "fields": ["show"], "message": message}, [message])
        return row

    def _check_configuration(self) -> None:
        """Django's system checks, as ``manage.py check`` runs them: errors end the command, warnings are shown."""
        problems = system_check_errors(self.stderr, self.style.WARNING)
        if problems:
            raise _configuration(problems)

    def _report(self, row: Refund, as_json: bool) -> None:
        data = refund_as_dict(row)
        if as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
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

    def _fail(self, failure: _Failure, as_json: bool) -> NoReturn:
        if as_json:
            self.stdout.write(json.dumps(failure.body, ensure_ascii=False))
        for line in failure.lines:
            self.stderr.write(line)
        sys.exit(failure.code)


def _configuration(problems: list[str]) -> _Failure:
    lines = [gettext("configuration: %(problem)s") % {"problem": problem} for problem in problems]
    return _Failure(EXIT_CONFIGURATION, {"error": "configuration", "message": " ".join(lines)}, lines)


def _invalid(exc: InvalidRequest) -> _Failure:
    return _Failure(
        EXIT_INVALID,
        {
            "error": "invalid",
            "fields": sorted({error.field for error in exc.errors}),
            "errors": [{"field": e.field, "rule": e.rule, "message": str(e.message)} for e in exc.errors],
            "message": "; ".join(str(error) for error in exc.errors),
        },
        _bilingual_errors(exc),
    )


def _public_id(option: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        message = gettext("%(option)s must be an id like 0b6f7c1e-8d2a-4c3e-9f10-2a3b4c5d6e7f, not %(value)r.") % {
            "option": option,
            "value": value,
        }
        raise _Failure(
            EXIT_INVALID, {"error": "invalid", "fields": [option], "message": message}, [f"{option}: {message}"]
        ) from None


def _verification(value: str | None) -> AccountVerification | None:
    if value is None or value == "":
        return None
    wanted = _public_id("verification", value)
    row = AccountVerification.objects.filter(public_id=wanted).first()
    if row is None:
        message = gettext("verification: no verification has the id %(id)s.") % {"id": wanted}
        raise _Failure(EXIT_INVALID, {"error": "not_found", "fields": ["verification"], "message": message}, [message])
    return row


def _read_account_no(stream: IO[str]) -> str:
    line = stream.readline()
    if not line.strip():
        message = gettext("account_no: '--account-no -' reads the number from standard input, which was empty.")
        raise _Failure(EXIT_INVALID, {"error": "invalid", "fields": ["account_no"], "message": message}, [message])
    return line.strip()


def _bilingual_errors(exc: InvalidRequest) -> list[str]:
    lines = []
    for error in exc.errors:
        with translation.override("ko"):
            korean = str(error.message)
        with translation.override("en"):
            english = str(error.message)
        lines.append(f"{error.field} [{error.rule}]: {korean} / {english}")
    return lines
