"""kcp_django in the Django admin, for a shop's staff.

- :mod:`.verifications`: the verification list (read-only), the form that verifies one account,
  and the full number shown only with its permission, each look logged;
- :mod:`.mixin`: :class:`KcpAccountActionsMixin`, the action for a shop's own model admin, made of
  :mod:`.verify_action`, :mod:`.latest` and :mod:`.progress`;
- :mod:`.bulk`, :mod:`.sources`, :mod:`.tasks`: bulk runs, reading accounts from a shop's rows, and
  their background task;
- :mod:`.refunds`: refunds (read-only, resolving one whose answer was lost) and KCP's notices;
  :mod:`.refund_action`: "Refund to this verified account", part of the mixin;
- :mod:`.forms`, :mod:`.badges`, :mod:`.permissions`: the pieces they share.
"""

from typing import Any

from kcp_django.admin.mixin import KcpAccountActionsMixin
from kcp_django.admin.refunds import KcpNoticeAdmin, RefundAdmin
from kcp_django.admin.verifications import AccountVerificationAdmin

__all__ = ["AccountVerificationAdmin", "KcpAccountActionsMixin", "KcpNoticeAdmin", "RefundAdmin"]


def __getattr__(name: str) -> Any:
    """``VerifyRefundAccountMixin``, the mixin's name before it also refunded: deprecated, kept for one release."""
    if name == "VerifyRefundAccountMixin":
        import warnings

        warnings.warn(
            "kcp_django.admin.VerifyRefundAccountMixin is deprecated: use KcpAccountActionsMixin.",
            DeprecationWarning,
            stacklevel=2,
        )
        return KcpAccountActionsMixin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
