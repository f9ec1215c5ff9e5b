"""A shop's own refund request, as a shop using kcp-django would have it."""

from django.db import models

from kcp_django.fields import EncryptedTextField


class RefundRequest(models.Model):
    order_number = models.CharField(max_length=40)
    bank_code = models.CharField(max_length=2)
    account_no = EncryptedTextField()
    holder_name = models.CharField(max_length=50)
    amount = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Refund {self.order_number}"

    @property
    def reference(self) -> str:
        return f"refund-{self.pk}"
