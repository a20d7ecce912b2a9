"""``make profile-job``: where the time of the sandbox job goes, per command.

    python benchmarks/profile_job.py [--jobs N]

Like the ``sandbox-job`` figure (benchmarks/sandbox_job.py): a private pcscd + vpcd, a fresh
sandbox and user state per job, then ``register``, ``verify-email`` and ``ecpa login`` with
``--profile sandbox --agent direct -vv``, each a fresh process. Here the sandbox server and the
three commands run under ``profile_hooks.py``, and each command's wall time is split into:

- start-up: from spawning the process to its first line of Python (interpreter, site);
- imports: time inside imports not yet loaded (every module: nhicard's, Click, httpx, bs4…);
- profile: loading and checking the site profile (``resolve_profile``), imports excluded;
- HTTP: time in ``httpx.Client.send`` minus the server's time: TLS, the loopback, the client;
- server: time inside the sandbox sites' apps for this command's requests;
- agent: the direct agent's card calls (SAM sessions over TCP, APDUs through pcscd + vpcd);
- own code: the rest until ``main()`` returns (CLI, flows, forms, pages, output);
- exit: from ``main()`` returning to the process's end as the parent sees it.

Medians over ``--jobs`` jobs (default 5) per cell; the columns of a row need not add up to
the median wall exactly. The baseline row is ``python -c "import click, httpx, bs4"``, run
between the jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.environment import BENCH_DIR, BenchStack, python_executable  # noqa: E402
from benchmarks.measure import BenchError, median  # noqa: E402
from benchmarks.profile_hooks import CPROFILE_ENV  # noqa: E402
from benchmarks.sandbox_job import HTTP_LINE, PASSWORD, REGISTER_ARGS, SANDBOX_PARTS  # noqa: E402
from tests.support.stack import free_port_range  # noqa: E402

HOOKS = str(BENCH_DIR / "profile_hooks.py")
COLUMNS = ("start-up", "imports", "profile", "HTTP", "server", "agent", "own code", "exit")
BASELINE = ("-c", "import click, httpx, bs4")
START_TIMEOUT = 30.0


def start_server(env: dict[str, str], sandbox_dir: Path, log: Path) -> tuple[Any, dict[str, Any]]:
    from nhicard.sandbox.supervisor import UP, probe_parts, read_endpoints

    sandbox_dir.mkdir(parents=True)
    port_base = free_port_range(SANDBOX_PARTS)
    args = ["server", str(log), "--dir", str(sandbox_dir), "--port-base", str(port_base)]
    server_log = (sandbox_dir / "profile-server.log").open("ab")
    child = subprocess.Popen(
        [python_executable(), HOOKS, *args],
        stdin=subprocess.DEVNULL,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=sandbox_dir,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise BenchError(f"the sandbox server exited {child.returncode}; see {server_log.name}")
        endpoints = read_endpoints(sandbox_dir)
        if (
            endpoints is not None
            and endpoints.get("pid") == child.pid
            and all(p.state == UP for p in probe_parts(endpoints, sandbox_dir))
        ):
            return child, endpoints
        time.sleep(0.05)
    child.kill()
    raise BenchError("the sandbox did not come up")


def stop_server(child: Any) -> None:
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def run_command(
    env: dict[str, str],
    out: Path,
    args: list[str],
    expected: str,
    *,
    importtime: bool = False,
    cprofile: Path | None = None,
) -> dict[str, Any]:
    began = time.monotonic()
    flags = ["-X", "importtime"] if importtime else []
    if cprofile is not None:
        env = env | {CPROFILE_ENV: str(cprofile)}
    proc = subprocess.Popen(
        [python_executable(), *flags, HOOKS, "client", str(out), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    stdout, stderr = proc.communicate(timeout=120)
    ended = time.monotonic()
    status = None
    with contextlib.suppress(ValueError):
        status = json.loads(stdout).get("status")
    if proc.returncode != 0 or status != expected:
        raise BenchError(
            f"nhicard {' '.join(args[:6])} …: exit {proc.returncode}, {stderr[-300:]!r}"
        )
    report = json.loads(out.read_text("utf-8"))
    text = stderr.decode("utf-8", "replace")
    report.update(spawned=began, ended=ended, traced=len(HTTP_LINE.findall(text)))
    if importtime:
        report["importtime"] = [
            line for line in text.splitlines() if line.startswith("import time:")
        ]
    return report


def split(report: dict[str, Any], server_records: list[dict[str, Any]]) -> dict[str, float]:
    totals = report["totals"]
    mine = [r for r in server_records if report["spawned"] <= r["start"] <= report["ended"]]
    server = sum(r["end"] - r["start"] for r in mine)
    measured = sum(totals.get(k, 0.0) for k in ("imports", "profile", "http", "agent"))
    return {
        "wall": report["ended"] - report["spawned"],
        "start-up": report["started"] - report["spawned"],
        "imports": totals.get("imports", 0.0),
        "profile": totals.get("profile", 0.0),
        "HTTP": max(0.0, totals.get("http", 0.0) - server),
        "server": server,
        "agent": totals.get("agent", 0.0),
        "own code": report["main_returned"] - report["started"] - measured,
        "exit": report["ended"] - report["main_returned"],
        "requests": float(len(mine)),
        "traced": float(report["traced"]),
    }


def one_job(
    stack: BenchStack,
    index: int,
    imports: dict[str, list[str]] | None = None,
    cprofile: Path | None = None,
) -> dict[str, dict[str, float]]:
    """One job; with ``imports``, the commands run under ``-X importtime`` and their lines
    land there; with ``cprofile`` (a directory), under cProfile, each writing COMMAND.prof
    there (their timings are then not representative)."""
    work = stack.workdir / f"profile-{index}"
    sandbox_dir = work / "sandbox"
    env = stack.env | {
        "NHICARD_SANDBOX_DIR": str(sandbox_dir),
        "NHICARD_STATE_DIR": str(work / "state"),
        "NHICARD_PASSWORD": PASSWORD,
    }
    server_log = work / "server.jsonl"
    child, endpoints = start_server(env, sandbox_dir, server_log)
    flow = ["-vv", "--profile", "sandbox", "--agent", "direct"]
    steps = (
        ("register", [*flow, "register", *REGISTER_ARGS, "--json"], "submitted"),
        (
            "verify-email",
            [*flow, "verify-email", "--maildir", endpoints["maildir"], "--wait", "10", "--json"],
            "verified",
        ),
        ("ecpa login", [*flow, "ecpa", "login", "--json"], "logged-in"),
    )
    try:
        reports = {
            name: run_command(
                env,
                work / f"{name.replace(' ', '-')}.json",
                args,
                expected,
                importtime=imports is not None,
                cprofile=cprofile / f"{name.replace(' ', '-')}.prof" if cprofile else None,
            )
            for name, args, expected in steps
        }
    finally:
        stop_server(child)
    if imports is not None:
        imports.update({name: report.get("importtime", []) for name, report in reports.items()})
    records = [json.loads(line) for line in server_log.read_text("utf-8").splitlines() if line]
    return {name: split(report, records) for name, report in reports.items()}


def baseline_wall(env: dict[str, str]) -> float:
    began = time.monotonic()
    subprocess.run([python_executable(), *BASELINE], env=env, check=True)
    return time.monotonic() - began


def render(jobs: list[dict[str, dict[str, float]]], baselines: list[float]) -> str:
    names = list(jobs[0])
    rows = []
    for name in names:
        cells = {k: median([j[name][k] for j in jobs]) for k in jobs[0][name]}
        rows.append((name, cells))
    total = {k: median([sum(j[n][k] for n in names) for j in jobs]) for k in jobs[0][names[0]]}
    rows.append(("job", total))
    base = median(baselines)
    header = ["command", "wall", "× base", *COLUMNS, "requests"]
    lines = [header]
    for name, cells in rows:
        times = 3 * base if name == "job" else base
        lines.append(
            [
                name,
                f"{cells['wall'] * 1000:.0f}",
                f"{cells['wall'] / times:.2f}",
                *(f"{cells[c] * 1000:.0f}" for c in COLUMNS),
                f"{cells['requests']:.0f}",
            ]
        )
    lines.append(["baseline", f"{base * 1000:.0f}", "1.00", *("" for _ in COLUMNS), ""])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = [
        "| "
        + " | ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        + " |"
        for line in lines
    ]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def import_groups(lines: list[str], top: int = 12) -> str:
    """``-X importtime`` lines summed (self time) by top-level package, largest first."""
    groups: dict[str, int] = {}
    for line in lines:
        try:
            _, self_us, _cumulative, name = (
                part.strip() for part in line.replace(":", "|", 1).split("|")
            )
            group = name.split(".")[0]
            if group == "nhicard":
                group = ".".join(name.split(".")[:2])
            groups[group] = groups.get(group, 0) + int(self_us)
        except ValueError:
            continue
    ranked = sorted(groups.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{name} {us / 1000:.0f}" for name, us in ranked[:top])
    rest = sum(us for _, us in ranked[top:]) / 1000
    return f"{shown}, other {rest:.0f} (total {sum(groups.values()) / 1000:.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/profile_job.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--jobs", type=int, default=5, help="jobs to take medians over (default 5)")
    parser.add_argument(
        "--importtime",
        action="store_true",
        help="also run one job under -X importtime and print each command's imports by package",
    )
    parser.add_argument(
        "--cprofile",
        type=Path,
        metavar="DIR",
        help="also run one job under cProfile: DIR/COMMAND.prof, and the top functions printed",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="also run every job with DIR (an older tree, e.g. `git archive REV nhicard | tar -x "
        "-C DIR`) first on PYTHONPATH, alternating with this tree's jobs, and print its table too",
    )
    args = parser.parse_args(argv)
    imports: dict[str, list[str]] = {}
    jobs: list[dict[str, dict[str, float]]] = []
    before_jobs: list[dict[str, dict[str, float]]] = []
    baselines: list[float] = []
    try:
        with BenchStack() as stack:
            stack.remove_card()  # the sandbox puts its own virtual card into slot 0
            for _ in range(2):
                baseline_wall(stack.env)  # warm the disk cache
            current_env = dict(stack.env)
            for i in range(args.jobs):
                baselines.append(baseline_wall(stack.env))
                runs = [(jobs, current_env)]
                if args.before:
                    older = current_env | {"PYTHONPATH": str(args.before.resolve())}
                    runs.append((before_jobs, older))
                    if i % 2:
                        runs.reverse()
                for sink, env in runs:
                    stack.env = env
                    try:
                        sink.append(one_job(stack, len(jobs) + len(before_jobs)))
                    finally:
                        stack.env = current_env
                baselines.append(baseline_wall(stack.env))
                print(f"job {i + 1}/{args.jobs} done", file=sys.stderr)
            if args.importtime:
                one_job(stack, args.jobs, imports)
            if args.cprofile:
                args.cprofile.mkdir(parents=True, exist_ok=True)
                one_job(stack, args.jobs + 1, cprofile=args.cprofile.resolve())
    except BenchError as err:
        print(f"profile-job could not run: {err}", file=sys.stderr)
        return 2
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"sandbox job split, ms (median of {args.jobs} jobs; load average now {load}; "
        f"× base: wall / baseline `python {' '.join(BASELINE)}`, the job against 3 of them)"
    )
    print(render(jobs, baselines))
    if before_jobs:
        print(f"\nthe same with {args.before} (jobs alternating with the ones above):")
        print(render(before_jobs, baselines))
    if imports:
        print("\nimports by package, ms of self time under -X importtime (one job):")
        for name, lines in imports.items():
            print(f"- {name}: {import_groups(lines)}")
    if args.cprofile:
        import pstats

        for prof in sorted(args.cprofile.glob("*.prof")):
            print(f"\ncProfile of {prof.stem} (one job), top 15 by own time:")
            pstats.Stats(str(prof), stream=sys.stdout).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
