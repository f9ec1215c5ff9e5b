"""Verifications and refunds as plain data, for the command line and logs: masked, never the full number."""

from __future__ import annotations

from typing import Any

from kcp_django.models import AccountVerification, Refund
from kcp_django.timezones import KST

__all__ = [
    "refund_as_dict",
    "verification_as_dict",
]


def verification_as_dict(row: AccountVerification) -> dict[str, Any]:
    """A verification as plain data (``status`` in lower case, as ``kcp_verify --json`` and the API give it)."""
    bank = row.bank
    return {
        "id": str(row.public_id),
        "ordr_idxx": row.ordr_idxx,
        "status": row.state.lower(),
        "res_cd": row.res_cd,
        "res_msg": row.res_msg,
        "tno": row.tno,
        "app_time": row.app_time.astimezone(KST).isoformat() if row.app_time else None,
        "bank_code": row.bank_code,
        "bank_name": bank.name if bank else "",
        "account_no_masked": row.account_no_masked,
        "owner_nm": row.owner_nm,
        "reference": row.reference,
        "merchant": row.merchant,
        "failure_reason": row.failure_reason,
        "created_at": row.created_at.astimezone(KST).isoformat() if row.created_at else None,
    }


def refund_as_dict(row: Refund) -> dict[str, Any]:
    """A refund as plain data (``status`` in lower case, as ``kcp_refund --json`` and the API give it)."""
    bank = row.bank
    return {
        "id": str(row.public_id),
        "status": row.state.lower(),
        "kind": row.kind,
        "tno": row.tno,
        "ordr_idxx": row.ordr_idxx,
        "mod_type": row.mod_type,
        "res_cd": row.res_cd,
        "res_msg": row.res_msg,
        "app_time": row.app_time.astimezone(KST).isoformat() if row.app_time else None,
        "amount": row.amount,
        "remaining": row.remaining,
        "bank_code": row.bank_code,
        "bank_name": bank.name if bank else "",
        "account_no_masked": row.account_no_masked,
        "owner_nm": row.owner_nm,
        "verification": str(row.verification.public_id) if row.verification_id and row.verification else None,
        "reference": row.reference,
        "merchant": row.merchant,
        "failure_reason": row.failure_reason,
        "needs_review": row.needs_review,
        "created_at": row.created_at.astimezone(KST).isoformat() if row.created_at else None,
        "completed_at": row.completed_at.astimezone(KST).isoformat() if row.completed_at else None,
    }
