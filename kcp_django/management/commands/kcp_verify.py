"""``manage.py kcp_verify``: verify one refund account from the command line.

Exit status: 0 verified, 1 rejected, 2 invalid input, 3 unknown (or still pending), 4 configuration.

The command runs Django's system checks itself (``requires_system_checks = []``), so that a
configuration problem, whoever finds it (a system check, the settings, the gateway), exits 4 with
its message (a JSON object with ``--json``) rather than Django's generic exit 1. With ``--json`` the one
object (the verification, ``status`` in lower case as the API gives it, or an error object as
:mod:`kcp_django.management.scripted` describes) is all the command writes.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandParser
from django.utils.translation import gettext_lazy as _

from kcp_django.exceptions import AnswerNotStored, DuplicateOrderError, InvalidRequest
from kcp_django.management.scripted import (
    CommandFailure,
    ScriptedCommand,
    configuration_failure,
    field_failure,
    invalid_failure,
)
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
#: The options, each given to verify_refund_account() under its own name.
VERIFY_OPTIONS = ("bank_code", "account_no", "owner_nm", "ordr_idxx", "reference", "merchant")


class Command(ScriptedCommand):
    help = (
        "Verify a refund bank account through KCP (계좌인증). "
        "Exit: 0 verified, 1 rejected, 2 invalid, 3 unknown, 4 configuration."
    )
    exit_statuses = (
        (0, _("verified: the holder's name matches the account")),
        (1, _("rejected: KCP refused the account or the name")),
        (2, _("invalid input, or an order number already used for another account")),
        (3, _("unknown: KCP's answer is not known yet (run kcp_reconcile later)")),
        (4, _("configuration: a setting or a system check is wrong; nothing was sent to KCP")),
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bank-code", required=True, help="bank code, e.g. 04 (국민은행)")
        parser.add_argument("--account-no", required=True, help="account number; spaces and hyphens are ignored")
        parser.add_argument("--owner-nm", required=True, help="account holder name (예금주명)")
        parser.add_argument("--ordr-idxx", default=None, help="your order number; generated when absent")
        parser.add_argument("--reference", default="", help="your order or refund id, kept with the row")
        parser.add_argument("--merchant", default="default", help="alias in KCP_MERCHANTS")

    def act(self, options: dict[str, Any]) -> AccountVerification:
        return self._verify(options)

    def as_dict(self, result: AccountVerification) -> dict[str, Any]:
        return verification_as_dict(result)

    def exit_code(self, result: AccountVerification) -> int:
        return EXIT_CODES[VerificationState(result.state)]

    def _verify(self, options: dict[str, Any]) -> AccountVerification:
        try:
            return verify_refund_account(**{name: options[name] for name in VERIFY_OPTIONS})
        except InvalidRequest as exc:
            raise invalid_failure(EXIT_INVALID, exc.errors) from None
        except DuplicateOrderError as exc:
            raise field_failure(EXIT_INVALID, "duplicate_order", "ordr_idxx", "duplicate_order", str(exc)) from None
        except ImproperlyConfigured as exc:
            raise configuration_failure(EXIT_CONFIGURATION, [str(exc)]) from None
        except AnswerNotStored as exc:
            raise CommandFailure(
                EXIT_CODES[VerificationState.PENDING],
                "outcome_not_stored",
                str(exc),
                extra={"id": str(exc.public_id), "status": str(exc.state).lower()},
            ) from None

    def report(self, row: AccountVerification) -> None:
        data = verification_as_dict(row)
        style = {"VERIFIED": self.style.SUCCESS, "REJECTED": self.style.ERROR}.get(row.state, self.style.WARNING)
        self.stdout.write(style(f"{data['status']}  {row.get_state_display()}"))
        for key, value in data.items():
            if key != "status" and value not in ("", None):
                self.stdout.write(f"  {key}: {value}")
