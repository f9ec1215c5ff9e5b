"""The API's JSON parser: a body nested too deeply is bad input (400 ``parse_error``), never a crash."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

#: The request bodies are flat objects; anything deeper than this is refused before it is looked at.
MAX_DEPTH = 32


class BoundedJSONParser(JSONParser):
    """DRF's parser, refusing bodies nested deeper than :data:`MAX_DEPTH`.

    Python's decoder recurses once per level and raises ``RecursionError`` well before running out
    of input: that, and any document deeper than the limit, is a :class:`ParseError`.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.") from None
        if _depth_exceeds(data, MAX_DEPTH):
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.")
        return data


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` holds containers more than ``limit`` levels deep (walked without recursion)."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
