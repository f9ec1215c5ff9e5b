"""The "verify refund account" action: a confirmation page that says how many KCP calls it makes,
then a run through the service, at once for a few rows and on the tasks framework for more."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kcp_django.admin.base import AccountSourceAdmin
from kcp_django.admin.bulk import (
    BulkCounts,
    run_items,
    start_bulk,
)
from kcp_django.admin.pages import KcpPage
from kcp_django.admin.sources import RowPreview
from kcp_django.conf import kcp_settings
from kcp_django.validation import parse_client_ip

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from kcp_django.models import BulkVerification

ACTION_NAME = "kcp_verify_refund_account"
#: Rows listed by name on the confirmation page; the rest are counted.
PREVIEW_ROWS = 20
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")

CONFIRMATION_PAGE = KcpPage(
    "admin/kcp_django/verify_confirmation.html",
    _("Verify refund accounts through KCP"),
    "kcp-verify-confirmation",
    crumb=_("Verify refund account"),
)


class VerifyActionAdmin(AccountSourceAdmin):
    """Adds the action for staff with the verify permission."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET or not self.has_kcp_verify_permission(request):
            return actions
        if not self.kcp_reads_accounts():  # nothing to verify: the rows only link their verification
            actions.pop(ACTION_NAME, None)
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
            self.kcp_start_verification(request, queryset)
            return None
        return self.kcp_confirmation_page(request, queryset)

    def kcp_confirmation_page(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        """What will be sent: a sample of the rows, the rows that cannot be sent, and the count of calls."""
        source = self.kcp_account_source()
        rows = queryset.count()
        limit = kcp_settings.ADMIN_BULK_MAX
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
        threshold = kcp_settings.ADMIN_BULK_THRESHOLD
        return CONFIRMATION_PAGE.render(
            self,
            request,
            rows=rows,
            calls=calls,
            skipped=rows - calls,
            sample=sample,
            sample_rest=calls - len(sample),
            problems=problems,
            too_many=rows > limit,
            limit=limit,
            in_background=rows > threshold,
            threshold=threshold,
            concurrency=kcp_settings.BULK_CONCURRENCY,
            action_name=ACTION_NAME,
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            selected=request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            select_across=request.POST.get("select_across") == "1",
            confirmation_token=secrets.token_urlsafe(24),
        )

    def kcp_start_verification(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Record the run once per confirmation, then verify now or queue it."""
        token = request.POST.get("kcp_confirmation_token", "")
        if not _TOKEN.fullmatch(token):
            self.message_user(request, _("The confirmation form was incomplete; nothing was sent."), messages.ERROR)
            return
        limit = kcp_settings.ADMIN_BULK_MAX
        object_ids = list(queryset.values_list("pk", flat=True)[: limit + 1])
        if len(object_ids) > limit:
            self.message_user(
                request,
                _("At most %(limit)d rows can be verified at once; nothing was sent.") % {"limit": limit},
                messages.ERROR,
            )
            return
        in_background = len(object_ids) > kcp_settings.ADMIN_BULK_THRESHOLD
        user = request.user if request.user.is_authenticated else None
        bulk, created = start_bulk(
            model=self.model,
            source=self.kcp_account_source(),
            object_ids=object_ids,
            confirmation_token=token,
            merchant=self.kcp_merchant,
            in_background=in_background,
            user=user,
            client_ip=parse_client_ip(request.META.get("REMOTE_ADDR")),
        )
        if not created:
            self.message_user(
                request, _("This confirmation was already submitted; the rows were sent once."), messages.WARNING
            )
            return
        if in_background:
            transaction.on_commit(lambda: self.kcp_enqueue(request, bulk))
            return
        counts = run_items(bulk.items.values_list("pk", flat=True))
        self.message_user(request, summary(counts), messages.SUCCESS if not counts.skipped else messages.WARNING)

    def kcp_enqueue(self, request: HttpRequest, bulk: BulkVerification) -> None:
        from kcp_django.admin.tasks import enqueue_bulk

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


def summary(counts: BulkCounts) -> str:
    """The message shown after a run made at once: the rows sent to KCP, then the ones skipped."""
    sent = ngettext(
        "%(sent)d account sent to KCP: %(verified)d verified, %(rejected)d rejected, %(unknown)d without an answer.",
        "%(sent)d accounts sent to KCP: %(verified)d verified, %(rejected)d rejected, %(unknown)d without an answer.",
        counts.sent,
    ) % {"sent": counts.sent, **counts.as_dict()}
    if not counts.skipped:
        return sent
    skipped = ngettext(
        "%(skipped)d row was skipped and not sent: it breaks KCP's input rules or could not be read.",
        "%(skipped)d rows were skipped and not sent: they break KCP's input rules or could not be read.",
        counts.skipped,
    ) % {"skipped": counts.skipped}
    return f"{sent} {skipped}"
