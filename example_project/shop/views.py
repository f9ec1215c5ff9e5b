"""The customer's side of the shop: their orders, and a refund form that verifies the account first."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from example_project.shop.models import Order, RefundRequest
from kcp_django.models import AccountVerification, VerificationState


def home(request: HttpRequest) -> HttpResponse:
    orders = []
    if request.user.is_authenticated:
        orders = list(Order.objects.filter(customer=request.user).select_related("refund"))
    return render(request, "shop/home.html", {"orders": orders})


@login_required
def refund(request: HttpRequest, number: str) -> HttpResponse:
    order = get_object_or_404(Order, number=number, customer=request.user)
    existing = RefundRequest.objects.filter(order=order).first()
    if request.method == "POST" and existing is None:
        verification = _verified_for(request, order)
        if verification is None:
            messages.error(request, _("Verify the refund account first."))
        elif verification.purged_at is not None or verification.account_no is None:
            # kcp_purge destroyed its account and holder: there is nothing left to pay the refund to.
            messages.error(
                request,
                _("This account check was deleted after the retention period. Verify the refund account again."),
            )
        else:
            try:
                with transaction.atomic():
                    existing = RefundRequest.objects.create(
                        order=order,
                        reference=order.refund_reference,
                        bank_code=verification.bank_code,
                        account_no=verification.account_no,
                        holder_name=verification.owner_nm,
                        verification=verification,
                    )
            except IntegrityError:  # a second tab submitted first
                existing = RefundRequest.objects.filter(order=order).first()
                if existing is None:  # not a second tab: some other constraint, which must not pass unseen
                    raise
            messages.success(request, _("Your refund request was received."))
            return redirect(reverse("shop:refund", args=[order.number]))
    context = {"order": order, "refund": existing, "reference": order.refund_reference, "texts": _form_texts()}
    return render(request, "shop/refund.html", context)


def _verified_for(request: HttpRequest, order: Order) -> AccountVerification | None:
    """The customer's own verified attempt for this order's refund, named by the form."""
    try:
        public_id = uuid.UUID(request.POST.get("verification", ""))
    except ValueError:
        return None
    return AccountVerification.objects.filter(
        public_id=public_id,
        requested_by_id=request.user.pk,
        reference=order.refund_reference,
        state=VerificationState.VERIFIED,
    ).first()


def _form_texts() -> dict[str, str]:
    """What the form's script says, in the page's language."""
    return {
        "checking": _("Checking the account with the bank…"),
        "waiting": _("The bank has not answered yet; still waiting…"),
        "verified": _(
            "Verified: %(bank)s %(account)s belongs to the holder you named. You can request the refund now."
        ),
        "rejected": _(
            "The name does not match this account (or the account cannot be used). "
            "Check the bank, the account number and the holder's name."
        ),
        "later": _("The bank could not be asked right now. Try again later."),
        "too_many": _("Too many attempts. Try again later."),
        "fix_fields": _("Fix the fields marked below."),
    }
