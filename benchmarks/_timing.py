"""Timing shared by the benchmarks: the compared steps run round-robin, so drifting load on a shared machine
affects all of them alike and the ratios stay fair."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def interleaved_medians(steps: list[Callable[[], object]], *, warmup: int = 0, min_repeats: int = 1,
                        min_seconds: float = 0.0, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Median seconds of each step over at least ``min_repeats`` rounds (one run of each step per round) and at
    least ``min_seconds`` per step in all, after ``warmup`` untimed runs of each. ``clock``: wall time, or
    ``time.process_time`` (this process's CPU time: with one thread, what other jobs on the machine do not
    inflate)."""
    for step in steps:
        for _ in range(warmup):
            step()
    times: list[list[float]] = [[] for _ in steps]
    start = time.perf_counter()
    while len(times[0]) < min_repeats or time.perf_counter() - start < min_seconds * len(steps):
        for i, step in enumerate(steps):
            t = clock()
            step()
            times[i].append(clock() - t)
    return [statistics.median(t) for t in times]
