"""Run every benchmark, one after the other, and print one table of every target with its figure and PASS/FAIL.

Run from the repository root (or use the wrapper, `loadtests/bench [--quick]`):

    .venv/bin/python -m loadtests.benchmarks.all [--quick]

Each benchmark runs as its own subprocess (`python -m loadtests.benchmarks.NAME --check`, from the
repository root), its output streamed as it goes:
1. engine          the routing engine against a per-contact SQL baseline, snapshot rebuilds;
2. webhook         tsunagu's voice webhook against a trivial FastAPI app on one worker
                   (installs wrk and hey through loadtests/harness/install_tools when missing);
3. workers         concurrent simulated calls through two workers and one Redis;
4. sqlite_writers  write transactions from two processes on one SQLite file,
                   tsunagu's connections against plain aiosqlite;
5. lists           the dashboard's lists on a month-old and a year-old database;
6. line_webhook    the LINE webhook's acknowledgement against a trivial FastAPI app on one worker;
7. pages           every staff page's server time on the national demo directory with a year of records,
                   and the whole country's coverage computation.
Their summaries are parsed (lines "  PASS  target  figure", or "  PASS  target" followed by an
indented figure line). A benchmark that could not run (exit 2) or printed no summary is a failed
row too. --quick shortens each one (about 2 minutes in all instead of 10). The exit code is 1 when
any target failed, 0 when all passed (--check is accepted for symmetry with the single benchmarks).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULT = re.compile(r"^  (PASS|FAIL)  (.*)$")
DETAIL = re.compile(r"^ {8}(\S.*)$")
BENCHES: dict[str, tuple[list[str], list[str]]] = {  # name → (full arguments, --quick arguments)
    "engine": ([], ["--contacts", "5000", "--sql-sample", "500"]),
    "webhook": ([], ["--seconds", "3", "--rounds", "1"]),
    "workers": ([], ["--calls", "80", "--in-flight", "30"]),
    "sqlite_writers": ([], ["--seconds", "6"]),
    "lists": ([], ["--large", "20000", "--reads", "100"]),
    "line_webhook": ([], ["--seconds", "3", "--rounds", "1"]),
    "pages": ([], ["--reads", "30", "--api-reads", "1", "--calls", "20000", "--cases", "20000", "--coverage-runs", "3"]),
}


@dataclass
class Row:
    bench: str
    passed: bool
    target: str
    figure: str


class Stop(Exception):
    """SIGTERM, turned into an exception so that the running benchmark is stopped and cleans up."""


def parse_summary(bench: str, output: list[str]) -> list[Row]:
    """Return the PASS/FAIL rows a benchmark printed: its target and its measured figure."""
    rows = []
    for i, line in enumerate(output):
        if not (match := RESULT.match(line)):
            continue
        passed, rest = match[1] == "PASS", match[2].rstrip()
        detail = DETAIL.match(output[i + 1]) if i + 1 < len(output) else None
        if detail:  # "  PASS  target" then "        figure"
            rows.append(Row(bench, passed, rest, detail[1]))
        elif padded := re.match(r"(.{40}) (.*)", rest):  # engine: "  PASS  {target:<40} {figure}"
            rows.append(Row(bench, passed, padded[1].strip(), padded[2].strip()))
        else:
            rows.append(Row(bench, passed, rest, ""))
    return rows


def run_bench(bench: str, args: list[str]) -> tuple[int, list[str], float]:
    """Run one benchmark with --check, streaming its output; return (exit code, output lines, seconds)."""
    argv = [sys.executable, "-m", f"loadtests.benchmarks.{bench}", *args, "--check"]
    print(f"\n===== {' '.join(argv[2:])} =====", flush=True)
    started = time.monotonic()
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            print(line, end="", flush=True)
            output.append(line.rstrip("\n"))
        process.wait()
    except (KeyboardInterrupt, Stop):
        process.send_signal(signal.SIGTERM)  # the benchmark stops its servers on SIGTERM
        process.wait(timeout=60)
        raise
    return process.returncode, output, time.monotonic() - started


def print_table(rows: list[Row]) -> None:
    """Print every target with its figure and result, one line each."""
    widths = [max(len(r.bench) for r in rows), max(len(r.target) for r in rows)]
    print(f"\n{'bench':<{widths[0]}}  result  {'target':<{widths[1]}}  measured")
    print(f"{'-' * widths[0]}  ------  {'-' * widths[1]}  {'-' * 8}")
    for r in rows:
        print(f"{r.bench:<{widths[0]}}  {'PASS' if r.passed else 'FAIL':<6}  {r.target:<{widths[1]}}  {r.figure}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs of each benchmark")
    parser.add_argument("--check", action="store_true", help="accepted for symmetry: the exit code always reflects the targets")
    options = parser.parse_args()

    def stop(_signum, _frame):  # type: ignore[no-untyped-def]
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    rows: list[Row] = []
    timings = []
    try:
        for bench, (full, quick) in BENCHES.items():
            code, output, seconds = run_bench(bench, quick if options.quick else full)
            found = parse_summary(bench, output)
            if code not in (0, 1) or not found:
                found.append(Row(bench, False, "the benchmark ran to its summary", f"exit code {code}; see its output above"))
            rows += found
            timings.append(f"{bench} {seconds:.0f} s")
    except (KeyboardInterrupt, Stop):
        print("\ninterrupted", file=sys.stderr)
        return 130
    print_table(rows)
    failed = sum(not r.passed for r in rows)
    print(f"\n{len(rows) - failed}/{len(rows)} targets passed ({', '.join(timings)}{', quick' if options.quick else ''})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
