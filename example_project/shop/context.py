from django.http import HttpRequest

from kcp_django import conf


def gateway(request: HttpRequest) -> dict[str, str]:
    """Which gateway serves this shop, for the footer (never a key or a site code)."""
    merchant = conf.get_merchant()
    return {"kcp_gateway": merchant.backend.rsplit(".", 1)[-1], "kcp_mode": merchant.mode}
