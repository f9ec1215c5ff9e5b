"""``manage.py shop_demo``: demo logins, paid orders (their payments registered with kcp-django) and
verifications for the example shop. Safe to run twice.

The customer verified the demo refund account, under the order's reference; the staff login may
refund it but verified nothing itself, so no one both entered the account and pays into it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.utils import timezone

from example_project.shop.checkout import order_paid
from example_project.shop.models import Order, PaymentMethod, RefundRequest
from kcp_django.verifications import verify_refund_account

CUSTOMER = ("customer", "customer-demo-1234")
STAFF = ("staff", "staff-demo-1234")
STAFF_PERMISSIONS = [
    ("kcp_django", "view_accountverification"),
    ("kcp_django", "add_accountverification"),
    ("kcp_django", "verify_refund_account"),
    ("shop", "view_order"),
    ("shop", "view_refundrequest"),
    ("shop", "change_refundrequest"),
    ("kcp_django", "request_refund"),
    ("kcp_django", "resolve_refund"),
    ("kcp_django", "view_refund"),
    ("kcp_django", "view_payment"),
    ("kcp_django", "view_kcpnotice"),
]
# KCP's payment numbers (tno) of the demo orders: the sandbox refuses a refund of a number ending in 8,
# gives no answer for one ending in 9 and accepts the others.
ORDERS = [
    ("2026-0001", "무선 이어폰", 89_000, PaymentMethod.VIRTUAL_ACCOUNT, "20261127000001"),
    ("2026-0002", "전기 주전자", 45_000, PaymentMethod.BANK_TRANSFER, "20261127000002"),
    ("2026-0003", "등산화", 132_000, PaymentMethod.VIRTUAL_ACCOUNT, "20261127000003"),
    ("2026-0004", "책상 조명", 38_500, PaymentMethod.BANK_TRANSFER, "20261127000004"),
]
# One verification in each state the sandbox can end in (see the table in docs/sandbox.md).
VERIFICATIONS = [
    ("DEMO-VERIFIED", "04", "123-456-789012", "홍길동", "refund-2026-0004"),
    ("DEMO-MISMATCH", "88", "110-222-333444", "홍불일치", "refund-2026-0003"),
    ("DEMO-NOT-FOUND", "20", "000-111-222333", "홍길동", "refund-2026-0003"),
    ("DEMO-UNKNOWN", "03", "999-111-222333", "홍길동", "refund-2026-0003"),
]


class Command(BaseCommand):
    help = "Create the example shop's demo logins, orders and verifications (safe to run twice)."

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        customer = self._user(users, *CUSTOMER, staff=False)
        staff = self._user(users, *STAFF, staff=True)
        staff.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label__in={app for app, _ in STAFF_PERMISSIONS},
                codename__in={code for _, code in STAFF_PERMISSIONS},
            )
        )
        now = timezone.now()
        orders = {}
        for days_ago, (number, product, amount, method, tno) in enumerate(ORDERS, start=1):
            order, _created = Order.objects.get_or_create(
                number=number,
                defaults={
                    "customer": customer,
                    "product": product,
                    "amount": amount,
                    "payment_method": method,
                    "paid_at": now - dt.timedelta(days=days_ago),
                },
            )
            # The checkout's step once KCP approved the payment (again on demo databases made before).
            order_paid(order, tno=tno)
            orders[number] = order
        rows = {
            ordr_idxx: verify_refund_account(
                bank_code=bank,
                account_no=account,
                owner_nm=name,
                ordr_idxx=ordr_idxx,
                reference=reference,
                user=customer,
            )
            for ordr_idxx, bank, account, name, reference in VERIFICATIONS
        }
        verified = rows["DEMO-VERIFIED"]
        order = orders["2026-0004"]
        RefundRequest.objects.get_or_create(
            order=order,
            defaults={
                "reference": order.refund_reference,
                "bank_code": verified.bank_code,
                "account_no": verified.account_no,
                "holder_name": verified.owner_nm,
                "verification": verified,
            },
        )
        self.stdout.write(self.style.SUCCESS("Demo data is ready. Sign in at http://127.0.0.1:8000/ with:"))
        self.stdout.write(f"  customer: {CUSTOMER[0]} / {CUSTOMER[1]}   (orders and the refund form)")
        self.stdout.write(f"  staff:    {STAFF[0]} / {STAFF[1]}   (http://127.0.0.1:8000/admin/)")

    def _user(self, users: Any, username: str, password: str, *, staff: bool) -> Any:
        user, created = users.objects.get_or_create(username=username, defaults={"is_staff": staff})
        if created:
            user.set_password(password)
            user.save()
        return user
