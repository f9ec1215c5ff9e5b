"""``manage.py kcp_send_notice``: send a simulated KCP notice (공통 통보) to a local notice URL.

For demos and tests: it posts the form KCP would post (EUC-KR, url-encoded) and prints what KCP
would read of the answer, the page's ``result``; exit status 0 when it is ``0000``, 1 otherwise::

    manage.py kcp_send_notice --url http://127.0.0.1:8000/kcp/notices/ --tx-cd TX01 --refund 12
    manage.py kcp_send_notice --tx-cd TX02 --field site_cd=T0000 --field tno=20261127000001 --field st_cd=Y

``--refund`` fills ``site_cd``, ``tno``, ``order_no``, ``refund_nm``, ``refund_mny`` and ``bank_code``
from the stored refund; ``--field`` sets (or overrides) any field. The receiving server hears only
``KCP_NOTICE_IPS``: list 127.0.0.1 there to accept this command's notices. Only loopback URLs are
accepted unless ``--allow-remote`` is given.
"""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from kcp_django import conf
from kcp_django.models import Refund

DEFAULT_URL = "http://127.0.0.1:8000/kcp/notices/"
NOTICE_ENCODING = "euc-kr"


class _ResultReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.result: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name") == "result" and self.result is None:
            self.result = values.get("value") or ""


def read_result(page: str) -> str | None:
    """The ``result`` form value of a notice page's answer, as KCP reads it (None when there is none)."""
    reader = _ResultReader()
    reader.feed(page)
    reader.close()
    return reader.result


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refund_fields(refund: Refund) -> dict[str, str]:
    """The fields KCP's TX01 would carry for ``refund``."""
    fields = {
        "site_cd": conf.get_merchant(refund.merchant).site_cd,
        "tno": refund.tno,
        "order_no": refund.ordr_idxx,
        "refund_nm": refund.owner_nm,
        "bank_code": refund.bank_code,
    }
    if refund.amount is not None:
        fields["refund_mny"] = str(refund.amount)
    return fields


class Command(BaseCommand):
    help = (
        "Send a simulated KCP notice (공통 통보) to a local notice URL and print KCP's view of the answer "
        "(its result; exit status 0 when 0000). The server must list 127.0.0.1 in KCP_NOTICE_IPS to accept it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=DEFAULT_URL, help=f"the notice URL (default: {DEFAULT_URL})")
        parser.add_argument("--tx-cd", default="TX01", help="the notice type: TX00 ... TX07 (default: TX01)")
        parser.add_argument(
            "--refund",
            help="id or public id of a stored refund: fills site_cd, tno, order_no, refund_nm, refund_mny, bank_code",
        )
        parser.add_argument(
            "--field", action="append", default=[], metavar="NAME=VALUE", help="a field to send (repeatable)"
        )
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
        parser.add_argument(
            "--allow-remote", action="store_true", help="send to a URL that is not loopback (127.0.0.0/8, ::1)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url: str = options["url"]
        if urlsplit(url).scheme not in ("http", "https"):
            raise CommandError(_("--url must be an http:// or https:// URL."))
        if not options["allow_remote"] and not is_loopback_url(url):
            raise CommandError(
                _("--url must be on this machine (127.0.0.0/8, ::1 or localhost); --allow-remote sends elsewhere.")
            )
        fields = {"tx_cd": options["tx_cd"].upper(), "tx_tm": timezone.localtime().strftime("%Y%m%d%H%M%S")}
        if options["refund"]:
            fields.update(refund_fields(self._refund(options["refund"])))
        for pair in options["field"]:
            name, sep, value = pair.partition("=")
            if not sep or not name.strip():
                raise CommandError(_("--field must look like NAME=VALUE, not %(pair)r.") % {"pair": pair})
            fields[name.strip()] = value
        try:
            data = urlencode(fields, encoding=NOTICE_ENCODING).encode("ascii")
        except UnicodeEncodeError:
            raise CommandError(_("The fields hold characters EUC-KR cannot encode.")) from None
        request = urllib.request.Request(  # noqa: S310 (http or https only, checked above)
            url, data=data, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        try:
            with urllib.request.urlopen(request, timeout=options["timeout"]) as response:  # noqa: S310 (checked above)
                status, page = response.status, response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as error:
            status, page = error.code, error.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CommandError(_("No answer from %(url)s: %(reason)s") % {"url": url, "reason": reason}) from None
        result = read_result(page)
        self.stdout.write(
            _("%(tx_cd)s of tno %(tno)s: HTTP %(status)s, result=%(result)s")
            % {
                "tx_cd": fields["tx_cd"],
                "tno": fields.get("tno", "-"),
                "status": status,
                "result": result if result is not None else _("(none)"),
            }
        )
        if result != "0000":
            raise CommandError(_("KCP would send this notice again: the answer's result is not 0000."), returncode=1)
        self.stdout.write(_("Stored: KCP would not send this notice again."))

    def _refund(self, ident: str) -> Refund:
        refunds = Refund.objects.all()
        try:
            refund = refunds.get(pk=int(ident)) if ident.isdigit() else refunds.get(public_id=ident)
        except (Refund.DoesNotExist, ValidationError, ValueError):
            raise CommandError(_("--refund: no refund with id %(id)s.") % {"id": ident}) from None
        return refund
