"""What every part of the shop-admin mixin shares: where each row keeps its refund account; and what
kcp-django's admins share: a check that reports a misconfigured admin, and an action's one row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django import forms
from django.contrib import messages
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from kcp_django import conf
from kcp_django.admin.permissions import VERIFY_PERMISSION
from kcp_django.admin.sources import AccountSource
from kcp_django.deprecation import renamed_names
from kcp_django.exceptions import DecryptionError

if TYPE_CHECKING:
    from django.contrib import admin
    from django_stubs_ext import StrOrPromise

    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object

M = TypeVar("M", bound=models.Model)

_ACCOUNT_FIELDS = ("kcp_bank_code_field", "kcp_account_no_field", "kcp_owner_nm_field")


class AccountSourceAdmin(_ModelAdmin):
    """The settings a shop's model admin gives, and the :class:`AccountSource` built from them."""

    #: Attribute paths on the model (``__`` follows relations; a method at the end is called).
    kcp_bank_code_field: str | None = None
    kcp_account_no_field: str | None = None
    kcp_owner_nm_field: str | None = None
    #: Kept with each verification and used to find a row's latest one; default ``"<app>.<model>:<pk>"``.
    kcp_reference_field: str | None = None
    #: A path to the merchant alias of each row, or ``None`` to use :attr:`kcp_merchant` for all.
    kcp_merchant_field: str | None = None
    kcp_merchant: str = conf.DEFAULT_ALIAS
    #: A ForeignKey (or OneToOneField) of the model to the :class:`~kcp_django.models.AccountVerification`
    #: each row was made from, e.g. ``"verification"``. When set, the latest-verification column shows
    #: that verification, "account changed" is judged against it rather than against the latest
    #: verification of the row's reference, and a refund goes to its account.
    kcp_verification_field: str | None = None

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(css={"all": ["kcp_django/admin.css"]}, js=["kcp_django/bulk_progress.js"])

    def kcp_reads_accounts(self) -> bool:
        """Whether this admin names any attribute holding the refund account. An admin that names
        none but links each row's verification (``kcp_verification_field``) refunds through that link
        and cannot verify rows."""
        return any(getattr(self, name) for name in _ACCOUNT_FIELDS)

    def kcp_account_source(self) -> AccountSource:
        missing = [name for name in _ACCOUNT_FIELDS if not getattr(self, name)]
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

    def has_kcp_verify_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VERIFY_PERMISSION)


def configuration_problem(
    model_admin: admin.ModelAdmin[Any], probe: Callable[[], object], *, hint: str, id: str
) -> list[checks.CheckMessage]:
    """The system check's error ``id`` when ``probe()`` finds ``model_admin`` misconfigured
    (``ImproperlyConfigured``, whose message it shows), else nothing."""
    try:
        probe()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint=hint, obj=type(model_admin), id=id)]
    return []


@dataclass(frozen=True)
class UnreadableMessage:
    """What staff are told, instead of a server error, when a stored number cannot be decrypted:
    ``missing_key`` (which names ``%(key_id)s``) when its key is no longer in KCP_ENCRYPTION_KEYS,
    else ``altered``."""

    missing_key: StrOrPromise
    altered: StrOrPromise

    def __call__(self, exc: DecryptionError) -> str:
        if exc.missing_key and exc.key_id:
            return str(self.missing_key % {"key_id": exc.key_id})
        return str(self.altered)


def single_row(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[M], refusal: StrOrPromise
) -> M | None:
    """The one row an action that works on a single row was given; with none or several, ``refusal``
    is shown (an error) and ``None`` returned."""
    rows = list(queryset[:2])
    if len(rows) != 1:
        model_admin.message_user(request, refusal, messages.ERROR)
        return None
    return rows[0]


#: ``RefundAccountAdmin``, the name before it said what the class is: warns, goes in 0.3.
__getattr__ = renamed_names(__name__, {"RefundAccountAdmin": "AccountSourceAdmin"})
