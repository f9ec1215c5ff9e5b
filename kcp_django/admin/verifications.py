"""The admin of verifications: every attempt, read-only; a form and an action that verify through the
service; the full account number only for staff allowed to see it, each look recorded in the admin log.

Rows are found by a full account number only through "find by account number": a POST form (the
number never goes into a URL, where access logs, links and the login's ``?next=`` would keep it)
for staff allowed to see full numbers, each search recorded in the admin log and the ``kcp_django``
logger with the masked number. The list's ``?q=`` search matches order numbers, KCP transaction
numbers and shop references only.

Shops add the same action to their own model admin with
:class:`~kcp_django.admin.KcpAccountActionsMixin`.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from kcp_django import conf
from kcp_django.admin.badges import state_badge
from kcp_django.admin.base import UnreadableMessage
from kcp_django.admin.columns import AccountColumns
from kcp_django.admin.forms import VerifyAccountForm
from kcp_django.admin.ids import ExactSearchAdmin
from kcp_django.admin.mixin import KcpAccountActionsMixin
from kcp_django.admin.pages import KcpPage
from kcp_django.admin.permissions import VERIFY_PERMISSION, VIEW_FULL_NUMBER_PERMISSION
from kcp_django.banks import BANKS, bank_choices
from kcp_django.crypto import blind_index
from kcp_django.exceptions import DecryptionError, DuplicateOrderError, InvalidRequest
from kcp_django.masking import mask_account_no
from kcp_django.models import AccountVerification, VerificationState
from kcp_django.validation import ACCOUNT_NO_MAX_DIGITS, parse_client_ip
from kcp_django.verifications import verify_refund_account

#: Stored in the admin log (LogEntry.change_message) each time someone sees a full number.
REVEAL_LOG_MESSAGE = "Viewed the full account number."
#: A search term with fewer digits is not taken for an account number.
ACCOUNT_SEARCH_MIN_DIGITS = 6
#: Stored in the admin log for each row a search by full account number found.
FIND_LOG_MESSAGE = "Found by a search for the full account number {masked}."
#: Rows shown (and logged) for one search by account number at most.
FIND_ACCOUNT_MAX_ROWS = 100

logger = logging.getLogger("kcp_django")

VERIFY_FORM_PAGE = KcpPage(
    "admin/kcp_django/accountverification/verify_form.html", _("Verify a refund account"), "change-form"
)
FIND_ACCOUNT_PAGE = KcpPage(
    "admin/kcp_django/accountverification/find_account.html", _("Find by account number"), "kcp-find-account"
)
#: Rendered without the admin's scripts and styles.
ACCOUNT_NUMBER_PAGE = KcpPage(
    "admin/kcp_django/accountverification/account_number.html",
    _("Full account number"),
    "kcp-account-number",
    media=False,
)


def compact_account_no(term: str) -> str:
    """``term`` without spaces and hyphens, full-width digits made ASCII (NFKC)."""
    return "".join(unicodedata.normalize("NFKC", term).split()).replace("-", "")


def account_index_candidates(term: str) -> list[str]:
    """Blind indexes ``term`` would have at every bank, if it reads as a full account number."""
    compact = compact_account_no(term)
    if not (ACCOUNT_SEARCH_MIN_DIGITS <= len(compact) <= ACCOUNT_NO_MAX_DIGITS):
        return []
    if not (compact.isascii() and compact.isdigit()):
        return []
    return [blind_index(code, compact) for code in BANKS]


class _NeverRenderedInput(forms.TextInput):
    """A text input that never puts a value into the page (a form shown again starts empty)."""

    def format_value(self, value: Any) -> str | None:
        return None


class FindAccountForm(forms.Form):
    """A full account number, and the bank when known (otherwise every bank is searched)."""

    bank_code = forms.ChoiceField(
        label=_("bank"), required=False, choices=lambda: [("", _("Any bank")), *bank_choices()]
    )
    account_no = forms.CharField(
        label=_("account number"),
        max_length=64,
        widget=_NeverRenderedInput(attrs={"autocomplete": "off", "inputmode": "numeric", "class": "vTextField"}),
    )

    def clean_account_no(self) -> str:
        compact = compact_account_no(self.cleaned_data["account_no"])
        if not (
            compact.isascii()
            and compact.isdigit()
            and ACCOUNT_SEARCH_MIN_DIGITS <= len(compact) <= ACCOUNT_NO_MAX_DIGITS
        ):
            raise forms.ValidationError(
                _("account number: enter the full number, %(min)d to %(max)d digits (spaces and hyphens are ignored)."),
                code="full_number",
                params={"min": ACCOUNT_SEARCH_MIN_DIGITS, "max": ACCOUNT_NO_MAX_DIGITS},
            )
        return compact

    def indexes(self) -> list[str]:
        """The blind indexes to look for: at the chosen bank, or at every bank."""
        number = self.cleaned_data["account_no"]
        bank_code = self.cleaned_data.get("bank_code")
        return [blind_index(bank_code, number)] if bank_code else account_index_candidates(number)


class MerchantFilter(admin.SimpleListFilter):
    """The configured merchant aliases, without a DISTINCT over the whole table on every page."""

    title = _("merchant")
    parameter_name = "merchant"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(alias, alias) for alias in conf.merchant_aliases()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(merchant=value) if value else queryset


class BankFilter(admin.SimpleListFilter):
    title = _("bank")
    parameter_name = "bank"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return bank_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(bank_code=value) if value else queryset


@admin.register(AccountVerification)
class AccountVerificationAdmin(
    AccountColumns,
    ExactSearchAdmin,
    KcpAccountActionsMixin,
    admin.ModelAdmin,  # type: ignore[type-arg]
):
    kcp_bank_code_field = "bank_code"
    kcp_account_no_field = "account_no"
    kcp_owner_nm_field = "owner_nm"
    kcp_reference_field = "reference"
    kcp_merchant_field = "merchant"
    kcp_show_latest_verification = False

    list_display = [
        "state_badge",
        "ordr_idxx",
        "bank_name",
        "account_no_masked",
        "owner_nm",
        "reference",
        "res_cd",
        "tno",
        "app_time",
        "created_at",
    ]
    list_display_links = ["ordr_idxx"]
    list_filter = ["state", BankFilter, MerchantFilter, "created_at"]
    # Never the account number: a term in ?q= ends up in access logs and in every link of the page
    # (find_account_view finds rows by number).
    search_fields = ["=ordr_idxx", "=tno", "=reference"]
    kcp_search_public_id = True
    search_help_text = _(
        "Exact order number (ordr_idxx), KCP transaction number (tno), shop reference or id (the UUID the API "
        "and kcp_verify print). "
        "Find rows by a full account number with the form below."
    )
    change_list_template = "admin/kcp_django/accountverification/change_list.html"
    # A count of the whole table on every page grows with the table; the filtered count is enough.
    show_full_result_count = False
    fields = (
        "public_id",
        "merchant",
        "ordr_idxx",
        "state",
        "bank_name",
        "account_number",
        "owner_nm",
        "reference",
        "res_cd",
        "res_msg",
        "tno",
        "app_time",
        "failure_reason",
        "requested_by",
        "client_ip",
        "created_at",
        "completed_at",
    )

    # Permissions: rows are written by the service only ------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VERIFY_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: AccountVerification | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccountVerification | None = None) -> bool:
        return False

    # Columns --------------------------------------------------------------------------------------

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj: AccountVerification) -> str:
        return state_badge(obj.state, obj.get_state_display(), obj.res_msg)

    #: Deprecated: the column's name before it matched the REST API's ``account_no_masked``.
    masked_account_no = AccountColumns.account_no_masked

    @admin.display(description=_("account number"))
    def account_number_with_reveal(self, obj: AccountVerification) -> str:
        url = reverse(f"{self.admin_site.name}:kcp_django_accountverification_account_number", args=[obj.pk])
        return format_html(
            '{} <a class="button" href="{}">{}</a>', obj.account_no_masked, url, _("Show the full number")
        )

    def get_fields(self, request: HttpRequest, obj: AccountVerification | None = None) -> tuple[str, ...]:
        shown = (
            "account_number_with_reveal" if request.user.has_perm(VIEW_FULL_NUMBER_PERMISSION) else "account_no_masked"
        )
        return tuple(shown if name == "account_number" else name for name in self.fields)

    def get_readonly_fields(self, request: HttpRequest, obj: AccountVerification | None = None) -> tuple[str, ...]:
        return self.get_fields(request, obj)

    # Finding rows by a full account number ---------------------------------------------------------

    def may_find_by_account(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(VIEW_FULL_NUMBER_PERMISSION)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**(extra_context or {})}
        if self.may_find_by_account(request):
            context["kcp_find_account_form"] = FindAccountForm(auto_id="kcp_find_%s")
        return super().changelist_view(request, context)

    # Views ----------------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        reveal = path(
            "<path:object_id>/account-number/",
            self.admin_site.admin_view(self.account_number_view),
            name="kcp_django_accountverification_account_number",
        )
        find = path(
            "find-account/",
            self.admin_site.admin_view(self.find_account_view),
            name="kcp_django_accountverification_find_account",
        )
        return [find, reveal, *super().get_urls()]

    def find_account_view(self, request: HttpRequest) -> HttpResponse:
        """Rows by full account number, sent by POST only; each search is logged with the masked number."""
        if not self.may_find_by_account(request):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        form = FindAccountForm(request.POST if request.method == "POST" else None)
        rows: list[AccountVerification] | None = None
        masked = ""
        if form.is_bound and form.is_valid():
            masked = mask_account_no(form.cleaned_data["account_no"])
            matching = self.get_queryset(request).filter(account_index__in=form.indexes()).order_by("-created_at")
            rows = list(matching[: FIND_ACCOUNT_MAX_ROWS + 1])
            self._record_search(request, form.cleaned_data.get("bank_code") or "", masked, rows)
            # Shown again for the next search: the bank kept, the number never put back.
            form = FindAccountForm(initial={"bank_code": form.cleaned_data.get("bank_code")})
        response = FIND_ACCOUNT_PAGE.render(
            self,
            request,
            form=form,
            rows=None if rows is None else rows[:FIND_ACCOUNT_MAX_ROWS],
            more_rows=rows is not None and len(rows) > FIND_ACCOUNT_MAX_ROWS,
            max_rows=FIND_ACCOUNT_MAX_ROWS,
            masked=masked,
        ).render()
        add_never_cache_headers(response)
        patch_cache_control(response, no_store=True)
        return response

    def _record_search(
        self, request: HttpRequest, bank_code: str, masked: str, rows: list[AccountVerification]
    ) -> None:
        shown = rows[:FIND_ACCOUNT_MAX_ROWS]
        logger.info(
            "kcp_django: %s searched verifications by full account number %s at %s: %s row(s) found",
            request.user.get_username(),
            masked,
            f"bank {bank_code}" if bank_code else "every bank",
            f"more than {FIND_ACCOUNT_MAX_ROWS}" if len(rows) > len(shown) else len(shown),
        )
        for row in shown:
            self.log_change(request, row, FIND_LOG_MESSAGE.format(masked=masked))

    def account_number_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET asks to confirm; POST shows the full number once and records it in the admin log."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not (self.has_view_permission(request, obj) and request.user.has_perm(VIEW_FULL_NUMBER_PERMISSION)):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        account_number = None
        if request.method == "POST":
            try:
                account_number = str(obj.account_no)
            except DecryptionError as exc:
                self.message_user(request, unreadable_number_message(exc), messages.ERROR)
            else:
                self.log_change(request, obj, REVEAL_LOG_MESSAGE)
        page = ACCOUNT_NUMBER_PAGE.render(self, request, subtitle=str(obj), original=obj, account_number=account_number)
        response = page.render()
        add_never_cache_headers(response)
        patch_cache_control(response, no_store=True)
        return response

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Staff enter one account and it is verified through the service.

        Not Django's add view: that runs in a transaction, and a call to KCP is not something a
        rollback can undo.
        """
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = VerifyAccountForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                row = verify_refund_account(
                    **form.service_kwargs(),
                    user=request.user,
                    client_ip=parse_client_ip(request.META.get("REMOTE_ADDR")),
                )
            except InvalidRequest as exc:
                form.add_service_errors(exc)
            except DuplicateOrderError:
                form.add_error(None, _("This form was already sent for another account. Open a new form."))
            else:
                self.log_addition(request, row, [{"added": {}}])
                self.message_user(request, _outcome_message(row), _OUTCOME_LEVEL.get(row.state, messages.WARNING))
                change = f"{self.admin_site.name}:kcp_django_accountverification_change"
                return HttpResponseRedirect(reverse(change, args=[row.pk]))
        return VERIFY_FORM_PAGE.render(self, request, form=form)


_OUTCOME_LEVEL: dict[str, int] = {
    VerificationState.VERIFIED: messages.SUCCESS,
    VerificationState.REJECTED: messages.ERROR,
}


def _outcome_message(row: AccountVerification) -> str:
    if row.state == VerificationState.VERIFIED:
        return str(_("KCP verified the account."))
    if row.state == VerificationState.REJECTED:
        return str(
            _("KCP rejected the account: %(res_msg)s (%(res_cd)s)") % {"res_msg": row.res_msg, "res_cd": row.res_cd}
        )
    return str(_("KCP gave no answer yet; the attempt is kept as %(state)s.") % {"state": row.get_state_display()})


#: What staff are told when the full number they asked for cannot be decrypted.
unreadable_number_message = UnreadableMessage(
    missing_key=_(
        "The number cannot be shown: it was encrypted with key %(key_id)s, which is no longer in "
        "KCP_ENCRYPTION_KEYS. Ask whoever runs the server to add that key back."
    ),
    altered=_("The number cannot be shown: the stored value was altered."),
)
