"""Run every benchmark in turn (``make bench``); each prints its own table.

The benchmarks are for people, not CI: they take minutes and their numbers depend on the machine.
Results worth keeping go into bench/RESULTS.md by hand, with the command line that produced them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS: list[list[str]] = [
    ["scan_customers.py", "--rows", "1000000"],
    ["writer_bench.py"],
    ["pipeline_bench.py", "--rows", "100000", "1000000"],
    ["scheduler_bench.py"],
]


def main() -> int:
    failed = 0
    for script, *args in BENCHMARKS:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / script), *args])
        if code != 0:
            print(f"=== {script} exited with {code}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
