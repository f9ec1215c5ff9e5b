"""Re-encrypting stored values under the newest key of ``KCP_ENCRYPTION_KEYS``.

Rotation is: prepend a new key, run :func:`rotate_keys` until nothing is left on older keys, then
drop the old key. Every :class:`~kcp_django.fields.EncryptedTextField` of every installed model is
rotated (kcp_django's own account numbers and a shop's, e.g. a refund request's account), each
field reported on its own. Only rows whose token names another key than the first are read, in
primary-key order, one transaction per batch (:func:`~kcp_django.maintenance.batches.in_locked_batches`),
so a run that is stopped loses at most its current batch and the next run carries on where it left
off. A value that cannot be decrypted (altered, or its key is gone) is reported with its model and
row id and left as it is; it is never re-encrypted as garbage.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.functions import Left
from django.db.models.lookups import Exact

from kcp_django.crypto import FORMAT_VERSION, KeyRing
from kcp_django.exceptions import DecryptionError
from kcp_django.fields import EncryptedTextField, reencrypt
from kcp_django.maintenance.batches import FieldRun, FieldsReport, RowBudget
from kcp_django.models import AccountVerification

DEFAULT_BATCH_SIZE = 500


def encrypted_fields() -> list[EncryptedTextField]:
    """Every EncryptedTextField of every installed model, each once (on the model that has its column)."""
    found = []
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or opts.swapped:
            continue
        for model_field in opts.get_fields():
            # A multi-table child lists its parents' fields too; their rows are the parent's.
            if isinstance(model_field, EncryptedTextField) and model_field.model is model:
                found.append(model_field)
    return found


def field_label(model_field: EncryptedTextField) -> str:
    """``app_label.Model.field``, as reports name it."""
    return f"{model_field.model._meta.label}.{model_field.name}"


@dataclass
class FieldRotation(FieldRun):
    """One field's run. ``remaining`` counts rows still under an older key afterwards (failures included)."""

    rotated: int = 0
    remaining: int = 0
    failure = "could not be decrypted"

    def counts(self) -> str:
        return f"{self.rotated} rotated, {self.remaining} left"


@dataclass(kw_only=True)
class RotationReport(FieldsReport[FieldRotation]):
    """Every field's :class:`FieldRotation`, and their totals."""

    newest_key: str

    @property
    def rotated(self) -> int:
        return self.total("rotated")

    @property
    def remaining(self) -> int:
        return self.total("remaining")

    def summary(self) -> str:
        return (
            f"newest key {self.newest_key}: re-encrypted {self.rotated}, could not decrypt {len(self.failed)}, "
            f"left on older keys {self.remaining}"
        )


def _encrypted_with(model_field: EncryptedTextField, key_id: str) -> Exact:
    # The column holds "kcp1$<key id>$...": comparing its head needs no decryption.
    prefix = f"{FORMAT_VERSION}${key_id}$"
    return Exact(Left(model_field.attname, len(prefix), output_field=models.TextField()), prefix)


def _stored(model_field: EncryptedTextField, using: str) -> models.QuerySet[Any]:
    manager = model_field.model._base_manager
    return manager.using(using).filter(**{f"{model_field.attname}__isnull": False})


def _default_field() -> EncryptedTextField:
    model_field = AccountVerification._meta.get_field("account_no")
    assert isinstance(model_field, EncryptedTextField)
    return model_field


def on_older_keys(using: str = "default", model_field: EncryptedTextField | None = None) -> models.QuerySet[Any]:
    """Rows whose value (AccountVerification's account number by default) is not under the newest key."""
    model_field = model_field or _default_field()
    newest = KeyRing.from_settings().primary_key_id
    return _stored(model_field, using).exclude(_encrypted_with(model_field, newest))


def rows_per_key(using: str = "default", model_field: EncryptedTextField | None = None) -> dict[str, int]:
    """How many stored values each configured key encrypted, plus ``"(other)"`` for the rest.

    Counts AccountVerification's account numbers unless ``model_field`` names another field.
    """
    model_field = model_field or _default_field()
    stored = _stored(model_field, using)
    counts = {
        key_id: stored.filter(_encrypted_with(model_field, key_id)).count()
        for key_id in KeyRing.from_settings().key_ids
    }
    counts["(other)"] = stored.count() - sum(counts.values())
    return counts


def rotate_keys(
    *, batch_size: int = DEFAULT_BATCH_SIZE, limit: int | None = None, using: str = "default"
) -> RotationReport:
    """Re-encrypt up to ``limit`` rows in all (every row by default) under the newest key.

    Field after field, ``batch_size`` rows per transaction.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    report = RotationReport(newest_key=KeyRing.from_settings().primary_key_id)
    budget = RowBudget(limit)
    for model_field in encrypted_fields():
        one = FieldRotation(label=field_label(model_field))
        report.fields.append(one)
        stale = on_older_keys(using, model_field)
        budget.in_locked_batches(
            stale.only("pk", model_field.attname),
            partial(_rotate_rows, model_field=model_field, report=one, using=using),
            batch_size=batch_size,
        )
        one.remaining = stale.count()
    return report


def _rotate_rows(
    rows: list[models.Model], *, model_field: EncryptedTextField, report: FieldRotation, using: str
) -> None:
    for row in rows:
        try:
            changed = reencrypt(row, model_field.name)
        except DecryptionError as exc:
            # The message names the model, the row and the field, never the value.
            report.fail(row.pk, str(exc), "kcp_rotate_keys")
            continue
        if changed:
            # An UPDATE of this column alone: no model save() or signals of a shop's model run.
            token = model_field.value_to_string(row)
            type(row)._base_manager.using(using).filter(pk=row.pk).update(**{model_field.attname: token})
            report.rotated += 1
