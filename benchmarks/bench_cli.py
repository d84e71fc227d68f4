"""Wall time of the torch-free commands, each in a fresh interpreter, as a user runs them.

    python benchmarks/bench_cli.py [--runs 9]

Times `archdsl check zoo/convnext.arch` (every variant) and `-v tiny`, `archdsl fmt --check`
and `archdsl --version`, interleaved with the interpreter's own start-up (`python -c pass`)
and the two libraries the front end needs (`import lark`, `import networkx`), so a reader can
see what is ours and what is Python's. Prints medians and minimums; also records whether each
command imported torch (it must not).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run_suite import machine  # noqa: E402

PROBE = "import runpy, sys; sys.argv = ['archdsl'] + {argv!r}\ntry:\n    runpy.run_module('archdsl', run_name='__main__')\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules, file=sys.stderr)"

CASES = [
    ("python -c pass", ["-c", "pass"], False),
    ("import lark", ["-c", "import lark"], False),
    ("import networkx", ["-c", "import networkx"], False),
    ("archdsl --version", ["--version"], True),
    ("archdsl fmt --check zoo/convnext.arch", ["fmt", "--check", "zoo/convnext.arch"], True),
    ("archdsl check zoo/convnext.arch -v tiny", ["check", "zoo/convnext.arch", "-v", "tiny"], True),
    ("archdsl check zoo/convnext.arch (5 variants)", ["check", "zoo/convnext.arch"], True),
]


def once(args: list[str], ours: bool) -> tuple[float, bool]:
    cmd = [sys.executable, "-c", PROBE.format(argv=args)] if ours else [sys.executable, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    torch_loaded = ours and r.stderr.strip().splitlines()[-1:] == ["True"]
    return wall, torch_loaded


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    times: dict[str, list[float]] = {name: [] for name, _, _ in CASES}
    torch_seen: dict[str, bool] = {name: False for name, _, _ in CASES}
    for name, argv, ours in CASES:  # warm the disk cache and the grammar cache once
        once(argv, ours)
    for _ in range(args.runs):  # interleaved, so load changes hit every row alike
        for name, argv, ours in CASES:
            wall, loaded = once(argv, ours)
            times[name].append(wall)
            torch_seen[name] |= loaded
    load = os.getloadavg()[0]
    print(f"# torch-free commands, fresh interpreter each, {args.runs} interleaved runs, load average {load:.1f}")
    print(f"# {machine()}")
    print("| command | median (s) | min (s) | imports torch |")
    print("|---|---|---|---|")
    for name, _, ours in CASES:
        t = times[name]
        print(f"| `{name}` | {statistics.median(t):.3f} | {min(t):.3f} | {'yes' if torch_seen[name] else 'no' if ours else '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
