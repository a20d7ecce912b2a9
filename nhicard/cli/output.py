"""One way to print results: table, json, jsonl or csv (sqlite-utils style).

Results go to stdout, messages to stderr, so ``nhicard … --json | jq`` always works.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

FORMATS = ("table", "json", "jsonl", "csv")
F = TypeVar("F", bound=Callable[..., Any])


def colour_refused(flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Whether colour is off: ``--no-color``, or ``NO_COLOR`` set to any non-empty value
    (https://no-color.org). Else Click decides: colour on a terminal, none in a pipe."""
    env = os.environ if environ is None else environ
    return flag or bool(env.get("NO_COLOR"))


def _no_color_callback(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if colour_refused(value):
        ctx.color = False  # click.echo strips styles; sub-commands' contexts inherit it


def no_color_option(func: F) -> F:
    """The root option ``--no-color`` (also ``NO_COLOR``): no colour anywhere."""
    return click.option(
        "--no-color",
        is_flag=True,
        expose_value=False,
        callback=_no_color_callback,
        help="No colours in the output (also when NO_COLOR is set).",
    )(func)


def stream_takes_unicode(stream: object) -> bool:
    """Whether ``stream`` encodes every character (UTF-8/16/32): else JSON is written with
    ``\\u`` escapes, so it stays valid and complete on a cp950 or ASCII console."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name.startswith("utf")


def tolerant_streams() -> None:
    """Let stdout and stderr replace what their encoding cannot show (a Windows console in
    cp950 and 林峯), instead of failing with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and not stream_takes_unicode(stream):
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")


def json_text(value: Any, **kw: Any) -> str:
    """``json.dumps`` for stdout: UTF-8 as it is when stdout takes it, ``\\u`` escapes else."""
    return json.dumps(value, ensure_ascii=not stream_takes_unicode(sys.stdout), **kw)


def output_options(func: F) -> F:
    """Add ``--format`` and ``--json`` to a command; the command receives ``fmt``."""

    func = click.option(
        "--json",
        "as_json",
        is_flag=True,
        default=False,
        help="Same as --format json.",
    )(func)
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format [default: table on a terminal, json in a pipe].",
    )(func)
    return func


def pick_format(fmt: str | None, as_json: bool) -> str:
    if as_json:
        return "json"
    if fmt:
        return fmt
    return "table" if sys.stdout.isatty() else "json"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: CJK characters take two (wcwidth)."""
    from wcwidth import wcswidth

    width = wcswidth(text)
    return width if width >= 0 else len(text)  # control characters: count them as one


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` display columns (``str.ljust`` by columns)."""
    return text + " " * max(0, width - display_width(text))


def render(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    fmt: str,
    *,
    columns: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Render one record (a mapping) or a list of records.

    ``json`` prints the object or list as is; ``jsonl`` one record per line; ``csv`` with a
    header row; ``table`` via tabulate (a single record as a two-column key/value table).
    """
    single = isinstance(data, Mapping)
    rows: list[Mapping[str, Any]] = [data] if isinstance(data, Mapping) else list(data)
    if fmt == "json":
        return json_text(data, indent=2)
    if fmt == "jsonl":
        return "\n".join(json_text(r) for r in rows)
    cols = list(columns) if columns else _columns(rows)
    if fmt == "csv":
        buf = io.StringIO()
        import csv  # only the csv format needs it

        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_cell(r.get(c)) for c in cols])
        return buf.getvalue().rstrip("\n")
    from tabulate import tabulate  # imported late: only the table format needs it

    names = [(headers or {}).get(c, c) for c in cols]
    if single:
        return tabulate(
            [[n, _cell(rows[0].get(c))] for n, c in zip(names, cols, strict=True)], tablefmt="plain"
        )
    return tabulate(
        [[_cell(r.get(c)) for c in cols] for r in rows], headers=names, tablefmt="simple"
    )


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def emit(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    fmt: str,
    **kw: Any,
) -> None:
    text = render(data, fmt, **kw)
    if text:
        click.echo(text)
    sys.stdout.flush()


class ProgressLine:
    """One status line on stderr that updates in place (carriage return), cleared at the end.

    Shown only when stderr is a terminal: in a pipe or a file it writes nothing, so a long
    wait leaves no trail of lines (cli-contract.md: progress never in pipes)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._width = 0  # display columns of what is on the line now

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        width = display_width(text)
        tail = " " * max(0, self._width - width)  # wipe the rest of a longer earlier text
        sys.stderr.write(f"\r{text}{tail}")
        sys.stderr.flush()
        self._width = width

    def clear(self) -> None:
        if not self.enabled or not self._width:
            return
        sys.stderr.write("\r" + " " * self._width + "\r")
        sys.stderr.flush()
        self._width = 0

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()
