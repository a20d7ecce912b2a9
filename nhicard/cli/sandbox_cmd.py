"""``nhicard sandbox up|down|status``: the local replica of the sites (sites.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from nhicard.cli.context import get_app
from nhicard.cli.help_layout import HelpGroup
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


@click.group(cls=HelpGroup)
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
    """Start the sandbox; returns when every part answers and prints its endpoints, then the
    commands that run the job against it. Already running: its endpoints, exit 0."""
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
    endpoints = supervisor.running_endpoints(directory)
    if endpoints is not None:
        data_file = _already_up(directory, endpoints)
    else:
        from nhicard.sandbox.data import load_data
        from nhicard.sandbox.vpcd import base_port

        # what the server would refuse, said before anything starts
        if data_file is not None:
            load_data(data_file)
        if not no_card:
            base_port()
        app.info(T("正在啟動沙盒({dir})…", "Starting the sandbox ({dir})…"), dir=str(directory))
        endpoints = supervisor.start(
            directory, data_file=data_file, port_base=port_base, card=not no_card
        )
        app.info(T("沙盒已啟動。", "The sandbox is up."))
    record = {key: endpoints.get(key) for key in supervisor.ENDPOINT_KEYS}
    chosen = pick_format(fmt, as_json)
    if chosen == "table" and not record["readers"]:
        record["readers"] = "-"  # a blank cell reads as a missing line
    emit(record, chosen)
    _print_next_steps(directory, endpoints, data_file)


def _already_up(directory: Path, endpoints: dict[str, Any]) -> Path | None:
    """``sandbox up`` on a running sandbox: every part must answer (else exit 7, as
    ``status``); it is kept as it is. Returns the data file it was started with."""
    from nhicard.sandbox import supervisor

    app = get_app()
    pid = int(endpoints["pid"])
    parts = supervisor.probe_parts(endpoints, Path(directory).resolve())
    down = [p.part for p in parts if p.state != supervisor.PartState.UP]
    if down:
        raise _parts_down(directory, down)
    app.info(
        T(
            "沙盒已在執行中(程序 {pid},目錄 {dir}),沿用它;其端點如下。",
            "The sandbox is already running (process {pid}, directory {dir}); using it as it "
            "is. Its endpoints:",
        ),
        pid=pid,
        dir=str(directory),
    )
    running_data = supervisor.data_file_of(pid)
    ctx = click.get_current_context()
    now = {
        "--data": running_data,
        "--no-card": not endpoints.get("readers"),
        "--port-base": _port_base_of(endpoints),
    }
    asked = {
        "--data": ctx.params.get("data_file"),
        "--no-card": ctx.params.get("no_card"),
        "--port-base": ctx.params.get("port_base"),
    }
    sources = {"--data": "data_file", "--no-card": "no_card", "--port-base": "port_base"}
    given = [
        opt
        for opt, name in sources.items()
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
        and not _same(asked[opt], now[opt])
    ]
    if given:
        app.warn(
            T(
                "未套用 {opts}:沙盒已在執行中;要改變設定請先執行 nhicard sandbox down。",
                "{opts} not applied: the sandbox is already running; run nhicard sandbox "
                "down first to change it.",
            ),
            opts=", ".join(given),
        )
    return running_data


def _port_base_of(endpoints: dict[str, Any]) -> int | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(str(endpoints.get("nhi_url") or "")).port
    except ValueError:
        return None


def _same(asked: object, running: object) -> bool:
    if isinstance(asked, Path) or isinstance(running, Path):
        if asked is None or running is None:
            return asked is running
        return Path(str(asked)).resolve() == Path(str(running)).resolve()
    return asked == running


def _print_next_steps(directory: Path, endpoints: dict[str, Any], data_file: Path | None) -> None:
    """The commands that run the manual's job against this sandbox (stderr, not --quiet)."""
    from nhicard.core.paths import default_sandbox_dir
    from nhicard.sandbox.guide import next_steps

    app = get_app()
    steps = next_steps(
        endpoints, data_file=data_file, sandbox_dir=directory, default_dir=default_sandbox_dir()
    )
    app.info("")
    app.info(T("接下來,在這個 shell 中執行:", "Next, in this shell:"))
    for line in steps.commands:
        app.info("  " + line)
    if steps.account is not None:
        app.info(
            T(
                "人事服務網帳號 {account} 的密碼(沙盒測試資料):{password};"
                "健保卡密碼就是 register 時設定的那一個。",
                "The eCPA account {account} has the password {password} (sandbox test data); "
                "the card's password is the one you set with register.",
            ),
            account=steps.account.account,
            password=steps.account.password,
        )
    if not steps.card:
        app.info(
            T(
                "沙盒沒有虛擬健保卡(--no-card):register 需要讀卡機裡的卡,"
                "可用 nhicard sim card 放一張。",
                "The sandbox has no virtual card (--no-card): register needs a card in a "
                "reader; nhicard sim card puts one there.",
            )
        )


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
    """Each part of the sandbox: up or down (with --json: up, pid, dir, parts). Exit code 0
    when it is not running (up: false), 7 when a part of a running sandbox is down."""
    from nhicard.sandbox import supervisor

    app = get_app()
    current = supervisor.status(_sandbox_dir(sandbox_dir))
    chosen = pick_format(fmt, as_json)
    parts = [p.to_record() for p in current.parts]
    if chosen == "json":
        emit(
            {"up": current.all_up, "pid": current.pid, "dir": str(current.dir), "parts": parts},
            chosen,
        )
    else:
        emit(parts, chosen, columns=("part", "address", "state"))
    if not current.running:
        # a state, not a failure: "is it up?" answered with no (exit 0, `up: false`)
        app.info(
            T(
                "沙盒並未執行({dir});以 nhicard sandbox up 啟動它。",
                "The sandbox is not running ({dir}); start it with nhicard sandbox up.",
            ),
            dir=str(current.dir),
        )
        return
    if not current.all_up:
        raise _parts_down(current.dir, [p.part for p in current.parts if p.state != "up"])


def _parts_down(directory: Path, down: list[str]) -> NetworkError:
    """A running sandbox some of whose parts do not answer (exit 7)."""
    from nhicard.sandbox import supervisor

    return NetworkError(
        T("沙盒部分元件未回應:{parts}", "Some sandbox parts are not answering: {parts}").format(
            parts=", ".join(down)
        ),
        hint=T(
            "查看 {log},或執行 nhicard sandbox down 後再 up。",
            "Look at {log}, or run nhicard sandbox down and then up.",
        ).format(log=str(Path(directory).resolve() / supervisor.LOG_FILE)),
        reason="part-down",
    )
