"""kcp_django in the Django admin, for a shop's staff.

- :mod:`.verifications`: the verification list (read-only), the form that verifies one account,
  and the full number shown only with its permission, each look logged;
- :mod:`.mixin`: :class:`KcpAccountActionsMixin`, the action for a shop's own model admin, made of
  :mod:`.verify_action`, :mod:`.latest` and :mod:`.progress`;
- :mod:`.bulk`, :mod:`.sources`, :mod:`.tasks`: bulk runs, reading accounts from a shop's rows, and
  their background task;
- :mod:`.payments`: payments (read-only): paid, refunded and remaining, and their refunds;
- :mod:`.refunds`: refunds (read-only, resolving one whose answer was lost) and KCP's notices;
  :mod:`.refund_action`: "Refund to this verified account", part of the mixin;
- :mod:`.forms`, :mod:`.badges`, :mod:`.permissions`: the pieces they share.
"""

from kcp_django.admin.mixin import KcpAccountActionsMixin
from kcp_django.admin.payments import PaymentAdmin
from kcp_django.admin.refunds import KcpNoticeAdmin, RefundAdmin
from kcp_django.admin.verifications import AccountVerificationAdmin
from kcp_django.deprecation import renamed_names

__all__ = ["AccountVerificationAdmin", "KcpAccountActionsMixin", "KcpNoticeAdmin", "PaymentAdmin", "RefundAdmin"]


#: ``VerifyRefundAccountMixin``, the mixin's name before it also refunded: warns, goes in 0.3.
__getattr__ = renamed_names(__name__, {"VerifyRefundAccountMixin": "KcpAccountActionsMixin"})
