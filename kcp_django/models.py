"""Every verification request and KCP's answer to it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kcp_django.banks import Bank, get_bank
from kcp_django.fields import EncryptedTextField


class VerificationState(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    VERIFIED = "VERIFIED", _("Verified")
    REJECTED = "REJECTED", _("Rejected")
    UNKNOWN = "UNKNOWN", _("Unknown")


#: Fixed-width so the mask does not reveal how long the account number is.
MASK_PREFIX = "********"

FINAL_STATES = frozenset({VerificationState.VERIFIED, VerificationState.REJECTED})


class AccountVerification(models.Model):
    """One account-certification attempt. Written only by :mod:`kcp_django.services`."""

    State = VerificationState

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    merchant = models.CharField(_("merchant alias"), max_length=50, default="default")
    ordr_idxx = models.CharField(_("order number (ordr_idxx)"), max_length=40)
    bank_code = models.CharField(_("bank code"), max_length=2)
    account_no = EncryptedTextField(_("account number"), blind_index_field="account_index")
    account_index = models.CharField(_("account blind index"), max_length=64, editable=False)
    account_last4 = models.CharField(_("last four digits"), max_length=4, blank=True, editable=False)
    owner_nm = models.CharField(_("account holder name"), max_length=50)
    reference = models.CharField(_("shop reference"), max_length=100, blank=True, default="")

    state = models.CharField(_("state"), max_length=10, choices=VerificationState.choices, default="PENDING")
    res_cd = models.CharField(_("result code (res_cd)"), max_length=8, blank=True, default="")
    res_msg = models.CharField(_("result message (res_msg)"), max_length=200, blank=True, default="")
    tno = models.CharField(_("KCP transaction number (tno)"), max_length=20, blank=True, default="")
    app_time = models.DateTimeField(_("certified at (app_time)"), null=True, blank=True)
    failure_reason = models.TextField(_("why the outcome is unknown"), blank=True, default="")
    raw_response = models.JSONField(_("KCP's answer (masked)"), default=dict, blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="kcp_account_verifications",
    )
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("account verification")
        verbose_name_plural = _("account verifications")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["ordr_idxx"], name="kcp_verification_unique_ordr_idxx")]
        indexes = [
            models.Index(fields=["account_index", "created_at"], name="kcp_verif_account_idx"),
            models.Index(fields=["reference", "created_at"], name="kcp_verif_reference_idx"),
            models.Index(fields=["state", "created_at"], name="kcp_verif_state_idx"),
            models.Index(fields=["requested_by", "created_at"], name="kcp_verif_user_idx"),
            models.Index(fields=["tno"], name="kcp_verif_tno_idx"),
        ]
        permissions = [
            ("verify_refund_account", _("Can verify refund accounts through KCP")),
            ("view_full_account_number", _("Can view full account numbers")),
        ]

    def __str__(self) -> str:
        return f"{self.ordr_idxx} {self.bank_code} {self.account_no_masked} {self.state}"

    @property
    def account_no_masked(self) -> str:
        """At most the last four digits, from the stored column: never decrypts."""
        return MASK_PREFIX + self.account_last4

    @property
    def bank(self) -> Bank | None:
        try:
            return get_bank(self.bank_code)
        except LookupError:
            return None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES
