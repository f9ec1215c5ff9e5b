"""The permissions kcp_django's admin checks (declared on :class:`~kcp_django.models.AccountVerification`)."""

#: May run the "verify refund account" action and the form that verifies one account.
VERIFY_PERMISSION = "kcp_django.verify_refund_account"
#: May see a stored account number in full; each look is recorded in the admin log.
VIEW_FULL_NUMBER_PERMISSION = "kcp_django.view_full_account_number"
