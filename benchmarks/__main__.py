"""Run every benchmarks/bench_*.py (each exposes run() -> list[dict]) and print one table.

Row keys: what, min_s, median_s, and optionally compare_to (what the row is measured
against) and ratio (ours / theirs, below 1 is faster). `python -m benchmarks music`
runs only the modules whose name contains "music".
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

COLUMNS = ("what", "min_s", "median_s", "compare_to", "ratio")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    rows = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        rows.extend(module.run())
    table = [[_cell(row.get(c)) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in table)) if table else len(c) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
