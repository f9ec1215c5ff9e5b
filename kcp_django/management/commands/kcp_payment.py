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

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandParser
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kcp_django.exceptions import InvalidRequest
from kcp_django.management.scripted import (
    ScriptedCommand,
    configuration_failure,
    field_failure,
    invalid_failure,
)
from kcp_django.models import Payment, Refund, RefundState
from kcp_django.payments import find_payment, register_payment
from kcp_django.payments.display import payment_as_dict, payment_refunds

EXIT_DONE = 0
EXIT_INVALID = 2
EXIT_CONFIGURATION = 4
#: The options of a registration, which ``--show`` does not take.
REGISTER_OPTIONS = ("tno", "amount", "reference", "payer")


class Command(ScriptedCommand):
    help = (
        "Register a KCP payment (what was paid, for which order, by whom) so that it can be refunded, "
        "or show one. Exit: 0 done, 2 invalid or refused, 4 configuration."
    )
    exit_statuses = (
        (0, _("registered, or shown")),
        (2, _("invalid input, refused, or no such payment; nothing was changed")),
        (4, _("configuration: a setting or a system check is wrong; nothing was stored")),
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tno", help="KCP's 14-digit number of the payment")
        parser.add_argument("--amount", metavar="WON", help="what the customer paid, in won")
        parser.add_argument(
            "--reference", help="the shop's order the payment was for (its refund account is verified under it)"
        )
        parser.add_argument("--payer", metavar="USERNAME", help="the user who paid (optional)")
        parser.add_argument("--merchant", default=None, help="alias in KCP_MERCHANTS (default: default)")
        parser.add_argument("--show", metavar="TNO", help="show the payment with this tno instead of registering one")

    def act(self, options: dict[str, Any]) -> tuple[Payment, str]:
        if options.get("show"):
            return self._show(options), "shown"
        return self._register(options), "registered"

    def as_dict(self, result: tuple[Payment, str]) -> dict[str, Any]:
        payment, _ = result
        return payment_as_dict(payment, payment_refunds(payment))

    def exit_code(self, result: tuple[Payment, str]) -> int:
        return EXIT_DONE

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
            raise invalid_failure(EXIT_INVALID, exc.errors) from None
        except ImproperlyConfigured as exc:
            raise configuration_failure(EXIT_CONFIGURATION, [str(exc)]) from None

    def _show(self, options: dict[str, Any]) -> Payment:
        given = [name for name in REGISTER_OPTIONS if options.get(name) not in (None, "")]
        if given:
            names = ", ".join("--" + name for name in given)
            message = gettext("--show takes only --merchant and --json; remove %(options)s.") % {"options": names}
            raise field_failure(EXIT_INVALID, "invalid", "show", "show_alone", message)
        tno = str(options["show"]).strip()
        try:
            payment = find_payment(tno, merchant=options.get("merchant"))
        except ImproperlyConfigured as exc:
            raise configuration_failure(EXIT_CONFIGURATION, [str(exc)]) from None
        if payment is None:
            message = gettext("show: no payment %(tno)s is registered for this merchant.") % {"tno": tno}
            raise field_failure(EXIT_INVALID, "not_found", "show", "not_found", message)
        return payment

    def report(self, result: tuple[Payment, str]) -> None:
        payment, verb = result
        refunds = payment_refunds(payment)
        data = payment_as_dict(payment, refunds)
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
        raise field_failure(EXIT_INVALID, "not_found", "payer", "not_found", message)
    return user
