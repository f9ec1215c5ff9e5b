"""Staff users, verifications and action posts shared by the admin, task and browser tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Permission
from django.test import Client
from django.urls import reverse

from kcp_django.models import AccountVerification
from kcp_django.verifications import verify_refund_account
from tests.shopapp.models import RefundRequest

PASSWORD = "correct horse battery staple"
CHANGELIST = "admin:kcp_django_accountverification_changelist"
REFUND_CHANGELIST = "admin:shopapp_refundrequest_changelist"
ACTION = "kcp_verify_refund_account"


def account_number(n: int) -> str:
    """A 12-digit account number the sandbox verifies, distinct for each ``n``."""
    return f"{123_000_000_000 + n}"


def make_staff(username: str, *permissions: str) -> AbstractUser:
    """A staff user holding ``app_label.codename`` permissions."""
    user = get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    assert isinstance(user, AbstractUser)
    return user


def verifier(username: str = "verifier", *extra: str) -> AbstractUser:
    return make_staff(username, "kcp_django.view_accountverification", "kcp_django.verify_refund_account", *extra)


def without_random_digits(page: str) -> str:
    """``page`` without the stored order numbers, transaction numbers and public ids: they hold
    timestamps and random digits, in which five digits of an account can turn up by chance."""
    for values in AccountVerification.objects.values_list("ordr_idxx", "tno", "public_id"):
        for value in filter(None, map(str, values)):
            page = page.replace(value, "")
    return page


def make_verifications(count: int, *, start: int = 0, reference: str | None = None) -> list[AccountVerification]:
    """Verified accounts, each for its own order (``order-N``) unless ``reference`` names one order."""
    return [
        verify_refund_account(
            bank_code="04", account_no=account_number(n), owner_nm="홍길동", reference=reference or f"order-{n}"
        )
        for n in range(start, start + count)
    ]


def make_refunds(count: int, **overrides: Any) -> list[RefundRequest]:
    return [
        RefundRequest.objects.create(
            order_number=f"R{n:05d}",
            bank_code=overrides.get("bank_code", "88"),
            account_no=overrides.get("account_no", account_number(n)),
            holder_name=overrides.get("holder_name", "김환불"),
            amount=10_000,
        )
        for n in range(count)
    ]


def run_action(client: Client, url_name: str, pks: list[Any], *, query: str = "", select_across: bool = False) -> Any:
    """Choose the action on ``pks``, then confirm it: returns (confirmation page, final response)."""
    url = reverse(url_name) + query
    data: dict[str, Any] = {"action": ACTION, "_selected_action": [str(pk) for pk in pks], "index": "0"}
    if select_across:
        data["select_across"] = "1"
    confirmation = client.post(url, data)
    assert confirmation.status_code == 200, confirmation
    done = client.post(url, confirmation_post(confirmation))
    return confirmation, done


def confirmation_post(confirmation: Any) -> dict[str, Any]:
    """What the confirmation page's form sends."""
    context = confirmation.context
    data: dict[str, Any] = {
        "action": context["action_name"],
        "_selected_action": context["selected"],
        "kcp_confirmed": "yes",
        "kcp_confirmation_token": context["confirmation_token"],
    }
    if context["select_across"]:
        data["select_across"] = "1"
    return data
