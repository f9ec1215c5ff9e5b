"""The "refund account" column: each row's verification, read with one query per page, and whether
the row still holds the account and holder that were verified.

By default a row's verification is the latest one made for its reference. A model whose rows link
the verification they were made from names that link in ``kcp_verification_field``: the column then
shows that verification, whatever anyone verified later under the same reference.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from kcp_django.admin.badges import state_badge
from kcp_django.admin.base import AccountSourceAdmin, configuration_problem
from kcp_django.admin.sources import AccountInput, AccountSource
from kcp_django.crypto import blind_index
from kcp_django.exceptions import DecryptionError, InvalidRequest
from kcp_django.models import AccountVerification

if TYPE_CHECKING:
    from django.contrib.admin.views.main import ChangeList

COLUMN = "kcp_latest_verification"


class RowAccount(enum.Enum):
    """How a row's account stands against its verification."""

    NOT_VERIFIED = "not verified"
    SAME = "same account"
    CHANGED = "account changed"
    NOT_SENDABLE = "fails KCP's input rules"
    PURGED = "verification purged"  # its account and holder were destroyed: nothing to compare with


@dataclass(frozen=True)
class LatestVerification:
    account: RowAccount
    verification: AccountVerification | None
    #: Whether ``verification`` is the one the row links to (``kcp_verification_field``), not the latest by reference.
    linked: bool = False


#: What the column reads of each verification.
_COLUMNS = ("reference", "state", "account_index", "owner_nm", "res_msg", "ordr_idxx", "created_at", "purged_at")


class LatestVerificationAdmin(AccountSourceAdmin):
    """Adds the column to the change list (turn it off with ``kcp_show_latest_verification = False``)."""

    kcp_show_latest_verification: bool = True

    def kcp_verification_link(self) -> models.ForeignKey[Any, Any] | None:
        """The field named by :attr:`kcp_verification_field`, or ``None`` when it is not set."""
        name = self.kcp_verification_field
        if not name:
            return None
        try:
            field = self.opts.get_field(name)
        except FieldDoesNotExist:
            field = None
        if not isinstance(field, models.ForeignKey) or field.related_model is not AccountVerification:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.kcp_verification_field: {self.opts.label} has no ForeignKey "
                f"or OneToOneField {name!r} to kcp_django.AccountVerification."
            )
        return field

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [
            *super().check(**kwargs),
            *configuration_problem(
                self,
                self.kcp_verification_link,
                hint="Name the field that links each row to its verification, or leave it None.",
                id="kcp_django.E013",
            ),
        ]

    def get_list_display(self, request: HttpRequest) -> Any:
        fields = list(super().get_list_display(request))
        if self.kcp_show_latest_verification and COLUMN not in fields:
            fields.append(COLUMN)
        return fields

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        if COLUMN in changelist.list_display:
            rows, link = list(changelist.result_list), self.kcp_verification_link()
            # Without the account fields, a linked verification is shown as it stands.
            source = self.kcp_account_source() if link is None or self.kcp_reads_accounts() else None
            if link is None:
                assert source is not None
                found = latest_verifications(rows, source, self.kcp_merchant)
            else:
                found = linked_verifications(rows, source, self.kcp_merchant, link)
            for row in changelist.result_list:
                row.kcp_latest = found[row.pk]
        return changelist

    @admin.display(description=_("refund account"))
    def kcp_latest_verification(self, obj: models.Model) -> SafeString | str:
        latest: LatestVerification | None = getattr(obj, "kcp_latest", None)
        if latest is None:
            return "-"
        verification = latest.verification
        if latest.account is RowAccount.NOT_SENDABLE:
            return state_badge("invalid", _("cannot be sent"), _("The row's account fails KCP's input rules."))
        if verification is None:
            return state_badge("none", _("not verified"))
        if latest.account is RowAccount.CHANGED:
            if latest.linked:
                why = _("The row's account or holder is not the one its verification was for.")
            else:
                why = _("The latest verification was for another account or holder.")
            return state_badge("changed", _("account changed"), why)
        if latest.account is RowAccount.PURGED:
            why = _("The verification's account and holder were purged; they can no longer be compared.")
            return state_badge(verification.state, verification.get_state_display(), why)
        return state_badge(
            verification.state, verification.get_state_display(), verification.res_msg or verification.ordr_idxx
        )


def latest_verifications(
    rows: list[models.Model], source: AccountSource, merchant: str
) -> dict[Any, LatestVerification]:
    """Each row's latest verification by reference (one query for all rows), by primary key.

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
            .only(*_COLUMNS)
        )
        latest = {verification.reference: verification for verification in ranked}
    found: dict[Any, LatestVerification] = {}
    for row in rows:
        verification = latest.get(references[row.pk])
        found[row.pk] = LatestVerification(_compare(row, source, merchant, verification), verification)
    return found


def linked_verifications(
    rows: list[models.Model], source: AccountSource | None, merchant: str, link: models.ForeignKey[Any, Any]
) -> dict[Any, LatestVerification]:
    """Each row's own verification, through ``link`` (one query for all rows), by primary key.

    With no ``source`` (the admin names no account fields) the row's account is not compared."""
    ids = {link.value_from_object(row) for row in rows} - {None}
    linked = AccountVerification.objects.only(*_COLUMNS).in_bulk(ids) if ids else {}
    found: dict[Any, LatestVerification] = {}
    for row in rows:
        verification = linked.get(link.value_from_object(row))
        found[row.pk] = LatestVerification(_compare(row, source, merchant, verification), verification, linked=True)
    return found


def _compare(
    row: models.Model, source: AccountSource | None, merchant: str, verification: AccountVerification | None
) -> RowAccount:
    if source is None:
        if verification is None:
            return RowAccount.NOT_VERIFIED
        return RowAccount.PURGED if verification.purged_at is not None else RowAccount.SAME
    try:
        account = source.read(row, merchant)
        current = account.normalized()
    except DecryptionError:
        return RowAccount.NOT_SENDABLE
    except InvalidRequest:
        if verification is None and _empty(account):
            return RowAccount.NOT_VERIFIED  # nothing entered yet: simply not verified
        return RowAccount.NOT_SENDABLE
    if verification is None:
        return RowAccount.NOT_VERIFIED
    if verification.purged_at is not None:
        return RowAccount.PURGED
    if (
        blind_index(current.bank_code, current.account_no) != verification.account_index
        or current.owner_nm != verification.owner_nm
    ):
        return RowAccount.CHANGED
    return RowAccount.SAME


def _empty(account: AccountInput) -> bool:
    """Whether the row holds no bank code, account number or holder at all."""
    return all(
        value is None or not str(value).strip() for value in (account.bank_code, account.account_no, account.owner_nm)
    )
