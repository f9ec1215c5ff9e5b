"""A verification as plain data, for the command line and logs: masked, never the full number."""

from __future__ import annotations

from typing import Any

from kcp_django.gateways.base import KST
from kcp_django.models import AccountVerification


def verification_as_dict(row: AccountVerification) -> dict[str, Any]:
    bank = row.bank
    return {
        "id": str(row.public_id),
        "ordr_idxx": row.ordr_idxx,
        "status": row.state,
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
