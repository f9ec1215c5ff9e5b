"""The "Refund to this verified account" action: one row, a form (page 1), a confirmation that
shows where the money goes (page 2), then one refund through :func:`kcp_django.refunds.request_refund`.

A model admin pre-fills the form from its rows with::

    kcp_refund_tno_field = "order__kcp_tno"          # KCP's number of the payment
    kcp_refund_kind = "escrow-cancel"                # a constant, or
    kcp_refund_kind_field = "order__refund_kind"     # a path to each row's kind
    kcp_refund_amount_field = "order__amount"        # pre-fills a vbank-refund's amount

The account is never typed here: it is the one of the row's VERIFIED verification (the row itself
on the verification list; the row's ``kcp_verification_field``; otherwise the latest verification
of the row's reference, when the row still holds that account). The confirmation page carries a
one-time token that becomes the refund's idempotency key (``admin-<token>``), so a page sent
twice sends the refund once.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from kcp_django.admin.base import AccountSourceAdmin, UnreadableMessage, single_row
from kcp_django.admin.columns import bank_label
from kcp_django.admin.latest import RowAccount, latest_verifications
from kcp_django.admin.pages import KcpPage
from kcp_django.admin.permissions import REQUEST_REFUND_PERMISSION
from kcp_django.admin.sources import resolve_path, verification_reference
from kcp_django.deprecation import renamed_names
from kcp_django.exceptions import (
    AnswerNotStored,
    DecryptionError,
    InvalidRequest,
    RefundInTransaction,
    RefundRefused,
)
from kcp_django.models import AccountVerification, Refund, RefundKind, RefundState, VerificationState
from kcp_django.payments import find_payment
from kcp_django.refunds import check_refund, request_refund
from kcp_django.refunds.inputs import normalize_refund
from kcp_django.validation import parse_client_ip

if TYPE_CHECKING:
    from django.db import models
    from django.db.models import QuerySet

REFUND_ACTION_NAME = "kcp_refund_to_verified_account"
#: The prefix of the idempotency key a confirmation page's token becomes.
IDEMPOTENCY_PREFIX = "admin-"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
#: Which page of the action a POST comes from.
#: Where page 1 shows a rule the service refuses by (a rule not listed is shown above the form).
RULE_FIELDS = {
    "payment_unknown": "tno",
    "full_refund_exists": "tno",
    "earlier_refund_unknown": "tno",
    "refund_in_progress": "tno",
    "partial_refunds_exist": "amount",
    "amount_exceeds_remaining": "amount",
    "chain_mismatch": "remaining",
}
STEP_FIELD = "kcp_refund_step"
TOKEN_FIELD = "kcp_refund_token"  # noqa: S105 (a form field's name)

REFUND_FORM_PAGE = KcpPage(
    "admin/kcp_django/refund_form.html",
    _("Refund to a verified account"),
    "change-form kcp-refund-form",
    crumb=_("Refund to this verified account"),
)
REFUND_CONFIRMATION_PAGE = KcpPage(
    "admin/kcp_django/refund_confirmation.html",
    _("Confirm the refund"),
    "kcp-refund-confirmation",
    crumb=_("Refund to this verified account"),
)


class RefundForm(forms.Form):
    """What staff choose about the refund; the account is the verification's, never typed."""

    prefix = "kcp_refund"

    kind = forms.ChoiceField(label=_("kind"), choices=RefundKind.choices)
    tno = forms.CharField(
        label=_("KCP transaction number of the payment (tno)"),
        max_length=14,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "class": "vTextField"}),
    )
    after_shipping = forms.BooleanField(
        label=_("after shipping"),
        required=False,
        help_text=_("Escrow cancel only: the goods were already shipped (STE4 instead of STE2)."),
    )
    amount = forms.IntegerField(
        label=_("amount (won)"),
        required=False,
        min_value=1,
        help_text=_("Virtual-account refund only: leave empty to refund the whole payment."),
    )
    remaining = forms.IntegerField(
        label=_("remaining before this refund (won)"),
        required=False,
        min_value=1,
        help_text=_("With an amount: what was left of the payment before this refund."),
    )
    reason = forms.CharField(
        label=_("reason (mod_desc)"), required=False, max_length=100, widget=forms.TextInput(attrs={"size": 40})
    )

    def clean(self) -> dict[str, Any]:
        """The service's own rules on the refund's fields, each shown at its field."""
        data: dict[str, Any] = super().clean() or self.cleaned_data
        if self.errors:
            return data
        try:
            checked = normalize_refund(
                kind=data.get("kind"),
                tno=data.get("tno"),
                amount=data.get("amount"),
                remaining=data.get("remaining"),
                reason=data.get("reason") or "",
            )
        except InvalidRequest as exc:
            for error in exc.errors:
                self.add_error(error.field if error.field in self.fields else None, str(error.message))
            return data
        data["tno"], data["reason"] = checked.tno, checked.reason
        if data.get("after_shipping") and checked.kind != RefundKind.ESCROW_CANCEL:
            self.add_error("after_shipping", _("after shipping: only an escrow cancel can be made after shipping."))
        return data

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "tno": data["tno"],
            "amount": data.get("amount"),
            "remaining": data.get("remaining"),
            "after_shipping": bool(data.get("after_shipping")),
            "reason": data.get("reason") or "",
        }


class RefundToVerifiedAccountAdmin(AccountSourceAdmin):
    """Adds the action for staff with the ``kcp_django.request_refund`` permission."""

    #: Path to KCP's number of the payment (``tno``) on each row.
    kcp_refund_tno_field: str | None = None
    #: The kind every row's refund starts as (one of :class:`~kcp_django.models.RefundKind`) ...
    kcp_refund_kind: str | None = None
    #: ... or a path to each row's kind.
    kcp_refund_kind_field: str | None = None
    #: Path to the amount a ``vbank-refund`` of the row pre-fills (escrow refunds return the whole payment).
    kcp_refund_amount_field: str | None = None

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET or not self.has_kcp_refund_permission(request):
            return actions
        action = self.get_action(REFUND_ACTION_NAME)
        if action is not None:
            actions[REFUND_ACTION_NAME] = action
        return actions

    def has_kcp_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REQUEST_REFUND_PERMISSION)

    @admin.action(description=_("Refund to this verified account"))
    def kcp_refund_to_verified_account(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        if not self.has_kcp_refund_permission(request):
            raise PermissionDenied
        refusal = _("Select exactly one row to refund: each refund is confirmed on its own. Nothing was sent.")
        row = single_row(self, request, queryset, refusal)
        if row is None:
            return None
        verification = self.kcp_refund_verification(row)
        if verification is None or verification.state != VerificationState.VERIFIED:
            self.message_user(
                request,
                _(
                    "%(row)s has no VERIFIED verification of its refund account: verify the account first. "
                    "Nothing was sent."
                )
                % {"row": row},
                messages.ERROR,
            )
            return None
        step = request.POST.get(STEP_FIELD)
        if step is None:
            form = RefundForm(initial=self.kcp_refund_initial(row))
            return self.kcp_refund_page(request, row, verification, form)
        form = RefundForm(request.POST)
        if not form.is_valid():
            return self.kcp_refund_page(request, row, verification, form)
        if step == "confirm":
            return self.kcp_send_refund(request, row, verification, form)  # the service checks every rule again
        if not self.kcp_refund_rules_hold(request, verification, form):
            return self.kcp_refund_page(request, row, verification, form)
        return self.kcp_refund_confirmation(request, row, verification, form)

    def kcp_refund_rules_hold(self, request: HttpRequest, verification: AccountVerification, form: RefundForm) -> bool:
        """Every rule of the service, checked before the confirmation page (nothing stored or sent);
        a broken one is shown at its field. Sending checks them all again."""
        try:
            check_refund(**form.service_kwargs(), verification=verification, user=request.user)
        except InvalidRequest as exc:
            for error in exc.errors:
                form.add_error(error.field if error.field in form.fields else None, str(error.message))
            return False
        except RefundRefused as exc:
            form.add_error(RULE_FIELDS.get(exc.rule), self.kcp_refusal_message(exc))
            return False
        except DecryptionError:
            return True  # the send step says which key is missing
        return True

    def kcp_refusal_message(self, refused: RefundRefused) -> str:
        """The refusal's message, with a link to the earlier refund that holds the payment, if any."""
        held_by = Refund.objects.filter(public_id=refused.refund_id).first() if refused.refund_id else None
        if held_by is None:
            return str(refused.message)
        url = reverse("admin:kcp_django_refund_change", args=[held_by.pk], current_app=self.admin_site.name)
        return format_html('{} <a href="{}">{}</a>', refused.message, url, _("Open that refund to resolve it"))

    # Where the row's refund comes from ------------------------------------------------------------

    def kcp_refund_verification(self, row: models.Model) -> AccountVerification | None:
        """The verification whose account the row's refund pays into."""
        if isinstance(row, AccountVerification):
            return row
        if self.kcp_verification_field:
            linked = resolve_path(row, self.kcp_verification_field)
            return linked if isinstance(linked, AccountVerification) else None
        latest = latest_verifications([row], self.kcp_account_source(), self.kcp_merchant)[row.pk]
        return latest.verification if latest.account is RowAccount.SAME else None

    def kcp_refund_initial(self, row: models.Model) -> dict[str, Any]:
        """Page 1's values, read from the row where the admin names their attributes."""
        initial: dict[str, Any] = {}
        kind = self.kcp_refund_kind
        if self.kcp_refund_kind_field:
            kind = resolve_path(row, self.kcp_refund_kind_field)
        if kind in RefundKind.values:
            initial["kind"] = kind
        if self.kcp_refund_tno_field:
            tno = resolve_path(row, self.kcp_refund_tno_field)
            if tno:
                initial["tno"] = str(tno)
        if self.kcp_refund_amount_field and initial.get("kind") == RefundKind.VBANK_REFUND:
            # The row's amount, unless the payment is known and holds less: then a full refund.
            amount = resolve_path(row, self.kcp_refund_amount_field)
            payment = find_payment(initial["tno"], merchant=self.kcp_merchant) if initial.get("tno") else None
            if isinstance(amount, int) and amount > 0 and (payment is None or amount <= payment.remaining):
                initial["amount"] = amount
        return initial

    def kcp_refund_reference(self, row: models.Model) -> str:
        if isinstance(row, AccountVerification):
            return row.reference
        if self.kcp_verification_field and not self.kcp_reads_accounts():
            return verification_reference(row, self.kcp_reference_field)
        return self.kcp_account_source().reference_of(row)

    # Pages ----------------------------------------------------------------------------------------

    def _kcp_refund_context(
        self, row: models.Model, verification: AccountVerification, form: RefundForm
    ) -> dict[str, Any]:
        return {
            "form": form,
            "row": row,
            "verification": verification,
            "bank_name": bank_label(verification),
            "verified_at": verification.completed_at or verification.created_at,
            "action_name": REFUND_ACTION_NAME,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": row.pk,
            "step_field": STEP_FIELD,
            "token_field": TOKEN_FIELD,
        }

    def kcp_refund_page(
        self, request: HttpRequest, row: models.Model, verification: AccountVerification, form: RefundForm
    ) -> HttpResponse:
        """Page 1: the refund's kind, payment, amount and reason."""
        return REFUND_FORM_PAGE.render(self, request, **self._kcp_refund_context(row, verification, form))

    def kcp_refund_confirmation(
        self, request: HttpRequest, row: models.Model, verification: AccountVerification, form: RefundForm
    ) -> HttpResponse:
        """Page 2: where the money goes, with a one-time token for the button."""
        return REFUND_CONFIRMATION_PAGE.render(
            self,
            request,
            kind_label=RefundKind(form.cleaned_data["kind"]).label,
            token=secrets.token_urlsafe(24),
            **self._kcp_refund_context(row, verification, form),
        )

    def kcp_send_refund(
        self, request: HttpRequest, row: models.Model, verification: AccountVerification, form: RefundForm
    ) -> HttpResponse | None:
        """The confirmed refund, through the service (never the gateway), once per token."""
        token = request.POST.get(TOKEN_FIELD, "")
        if not _TOKEN.fullmatch(token):
            self.message_user(request, _("The confirmation form was incomplete; nothing was sent."), messages.ERROR)
            return None
        key = f"{IDEMPOTENCY_PREFIX}{token}"
        repeat = Refund.objects.filter(merchant=verification.merchant, idempotency_key=key).exists()
        try:
            refund = request_refund(
                **form.service_kwargs(),
                verification=verification,
                idempotency_key=key,
                reference=self.kcp_refund_reference(row),
                user=request.user,
                client_ip=parse_client_ip(request.META.get("REMOTE_ADDR")),
            )
        except InvalidRequest as exc:
            for error in exc.errors:
                form.add_error(error.field if error.field in form.fields else None, str(error.message))
            return self.kcp_refund_page(request, row, verification, form)
        except RefundRefused as exc:
            form.add_error(RULE_FIELDS.get(exc.rule), self.kcp_refusal_message(exc))
            return self.kcp_refund_page(request, row, verification, form)
        except DecryptionError as exc:
            self.message_user(request, unreadable_account_message(exc), messages.ERROR)
            return None
        except RefundInTransaction:
            self.message_user(
                request,
                _(
                    "The refund was not sent: this admin runs inside a database transaction "
                    "(ATOMIC_REQUESTS), and a refund must be stored before KCP is called."
                ),
                messages.ERROR,
            )
            return None
        except AnswerNotStored as exc:
            self.message_user(
                request,
                _(
                    "KCP was asked, but its answer could not be stored: refund %(ordr_idxx)s stays pending. "
                    "Check KCP's admin before doing anything, then resolve it in the refunds list."
                )
                % {"ordr_idxx": exc.ordr_idxx},
                messages.ERROR,
            )
            return None
        if repeat:
            self.message_user(
                request, _("This confirmation was already submitted; the refund was sent once."), messages.WARNING
            )
        self.message_user(request, refund_outcome_message(refund), _OUTCOME_LEVEL.get(refund.state, messages.WARNING))
        return None


_OUTCOME_LEVEL: dict[str, int] = {
    RefundState.ACCEPTED: messages.SUCCESS,
    RefundState.COMPLETED: messages.SUCCESS,
    RefundState.REJECTED: messages.ERROR,
}


#: What staff are told when the verification's stored account cannot be decrypted.
unreadable_account_message = UnreadableMessage(
    missing_key=_(
        "The refund was not sent: the verified account's number was encrypted with key %(key_id)s, which "
        "is no longer in KCP_ENCRYPTION_KEYS. Ask whoever runs the server to add that key back."
    ),
    altered=_(
        "The refund was not sent: the verified account's stored number cannot be read (it was altered). "
        "Verify the account again."
    ),
)


def refund_outcome_message(refund: Refund) -> str:
    """What staff are told about a refund KCP was asked for."""
    values = {
        "tno": refund.tno,
        "ordr_idxx": refund.ordr_idxx,
        "account": refund.account_no_masked,
        "res_cd": refund.res_cd or "-",
        "res_msg": refund.res_msg or refund.failure_reason,
    }
    if refund.state in (RefundState.ACCEPTED, RefundState.COMPLETED):
        return str(
            _(
                "KCP accepted the refund of payment %(tno)s to account %(account)s (order %(ordr_idxx)s). "
                "It is completed when KCP's notice arrives."
            )
            % values
        )
    if refund.state == RefundState.REJECTED:
        return str(
            _("KCP rejected the refund of payment %(tno)s: %(res_msg)s (%(res_cd)s). Nothing was paid.") % values
        )
    return str(
        _(
            "KCP's answer about the refund of payment %(tno)s (order %(ordr_idxx)s) is unknown: check KCP's admin "
            "before doing anything. Do not send it again; resolve it in the refunds list."
        )
        % values
    )


#: ``RefundActionAdmin``, the name before it said what the class is: warns, goes in 0.3.
__getattr__ = renamed_names(__name__, {"RefundActionAdmin": "RefundToVerifiedAccountAdmin"})
