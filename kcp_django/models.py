"""Every verification request and KCP's answer to it, the payments refunds return, the refunds and KCP's notices."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kcp_django.banks import Bank, get_bank
from kcp_django.fields import EncryptedTextField, OptionalLink
from kcp_django.masking import masked_account
from kcp_django.payments.models import HOLDING_REFUNDS, Payment, PaymentMode

__all__ = [
    "HOLDING_REFUNDS",
    "AccountVerification",
    "AttemptCounter",
    "BulkVerification",
    "BulkVerificationItem",
    "IdempotencyKey",
    "KcpNotice",
    "Payment",
    "PaymentMode",
    "Refund",
    "RefundKind",
    "RefundState",
    "VerificationState",
]


class VerificationState(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    VERIFIED = "VERIFIED", _("Verified")
    REJECTED = "REJECTED", _("Rejected")
    UNKNOWN = "UNKNOWN", _("Unknown")


#: Fixed-width so the mask does not reveal how long the account number is.
FINAL_STATES = frozenset({VerificationState.VERIFIED, VerificationState.REJECTED})


class AccountRequest(models.Model):
    """What every request to KCP about a bank account stores: the account (encrypted, with its blind
    index and last four digits), KCP's answer, who asked from where, and when. Abstract, no table of
    its own: :class:`AccountVerification` and :class:`Refund` add their state, links and indexes.
    """

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    merchant = models.CharField(_("merchant alias"), max_length=50, default="default")
    ordr_idxx = models.CharField(_("order number (ordr_idxx)"), max_length=40)
    bank_code = models.CharField(_("bank code"), max_length=2)
    #: NULL once purged (``kcp_purge``).
    account_no = EncryptedTextField(_("account number"), blind_index_field="account_index", null=True)
    account_index = models.CharField(_("account blind index"), max_length=64, editable=False)
    account_last4 = models.CharField(_("last four digits"), max_length=4, blank=True, editable=False)
    owner_nm = models.CharField(_("account holder name"), max_length=50)
    reference = models.CharField(_("shop reference"), max_length=100, blank=True, default="")

    res_cd = models.CharField(_("result code (res_cd)"), max_length=8, blank=True, default="")
    res_msg = models.CharField(_("result message (res_msg)"), max_length=200, blank=True, default="")
    failure_reason = models.TextField(_("why the outcome is unknown"), blank=True, default="")
    raw_response = models.JSONField(_("KCP's answer (masked)"), default=dict, blank=True)
    needs_review = models.BooleanField(_("needs staff review"), default=False)

    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def account_no_masked(self) -> str:
        """At most the last four digits, from the stored column: never decrypts."""
        return masked_account(self.account_last4)

    @property
    def bank(self) -> Bank | None:
        try:
            return get_bank(self.bank_code)
        except LookupError:
            return None


class AccountVerification(AccountRequest):
    """One account-certification attempt. Written only by :mod:`kcp_django.verifications`."""

    State = VerificationState

    #: The SITE_CD, mode and kind of gateway that answered: a refund takes only a verification made under
    #: its own SITE_CD and mode, and in real mode never one a test double answered. Rows from before
    #: these columns count as test-mode rows answered by a test double.
    site_cd = models.CharField(_("site code (SITE_CD)"), max_length=10, blank=True, default="")
    mode = models.CharField(_("mode"), max_length=4, default="test")
    test_double = models.BooleanField(_("answered by a test double"), default=True)

    state = models.CharField(_("state"), max_length=10, choices=VerificationState.choices, default="PENDING")
    tno = models.CharField(_("KCP transaction number (tno)"), max_length=20, blank=True, default="")
    app_time = models.DateTimeField(_("certified at (app_time)"), null=True, blank=True)

    requested_by = OptionalLink(
        settings.AUTH_USER_MODEL, _("requested by"), on_delete=models.SET_NULL, related_name="kcp_account_verifications"
    )

    # Maintenance: kcp_django.maintenance.reconcile (attempts, lease, review) and kcp_django.maintenance.purge (purge).
    reconcile_attempts = models.PositiveSmallIntegerField(_("reconcile attempts"), default=0, editable=False)
    claimed_by = models.CharField(
        _("claimed by (kcp_reconcile)"), max_length=80, blank=True, default="", editable=False
    )
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True, editable=False)
    purged_at = models.DateTimeField(_("personal data purged at"), null=True, blank=True, editable=False)

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
            models.Index(fields=["state", "updated_at"], name="kcp_verif_stuck_idx"),
        ]
        permissions = [
            ("verify_refund_account", _("Can verify refund accounts through KCP")),
            ("view_full_account_number", _("Can view full account numbers")),
        ]

    def __str__(self) -> str:
        return f"{self.ordr_idxx} {self.account_no_masked} ({self.get_state_display()})"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class AttemptScope(models.TextChoices):
    REFERENCE = "reference", _("per shop reference")
    USER = "user", _("per user")
    ACCOUNT = "account", _("per account number")


class AttemptCounter(models.Model):
    """How many verifications one scope key started on one day. Written only by :mod:`kcp_django.api.limits`.

    ``key`` is the shop reference, the user (``"user:<pk>"`` or ``"ip:<address>"``) or the account's
    blind index: never an account number.
    """

    scope = models.CharField(_("scope"), max_length=16, choices=AttemptScope.choices)
    key = models.CharField(_("key"), max_length=128)
    day = models.DateField(_("day"))
    count = models.PositiveIntegerField(_("attempts"), default=0)

    class Meta:
        verbose_name = _("attempt counter")
        verbose_name_plural = _("attempt counters")
        constraints = [models.UniqueConstraint(fields=["scope", "key", "day"], name="kcp_attempt_counter_unique")]
        indexes = [models.Index(fields=["day"], name="kcp_attempt_day_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.day} {self.count}"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` and the first answer given to it. Written only by
    :mod:`kcp_django.api.idempotency`.

    ``key`` is the SHA-256 of the header (compared byte for byte on every database, whatever its
    collation). ``fingerprint`` is an HMAC of the request body (never the body itself: it holds an
    account number). ``status_code`` stays empty while the first request is being answered.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="kcp_idempotency_keys",
    )
    key = models.CharField(_("idempotency key (SHA-256)"), max_length=64)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    ordr_idxx = models.CharField(_("order number (ordr_idxx)"), max_length=40)
    claim_token = models.UUIDField(_("claim token"), default=uuid.uuid4)
    claimed_at = models.DateTimeField(_("claimed at"))
    expires_at = models.DateTimeField(_("expires at"))
    status_code = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    location = models.CharField(_("response location"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="kcp_idempotency_unique_user_key")]
        indexes = [models.Index(fields=["expires_at"], name="kcp_idempotency_expiry_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.key}"

    @property
    def is_answered(self) -> bool:
        return self.status_code is not None


class BulkVerification(models.Model):
    """Staff asked to verify the refund accounts of many rows at once (the admin action).

    Holds where the account lives on the source model, never the account numbers themselves: each
    item names its source row by primary key, and the row is read when the item runs.
    """

    source_model = models.CharField(_("source model"), max_length=100)  # "app_label.modelname"
    source_fields = models.JSONField(_("where the account lives on the source model"), default=dict)
    merchant = models.CharField(_("merchant alias"), max_length=50, default="default")
    #: One per confirmation page, so submitting the same page twice starts one run.
    confirmation_token = models.CharField(_("confirmation token"), max_length=64, unique=True, editable=False)
    total = models.PositiveIntegerField(_("rows"))
    in_background = models.BooleanField(_("runs in the background"), default=False)
    requested_by = OptionalLink(
        settings.AUTH_USER_MODEL, _("requested by"), on_delete=models.SET_NULL, related_name="kcp_bulk_verifications"
    )
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk verification")
        verbose_name_plural = _("bulk verifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["source_model", "created_at"], name="kcp_bulk_source_idx")]

    def __str__(self) -> str:
        return f"{self.source_model} x{self.total} ({self.created_at:%Y-%m-%d %H:%M})"


class BulkVerificationItem(models.Model):
    """One row of a :class:`BulkVerification`: its order number is fixed up front, so running the
    item twice (a retried task, two workers) asks KCP once."""

    bulk = models.ForeignKey(BulkVerification, on_delete=models.CASCADE, related_name="items")
    object_id = models.CharField(_("source row"), max_length=64)
    ordr_idxx = models.CharField(_("order number (ordr_idxx)"), max_length=40, unique=True)
    verification = OptionalLink(AccountVerification, _("verification"), on_delete=models.SET_NULL, related_name="+")
    #: Why no call was made (rule ids such as "account_no: digits_only"); never the input itself.
    error = models.CharField(_("why it was skipped"), max_length=200, blank=True, default="")
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk verification item")
        verbose_name_plural = _("bulk verification items")
        constraints = [
            models.UniqueConstraint(fields=["bulk", "object_id"], name="kcp_bulk_item_unique_row"),
        ]
        indexes = [models.Index(fields=["bulk", "finished_at"], name="kcp_bulk_item_progress_idx")]

    def __str__(self) -> str:
        return f"{self.bulk_id}:{self.object_id} {self.ordr_idxx}"


# --- Refunds ----------------------------------------------------------------------------------


class RefundKind(models.TextChoices):
    """The three ways KCP pays a refund into a bank account (docs/refunds.md)."""

    ESCROW_CANCEL = "escrow-cancel", _("Escrow cancel")
    ESCROW_REFUND = "escrow-refund", _("Escrow refund after purchase confirmation")
    VBANK_REFUND = "vbank-refund", _("Virtual-account refund with account check")


class RefundState(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    ACCEPTED = "ACCEPTED", _("Accepted by KCP")
    COMPLETED = "COMPLETED", _("Completed")
    REJECTED = "REJECTED", _("Rejected")
    UNKNOWN = "UNKNOWN", _("Unknown: check KCP's admin")


class Refund(AccountRequest):
    """One refund request to KCP and what came of it. Written only by :mod:`kcp_django.refunds`.

    ``slot_key`` holds a place on the payment (``merchant|tno|full`` for a full refund,
    ``merchant|tno|<remaining>`` for a partial one) while the refund is not rejected: the unique
    index lets at most one full refund, and one partial refund per remaining amount, exist per
    payment, on every database. A rejected refund gives its place back.
    """

    Kind = RefundKind
    State = RefundState
    #: Not a column: True on a refund that ``request_refund`` answered from the store for a repeated
    #: idempotency key, without asking KCP again.
    replayed: bool = False

    kind = models.CharField(_("kind"), max_length=20, choices=RefundKind.choices)
    tno = models.CharField(_("KCP transaction number of the payment (tno)"), max_length=14)
    mod_type = models.CharField(_("modification type (mod_type)"), max_length=8)
    after_shipping = models.BooleanField(_("after shipping"), default=False)
    verification = OptionalLink(
        AccountVerification, _("account verification"), on_delete=models.PROTECT, related_name="refunds"
    )
    amount = models.PositiveBigIntegerField(_("amount (won)"), null=True, blank=True)
    remaining = models.PositiveBigIntegerField(_("remaining before this refund (won)"), null=True, blank=True)
    reason = models.CharField(_("reason (mod_desc)"), max_length=100, blank=True, default="")
    # NULL, not "": unique only where set (a unique index lets NULLs repeat on every database).
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True)  # noqa: DJ001
    fingerprint = models.CharField(_("request fingerprint"), max_length=64, editable=False)
    slot_key = models.CharField(max_length=120, null=True, blank=True, editable=False)  # noqa: DJ001

    state = models.CharField(_("state"), max_length=10, choices=RefundState.choices, default="PENDING")
    answer_tno = models.CharField(_("tno in KCP's answer"), max_length=20, blank=True, default="")
    app_time = models.DateTimeField(_("answered at (app_time)"), null=True, blank=True)

    requested_by = OptionalLink(
        settings.AUTH_USER_MODEL, _("requested by"), on_delete=models.SET_NULL, related_name="kcp_refunds"
    )
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    resolved_by = OptionalLink(
        settings.AUTH_USER_MODEL, _("resolved by"), on_delete=models.SET_NULL, related_name="kcp_resolved_refunds"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True, default="")
    #: The payment this refund returns (NULL only for rows from before payments were registered).
    payment = OptionalLink("kcp_django.Payment", _("payment"), on_delete=models.PROTECT, related_name="refunds")
    #: KCP's answer when it arrived after staff had resolved the refund: kept here, never over the row.
    late_answer = models.JSONField(_("KCP's late answer (masked)"), default=dict, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["ordr_idxx"], name="kcp_refund_unique_ordr_idxx"),
            models.UniqueConstraint(fields=["slot_key"], name="kcp_refund_unique_slot"),
            models.UniqueConstraint(fields=["merchant", "idempotency_key"], name="kcp_refund_unique_key"),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gt=0), name="kcp_refund_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(remaining__isnull=True) | models.Q(remaining__gte=models.F("amount")),
                name="kcp_refund_remaining_covers_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "tno"], name="kcp_refund_payment_idx"),
            models.Index(fields=["state", "created_at"], name="kcp_refund_state_idx"),
        ]
        permissions = [
            ("request_refund", _("Can refund to a verified account through KCP")),
            ("resolve_refund", _("Can resolve a refund whose outcome is unknown")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.tno} {self.account_no_masked} ({self.get_state_display()})"

    @property
    def is_partial(self) -> bool:
        return self.remaining is not None


class KcpNotice(models.Model):
    """One notice KCP sent (공통 통보), stored once, personal fields masked."""

    merchant = models.CharField(_("merchant alias"), max_length=50)
    site_cd = models.CharField(_("site code"), max_length=10)
    tx_cd = models.CharField(_("notice type (tx_cd)"), max_length=8)
    tno = models.CharField(_("KCP transaction number (tno)"), max_length=20, blank=True, default="")
    order_no = models.CharField(_("order number (order_no)"), max_length=40, blank=True, default="")
    tx_tm = models.CharField(_("notice time (tx_tm)"), max_length=20, blank=True, default="")
    #: sha256 of the notice's fields: the same notice sent again finds its row.
    digest = models.CharField(max_length=64, editable=False)
    fields = models.JSONField(_("fields (masked)"), default=dict, blank=True)
    refund = models.ForeignKey(
        Refund, verbose_name=_("refund"), null=True, blank=True, on_delete=models.SET_NULL, related_name="notices"
    )
    matched = models.BooleanField(_("matched a refund"), default=False)
    needs_review = models.BooleanField(_("needs staff review"), default=False)
    review_reason = models.TextField(_("why it needs review"), blank=True, default="")
    remote_addr = models.GenericIPAddressField(_("sent from"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("KCP notice")
        verbose_name_plural = _("KCP notices")
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["digest"], name="kcp_notice_unique_digest")]
        indexes = [models.Index(fields=["tno"], name="kcp_notice_tno_idx")]

    def __str__(self) -> str:
        return f"{self.tx_cd} {self.tno} {self.order_no}"
