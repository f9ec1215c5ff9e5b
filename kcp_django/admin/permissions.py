"""The permissions kcp_django's admin checks (declared on :class:`~kcp_django.models.AccountVerification`
and :class:`~kcp_django.models.Refund`)."""

#: May run the "verify refund account" action and the form that verifies one account.
VERIFY_PERMISSION = "kcp_django.verify_refund_account"
#: May see a stored account number in full; each look is recorded in the admin log.
VIEW_FULL_NUMBER_PERMISSION = "kcp_django.view_full_account_number"
#: May run "Refund to this verified account" (declared on :class:`~kcp_django.models.Refund`).
REQUEST_REFUND_PERMISSION = "kcp_django.request_refund"
#: May record what KCP's admin shows for a refund whose answer was lost.
RESOLVE_REFUND_PERMISSION = "kcp_django.resolve_refund"
