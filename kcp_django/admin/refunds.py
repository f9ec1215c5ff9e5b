"""The admin of refunds and of KCP's notices: read-only lists, and one way to move a refund by hand.

Refunds are written by :mod:`kcp_django.refunds` only. A refund whose answer was lost (UNKNOWN, or
left PENDING) is never sent again by code; staff with ``kcp_django.resolve_refund`` record what
KCP's admin shows through "Resolve: KCP accepted it" / "Resolve: KCP rejected it", a confirmation
page with a required note, kept in the admin log.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from kcp_django.admin.badges import state_badge
from kcp_django.admin.base import single_row
from kcp_django.admin.columns import AccountColumns
from kcp_django.admin.ids import ExactSearchAdmin
from kcp_django.admin.pages import KcpPage
from kcp_django.admin.permissions import RESOLVE_REFUND_PERMISSION
from kcp_django.admin.read_only import ReadOnlyAdmin
from kcp_django.admin.verifications import MerchantFilter
from kcp_django.exceptions import RefundRefused
from kcp_django.models import KcpNotice, Refund, RefundState
from kcp_django.refunds import resolve_refund, send_signal_again, still_being_sent

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

#: The states "resolve" applies to: the answer was lost.
RESOLVABLE_STATES = (RefundState.UNKNOWN, RefundState.PENDING)
#: Stored in the admin log (LogEntry.change_message) with the staff member's note.
RESOLVE_LOG_MESSAGE = "Resolved as {state} after checking KCP's admin: {note}"
SIGNAL_AGAIN_LOG_MESSAGE = "Signal for a {state} refund sent again"

#: The page that asks to confirm a resolution, by whether KCP accepted the refund.
RESOLVE_PAGES = {
    accepted: KcpPage("admin/kcp_django/refund_resolve.html", title, "kcp-refund-resolve")
    for accepted, title in ((True, _("Resolve: KCP accepted it")), (False, _("Resolve: KCP rejected it")))
}


class ResolveForm(forms.Form):
    note = forms.CharField(
        label=_("What KCP's admin shows"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("Required: the state and the date KCP's admin shows for this refund, and where you looked."),
    )


@admin.register(Refund)
class RefundAdmin(AccountColumns, ExactSearchAdmin, ReadOnlyAdmin):
    list_display = [
        "state_badge",
        "kind",
        "tno",
        "amount_display",
        "bank_name",
        "account_no_masked",
        "owner_nm",
        "needs_review",
        "created_at",
        "completed_at",
    ]
    list_display_links = ["tno"]
    list_filter = ["state", "kind", MerchantFilter, "needs_review", "created_at"]
    search_fields = ["=tno", "=ordr_idxx", "=reference"]
    kcp_search_public_id = True
    search_help_text = _(
        "Exact KCP transaction number of the payment (tno), order number (ordr_idxx), shop reference or id "
        "(the UUID the API and kcp_refund print)."
    )
    actions = ["resolve_accepted", "resolve_rejected", "signal_again"]
    # Never the account number: only its masked form, on the list and on the detail page.
    fields = (
        "public_id",
        "merchant",
        "state",
        "kind",
        "tno",
        "payment_link",
        "ordr_idxx",
        "mod_type",
        "after_shipping",
        "amount_display",
        "bank_name",
        "account_no_masked",
        "owner_nm",
        "verification",
        "reason",
        "reference",
        "res_cd",
        "res_msg",
        "answer_tno",
        "app_time",
        "failure_reason",
        "needs_review",
        "requested_by",
        "client_ip",
        "created_at",
        "answered_at",
        "completed_at",
        "resolved_by",
        "resolved_at",
        "resolution_note",
    )
    readonly_fields = fields

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj: Refund) -> str:
        return state_badge(obj.state, obj.get_state_display(), obj.res_msg or obj.failure_reason)

    @admin.display(description=_("payment"))
    def payment_link(self, obj: Refund) -> str:
        """The payment this refund returns, linked to its page (rows from before payments: none)."""
        if obj.payment_id is None:
            return "-"
        url = reverse("admin:kcp_django_payment_change", args=[obj.payment_id], current_app=self.admin_site.name)
        return format_html('<a href="{}">{}</a>', url, obj.payment)

    @admin.display(description=_("amount / remaining (won)"))
    def amount_display(self, obj: Refund) -> str:
        if obj.amount is None:
            return str(_("full"))
        return f"{obj.amount:,} / {obj.remaining:,}" if obj.remaining is not None else f"{obj.amount:,}"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        # The list never reads the encrypted number.
        return super().get_queryset(request).defer("account_no", "raw_response")

    # Resolving a refund whose answer was lost -------------------------------------------------------

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm(RESOLVE_REFUND_PERMISSION):
            actions.pop("resolve_accepted", None)
            actions.pop("resolve_rejected", None)
            actions.pop("signal_again", None)
        return actions

    @admin.action(description=_("Send the shop's signal again (after a receiver failed)"))
    def signal_again(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        if not request.user.has_perm(RESOLVE_REFUND_PERMISSION):
            self.message_user(request, _("You may not resolve refunds."), messages.ERROR)
            return
        sent = [refund for refund in queryset if send_signal_again(refund)]
        for refund in sent:
            self.log_change(request, refund, SIGNAL_AGAIN_LOG_MESSAGE.format(state=refund.state))
        self.message_user(
            request,
            _("Signals sent again for %(sent)d of %(selected)d refunds (accepted or completed ones only).")
            % {"sent": len(sent), "selected": queryset.count()},
            messages.SUCCESS if sent else messages.WARNING,
        )

    @admin.action(description=_("Resolve: KCP accepted it"))
    def resolve_accepted(self, request: HttpRequest, queryset: QuerySet[Refund]) -> HttpResponse | None:
        return self._resolve(request, queryset, accepted=True)

    @admin.action(description=_("Resolve: KCP rejected it"))
    def resolve_rejected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> HttpResponse | None:
        return self._resolve(request, queryset, accepted=False)

    def _resolve(self, request: HttpRequest, queryset: QuerySet[Refund], *, accepted: bool) -> HttpResponse | None:
        if not request.user.has_perm(RESOLVE_REFUND_PERMISSION):
            self.message_user(request, _("You may not resolve refunds."), messages.ERROR)
            return None
        refusal = _("Select exactly one refund to resolve: each one is checked in KCP's admin on its own.")
        refund = single_row(self, request, queryset, refusal)
        if refund is None:
            return None
        if refund.state == RefundState.PENDING and still_being_sent(refund):
            self._tell(
                request,
                refund,
                _("Refund %(ordr_idxx)s is still being sent to KCP; resolve it only once its answer is overdue."),
                messages.ERROR,
            )
            return None
        if refund.state not in RESOLVABLE_STATES:
            self._tell(
                request,
                refund,
                _(
                    "Refund %(ordr_idxx)s is %(state)s: only a refund whose answer was lost "
                    "(unknown or pending) is resolved."
                ),
                messages.ERROR,
            )
            return None
        form = ResolveForm(request.POST if request.POST.get("kcp_resolve_confirmed") == "yes" else None)
        if form.is_bound and form.is_valid():
            note = form.cleaned_data["note"]
            try:
                moved = resolve_refund(refund, accepted=accepted, note=note, user=request.user)
            except RefundRefused as exc:
                form.add_error("note", str(exc.message))
            else:
                if not moved:
                    self._tell(
                        request,
                        refund,
                        _("Refund %(ordr_idxx)s was already moved on (now %(state)s); nothing was changed."),
                        messages.WARNING,
                    )
                    return None
                self.log_change(request, refund, RESOLVE_LOG_MESSAGE.format(state=refund.state, note=note.strip()))
                self._tell(request, refund, _("Refund %(ordr_idxx)s is now %(state)s."), messages.SUCCESS)
                return None
        return RESOLVE_PAGES[accepted].render(
            self,
            request,
            form=form,
            refund=refund,
            accepted=accepted,
            action_name="resolve_accepted" if accepted else "resolve_rejected",
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            selected=refund.pk,
        )

    def _tell(self, request: HttpRequest, refund: Refund, text: StrOrPromise, level: int) -> None:
        """``text`` shown to staff, with the refund's ``%(ordr_idxx)s`` and ``%(state)s`` filled in."""
        self.message_user(request, text % {"ordr_idxx": refund.ordr_idxx, "state": refund.get_state_display()}, level)


@admin.register(KcpNotice)
class KcpNoticeAdmin(ExactSearchAdmin, ReadOnlyAdmin):
    list_display = [
        "tx_cd",
        "tno",
        "order_no",
        "matched",
        "needs_review",
        "review_reason",
        "received_at",
        "masked_fields",
    ]
    list_filter = ["tx_cd", "matched", "needs_review"]
    search_fields = ["=tno", "=order_no"]
    search_help_text = _("Exact KCP transaction number (tno) or order number (order_no).")
    fields = (
        "merchant",
        "site_cd",
        "tx_cd",
        "tno",
        "order_no",
        "tx_tm",
        "masked_fields",
        "refund",
        "matched",
        "needs_review",
        "review_reason",
        "remote_addr",
        "received_at",
    )
    readonly_fields = fields

    @admin.display(description=_("fields (masked)"))
    def masked_fields(self, obj: KcpNotice) -> str:
        return json.dumps(obj.fields, ensure_ascii=False, sort_keys=True)
