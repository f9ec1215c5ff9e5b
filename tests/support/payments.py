"""Registered payments for refund tests: a refund is paid only out of a registered payment."""

from __future__ import annotations

from typing import Any

from kcp_django.payments import register_payment
from kcp_django.payments.models import Payment

#: The order every test payment was for; the tests' verifications are made under it.
ORDER = "ORDER-1"
#: What each test payment paid, in won.
PAID = 10_000
#: The payments the refund tests use: the sandbox refuses a tno ending in 8 and never answers one
#: ending in 9 (docs/sandbox.md).
TNOS = tuple(f"20261127000{n:03d}" for n in (*range(1, 10), *range(101, 130), *range(201, 210)))


def pay(
    tno: str, *, amount: int = PAID, reference: str = ORDER, payer: Any = None, merchant: str | None = None
) -> Payment:
    """Register ``tno`` as paid, as a shop's checkout code does."""
    return register_payment(tno=tno, amount=amount, reference=reference, payer=payer, merchant=merchant)


def pay_all(**kwargs: Any) -> list[Payment]:
    return [pay(tno, **kwargs) for tno in TNOS]
