"""Durations on the command line: ``30s``, ``10m``, ``2h``, ``180d`` or ``0``."""

from __future__ import annotations

import argparse
import datetime as dt
import re

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> dt.timedelta:
    """An ``argparse`` type: a whole number with a unit (s, m, h, d), e.g. ``10m`` or ``180d``."""
    value = text.strip().lower()
    if value == "0":
        return dt.timedelta(0)
    match = _DURATION.match(value)
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number and a unit, e.g. 30s, 10m, 2h, 180d."
        )
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def describe(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
