"""The one catalogue of what a broken input rule says, and :func:`field_error`, which makes the error.

Every message names the field and the rule, keyed by ``(field, rule)``; the rule ids are stable, the
messages are translated lazily (in the language active when they are shown). The limits are written
into the msgids so translators see them: keep them in step with the constants of
:mod:`kcp_django.validation` (the account), :mod:`kcp_django.refunds.inputs` (a refund's own
fields) and :mod:`kcp_django.api.refund_serializers` (the refund endpoint's). Imports nothing of the
app but :mod:`kcp_django.exceptions`.
"""

from __future__ import annotations

from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _

from kcp_django.exceptions import FieldError

__all__ = ["MESSAGES", "field_error"]

MESSAGES: dict[tuple[str, str], Promise] = {
    # The account: bank, number, holder, and what the shop adds (kcp_django.validation).
    ("owner_nm", "required"): _("owner_nm (account holder name) is required."),
    ("owner_nm", "type"): _("owner_nm (account holder name) must be text."),
    ("owner_nm", "forbidden_character"): _(
        "owner_nm (account holder name) contains characters KCP does not accept: %(chars)s"
    ),
    ("owner_nm", "encoding"): _(
        "owner_nm (account holder name) may only use characters that EUC-KR can represent; "
        "these cannot be sent: %(chars)s"
    ),
    ("owner_nm", "max_bytes"): _(
        "owner_nm (account holder name) must be at most 20 bytes in EUC-KR "
        "(a Korean syllable counts as 2); it is %(size)d bytes."
    ),
    ("account_no", "required"): _("account_no (account number) is required."),
    ("account_no", "type"): _("account_no (account number) must be text or a non-negative integer."),
    ("account_no", "forbidden_character"): _(
        "account_no (account number) contains characters KCP does not accept: %(chars)s"
    ),
    ("account_no", "digits_only"): _(
        "account_no (account number) may only contain digits (spaces and hyphens are removed); not allowed: %(chars)s"
    ),
    ("account_no", "max_digits"): _("account_no (account number) must be at most 20 digits; it has %(count)d."),
    ("bank_code", "required"): _("bank_code (bank code) is required."),
    ("bank_code", "type"): _("bank_code (bank code) must be text or an integer."),
    ("bank_code", "forbidden_character"): _("bank_code (bank code) contains characters KCP does not accept: %(chars)s"),
    ("bank_code", "unknown_bank"): _(
        "bank_code (bank code) is not a bank KCP supports; use a code from KCP's bank code table "
        "(e.g. 04 for KB Kookmin Bank)."
    ),
    ("ordr_idxx", "type"): _("ordr_idxx (order number) must be text."),
    ("ordr_idxx", "forbidden_character"): _(
        "ordr_idxx (order number) contains characters KCP does not accept: %(chars)s"
    ),
    ("ordr_idxx", "format"): _(
        "ordr_idxx (order number) may only contain ASCII letters, digits, '_' and '-'; not allowed: %(chars)s"
    ),
    ("ordr_idxx", "max_length"): _("ordr_idxx (order number) must be at most 40 characters; it has %(length)d."),
    ("reference", "type"): _("reference (shop reference) must be text."),
    ("reference", "forbidden_character"): _(
        "reference (shop reference) contains characters KCP does not accept: %(chars)s"
    ),
    ("reference", "max_length"): _("reference (shop reference) must be at most 100 characters; it has %(length)d."),
    ("client_ip", "type"): _("client_ip (client IP address) must be text, or empty when unknown."),
    ("client_ip", "ip_address"): _(
        "client_ip (client IP address) must be one IPv4 or IPv6 address (e.g. 203.0.113.7 or 2001:db8::7) "
        "without a zone, or empty when unknown."
    ),
    # A refund's own fields (kcp_django.refunds.inputs).
    ("kind", "choice"): _("kind must be one of escrow-cancel, escrow-refund, vbank-refund."),
    ("tno", "required"): _("tno (KCP's number of the payment) is required."),
    ("tno", "format"): _("tno (KCP's number of the payment) must be exactly 14 digits."),
    ("amount", "type"): _("amount must be a whole number of won."),
    ("amount", "range"): _("amount must be above 0 and at most 9,999,999,999 won."),
    ("remaining", "type"): _("remaining must be a whole number of won."),
    ("remaining", "range"): _("remaining must be above 0 and at most 9,999,999,999 won."),
    ("remaining", "required"): _(
        "remaining goes only with amount (a partial refund); leave it out and it is taken from the payment."
    ),
    ("remaining", "less_than_amount"): _("remaining (the amount left before this refund) must be at least amount."),
    ("amount", "partial_not_supported"): _(
        "amount: only vbank-refund can refund part of a payment; escrow refunds return the whole payment."
    ),
    ("reason", "type"): _("reason must be text."),
    ("reason", "forbidden_character"): _(
        "reason contains characters KCP does not accept: , & ; \\ | ' \" < > or controls."
    ),
    ("reason", "encoding"): _("reason may only use characters that EUC-KR can represent."),
    ("reason", "max_bytes"): _("reason must be at most 100 bytes in EUC-KR (a Korean syllable counts as 2)."),
    ("idempotency_key", "format"): _("idempotency_key must be 1 to 100 printable ASCII characters without spaces."),
    # The refund endpoint's own fields (kcp_django.api.refund_serializers).
    ("verification", "format"): _("verification must be the id of a verification (a UUID)."),
    ("verification", "not_found"): _("verification: no verification has this id."),
    ("after_shipping", "type"): _("after_shipping must be true or false."),
    ("merchant", "choice"): _("merchant must be an alias in KCP_MERCHANTS."),
    ("non_field_errors", "not_an_object"): _(
        "The request body must be a JSON object with at least the fields kind and tno."
    ),
    # A payment the shop registers (kcp_django.payments).
    ("reference", "required"): _("reference (the order the payment was for) is required."),
    ("amount", "required"): _("amount (what the customer paid, in won) is required."),
    ("amount", "differs"): _(
        "This payment is already registered with another amount (%(stored)s won); a payment's amount never changes."
    ),
    ("reference", "differs"): _("This payment is already registered for another order (reference %(stored)s)."),
    ("payer", "differs"): _("This payment is already registered for another payer."),
}


def _interpolate(message: Promise, params: dict[str, object]) -> str:
    return str(message) % params


# ``gettext_lazy(...) % params`` would translate right away; this waits until the message is str()-ed.
_interpolate_lazy = lazy(_interpolate, str)


def field_error(field: str, rule: str, **params: object) -> FieldError:
    """The :class:`FieldError` for ``field`` breaking ``rule``; ``params`` fill the message's placeholders."""
    message = MESSAGES[field, rule]
    return FieldError(field, rule, _interpolate_lazy(message, params) if params else message)
