"""Rebuilding blind indexes under a new ``KCP_INDEX_KEY``.

A field with ``blind_index_field`` (``EncryptedTextField(blind_index_field="account_index")``) keeps
``blind_index(bank code, number)`` in that column: an HMAC under ``KCP_INDEX_KEY``. Changing the key
(e.g. leaving the development key for a real one) makes every stored index unfindable until it is
computed again. :func:`rebuild_blind_indexes` does that for every such field of every installed
model: each value is decrypted, its stored index checked against the old key and replaced by the
index under the new key (the configured ``KCP_INDEX_KEY``).

The bank code comes from the row's ``bank_code`` field; a model without one (an index made with a
bank code the row does not keep) has the code found by trying every two-digit code against the old
index. A row whose index matches neither key, or whose value cannot be decrypted, is reported by
id and left as it is. Rows already under the new key are counted and skipped, so a run that is
stopped (one transaction per batch, :func:`~kcp_django.maintenance.batches.in_locked_batches`) is
simply run again.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import partial

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from kcp_django import conf
from kcp_django.banks import BANKS
from kcp_django.crypto import blind_index
from kcp_django.exceptions import DecryptionError
from kcp_django.fields import EncryptedTextField
from kcp_django.maintenance.batches import FieldRun, FieldsReport, RowBudget
from kcp_django.maintenance.rotate_keys import DEFAULT_BATCH_SIZE, encrypted_fields

#: The field a row's bank code is read from, when the model has it.
BANK_CODE_FIELD = "bank_code"
#: Tried in this order when the model keeps no bank code: the guide's banks first, then the rest.
_EVERY_CODE = [*BANKS, *(f"{n:02d}" for n in range(100) if f"{n:02d}" not in BANKS)]


@dataclass
class IndexRebuild(FieldRun):
    """One index column's run. ``left`` counts rows not rebuilt: failures, and rows a limit did not reach."""

    rebuilt: int = 0
    current: int = 0
    left: int = 0
    failure = "could not be rebuilt"

    def counts(self) -> str:
        return f"{self.rebuilt} rebuilt, {self.current} already under the new key, {self.left} left"


@dataclass(kw_only=True)
class ReindexReport(FieldsReport[IndexRebuild]):
    @property
    def rebuilt(self) -> int:
        return self.total("rebuilt")

    @property
    def left(self) -> int:
        return self.total("left")


def indexed_fields() -> list[EncryptedTextField]:
    """Every EncryptedTextField of every installed model that names a ``blind_index_field``."""
    return [model_field for model_field in encrypted_fields() if model_field.blind_index_field]


def rebuild_blind_indexes(
    old_key: bytes, *, batch_size: int = DEFAULT_BATCH_SIZE, limit: int | None = None, using: str = "default"
) -> ReindexReport:
    """Recompute every blind index made with ``old_key`` under the configured ``KCP_INDEX_KEY``.

    Reads up to ``limit`` rows in all (every row by default), ``batch_size`` per transaction.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    new_key = conf.kcp_settings.INDEX_KEY
    if hmac.compare_digest(old_key, new_key):
        raise ValueError("The old index key is the configured KCP_INDEX_KEY: there is nothing to rebuild.")
    report = ReindexReport()
    budget = RowBudget(limit)
    for model_field in indexed_fields():
        model = model_field.model
        index_name = str(model_field.blind_index_field)
        index_field = model._meta.get_field(index_name)
        if not isinstance(index_field, models.Field):
            raise TypeError(f"{model._meta.label}.{index_name} (blind_index_field) is not a column.")
        one = IndexRebuild(label=f"{model._meta.label}.{index_name}")
        report.fields.append(one)
        try:
            bank_field: str | None = model._meta.get_field(BANK_CODE_FIELD).name
        except FieldDoesNotExist:
            bank_field = None
        rows = (
            model._base_manager.using(using)
            .filter(**{f"{model_field.attname}__isnull": False})
            .exclude(**{index_field.attname: ""})
        )
        columns = ["pk", model_field.attname, index_field.attname, *([bank_field] if bank_field else [])]
        total = rows.count()
        reached = budget.in_locked_batches(
            rows.only(*columns),
            partial(
                _rebuild_rows,
                model_field=model_field,
                index_attname=index_field.attname,
                bank_field=bank_field,
                keys=(old_key, new_key),
                report=one,
                using=using,
            ),
            batch_size=batch_size,
        )
        one.left = len(one.failed) + (total - reached)
    return report


def _rebuild_rows(
    rows: list[models.Model],
    *,
    model_field: EncryptedTextField,
    index_attname: str,
    bank_field: str | None,
    keys: tuple[bytes, bytes],
    report: IndexRebuild,
    using: str,
) -> None:
    old_key, new_key = keys
    for row in rows:
        stored = getattr(row, index_attname)
        try:
            number = getattr(row, model_field.attname)
            codes = [str(getattr(row, bank_field))] if bank_field else _EVERY_CODE
            if any(blind_index(code, number, key=new_key) == stored for code in codes):
                report.current += 1
                continue
            code = next((code for code in codes if blind_index(code, number, key=old_key) == stored), None)
        except (DecryptionError, ValueError) as exc:
            # Messages name the model, the row and the field (or the rule), never the value.
            report.fail(row.pk, str(exc), "kcp_reindex")
            continue
        if code is None:
            report.fail(row.pk, "the stored index matches neither the old key nor KCP_INDEX_KEY", "kcp_reindex")
            continue
        new_index = blind_index(code, number, key=new_key)
        type(row)._base_manager.using(using).filter(pk=row.pk).update(**{index_attname: new_index})
        report.rebuilt += 1
