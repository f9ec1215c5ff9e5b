"""Verifying a refund account with KCP: the one way in for every face (REST, admin, commands, tasks).

:func:`verify_refund_account` checks the input against KCP's guide, records the attempt before KCP
is asked, and stores KCP's answer through :mod:`kcp_django.core`. :mod:`.service` holds the order of
work and its failure modes.
"""

from kcp_django.verifications.service import (
    Claim,
    Outcome,
    ask_gateway,
    claim_many,
    outcome_of,
    record_outcome,
    send_claimed,
    settle_lost_call,
    state_of,
    verify_normalized,
    verify_refund_account,
)

__all__ = [
    "Claim",
    "Outcome",
    "ask_gateway",
    "claim_many",
    "outcome_of",
    "record_outcome",
    "send_claimed",
    "settle_lost_call",
    "state_of",
    "verify_normalized",
    "verify_refund_account",
]
