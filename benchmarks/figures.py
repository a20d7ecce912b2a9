"""The figures of quality.md that compare nhicard with a minimal pyscard script or with
bare Python start-up: card read, reader list, start-up, peak RSS."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.environment import (
    BENCH_DIR,
    BenchStack,
    StackUnavailable,
    nhicard_executable,
    python_executable,
)
from benchmarks.measure import (
    BenchError,
    Command,
    PairSamples,
    ProcessRun,
    checked_run,
    median,
    sample_pair,
)
from benchmarks.results import Row, error_row, info_row, ratio_row

DEFAULT_RUNS = 15
QUICK_RUNS = 2
APDU_LINE = re.compile(r"^APDU > ((?:[0-9A-F]{2} ?)+)$", re.MULTILINE)


@dataclass(frozen=True)
class BenchOptions:
    """How much to measure. ``quick`` is for the smoke test: the table's shape, not numbers."""

    runs: int = DEFAULT_RUNS
    warmup: int = 1
    quick: bool = False
    verify_cards: int = 100  # card insertions timed through vpcd
    leak_cards: int = 1000  # insertions for the memory-growth figure
    idle_seconds: float = 5.0  # idle CPU observed for this long
    idle_settle: float = 1.5  # seconds for start-up before the idle CPU is observed

    @classmethod
    def quick_options(cls) -> BenchOptions:
        return cls(
            runs=QUICK_RUNS,
            warmup=0,
            quick=True,
            verify_cards=3,
            leak_cards=50,
            idle_seconds=1.0,
            idle_settle=1.0,
        )


class Bench:
    """One benchmark invocation: options, the PC/SC stack (started on first use) and the
    samples figures share (card read's runs give both its time and its peak RSS)."""

    def __init__(
        self, options: BenchOptions, stack_factory: Callable[[], BenchStack] = BenchStack
    ) -> None:
        self.options = options
        self._stack_factory = stack_factory
        self._exit = ExitStack()
        self._stack: BenchStack | None = None
        self.cache: dict[str, Any] = {}

    @property
    def stack(self) -> BenchStack:
        if self._stack is None:
            self._stack = self._exit.enter_context(self._stack_factory())
        return self._stack

    def close(self) -> None:
        self._exit.close()
        self._stack = None

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    def nhicard(self, *args: str) -> Command:
        return Command("nhicard " + " ".join(args), (nhicard_executable(), *args), self.env)

    def python(self, *args: str, label: str) -> Command:
        return Command(label, (python_executable(), *args), self.env)

    def pair(
        self,
        key: str,
        subject: Command,
        baseline: Command,
        check_subject: Callable[[ProcessRun], None] | None = None,
        check_baseline: Callable[[ProcessRun], None] | None = None,
    ) -> PairSamples:
        """Interleaved samples of ``subject`` and ``baseline``, taken once per invocation."""
        if key not in self.cache:
            self.cache[key] = sample_pair(
                subject,
                baseline,
                self.options.runs,
                warmup=self.options.warmup,
                check_subject=check_subject,
                check_baseline=check_baseline,
            )
        samples = self.cache[key]
        assert isinstance(samples, PairSamples)
        return samples


@dataclass(frozen=True)
class Figure:
    """A figure of the table: ``measure`` returns its rows; any BenchError becomes an
    ERROR row (the figure could not be taken, which fails the benchmark like a MISS)."""

    name: str
    title: str
    target: str
    measure: Callable[[Bench], list[Row]]
    needs_stack: bool = True
    aliases: tuple[str, ...] = field(default=())

    def rows(self, bench: Bench) -> list[Row]:
        try:
            return self.measure(bench)
        except StackUnavailable:
            raise
        except BenchError as err:
            return [error_row(self.name, self.title, self.target, str(err))]


# -- checks on the measured commands' output -------------------------------------------------


def _json(run: ProcessRun) -> Any:
    try:
        return json.loads(run.stdout)
    except json.JSONDecodeError as err:
        raise BenchError(f"output is not JSON ({err}): {run.stdout[:200]!r}") from None


def expected_card_number() -> str:
    from nhicard.sandbox.data import load_data

    return load_data().cards[0].card_number


def check_card_read(run: ProcessRun) -> None:
    record = _json(run)
    if record.get("card_number") != expected_card_number():
        raise BenchError(f"card read returned {record.get('card_number')!r}, not the virtual card")


def check_baseline_read(run: ProcessRun) -> None:
    from benchmarks.baseline_read import APDUS

    if len(_json(run).get("answers", ())) != len(APDUS):
        raise BenchError("baseline_read.py did not print an answer per APDU")


def check_reader_list(run: ProcessRun) -> None:
    records = _json(run)
    states = {r.get("name"): r.get("state") for r in records}
    if states.get("Virtual PCD 00 00") != "present":
        raise BenchError(f"reader list does not show the virtual card present: {states}")


def check_baseline_list(run: ProcessRun) -> None:
    if not any(r.get("state") == "present" for r in _json(run)):
        raise BenchError("baseline_list.py does not show the virtual card present")


def check_version(run: ProcessRun) -> None:
    if not run.stdout.startswith("nhicard "):
        raise BenchError(f"--version printed {run.stdout[:80]!r}")


# -- the figures ----------------------------------------------------------------------------


def traced_apdus(bench: Bench) -> list[bytes]:
    """The command APDUs ``nhicard -vv card read`` sends, from its own trace."""
    run = checked_run(bench.nhicard("-vv", "card", "read", "--json"), check_card_read)
    return [bytes.fromhex(m.replace(" ", "")) for m in APDU_LINE.findall(run.stderr)]


def card_read_samples(bench: Bench) -> PairSamples:
    from benchmarks.baseline_read import APDUS

    if "apdus" not in bench.cache:
        sent = traced_apdus(bench)
        if sent != list(APDUS):
            raise BenchError(
                "baseline_read.py no longer sends what nhicard sends; nhicard's -vv trace: "
                + ", ".join(a.hex().upper() for a in sent)
            )
        bench.cache["apdus"] = sent
    return bench.pair(
        "card-read",
        bench.nhicard("card", "read", "--json"),
        bench.python(str(BENCH_DIR / "baseline_read.py"), label="baseline_read.py"),
        check_card_read,
        check_baseline_read,
    )


def _wall(runs: tuple[ProcessRun, ...]) -> float:
    return median([r.wall_s for r in runs])


def _samples_data(samples: PairSamples, attr: str) -> dict[str, Any]:
    return {
        "subject_samples": [getattr(r, attr) for r in samples.subject],
        "baseline_samples": [getattr(r, attr) for r in samples.baseline],
    }


def measure_card_read(bench: Bench) -> list[Row]:
    samples = card_read_samples(bench)
    n = len(samples.subject)
    return [
        info_row(
            "card-read",
            CARD_READ.title,
            _wall(samples.subject),
            _wall(samples.baseline),
            note=(
                f"context, no target (quality.md's baseline imports Click: card-read-click); "
                f"median wall time of {n} interleaved runs each; both send the "
                f"{len(bench.cache['apdus'])} APDUs of nhicard's -vv trace "
                "(SELECT, READ PROFILE, READ CARD DATA) through the same pcscd + vpcd"
            ),
            data=_samples_data(samples, "wall_s"),
        )
    ]


def click_baseline(bench: Bench, script: Path) -> Command:
    """``script`` run after ``import click`` in the same process: what any Click program
    costs at the least (the design fixes Click, and importing it alone costs more than the
    1.25x the card-read and reader-list targets allow against the bare scripts)."""
    return bench.python(
        "-c",
        f"import click, runpy; runpy.run_path({str(script)!r}, run_name='__main__')",
        label=f"import click + {script.name}",
    )


def click_ratio_row(figure: Figure, samples: PairSamples) -> Row:
    return ratio_row(
        figure.name,
        figure.title,
        _wall(samples.subject),
        _wall(samples.baseline),
        1.25,
        note=(
            f"median of {len(samples.subject)} interleaved runs; the baseline script runs "
            "after `import click` in its process: nhicard's own share apart from Click's"
        ),
        data=_samples_data(samples, "wall_s"),
    )


def click_cpu_row(figure: Figure, samples: PairSamples) -> Row:
    """The same runs' CPU time (user + system, from ``wait4``): quality.md asks for both."""
    return ratio_row(
        figure.name + "-cpu",
        figure.title.replace(" vs ", " CPU vs ", 1),
        median([r.cpu_s for r in samples.subject]),
        median([r.cpu_s for r in samples.baseline]),
        1.25,
        note=(
            f"median CPU time (user + system) of the same {len(samples.subject)} interleaved "
            "runs as the wall-time row above"
        ),
        data=_samples_data(samples, "cpu_s"),
    )


def measure_card_read_with_click(bench: Bench) -> list[Row]:
    card_read_samples(bench)  # checks that baseline_read.py still sends nhicard's APDUs
    samples = bench.pair(
        CARD_READ_CLICK.name,
        bench.nhicard("card", "read", "--json"),
        click_baseline(bench, BENCH_DIR / "baseline_read.py"),
        check_card_read,
        check_baseline_read,
    )
    return [click_ratio_row(CARD_READ_CLICK, samples), click_cpu_row(CARD_READ_CLICK, samples)]


def measure_reader_list_with_click(bench: Bench) -> list[Row]:
    samples = bench.pair(
        READER_LIST_CLICK.name,
        bench.nhicard("reader", "list", "--json"),
        click_baseline(bench, BENCH_DIR / "baseline_list.py"),
        check_reader_list,
        check_baseline_list,
    )
    return [
        click_ratio_row(READER_LIST_CLICK, samples),
        click_cpu_row(READER_LIST_CLICK, samples),
    ]


def peak_rss_pair(bench: Bench) -> tuple[list[int], list[int]]:
    """Peak RSS (kB) of each run of ``card read --json`` and of baseline_read.py, both run
    under peak_rss.py (VmHWM since exec) in fresh processes, interleaved."""
    out_subject = bench.stack.workdir / "rss-subject"
    out_baseline = bench.stack.workdir / "rss-baseline"
    peaks: dict[Path, list[int]] = {out_subject: [], out_baseline: []}

    def recorder(outfile: Path, check: Callable[[ProcessRun], None]) -> Callable[..., None]:
        def record(run: ProcessRun) -> None:
            check(run)
            peaks[outfile].append(int(outfile.read_text().strip()))

        return record

    wrapper = str(BENCH_DIR / "peak_rss.py")
    bench.pair(
        "rss",
        bench.python(
            wrapper,
            str(out_subject),
            nhicard_executable(),
            "card",
            "read",
            "--json",
            label="peak_rss.py nhicard card read --json",
        ),
        bench.python(
            wrapper,
            str(out_baseline),
            str(BENCH_DIR / "baseline_read.py"),
            label="peak_rss.py baseline_read.py",
        ),
        recorder(out_subject, check_card_read),
        recorder(out_baseline, check_baseline_read),
    )
    # the warm-up runs were recorded too: keep the last ``runs`` of each
    runs = bench.options.runs
    return peaks[out_subject][-runs:], peaks[out_baseline][-runs:]


def measure_rss(bench: Bench) -> list[Row]:
    subject, baseline = peak_rss_pair(bench)
    return [
        ratio_row(
            "rss",
            RSS.title,
            median(subject),
            median(baseline),
            1.5,
            unit="kb",
            note=(
                f"median of {len(subject)} runs' peak RSS (VmHWM since exec, read at exit "
                "by peak_rss.py, which wraps both commands)"
            ),
            data={"subject_samples": subject, "baseline_samples": baseline},
        )
    ]


def measure_reader_list(bench: Bench) -> list[Row]:
    samples = bench.pair(
        "reader-list",
        bench.nhicard("reader", "list", "--json"),
        bench.python(str(BENCH_DIR / "baseline_list.py"), label="baseline_list.py"),
        check_reader_list,
        check_baseline_list,
    )
    return [
        info_row(
            "reader-list",
            READER_LIST.title,
            _wall(samples.subject),
            _wall(samples.baseline),
            note=(
                "context, no target (quality.md's baseline imports Click: reader-list-click); "
                f"median of {len(samples.subject)} interleaved runs; two readers, a card in "
                "one; both list the readers and get all states in one SCardGetStatusChange"
            ),
            data=_samples_data(samples, "wall_s"),
        )
    ]


def measure_startup(bench: Bench) -> list[Row]:
    samples = bench.pair(
        "startup",
        bench.nhicard("--version"),
        bench.python("-c", "import click", label="python -c 'import click'"),
        check_version,
    )
    return [
        ratio_row(
            "startup",
            STARTUP.title,
            _wall(samples.subject),
            _wall(samples.baseline),
            1.5,
            note=f"median of {len(samples.subject)} interleaved runs; baseline: python -c "
            "'import click' (same interpreter)",
            data=_samples_data(samples, "wall_s"),
        )
    ]


CARD_READ = Figure("card-read", "card read --json vs baseline_read.py", "—", measure_card_read)
READER_LIST = Figure(
    "reader-list", "reader list --json vs baseline_list.py", "—", measure_reader_list
)
CARD_READ_CLICK = Figure(
    "card-read-click",
    "card read --json vs import click + baseline_read.py",
    "≤ 1.25×",
    measure_card_read_with_click,
)
READER_LIST_CLICK = Figure(
    "reader-list-click",
    "reader list --json vs import click + baseline_list.py",
    "≤ 1.25×",
    measure_reader_list_with_click,
)
STARTUP = Figure("startup", "--version vs import click", "≤ 1.5×", measure_startup)
RSS = Figure("rss", "peak RSS of card read vs baseline_read.py", "≤ 1.5×", measure_rss)
