"""Benchmarks: `python -m benchmarks` runs every bench_*.py module and prints one table."""
from __future__ import annotations

import time
from typing import Callable


def timings(fn: Callable[[], object], repeats: int, warmup: bool = True) -> list[float]:
    """Wall-clock seconds of `repeats` calls of fn, after one untimed warm-up call unless told not to."""
    if warmup:
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out
