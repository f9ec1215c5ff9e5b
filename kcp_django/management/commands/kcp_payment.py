"""``manage.py kcp_payment``: register a payment refunds may be paid out of, or show one.

::

    kcp_payment --tno TNO --amount WON --reference REF [--payer USERNAME] [--merchant ALIAS] [--json]
    kcp_payment --show TNO [--merchant ALIAS] [--json]

Registering calls :func:`kcp_django.payments.register_payment`, as a shop's checkout code does: the
same payment registered again with the same content shows the stored row; another amount,
reference or payer is refused and changes nothing. ``--show`` prints what was paid, refunded and
remains, and the payment's refunds (accounts masked).

Exit status: 0 registered or shown, 2 invalid input, refused, or no such payment (nothing
changed), 4 configuration (a setting or a system check is wrong; nothing stored). The command
runs Django's system checks itself, as ``kcp_refund`` does, so that a configuration problem
exits 4 with its message (a JSON object with ``--json``).
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandParser
from django.utils import translation
from django.utils.translation import gettext

from kcp_django.exceptions import InvalidRequest
from kcp_django.management.scripted import ExitCodesHelpFormatter, system_check_errors
from kcp_django.models import Payment, Refund, RefundState
from kcp_django.payments import find_payment, register_payment
from kcp_django.payments.display import payment_as_dict, payment_refunds

EXIT_DONE = 0
EXIT_INVALID = 2
EXIT_CONFIGURATION = 4
#: The options of a registration, which ``--show`` does not take.
REGISTER_OPTIONS = ("tno", "amount", "reference", "payer")


def exit_codes_help() -> str:
    return "\n".join(
        [
            gettext("exit status:"),
            "  0  " + gettext("registered, or shown"),
            "  2  " + gettext("invalid input, refused, or no such payment; nothing was changed"),
            "  4  " + gettext("configuration: a setting or a system check is wrong; nothing was stored"),
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
        "Register a KCP payment (what was paid, for which order, by whom) so that it can be refunded, "
        "or show one. Exit: 0 done, 2 invalid or refused, 4 configuration."
    )
    #: The checks run inside handle(), so that their errors exit 4 like every other configuration problem.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", ExitCodesHelpFormatter)
        kwargs.setdefault("epilog", exit_codes_help())
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tno", help="KCP's 14-digit number of the payment")
        parser.add_argument("--amount", metavar="WON", help="what the customer paid, in won")
        parser.add_argument(
            "--reference", help="the shop's order the payment was for (its refund account is verified under it)"
        )
        parser.add_argument("--payer", metavar="USERNAME", help="the user who paid (optional)")
        parser.add_argument("--merchant", default=None, help="alias in KCP_MERCHANTS (default: default)")
        parser.add_argument("--show", metavar="TNO", help="show the payment with this tno instead of registering one")
        parser.add_argument("--json", action="store_true", help="print one JSON object (errors too)")
        parser.add_argument("--skip-checks", action="store_true", help="skip the system checks")

    def handle(self, *args: Any, **options: Any) -> None:
        as_json = bool(options["json"])
        try:
            if not options.get("skip_checks"):
                self._check_configuration()
            if options.get("show"):
                payment, verb = self._show(options), "shown"
            else:
                payment, verb = self._register(options), "registered"
        except _Failure as failure:
            self._fail(failure, as_json)
        self._report(payment, verb, as_json)
        sys.exit(EXIT_DONE)

    def _register(self, options: dict[str, Any]) -> Payment:
        payer = _payer(options.get("payer"))
        try:
            return register_payment(
                tno=options.get("tno") or "",
                amount=options.get("amount"),
                reference=options.get("reference") or "",
                payer=payer,
                merchant=options.get("merchant"),
            )
        except InvalidRequest as exc:
            raise _invalid(exc) from None
        except ImproperlyConfigured as exc:
            raise _configuration([str(exc)]) from None

    def _show(self, options: dict[str, Any]) -> Payment:
        given = [name for name in REGISTER_OPTIONS if options.get(name) not in (None, "")]
        if given:
            names = ", ".join("--" + name for name in given)
            message = gettext("--show takes only --merchant and --json; remove %(options)s.") % {"options": names}
            raise _Failure(
                EXIT_INVALID, {"error": "invalid", "fields": ["show"], "message": message}, [f"show: {message}"]
            )
        tno = str(options["show"]).strip()
        try:
            payment = find_payment(tno, merchant=options.get("merchant"))
        except ImproperlyConfigured as exc:
            raise _configuration([str(exc)]) from None
        if payment is None:
            message = gettext("show: no payment %(tno)s is registered for this merchant.") % {"tno": tno}
            raise _Failure(EXIT_INVALID, {"error": "not_found", "fields": ["show"], "message": message}, [message])
        return payment

    def _check_configuration(self) -> None:
        problems = system_check_errors(self.stderr, self.style.WARNING)
        if problems:
            raise _configuration(problems)

    def _report(self, payment: Payment, verb: str, as_json: bool) -> None:
        refunds = payment_refunds(payment)
        data = payment_as_dict(payment, refunds)
        if as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
            return
        self.stdout.write(
            self.style.SUCCESS(f"{verb}  {payment.tno}  ({payment.merchant}, {payment.site_cd}, {payment.mode})")
        )
        lines = [
            ("reference", payment.reference),
            ("payer", data["payer"] or ""),
            ("paid", _won(payment.amount)),
            ("refunded", _won(data["refunded"])),
            ("remaining", _won(data["remaining"])),
            ("deposited_at", data["deposited_at"] or ""),
            ("review", payment.review_reason if payment.needs_review else ""),
        ]
        for key, value in lines:
            if value:
                self.stdout.write(f"  {key}: {value}")
        if not refunds:
            self.stdout.write(gettext("  no refunds"))
        for refund in refunds:
            self.stdout.write("  " + _refund_line(refund))

    def _fail(self, failure: _Failure, as_json: bool) -> NoReturn:
        if as_json:
            self.stdout.write(json.dumps(failure.body, ensure_ascii=False))
        for line in failure.lines:
            self.stderr.write(line)
        sys.exit(failure.code)


def _won(amount: int) -> str:
    return f"{amount:,} won"


def _refund_line(refund: Refund) -> str:
    amount = "full" if refund.amount is None else f"{refund.amount:,} won"
    when = refund.created_at.strftime("%Y-%m-%d %H:%M") if refund.created_at else ""
    review = " (needs review)" if refund.needs_review else ""
    state = RefundState(refund.state).value.lower()
    return f"refund {refund.public_id}  {state}  {refund.kind}  {amount}  {refund.account_no_masked}  {when}{review}"


def _payer(username: str | None) -> Any:
    if username is None or username == "":
        return None
    users = get_user_model()
    user = users._default_manager.filter(**{users.USERNAME_FIELD: username}).first()
    if user is None:
        message = gettext("payer: no user has the username %(username)s.") % {"username": username}
        raise _Failure(EXIT_INVALID, {"error": "not_found", "fields": ["payer"], "message": message}, [message])
    return user


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


def _bilingual_errors(exc: InvalidRequest) -> list[str]:
    lines = []
    for error in exc.errors:
        with translation.override("ko"):
            korean = str(error.message)
        with translation.override("en"):
            english = str(error.message)
        lines.append(f"{error.field} [{error.rule}]: {korean} / {english}")
    return lines
