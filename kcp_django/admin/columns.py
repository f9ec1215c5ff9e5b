"""The columns every list of accounts shows alike (verifications, refunds): the bank and the masked
number, never the number itself."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from kcp_django.models import AccountRequest


def bank_label(row: AccountRequest) -> str:
    """``국민은행 (04)``; the bare code for a bank the guide does not list."""
    bank = row.bank
    return f"{bank.name} ({row.bank_code})" if bank else row.bank_code


class AccountColumns:
    """``bank_name`` and ``account_no_masked``, for ``list_display`` and ``fields``."""

    @admin.display(description=_("bank"), ordering="bank_code")
    def bank_name(self, obj: AccountRequest) -> str:
        return bank_label(obj)

    @admin.display(description=_("account number"))
    def account_no_masked(self, obj: AccountRequest) -> str:
        return obj.account_no_masked
