"""The suite's one watch for secrets: every log record, every response (body and headers) and every rendered
template of the whole suite is scanned for the site keys and the full account numbers the suite
used. The one page allowed to show a full number is the admin's audited reveal.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from kcp_django.conf import TEST_CREDENTIALS

#: Shorter numbers would match unrelated digits (dates, counts); real account numbers are longer.
MIN_ACCOUNT_DIGITS = 9
#: The audited "view full account number" page of the admin, for users with the permission.
REVEAL_PATH = re.compile(r"/account-number/$")
REVEAL_TEMPLATE = "admin/kcp_django/accountverification/account_number.html"


class LeakGuard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: set[str] = set()
        self._keys: set[str] = set(TEST_CREDENTIALS.values())
        self.findings: list[str] = []
        self.scanned = {"log records": 0, "responses": 0, "templates": 0}

    def add_site_keys(self, merchants: dict[str, Any]) -> None:
        for entry in merchants.values():
            key = str(entry.get("OPTIONS", {}).get("SITE_KEY", "") or "")
            if key:
                self._keys.add(key)

    def add_account(self, digits: str) -> None:
        # Only what normalising makes of a real number; tests that build inputs by hand may hold anything.
        if isinstance(digits, str) and digits.isascii() and digits.isdigit() and len(digits) >= MIN_ACCOUNT_DIGITS:
            with self._lock:
                self._accounts.add(digits)

    def add_account_text(self, text: object) -> None:
        """An account number as a caller typed it (``"110-234-567890"``): its digits, and the typed
        form itself, are watched from now on."""
        raw = str(text).strip()
        digits = "".join(char for char in raw if char.isascii() and char.isdigit())
        if len(digits) >= MIN_ACCOUNT_DIGITS:
            self.add_account(digits)
            with self._lock:
                self._accounts.add(raw)

    def scan(self, where: str, kind: str, text: str, *, typed: str = "") -> None:
        """``typed`` is what the user put in the URL themselves (a staff search): echoing it is not a leak."""
        with self._lock:
            self.scanned[kind] += 1
            secrets = [*self._keys, *self._accounts]
        found = [secret for secret in secrets if secret in text and secret not in typed]
        if found:
            labels = ", ".join("a site key" if s in self._keys else f"account ...{s[-4:]}" for s in found)
            with self._lock:
                self.findings.append(f"{kind[:-1]} {where}: {labels}")

    def take_findings(self) -> list[str]:
        with self._lock:
            findings, self.findings = self.findings, []
        return findings


guard = LeakGuard()
#: What the request being answered on this thread typed into its URL.
_current = threading.local()


class _RecordScanner(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        guard.scan(f"from logger {record.name!r}", "log records", text)


def _wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[], None]:
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    return lambda: setattr(owner, name, original)


def _typed_in_url(request: Any) -> str:
    query = getattr(request, "GET", None)
    if not query:
        return ""
    typed = " ".join(value for _, values in query.lists() for value in values)
    return typed + " " + re.sub(r"\D", "", unicodedata.normalize("NFKC", typed))


def install() -> Callable[[], None]:
    """Start watching; returns the function that stops."""
    from django.core.handlers.base import BaseHandler
    from django.template.base import Template

    from kcp_django.validation import NormalizedInput

    guard.add_site_keys(settings.KCP_MERCHANTS)

    def watch_inputs(original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            guard.add_account(self.account_no)

        return __init__

    def watch_responses(original: Callable[..., Any]) -> Callable[..., Any]:
        def get_response(self: Any, request: Any) -> Any:
            _current.typed = _typed_in_url(request)
            try:
                response = original(self, request)
            finally:
                _current.typed = ""
            if not getattr(response, "streaming", False) and not REVEAL_PATH.search(request.path):
                headers = "\n".join(f"{name}: {value}" for name, value in response.items())
                guard.scan(
                    f"to {request.method} {request.path}",
                    "responses",
                    response.content.decode(errors="replace") + "\n" + headers,
                    typed=_typed_in_url(request),
                )
            return response

        return get_response

    def watch_templates(original: Callable[..., Any]) -> Callable[..., Any]:
        def render(self: Any, context: Any) -> Any:
            output = original(self, context)
            if self.origin is None or self.origin.template_name != REVEAL_TEMPLATE:
                guard.scan(
                    f"{getattr(self.origin, 'template_name', None) or '<string>'}",
                    "templates",
                    str(output),
                    typed=getattr(_current, "typed", ""),
                )
            return output

        return render

    handler = _RecordScanner(level=1)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(1)
    undo = [
        _wrap(NormalizedInput, "__init__", watch_inputs),
        _wrap(BaseHandler, "get_response", watch_responses),
        _wrap(Template, "render", watch_templates),
    ]

    def uninstall() -> None:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        for step in reversed(undo):
            step()

    return uninstall


def describe(findings: Iterable[str]) -> str:
    return "secrets leaked:\n  " + "\n  ".join(findings)
