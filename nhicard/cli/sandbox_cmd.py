"""``nhicard sandbox up|down|status``: the local replica of the sites (sites.md)."""

from __future__ import annotations

from pathlib import Path

import click

from nhicard.cli.context import get_app
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.cli.params import existing_or_new_directory, probe_writable
from nhicard.core.errors import NetworkError, UsageError
from nhicard.core.i18n import T

DIR_HELP = "Sandbox directory [default: $NHICARD_SANDBOX_DIR, else <user state dir>/sandbox]."


def _sandbox_dir(value: Path | None) -> Path:
    from nhicard.core.paths import default_sandbox_dir

    return value if value is not None else default_sandbox_dir()


dir_option = click.option(
    "--dir",
    "sandbox_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    callback=existing_or_new_directory,
    help=DIR_HELP,
)


@click.group()
def sandbox() -> None:
    """The local sandbox: NHI site, eCPA, e-learning, SMTP sink, SAM and a virtual card."""


@sandbox.command("up")
@dir_option
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Sandbox data file (TOML) with people, cards and households [default: built-in].",
)
@click.option("--no-card", is_flag=True, help="Do not put a virtual card on vpcd slot 0.")
@click.option(
    "--port-base",
    type=click.IntRange(1024, 65530),
    default=8440,
    show_default=True,
    help="First of 5 ports: NHI, eCPA, e-learning, SMTP, SAM.",
)
@output_options
def up(
    sandbox_dir: Path | None,
    data_file: Path | None,
    no_card: bool,
    port_base: int,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Start the sandbox; returns when every part answers and prints its endpoints."""
    from nhicard.sandbox import supervisor

    app = get_app()
    directory = _sandbox_dir(sandbox_dir)
    why = probe_writable(directory)
    if why is not None:
        raise UsageError(
            T("無法在沙盒目錄 {dir} 寫入檔案:{why}", "cannot write files in the sandbox directory {dir}: {why}")
            .format(dir=str(directory), why=why),
            hint=T("請以 --dir 指定可寫入的目錄。", "Name a writable directory with --dir."),
            reason="bad-directory",
        )  # fmt: skip
    app.info(T("正在啟動沙盒({dir})…", "Starting the sandbox ({dir})…"), dir=str(directory))
    endpoints = supervisor.start(
        directory, data_file=data_file, port_base=port_base, card=not no_card
    )
    record = {key: endpoints.get(key) for key in supervisor.ENDPOINT_KEYS}
    chosen = pick_format(fmt, as_json)
    if chosen == "table" and not record["readers"]:
        record["readers"] = "-"  # a blank cell reads as a missing line
    emit(record, chosen)
    app.info(T("沙盒已啟動。", "The sandbox is up."))


@sandbox.command("down")
@dir_option
@output_options
def down(sandbox_dir: Path | None, fmt: str | None, as_json: bool) -> None:
    """Stop the sandbox started in that directory (users and mail are kept)."""
    from nhicard.sandbox import supervisor

    app = get_app()
    directory = _sandbox_dir(sandbox_dir)
    pid = supervisor.stop(directory)
    result: dict[str, object]
    if pid is None:
        app.info(T("沙盒並未執行。", "The sandbox is not running."))
        result = {"status": "not-running", "pid": None, "dir": str(directory)}
    else:
        app.info(T("沙盒已停止(程序 {pid})。", "The sandbox stopped (process {pid})."), pid=pid)
        result = {"status": "stopped", "pid": pid, "dir": str(directory)}
    emit(result, pick_format(fmt, as_json))


@sandbox.command("status")
@dir_option
@output_options
def status(sandbox_dir: Path | None, fmt: str | None, as_json: bool) -> None:
    """Each part of the sandbox: up or down. Exit code 7 when any part is down."""
    from nhicard.sandbox import supervisor

    current = supervisor.status(_sandbox_dir(sandbox_dir))
    emit(
        [p.to_record() for p in current.parts],
        pick_format(fmt, as_json),
        columns=("part", "address", "state"),
    )
    if not current.running:
        raise NetworkError(
            T("沙盒並未執行({dir})。", "The sandbox is not running ({dir}).").format(
                dir=str(current.dir)
            ),
            hint=T("執行 nhicard sandbox up 啟動它。", "Start it with nhicard sandbox up."),
            reason="not-running",
        )
    if not current.all_up:
        down_parts = ", ".join(p.part for p in current.parts if p.state != supervisor.PartState.UP)
        raise NetworkError(
            T("沙盒部分元件未回應:{parts}", "Some sandbox parts are not answering: {parts}").format(
                parts=down_parts
            ),
            hint=T(
                "查看 {log},或執行 nhicard sandbox down 後再 up。",
                "Look at {log}, or run nhicard sandbox down and then up.",
            ).format(log=str(current.dir / supervisor.LOG_FILE)),
            reason="part-down",
        )
