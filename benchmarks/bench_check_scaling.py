"""Check time (parse + lower + shape inference + all checks: `archdsl check`) of synthetic
files with 1k, 5k and 10k layers, to show that checking scales linearly.

    python benchmarks/bench_check_scaling.py [--sizes 1000,5000,10000] [--repeats 3]

Each file is one block of N layers (`conv3(16)`, `bn`, `relu` repeated, ten per line)
used by one stage. Prints one row per size: seconds (best of the repeats, so that a
loaded machine disturbs it less), microseconds per layer, and the time relative to the
smallest size scaled by the layer count (1.0 = exactly linear). The CPU column is the
process time, which a machine shared with other jobs inflates less than wall-clock time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAYERS = ("conv3(16)", "bn", "relu")


def synthetic_source(n_layers: int, per_line: int = 10) -> str:
    tokens = [LAYERS[k % len(LAYERS)] for k in range(n_layers)]
    lines = [" ".join(tokens[k:k + per_line]) for k in range(0, n_layers, per_line)]
    body = "\n".join("    " + line for line in lines)
    return (f"arch synthetic{n_layers}(classes=10)\ninput 3x32x32\n\nblock deep:\n{body}\n\n"
            "stem conv3(16)\nstage deep x[1]\nhead gap fc(classes)\n")


def check_time(text: str, repeats: int) -> tuple[float, float, int]:
    """Best wall-clock and best CPU (process) seconds of parse + compile_graph, and the op count."""
    from archdsl.api import compile_graph, parse

    best, best_cpu, ops = float("inf"), float("inf"), 0
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        g = compile_graph(parse(text))
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
        ops = len(g) - 1
    return best, best_cpu, ops


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    check_time(synthetic_source(100), 1)  # warm-up: grammar load, imports
    rows = []
    for n in sizes:
        secs, cpu, ops = check_time(synthetic_source(n), args.repeats)
        rows.append((n, ops, secs, cpu))
    base = rows[0][2] / rows[0][0]
    print(f"{'layers':>8} {'IR ops':>8} {'check (s)':>10} {'CPU (s)':>8} {'us/layer':>9} {'vs linear':>10}")
    for n, ops, secs, cpu in rows:
        print(f"{n:>8} {ops:>8} {secs:>10.3f} {cpu:>8.3f} {secs / n * 1e6:>9.1f} {secs / (base * n):>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
