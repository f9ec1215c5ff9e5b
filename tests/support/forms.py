"""What a page's forms send, read from the HTML as a browser would: for the refund admin's pages."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _Inputs(HTMLParser):
    """The names and values a page's forms send (hidden inputs, text inputs, checked boxes, selected options)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, Any] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name = found.get("name")
        if tag == "input" and name and found.get("type") not in ("submit", "checkbox"):
            self.values[name] = found.get("value") or ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in found:
            self.values[self._select] = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def inputs(page: Any) -> dict[str, Any]:
    parser = _Inputs()
    parser.feed(page.content.decode())
    return {name: value for name, value in parser.values.items() if name != "csrfmiddlewaretoken"}
