"""The "verify refund account" action for any model admin: a shop's own ``RefundRequest`` or
``Order`` admin, and kcp-django's own verification list.

The shop names where each row keeps its refund account::

    @admin.register(RefundRequest)
    class RefundRequestAdmin(VerifyRefundAccountMixin, admin.ModelAdmin):
        kcp_bank_code_field = "bank_code"
        kcp_account_no_field = "account_no"
        kcp_owner_nm_field = "holder_name"
        kcp_reference_field = "order__number"     # optional

The action asks for confirmation (stating how many KCP calls it makes), then verifies through the
service: small selections at once, larger ones on the tasks framework, with their progress shown
above the list. A column shows each row's latest verification, read with one query per page.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR
from django.core import checks
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import models, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kcp_django import conf
from kcp_django.bulk import (
    BulkCounts,
    BulkProgress,
    admin_bulk_max,
    admin_bulk_threshold,
    bulk_concurrency,
    recent_progress,
    run_items,
    start_bulk,
)
from kcp_django.crypto import blind_index
from kcp_django.exceptions import DecryptionError, InvalidRequest
from kcp_django.models import AccountVerification
from kcp_django.sources import AccountSource, RowPreview

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList
    from django.db.models import QuerySet

    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object

VERIFY_PERMISSION = "kcp_django.verify_refund_account"
ACTION_NAME = "kcp_verify_refund_account"
#: Rows listed by name on the confirmation page; the rest are counted.
PREVIEW_ROWS = 20
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
_LATEST_ATTRIBUTE = "_kcp_latest_verification"
_ACCOUNT_CHANGED = "CHANGED"
_NOT_SENDABLE = "INVALID"


def state_badge(state: str, label: object, title: object = "") -> SafeString:
    """A coloured label for a verification state (styles in ``kcp_django/admin.css``)."""
    return format_html(
        '<span class="kcp-badge kcp-badge-{}" title="{}">{}</span>', state.lower(), title or label, label
    )


class VerifyRefundAccountMixin(_ModelAdmin):
    """Adds the "verify refund account" action, the latest-verification column and bulk progress."""

    #: Attribute paths on the model (``__`` follows relations; a method at the end is called).
    kcp_bank_code_field: str | None = None
    kcp_account_no_field: str | None = None
    kcp_owner_nm_field: str | None = None
    #: Kept with each verification and used to find a row's latest one; default ``"<app>.<model>:<pk>"``.
    kcp_reference_field: str | None = None
    #: A path to the merchant alias of each row, or ``None`` to use :attr:`kcp_merchant` for all.
    kcp_merchant_field: str | None = None
    kcp_merchant: str = conf.DEFAULT_ALIAS
    kcp_show_latest_verification: bool = True

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(css={"all": ["kcp_django/admin.css"]}, js=["kcp_django/bulk_progress.js"])

    def kcp_account_source(self) -> AccountSource:
        missing = [
            name
            for name in ("kcp_bank_code_field", "kcp_account_no_field", "kcp_owner_nm_field")
            if not getattr(self, name)
        ]
        if missing:
            raise ImproperlyConfigured(
                f"{type(self).__name__}: set {', '.join(missing)} to the attributes of "
                f"{self.opts.label} that hold the refund account."
            )
        return AccountSource(
            bank_code=str(self.kcp_bank_code_field),
            account_no=str(self.kcp_account_no_field),
            owner_nm=str(self.kcp_owner_nm_field),
            reference=self.kcp_reference_field,
            merchant=self.kcp_merchant_field,
        )

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages = list(super().check(**kwargs))
        try:
            self.kcp_account_source()
        except ImproperlyConfigured as exc:
            messages.append(
                checks.Error(
                    str(exc),
                    hint="See 'The action on your own model' in kcp-django's README.",
                    obj=type(self),
                    id="kcp_django.E010",
                )
            )
        return messages

    def has_kcp_verify_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VERIFY_PERMISSION)

    # The action -----------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET or not self.has_kcp_verify_permission(request):
            return actions
        action = self.get_action(ACTION_NAME)
        if action is not None:
            actions[ACTION_NAME] = action
        return actions

    @admin.action(description=_("Verify refund account"))
    def kcp_verify_refund_account(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        if not self.has_kcp_verify_permission(request):
            raise PermissionDenied
        if request.POST.get("kcp_confirmed") == "yes":
            self._kcp_start(request, queryset)
            return None
        return self._kcp_confirmation_page(request, queryset)

    def _kcp_confirmation_page(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        source = self.kcp_account_source()
        rows = queryset.count()
        limit = admin_bulk_max()
        sample: list[RowPreview] = []
        problems: list[RowPreview] = []
        calls = 0
        if rows <= limit:
            for row in queryset.defer(None).iterator(chunk_size=500):
                preview = source.preview(row, self.kcp_merchant)
                if preview.is_valid:
                    calls += 1
                    if len(sample) < PREVIEW_ROWS:
                        sample.append(preview)
                elif len(problems) < PREVIEW_ROWS:
                    problems.append(preview)
        threshold = admin_bulk_threshold()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Verify refund accounts through KCP"),
            "subtitle": None,
            "opts": self.opts,
            "media": self.media,
            "rows": rows,
            "calls": calls,
            "skipped": rows - calls,
            "sample": sample,
            "sample_rest": calls - len(sample),
            "problems": problems,
            "too_many": rows > limit,
            "limit": limit,
            "in_background": rows > threshold,
            "threshold": threshold,
            "concurrency": bulk_concurrency(),
            "action_name": ACTION_NAME,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across") == "1",
            "confirmation_token": secrets.token_urlsafe(24),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/kcp_django/verify_confirmation.html", context)

    def _kcp_start(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        token = request.POST.get("kcp_confirmation_token", "")
        if not _TOKEN.fullmatch(token):
            self.message_user(request, _("The confirmation form was incomplete; nothing was sent."), messages.ERROR)
            return None
        limit = admin_bulk_max()
        object_ids = list(queryset.values_list("pk", flat=True)[: limit + 1])
        if len(object_ids) > limit:
            self.message_user(
                request,
                _("At most %(limit)d rows can be verified at once; nothing was sent.") % {"limit": limit},
                messages.ERROR,
            )
            return None
        in_background = len(object_ids) > admin_bulk_threshold()
        user = request.user if request.user.is_authenticated else None
        bulk, created = start_bulk(
            model=self.model,
            source=self.kcp_account_source(),
            object_ids=object_ids,
            confirmation_token=token,
            merchant=self.kcp_merchant,
            in_background=in_background,
            user=user,
            client_ip=request.META.get("REMOTE_ADDR"),
        )
        if not created:
            self.message_user(
                request, _("This confirmation was already submitted; the rows were sent once."), messages.WARNING
            )
            return None
        if in_background:
            transaction.on_commit(lambda: self._kcp_enqueue(request, bulk))
            return None
        counts = run_items(bulk.items.values_list("pk", flat=True))
        self.message_user(request, _summary(counts), messages.SUCCESS if not counts.skipped else messages.WARNING)
        return None

    def _kcp_enqueue(self, request: HttpRequest, bulk: Any) -> None:
        from kcp_django.tasks import enqueue_bulk

        try:
            enqueue_bulk(bulk)
        except Exception:
            self.message_user(
                request,
                _("Some rows could not be queued and were not sent; see the server log."),
                messages.ERROR,
            )
            return
        self.message_user(
            request,
            ngettext(
                "%(count)d row is being verified in the background; its progress shows above the list.",
                "%(count)d rows are being verified in the background; their progress shows above the list.",
                bulk.total,
            )
            % {"count": bulk.total},
            messages.SUCCESS,
        )

    # The latest verification of each row -----------------------------------------------------

    def get_list_display(self, request: HttpRequest) -> Any:
        fields = list(super().get_list_display(request))
        if self.kcp_show_latest_verification and "kcp_latest_verification" not in fields:
            fields.append("kcp_latest_verification")
        return fields

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        if "kcp_latest_verification" in changelist.list_display:
            attach_latest_verifications(list(changelist.result_list), self.kcp_account_source(), self.kcp_merchant)
        return changelist

    @admin.display(description=_("refund account"))
    def kcp_latest_verification(self, obj: models.Model) -> SafeString | str:
        status = getattr(obj, _LATEST_ATTRIBUTE, None)
        if status is None:
            return "-"
        state, latest = status
        if state == _NOT_SENDABLE:
            return state_badge("invalid", _("cannot be sent"), _("The row's account fails KCP's input rules."))
        if latest is None:
            return state_badge("none", _("not verified"))
        if state == _ACCOUNT_CHANGED:
            return state_badge(
                "changed", _("account changed"), _("The latest verification was for another account or holder.")
            )
        return state_badge(latest.state, latest.get_state_display(), latest.res_msg or latest.ordr_idxx)

    # Bulk progress on the changelist ---------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_kcp_bulk_progress"
        progress = path("kcp-bulk-progress/", self.admin_site.admin_view(self.kcp_bulk_progress_view), name=name)
        return [progress, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if not isinstance(response, TemplateResponse) or response.is_rendered or response.context_data is None:
            return response
        if "cl" not in response.context_data:
            return response  # an action's own page, such as the confirmation
        runs = recent_progress(self.model)
        if runs:
            # Wrap whichever template the list would use, so a shop's own change_list template stays.
            response.context_data.update(
                kcp_parent_template=select_template(_template_names(response.template_name)),
                **self._kcp_progress_context(runs),
            )
            response.template_name = "admin/kcp_django/change_list_with_bulk_progress.html"
        return response

    def kcp_bulk_progress_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = self._kcp_progress_context(recent_progress(self.model))
        return TemplateResponse(request, "admin/kcp_django/bulk_progress.html", context)

    def _kcp_progress_context(self, runs: list[BulkProgress]) -> dict[str, Any]:
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_kcp_bulk_progress"
        return {
            "kcp_bulk_runs": runs,
            "kcp_bulk_running": any(run.is_running for run in runs),
            "kcp_bulk_progress_url": reverse(name, current_app=self.admin_site.name),
        }


def _template_names(template_name: Any) -> list[Any]:
    if isinstance(template_name, list | tuple):
        return list(template_name)
    return [template_name]


def _summary(counts: BulkCounts) -> str:
    return ngettext(
        "%(total)d account sent to KCP: %(verified)d verified, %(rejected)d rejected, "
        "%(unknown)d without an answer, %(skipped)d skipped.",
        "%(total)d accounts sent to KCP: %(verified)d verified, %(rejected)d rejected, "
        "%(unknown)d without an answer, %(skipped)d skipped.",
        counts.total,
    ) % {"total": counts.total, **counts.as_dict()}


def attach_latest_verifications(rows: list[models.Model], source: AccountSource, merchant: str) -> None:
    """Give each row its latest verification by reference, found with one query for all rows.

    A verification made for another account or holder than the row holds now counts as changed.
    """
    references = {row.pk: source.reference_of(row) for row in rows}
    wanted = {reference for reference in references.values() if reference}
    latest: dict[str, AccountVerification] = {}
    if wanted:
        ranked = (
            AccountVerification.objects.filter(reference__in=wanted)
            .annotate(
                kcp_rank=Window(
                    RowNumber(), partition_by=[F("reference")], order_by=[F("created_at").desc(), F("id").desc()]
                )
            )
            .filter(kcp_rank=1)
            .only("reference", "state", "account_index", "owner_nm", "res_msg", "ordr_idxx", "created_at")
        )
        latest = {verification.reference: verification for verification in ranked}
    for row in rows:
        verification = latest.get(references[row.pk])
        setattr(row, _LATEST_ATTRIBUTE, (_compare(row, source, merchant, verification), verification))


def _compare(row: models.Model, source: AccountSource, merchant: str, verification: AccountVerification | None) -> str:
    try:
        current = source.read(row, merchant).normalized()
    except (InvalidRequest, DecryptionError):
        return _NOT_SENDABLE
    if verification is None:
        return ""
    if (
        blind_index(current.bank_code, current.account_no) != verification.account_index
        or current.owner_nm != verification.owner_nm
    ):
        return _ACCOUNT_CHANGED
    return str(verification.state)
