"""``manage.py kcp_verify``: verify one refund account from the command line.

Exit status: 0 verified, 1 rejected, 2 invalid input, 3 unknown (or still pending), 4 configuration.

The command runs Django's system checks itself (``requires_system_checks = []``), so that a
configuration problem, whoever finds it (a system check, the settings, the gateway), exits 4 with
its message (a JSON object with ``--json``) rather than Django's generic exit 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandParser
from django.utils import translation
from django.utils.translation import gettext

from kcp_django.exceptions import AnswerNotStored, DuplicateOrderError, InvalidRequest
from kcp_django.management.scripted import ExitCodesHelpFormatter, system_check_errors
from kcp_django.models import AccountVerification, VerificationState
from kcp_django.serialization import verification_as_dict
from kcp_django.verifications import verify_refund_account

EXIT_CODES = {
    VerificationState.VERIFIED: 0,
    VerificationState.REJECTED: 1,
    VerificationState.UNKNOWN: 3,
    VerificationState.PENDING: 3,
}
EXIT_INVALID = 2
EXIT_CONFIGURATION = 4


def exit_codes_help() -> str:
    return "\n".join(
        [
            gettext("exit status:"),
            "  0  " + gettext("verified: the holder's name matches the account"),
            "  1  " + gettext("rejected: KCP refused the account or the name"),
            "  2  " + gettext("invalid input, or an order number already used for another account"),
            "  3  " + gettext("unknown: KCP's answer is not known yet (run kcp_reconcile later)"),
            "  4  " + gettext("configuration: a setting or a system check is wrong; nothing was sent to KCP"),
        ]
    )


class Command(BaseCommand):
    help = (
        "Verify a refund bank account through KCP (계좌인증). "
        "Exit: 0 verified, 1 rejected, 2 invalid, 3 unknown, 4 configuration."
    )
    #: The checks run inside handle(), so that their errors exit 4 like every other configuration problem.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", ExitCodesHelpFormatter)
        kwargs.setdefault("epilog", exit_codes_help())
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bank-code", required=True, help="bank code, e.g. 04 (국민은행)")
        parser.add_argument("--account-no", required=True, help="account number; spaces and hyphens are ignored")
        parser.add_argument("--owner-nm", required=True, help="account holder name (예금주명)")
        parser.add_argument("--ordr-idxx", default=None, help="your order number; generated when absent")
        parser.add_argument("--reference", default="", help="your order or refund id, kept with the row")
        parser.add_argument("--merchant", default="default", help="alias in KCP_MERCHANTS")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--skip-checks", action="store_true", help="skip the system checks")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options.get("skip_checks"):
            problems = self._check_configuration()
            if problems:
                self._fail(EXIT_CONFIGURATION, problems, options["json"], [])
        try:
            row = verify_refund_account(
                bank_code=options["bank_code"],
                account_no=options["account_no"],
                owner_nm=options["owner_nm"],
                ordr_idxx=options["ordr_idxx"],
                reference=options["reference"],
                merchant=options["merchant"],
            )
        except InvalidRequest as exc:
            self._fail(EXIT_INVALID, _bilingual_errors(exc), options["json"], [e.field for e in exc.errors])
        except DuplicateOrderError as exc:
            self._fail(EXIT_INVALID, [str(exc)], options["json"], ["ordr_idxx"])
        except ImproperlyConfigured as exc:
            self._fail(EXIT_CONFIGURATION, [_configuration(str(exc))], options["json"], [])
        except AnswerNotStored as exc:
            self._fail(EXIT_CODES[VerificationState.PENDING], [str(exc)], options["json"], [])
        self._report(row, options["json"])
        sys.exit(EXIT_CODES[VerificationState(row.state)])

    def _check_configuration(self) -> list[str]:
        """Django's system checks, as ``manage.py check`` runs them: errors returned, warnings shown."""
        return [_configuration(problem) for problem in system_check_errors(self.stderr, self.style.WARNING)]

    def _report(self, row: AccountVerification, as_json: bool) -> None:
        data = verification_as_dict(row)
        if as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        style = {"VERIFIED": self.style.SUCCESS, "REJECTED": self.style.ERROR}.get(row.state, self.style.WARNING)
        self.stdout.write(style(f"{row.state}  {row.get_state_display()}"))
        for key, value in data.items():
            if key != "status" and value not in ("", None):
                self.stdout.write(f"  {key}: {value}")

    def _fail(self, code: int, messages: list[str], as_json: bool, fields: list[str]) -> None:
        if as_json:
            self.stdout.write(json.dumps({"error": messages, "fields": sorted(set(fields))}, ensure_ascii=False))
        for message in messages:
            self.stderr.write(message)
        sys.exit(code)


def _configuration(problem: str) -> str:
    return gettext("configuration: %(problem)s") % {"problem": problem}


def _bilingual_errors(exc: InvalidRequest) -> list[str]:
    lines = []
    for error in exc.errors:
        with translation.override("ko"):
            korean = str(error.message)
        with translation.override("en"):
            english = str(error.message)
        lines.append(f"{error.field} [{error.rule}]: {korean} / {english}")
    return lines
