"""The page KCP posts its notices to (공통 통보).

KCP posts an ``application/x-www-form-urlencoded`` form in EUC-KR. Django refuses to parse a form
whose Content-Type names a charset other than UTF-8, and without one it would read EUC-KR as UTF-8,
so the raw body is decoded here (as CP949, EUC-KR's superset), whatever the Content-Type says;
``request.POST`` is never touched.

Only KCP's sender addresses (``KCP_NOTICE_IPS``) are heard; behind a reverse proxy, the client's
address is read as the REST API reads it (``KCP_API["TRUSTED_PROXIES"]``). The answer is KCP's
kind of page: a form whose ``result`` is ``0000`` once the notice is stored, anything else
otherwise (and KCP sends it again).
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_to_bytes

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kcp_django.client_ip import client_ip, in_networks, parse_address
from kcp_django.conf import kcp_settings
from kcp_django.notices.receiving import RESULT_NOT_STORED, receive_notice

__all__ = [
    "ANSWER_PAGE",
    "NOTICE_ENCODING",
    "answer",
    "decode_notice",
    "notice",
]

logger = logging.getLogger("kcp_django.notices")

#: KCP's notices are written in EUC-KR; CP949 reads all of it and the extended Hangul too.
NOTICE_ENCODING = "cp949"

ANSWER_PAGE = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>KCP notice</title></head><body>'
    '<form name="kcp_notice"><input type="hidden" name="result" value="{result}"></form>'
    "</body></html>\n"
)


def decode_notice(body: bytes) -> dict[str, str]:
    """A url-encoded EUC-KR form body as text fields (the first of repeated names wins)."""
    fields: dict[str, str] = {}
    for part in body.split(b"&"):
        if not part:
            continue
        raw_name, _sep, raw_value = part.partition(b"=")
        name = _decode(raw_name).strip()
        if name and name not in fields:
            fields[name] = _decode(raw_value)
    return fields


def _decode(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode(NOTICE_ENCODING, errors="replace")


def answer(result: str, *, status: int = 200) -> HttpResponse:
    """KCP's answer page: ``<input type="hidden" name="result" value="0000">`` when stored."""
    return HttpResponse(ANSWER_PAGE.format(result=escape(result)), content_type="text/html", status=status)


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def notice(request: HttpRequest) -> HttpResponse:
    """Receive one of KCP's notices: 403 from an address not in ``KCP_NOTICE_IPS``, else KCP's answer page."""
    try:
        sender = client_ip(request, kcp_settings.TRUSTED_PROXIES)
        address = parse_address(sender or "")
        if address is None or not in_networks(address, kcp_settings.NOTICE_IPS):
            logger.warning("kcp_django: notice refused: %s is not in KCP_NOTICE_IPS", sender or "(no address)")
            return HttpResponseForbidden(
                _("Notices are accepted only from KCP's addresses (KCP_NOTICE_IPS)."), content_type="text/plain"
            )
        outcome = receive_notice(decode_notice(request.body), remote_addr=str(address))
    except Exception as exc:
        # A configuration error or a fault of ours: KCP is told to send it again, and no trace is shown
        # or logged (an exception's text may quote the notice's personal fields).
        logger.error("kcp_django: notice not processed: %s; KCP will send it again", type(exc).__name__)
        return answer(RESULT_NOT_STORED, status=500)
    if outcome.result == RESULT_NOT_STORED:
        return answer(outcome.result, status=500)
    return answer(outcome.result)
