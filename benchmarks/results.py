"""Benchmark results: one row per figure, the ratio table, README.md and latest.json."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PASS = "PASS"
MISS = "MISS"
SKIP = "SKIP"
ERROR = "ERROR"
INFO = "INFO"  # a ratio shown for context, with no target of its own
FAILING = (MISS, ERROR)

TABLE_START = "<!-- bench:table:start -->"
TABLE_END = "<!-- bench:table:end -->"
HEADERS = ("figure", "nhicard", "baseline", "ratio", "target", "result")


@dataclass(frozen=True)
class Row:
    """One figure of the benchmark as the table shows it; ``data`` holds the raw numbers."""

    figure: str  # the id that --only selects
    title: str
    subject: str  # the measured value, formatted ("118.2 ms")
    baseline: str  # the baseline's value, formatted, or "—"
    ratio: float | None
    target: str  # "≤ 1.25×", "< 5 MB", …
    status: str  # PASS, MISS, SKIP, ERROR or INFO
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> tuple[str, ...]:
        ratio = f"{self.ratio:.2f}×" if self.ratio is not None else "—"
        return (self.title, self.subject, self.baseline, ratio, self.target, self.status)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mib(kilobytes: float) -> str:
    return f"{kilobytes / 1024:.1f} MiB"


def ratio_row(
    figure: str,
    title: str,
    subject: float,
    baseline: float,
    limit: float | None,
    *,
    unit: str = "s",
    note: str = "",
    data: dict[str, Any] | None = None,
) -> Row:
    """A figure compared with its baseline: PASS when subject / baseline ≤ ``limit``
    (``None``: no target, INFO).

    ``unit`` is ``s`` (shown in ms) or ``kb`` (shown in MiB)."""
    shown = ms if unit == "s" else mib
    ratio = subject / baseline if baseline > 0 else float("inf")
    return Row(
        figure=figure,
        title=title,
        subject=shown(subject),
        baseline=shown(baseline),
        ratio=ratio,
        target="—" if limit is None else f"≤ {limit:g}×",
        status=INFO if limit is None else PASS if ratio <= limit else MISS,
        note=note,
        data={"subject": subject, "baseline": baseline, "unit": unit}
        | ({} if limit is None else {"limit": limit})
        | (data or {}),
    )


def info_row(
    figure: str,
    title: str,
    subject: float,
    baseline: float,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> Row:
    """A ratio shown for context only (``INFO``): it has no target and never fails a run."""
    return ratio_row(figure, title, subject, baseline, None, note=note, data=data)


def limit_row(
    figure: str,
    title: str,
    value: float,
    limit: float,
    shown: str,
    target: str,
    *,
    baseline: str = "—",
    note: str = "",
    data: dict[str, Any] | None = None,
) -> Row:
    """A figure with an absolute target: PASS when ``value < limit``."""
    return Row(
        figure=figure,
        title=title,
        subject=shown,
        baseline=baseline,
        ratio=None,
        target=target,
        status=PASS if value < limit else MISS,
        note=note,
        data={"value": value, "limit": limit} | (data or {}),
    )


def skip_row(figure: str, title: str, target: str, reason: str) -> Row:
    return Row(figure, title, "—", "—", None, target, SKIP, note=reason)


def error_row(figure: str, title: str, target: str, message: str) -> Row:
    return Row(figure, title, "—", "—", None, target, ERROR, note=message)


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table, padded so it also reads well in a terminal."""
    lines = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [fmt(HEADERS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(fmt(row.cells()) for row in rows)
    return "\n".join(out)


def render_notes(rows: Sequence[Row]) -> str:
    return "\n".join(f"- {row.figure}: {row.note}" for row in rows if row.note)


def overall_status(rows: Sequence[Row]) -> str:
    """MISS when any figure missed its target or could not be taken, else PASS."""
    return MISS if any(row.status in FAILING for row in rows) else PASS


def readme_block(rows: Sequence[Row], meta: dict[str, Any]) -> str:
    """The generated part of README.md: run facts, the table, the notes."""
    facts = (
        f"Last full run: {meta['generated_at']} on commit `{meta['commit']}`, "
        f"{meta['runs']} runs per figure, {meta['host']['cpus']} CPUs, "
        f"load average {meta['host']['load_before']} before the run, "
        f"Python {meta['host']['python']}."
    )
    notes = render_notes(rows)
    parts = [TABLE_START, "", facts, "", render_table(rows), ""]
    if notes:
        parts += [notes, ""]
    parts.append(TABLE_END)
    return "\n".join(parts)


def update_readme(path: Path, rows: Sequence[Row], meta: dict[str, Any]) -> None:
    """Replace the generated block of ``path`` (between the markers) with this run's."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {TABLE_START} … {TABLE_END} block")
    block = readme_block(rows, meta)
    path.write_text(pattern.sub(lambda _m: block, text), encoding="utf-8")


def write_json(path: Path, rows: Sequence[Row], meta: dict[str, Any]) -> None:
    """All rows with their raw numbers (samples included), and the run's facts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = meta | {"status": overall_status(rows), "figures": [asdict(r) for r in rows]}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
