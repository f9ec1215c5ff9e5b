"""Test-only models for kcp_django.fields.EncryptedTextField."""

from django.db import models

from kcp_django.fields import EncryptedTextField


class Holder(models.Model):
    account_no = EncryptedTextField(blind_index_field="account_index")
    account_index = models.CharField(max_length=64, db_index=True, blank=True)
    memo = EncryptedTextField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Holder {self.pk}"


class OtherHolder(models.Model):
    account_no = EncryptedTextField()

    def __str__(self) -> str:
        return f"OtherHolder {self.pk}"
