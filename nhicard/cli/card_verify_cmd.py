"""``nhicard card verify``: is this card (or this box of cards) readable?"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import click

from nhicard.cli.card_verify_view import (
    CliListener,
    LineWriter,
    card_name,
    failure_text,
    print_summary,
    show_timing,
)
from nhicard.cli.context import AppContext, get_app
from nhicard.cli.help_layout import HelpCommand
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.cli.params import Seconds
from nhicard.core.errors import AlreadyReported, Category, LocalIOError
from nhicard.core.i18n import T

if TYPE_CHECKING:
    from nhicard.card.batch import BatchSummary
    from nhicard.card.report import ReportFile

STOP_GRACE = 1.5  # seconds the card at hand may still take after Ctrl-C


def _check_report(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from nhicard.card.report import report_format
    from nhicard.core.errors import UsageError

    try:
        report_format(value)
    except UsageError as err:
        raise click.BadParameter(err.message.render(get_app(ctx).lang)) from None
    return value


@click.command("verify", cls=HelpCommand)
@click.option("--watch", is_flag=True, help="Verify cards one after another as they are inserted.")
@click.option(
    "--all-readers", is_flag=True, help="With --watch: watch every reader (default: the -r one)."
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --watch: stop after N cards.",
)
@click.option(
    "--timeout",
    type=Seconds(),
    metavar="SECONDS",
    help="With --watch: stop after SECONDS without a card; without: wait up to SECONDS for one.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False),
    callback=_check_report,
    metavar="FILE",
    help="Append each card's record to FILE (.csv or .jsonl); cards it lists as ok are skipped.",
)
@click.option("--show-pii", is_flag=True, help="Show the ID number unmasked (output and report).")
@click.option("--recheck", is_flag=True, help="Verify cards the report already lists as ok.")
@output_options
def verify(
    watch: bool,
    all_readers: bool,
    count: int | None,
    timeout: float | None,
    report: str | None,
    show_pii: bool,
    recheck: bool,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Check that a card reads correctly, or (--watch) a stream of cards.

    An office checking a box of NHI cards: run with --watch --report FILE, insert the cards
    one after another, and take each out when told to. Ctrl-C stops; the report keeps every
    card verified so far, and a rerun with the same report skips the cards already ok."""
    from nhicard.card.batch import BatchSummary, StopReason
    from nhicard.card.report import verified_ok_numbers
    from nhicard.cli.trace import show_card_traffic

    app = get_app()
    show_card_traffic(app)
    if not watch and (all_readers or count is not None):
        raise click.UsageError("--all-readers and --count need --watch")
    if all_readers and app.reader is not None:
        raise click.UsageError("-r/--reader and --all-readers exclude each other")
    output = pick_format(fmt, as_json)
    with _maybe_report(report, show_pii) as report_file:
        already_ok = (
            {} if recheck or report_file is None else verified_ok_numbers(report_file.existing)
        )
        if watch:
            summary = BatchSummary(stopped_by=StopReason.INTERRUPTED)
            try:
                _run_watch(
                    app,
                    summary,
                    (all_readers, count, timeout),
                    report_file,
                    already_ok,
                    show_pii,
                    output,
                )
            finally:
                if summary.stopped_by != StopReason.NOT_STARTED:
                    print_summary(app, summary)
            if summary.any_failed:
                raise _cards_failed()
            if summary.stopped_by == StopReason.INTERRUPTED:
                raise AlreadyReported(Category.INTERRUPTED, T("已中斷", "interrupted"))
            return
        failed = _run_single(app, timeout, report_file, already_ok, show_pii, output)
    if failed:
        raise _cards_failed()


def _cards_failed() -> AlreadyReported:
    """A card failed verification (each failure and the summary are already shown)."""
    return AlreadyReported(Category.CARD_ERROR, T("卡片驗證失敗", "a card failed verification"))


@contextmanager
def _maybe_report(path: str | None, show_pii: bool) -> Iterator[ReportFile | None]:
    if path is None:
        yield None
        return
    from nhicard.card.report import ReportFile

    report_file = ReportFile(path, show_pii=show_pii)
    try:
        yield report_file
    except AlreadyReported:  # the cards and the summary are shown: the lost records win
        _end_report(report_file)
        raise
    except BaseException:  # an error still to be shown: say what the report lacks first
        report_file.close()
        failure = report_file.failure()
        if failure is not None:
            get_app().warn(failure)
        raise
    _end_report(report_file)


def _end_report(report_file: ReportFile) -> None:
    """Close the report; records that could not be written end the command with exit 2
    whatever the cards' result (a report missing records is not a success)."""
    report_file.close()
    lost = report_file.lost_error()
    if lost is not None:
        raise lost


# -- one card ----------------------------------------------------------------------------


def _run_single(
    app: AppContext,
    timeout: float | None,
    report_file: ReportFile | None,
    already_ok: dict[str, str],
    show_pii: bool,
    output: str,
) -> bool:
    """Verify the one card; True when it failed."""
    from nhicard.card.verification import REPORT_FIELDS, verify_in_reader
    from nhicard.pcsc.readers import choose_card_reader

    if timeout and app.stderr_is_tty:
        app.info(
            T("等待插入卡片(最多 {s} 秒)…", "Waiting up to {s} s for a card…"), s=f"{timeout:g}"
        )
    reader = choose_card_reader(app.reader, wait=timeout)
    v = verify_in_reader(reader)
    show_timing(app, v)
    if v.ok and v.card_number in already_ok:
        app.info(
            T(
                "卡片 {card} 已在報告中記錄為通過({when}),略過(要重新驗證請加 --recheck)。",
                "Card {card} is already in the report as ok ({when}); skipped "
                "(add --recheck to verify it again).",
            ),
            card=v.card_number,
            when=already_ok[v.card_number or ""],
        )
        return False
    if report_file is not None:
        report_file.append(v)
    emit(v.to_record(show_pii=show_pii), output, columns=REPORT_FIELDS)
    if v.ok:
        return False
    app.warn(
        T("{card} 驗證失敗:{why}", "{card} failed verification: {why}"),
        card=app.tr(card_name(v)),
        why=failure_text(app, v),
    )
    return True


# -- a stream of cards -------------------------------------------------------------------


def _watched_reader(app: AppContext, all_readers: bool) -> str | None:
    from nhicard.core.errors import ReaderError
    from nhicard.pcsc import codes
    from nhicard.pcsc.names import list_reader_names, resolve_reader

    names = list_reader_names()
    if all_readers:
        return None
    if app.reader is not None:
        return resolve_reader(app.reader, names)
    if not names:
        raise codes.no_readers()
    if len(names) == 1:
        return names[0]
    raise ReaderError(
        T("有多台讀卡機:{names}", "there are several readers: {names}").format(
            names="; ".join(f"{i}: {n}" for i, n in enumerate(names))
        ),
        hint=T(
            "請用 -r 指定要監看的讀卡機,或加上 --all-readers 同時監看全部。",
            "Choose the reader to watch with -r, or watch them all with --all-readers.",
        ),
        reason="reader-ambiguous",
    )


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): finish the card at hand, then stop; a second Ctrl-C
    interrupts at once, and so does the first one when the card at hand takes longer than
    :data:`STOP_GRACE` seconds (a card that does not answer)."""
    main = threading.main_thread()
    timers: list[threading.Timer] = []

    def kick() -> None:  # the grace is over: interrupt the main thread's wait
        if hasattr(signal, "pthread_kill") and main.ident is not None:
            signal.pthread_kill(main.ident, signal.SIGINT)
        else:  # pragma: no cover - Windows
            import _thread

            _thread.interrupt_main()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        timer = threading.Timer(STOP_GRACE, kick)
        timer.daemon = True
        timers.append(timer)
        timer.start()

    if threading.current_thread() is not main:
        yield
        return
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _run_watch(
    app: AppContext,
    summary: BatchSummary,
    limits: tuple[bool, int | None, float | None],
    report_file: ReportFile | None,
    already_ok: dict[str, str],
    show_pii: bool,
    output: str,
) -> None:
    """Watch per ``limits`` (all readers, count, idle timeout), filling in ``summary``."""
    from nhicard.card.batch import StopReason, WatchOptions, watch_cards
    from nhicard.card.verification import verify_in_reader

    all_readers, count, timeout = limits
    summary.stopped_by = StopReason.NOT_STARTED
    reader = _watched_reader(app, all_readers)
    options = WatchOptions(reader=reader, count=count, idle_timeout=timeout, already_ok=already_ok)
    lines = LineWriter(output, show_pii)
    listener = CliListener(app, lines)
    if app.stderr_is_tty:
        where = reader or app.tr(T("所有讀卡機", "every reader"))
        app.info(
            T(
                "監看 {where}:請逐張插入卡片,按 Ctrl-C 結束。",
                "Watching {where}: insert the cards one after another; Ctrl-C stops.",
            ),
            where=where,
        )
    lines.begin()
    stop = threading.Event()
    summary.stopped_by = StopReason.INTERRUPTED  # until the loop says otherwise
    with _stop_on_signals(stop):
        try:
            watch_cards(
                verify_in_reader,
                options,
                listener=listener,
                stop=stop,
                record=report_file.append if report_file is not None else None,
                summary=summary,
            )
        except LocalIOError:  # stdout full or closed (cli.streams): the results are lost
            summary.stopped_by = StopReason.OUTPUT_LOST
            raise
