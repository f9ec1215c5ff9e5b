"""Timing helpers: alternate candidate and baseline, repeat, report medians and their ratio."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of the report."""

    name: str
    metric: str
    candidate: float
    baseline: float
    target: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.candidate / self.baseline if self.baseline else float("inf")


def alternate(
    candidate: Callable[[], None], baseline: Callable[[], None], *, repetitions: int, calls: int
) -> tuple[float, float]:
    """Median seconds per call of each, measured in alternating batches of ``calls``."""
    candidate_times: list[float] = []
    baseline_times: list[float] = []
    for repetition in range(repetitions):
        order = [(candidate, candidate_times), (baseline, baseline_times)]
        if repetition % 2:
            order.reverse()
        for function, times in order:
            start = time.perf_counter()
            for _ in range(calls):
                function()
            times.append((time.perf_counter() - start) / calls)
    return statistics.median(candidate_times), statistics.median(baseline_times)
