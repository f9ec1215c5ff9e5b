"""The REST API for a shop's refund-account form: ``include("kcp_django.api.urls")``."""
