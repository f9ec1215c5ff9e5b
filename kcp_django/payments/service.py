"""Registering a payment: the shop's checkout code says what was paid, for which order, by whom.

A refund is paid out of a registered payment only (:func:`kcp_django.refunds.request_refund`), so
the payment is the one place that holds the refund rules: how much was paid, what its refunds
already hold, and whose order it was. The same registration again returns the same row; another
amount or reference for the same payment is refused, naming the field, and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from kcp_django import conf, core
from kcp_django.catalogue import field_error as _error
from kcp_django.exceptions import FieldError, InvalidRequest
from kcp_django.payments.models import Payment
from kcp_django.refunds.inputs import check_tno, check_whole_won
from kcp_django.validation import check_reference

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["find_payment", "register_payment"]


def register_payment(
    *,
    tno: object,
    amount: object,
    reference: object,
    payer: AbstractBaseUser | None = None,
    merchant: str | None = None,
    using: str = "default",
) -> Payment:
    """Register the payment KCP numbered ``tno`` at the merchant's SITE_CD; return its row.

    Raises :class:`~kcp_django.exceptions.InvalidRequest` naming every broken rule (nothing
    stored), or when the payment is registered already with another amount, reference or payer
    (nothing changed), and :class:`~kcp_django.exceptions.KcpConfigurationError` for a merchant
    that does not exist.
    """
    errors: list[FieldError] = []
    tno_text = check_tno(tno, errors)
    if amount is None or amount == "":
        errors.append(_error("amount", "required"))
        amount_won = None
    else:
        amount_won = check_whole_won("amount", amount, errors)
    reference_text = check_reference(reference, errors)
    if not reference_text and not any(error.field == "reference" for error in errors):
        errors.append(_error("reference", "required"))
    if errors:
        raise InvalidRequest(errors)
    assert amount_won is not None
    config = conf.get_merchant(merchant or conf.DEFAULT_ALIAS)
    payer_pk = core.user_pk(payer)
    wanted = Payment(
        site_cd=config.site_cd,
        tno=tno_text,
        merchant=config.alias,
        mode=config.mode,
        amount=amount_won,
        reference=reference_text,
        payer_id=payer_pk,
    )
    try:
        with transaction.atomic(using=using):
            wanted.save(using=using, force_insert=True)
        return wanted
    except IntegrityError:
        pass  # registered before (a repeat, or a racing registration): compare
    with transaction.atomic(using=using):
        stored = Payment.objects.using(using).select_for_update().get(site_cd=config.site_cd, tno=tno_text)
        if stored.needs_review and not stored.reference and stored.review_reason:
            return _confirm_migrated(stored, wanted, using)
        _same_payment(stored, wanted)
    return stored


def _same_payment(stored: Payment, wanted: Payment) -> None:
    errors: list[FieldError] = []
    if stored.amount != wanted.amount:
        errors.append(_error("amount", "differs", stored=f"{stored.amount:,}"))
    if stored.reference != wanted.reference:
        errors.append(_error("reference", "differs", stored=stored.reference))
    if wanted.payer_id is not None and stored.payer_id not in (None, wanted.payer_id):
        errors.append(_error("payer", "differs"))
    if errors:
        raise InvalidRequest(errors)


def _confirm_migrated(stored: Payment, wanted: Payment, using: str) -> Payment:
    """A payment the 0.2 migration made from stored refunds: the shop's registration confirms it,
    provided the amount covers what its refunds already hold."""
    if wanted.amount < stored.refunded:
        raise InvalidRequest([_error("amount", "differs", stored=f"{stored.amount:,}")])
    changes: dict[str, Any] = {
        "amount": wanted.amount,
        "reference": wanted.reference,
        "payer_id": wanted.payer_id,
        "mode": wanted.mode,
        "merchant": wanted.merchant,
        "needs_review": False,
        "review_reason": "",
    }
    Payment.objects.using(using).filter(pk=stored.pk).update(**changes)
    stored.refresh_from_db(using=using)
    return stored


def find_payment(tno: str, *, merchant: str | None = None, using: str = "default") -> Payment | None:
    """The registered payment ``tno`` at the merchant's SITE_CD, or None."""
    config = conf.get_merchant(merchant or conf.DEFAULT_ALIAS)
    return Payment.objects.using(using).filter(site_cd=config.site_cd, tno=str(tno).strip()).first()
