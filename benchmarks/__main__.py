"""Run every benchmarks/bench_*.py (each exposes run() -> list[dict]) and print one table.

Row keys: what, min, median, unit, and optionally compare_to (what the row is measured
against) and ratio (this median / that median: below 1 is faster). A row with only `what` is a
note, printed under the table. `python -m benchmarks music`
runs only the modules whose name contains "music".
"""
from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
from pathlib import Path

COLUMNS = ("what", "min", "median", "unit", "compare_to", "ratio")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def machine() -> str:
    """One line naming the date, the CPU, its cores and cache, and the library versions."""
    cpu, l3 = platform.processor() or platform.machine(), "?"
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        l3 = Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip()
    except (OSError, StopIteration):
        pass
    import numpy
    import onnxruntime

    return (f"{datetime.date.today().isoformat()}  {cpu}, {os.cpu_count()} cores, L3 {l3}; "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, onnxruntime {onnxruntime.__version__}")


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    print(machine(), flush=True)
    rows = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        rows.extend(module.run())
    print_rows(rows)
    return 0


def print_rows(rows: list[dict]) -> None:
    """The timing rows as one aligned table, then the notes."""
    timed = [r for r in rows if "min" in r]
    table = [[_cell(row.get(c)) for c in COLUMNS] for row in timed]
    widths = [max(len(c), *(len(r[i]) for r in table)) if table else len(c) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    for r in rows:
        if "min" not in r:
            print(f"note: {r['what']}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
