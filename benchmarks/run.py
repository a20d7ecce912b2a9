"""``make bench``: nhicard against its baselines (quality.md, "Performance, measured in a
benchmark"). Prints a table of ratios with targets and PASS/MISS, writes
benchmarks/results/latest.json and, after a full run, the table in benchmarks/README.md.

Exit status: 0 when every figure met its target (skipped figures do not count), 1 when one
missed or could not be taken, 2 when the benchmark itself could not run.

    python benchmarks/run.py [--runs N] [--quick] [--only NAME[,NAME]] [--results FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.agent_serve import AGENT_SERVE  # noqa: E402
from benchmarks.figures import (  # noqa: E402 - needs ROOT on sys.path first
    CARD_READ,
    CARD_READ_CLICK,
    DEFAULT_RUNS,
    READER_LIST,
    READER_LIST_CLICK,
    RSS,
    STARTUP,
    Bench,
    BenchOptions,
    Figure,
)
from benchmarks.measure import BenchError  # noqa: E402
from benchmarks.results import (  # noqa: E402
    FAILING,
    PASS,
    Row,
    overall_status,
    render_notes,
    render_table,
    update_readme,
    write_json,
)
from benchmarks.sandbox_job import SANDBOX_JOB  # noqa: E402
from benchmarks.verify_watch import VERIFY_WATCH  # noqa: E402

FIGURES: tuple[Figure, ...] = (
    CARD_READ,
    CARD_READ_CLICK,
    READER_LIST,
    READER_LIST_CLICK,
    STARTUP,
    RSS,
    VERIFY_WATCH,
    SANDBOX_JOB,
    AGENT_SERVE,
)
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
README = ROOT / "benchmarks" / "README.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--runs", type=int, default=None, help=f"runs per command (default {DEFAULT_RUNS})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few runs and small counts: checks the harness, the numbers mean little",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="only these figures: " + ", ".join(f.name for f in FIGURES),
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"JSON results file (default {RESULTS})"
    )
    parser.add_argument(
        "--no-readme",
        action="store_true",
        help="do not rewrite the table in benchmarks/README.md (implied by --quick and --only)",
    )
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    names = {f.name for f in FIGURES}
    args.only = [n.strip() for part in args.only for n in part.split(",") if n.strip()]
    unknown = [n for n in args.only if n not in names]
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return args


def options_from(args: argparse.Namespace) -> BenchOptions:
    base = BenchOptions.quick_options() if args.quick else BenchOptions()
    if args.runs is None:
        return base
    return dataclasses.replace(base, runs=args.runs)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def run_meta(options: BenchOptions) -> dict[str, Any]:
    return {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "runs": options.runs,
        "quick": options.quick,
        "host": {
            "cpus": os.cpu_count(),
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = options_from(args)
    selected = [f for f in FIGURES if not args.only or f.name in args.only]
    meta = run_meta(options)
    rows: list[Row] = []
    bench = Bench(options)
    print(
        f"nhicard benchmark: {len(selected)} figure(s), {options.runs} run(s) each"
        + (" (quick: the numbers mean little)" if options.quick else ""),
        file=sys.stderr,
    )
    try:
        for figure in selected:
            started = time.monotonic()
            print(f"  {figure.name} …", end="", file=sys.stderr, flush=True)
            new = figure.rows(bench)
            rows.extend(new)
            statuses = ", ".join(r.status for r in new)
            print(f" {statuses} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    except BenchError as err:
        print(f"\nbenchmark could not run: {err}", file=sys.stderr)
        return 2
    finally:
        bench.close()

    print(render_table(rows))
    notes = render_notes(rows)
    if notes:
        print("\n" + notes)
    write_json(args.results, rows, meta)
    if not (args.no_readme or args.quick or args.only):
        update_readme(README, rows, meta)
    failed = [r.figure for r in rows if r.status in FAILING]
    if overall_status(rows) == PASS:
        print(f"\nPASS: every measured figure met its target (results: {args.results})")
        return 0
    print(f"\nMISS: {', '.join(failed)} (results: {args.results})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
