"""What every part of the shop-admin mixin shares: where each row keeps its refund account."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from kcp_django import conf
from kcp_django.admin.permissions import VERIFY_PERMISSION
from kcp_django.admin.sources import AccountSource
from kcp_django.deprecation import renamed_names

if TYPE_CHECKING:
    from django.contrib import admin

    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object

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


#: ``RefundAccountAdmin``, the name before it said what the class is: warns, goes in 0.3.
__getattr__ = renamed_names(__name__, {"RefundAccountAdmin": "AccountSourceAdmin"})
