"""What ``card verify`` shows: one line per card on stdout (csv, jsonl, json or a table),
messages as the cards come and go, and the summary on stderr. The command itself is
:mod:`nhicard.cli.card_verify_cmd`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from nhicard.card.batch import StopReason
from nhicard.cli.context import AppContext
from nhicard.cli.output import display_width, json_text, pad
from nhicard.core.i18n import T, Text

if TYPE_CHECKING:
    from nhicard.card.batch import BatchSummary
    from nhicard.card.verification import Verification
    from nhicard.core.errors import PcscUnavailable


def card_name(v: Verification) -> Text:
    if v.card_number:
        return T("卡片 {number}", "Card {number}").format(number=v.card_number)
    return T("「{reader}」中的卡片", "The card in “{reader}”").format(reader=v.reader)


def show_timing(app: AppContext, v: Verification) -> None:
    app.debug(
        "{card}: total {total:.1f} ms, APDU {apdu:.1f} ms ({n} APDUs), connect {connect:.1f} ms, "
        "software {software:.1f} ms",
        card=app.tr(card_name(v)),
        total=v.total_ms,
        apdu=v.apdu_ms,
        n=v.apdu_count,
        connect=v.connect_ms,
        software=v.software_ms,
    )


def failure_text(app: AppContext, v: Verification) -> str:
    from nhicard.card.batch import reason_text

    text = reason_text(v)
    return app.tr(text) if text else ""


class LineWriter:
    """One line per card on stdout, in the chosen format (header once for csv / table)."""

    TABLE = (("verified_at", 25), ("result", 7), ("reason", 21), ("card_number", 13),
             ("id_number", 11), ("apdu_ms", 8), ("reader", 0))  # fmt: skip

    def __init__(self, output: str, show_pii: bool) -> None:
        self.output = output
        self.show_pii = show_pii

    def _header(self) -> str | None:
        from nhicard.card.verification import REPORT_FIELDS

        if self.output == "csv":
            return ",".join(REPORT_FIELDS)
        if self.output == "table":
            return self._table_row({name: name for name, _ in self.TABLE})
        return None

    def _table_row(self, record: dict[str, Any]) -> str:
        cells = []
        for name, width in self.TABLE:
            value = record.get(name)
            text = "-" if value is None else str(value)
            cells.append(pad(text, width) if width else text)
        return " ".join(cells).rstrip()

    def begin(self) -> None:
        """The header line (csv, table), printed before the first card."""
        header = self._header()
        if header:
            click.echo(header)
            sys.stdout.flush()

    def write(self, v: Verification) -> None:
        from nhicard.card.report import csv_line

        record = v.to_record(show_pii=self.show_pii)
        if self.output == "csv":
            line = csv_line(["" if x is None else str(x) for x in record.values()])
        elif self.output == "table":
            line = self._table_row(record)
        else:
            line = json_text(record)
        click.echo(line)
        sys.stdout.flush()


class CliListener:
    """Turns the watch loop's news into stdout lines and stderr messages."""

    def __init__(self, app: AppContext, lines: LineWriter) -> None:
        self.app = app
        self.lines = lines

    def verified(self, v: Verification, number: int) -> None:
        self.lines.write(v)
        show_timing(self.app, v)
        if v.ok:
            self.app.info(
                T(
                    "第 {n} 張 {card}:驗證通過。請取出卡片。",
                    "#{n} {card}: verified ok. Remove the card.",
                ),
                n=number,
                card=self.app.tr(card_name(v)),
            )
            return
        if v.reason is not None and v.reason.transient:
            remove = T(
                "請取出卡片,稍後再插入一次。", "Remove the card and insert it again afterwards."
            )
        else:
            remove = T("請取出卡片,另行處理。", "Remove the card and set it aside.")
        self.app.info(
            T(
                "第 {n} 張 {card}:驗證失敗({code}):{why}。{remove}",
                "#{n} {card}: FAILED ({code}): {why}. {remove}",
            ),
            n=number,
            card=self.app.tr(card_name(v)),
            code=v.reason.code if v.reason else "",
            why=failure_text(self.app, v),
            remove=self.app.tr(remove),
        )

    def ignored(self, v: Verification, where: str, earlier: str) -> None:
        from nhicard.card.batch import SEEN_IN_RUN

        show_timing(self.app, v)
        if where == SEEN_IN_RUN:
            text = T(
                "{card} 本次已驗證過(結果:{earlier}),略過。請取出卡片。",
                "{card} was already verified in this run ({earlier}); ignored. Remove the card.",
            )
        else:
            text = T(
                "{card} 已在報告中記錄為通過({earlier}),略過(要重新驗證請加 --recheck)。"
                "請取出卡片。",
                "{card} is already in the report as ok ({earlier}); skipped "
                "(add --recheck to verify it again). Remove the card.",
            )
        self.app.info(text, card=self.app.tr(card_name(v)), earlier=earlier)

    def card_removed(self, reader: str) -> None:
        self.app.debug(T("卡片已自「{reader}」取出", "card removed from “{reader}”"), reader=reader)

    def reader_changed(self, kind: str, reader: str) -> None:
        from nhicard.pcsc.events import EventKind

        if kind == EventKind.READER_ADDED:
            text = T("讀卡機「{reader}」已接上", "Reader “{reader}” plugged in")
        else:
            text = T(
                "讀卡機「{reader}」已拔除,等待重新接上…",
                "Reader “{reader}” unplugged; waiting for it to come back…",
            )
        self.app.info(text, reader=reader)

    def service_lost(self, error: PcscUnavailable, retry_in: float) -> None:
        self.app.warn(
            T(
                "PC/SC 服務無法使用({err}),{s} 秒後重試…",
                "PC/SC service unavailable ({err}); retrying in {s} s…",
            ),
            err=error.text.render(self.app.lang),
            s=f"{retry_in:g}",
        )

    def service_back(self) -> None:
        self.app.info(T("PC/SC 服務已恢復。", "The PC/SC service is back."))


STOP_TEXTS = {
    StopReason.NOT_STARTED: T("尚未開始", "not started"),
    StopReason.COUNT: T("已達指定張數", "count reached"),
    StopReason.IDLE: T("閒置逾時", "idle timeout"),
    StopReason.INTERRUPTED: T("已中斷", "interrupted"),
    StopReason.SERVICE_LOST: T("PC/SC 服務無法使用", "PC/SC service unavailable"),
    StopReason.OUTPUT_LOST: T("結果無法寫入標準輸出", "the results cannot be written to stdout"),
}


SUMMARY_OK = T("通過", "ok")
SUMMARY_FAILED = T("失敗", "failed")
SUMMARY_IGNORED = T("略過(重複插入)", "ignored (again)")


def print_summary(app: AppContext, summary: BatchSummary) -> None:
    """The summary table on stderr: ok, failed by reason, ignored."""
    rows: list[tuple[str, int]] = [
        (app.tr(SUMMARY_OK), summary.ok),
        (app.tr(SUMMARY_FAILED), sum(summary.failed.values())),
    ]
    rows += [(f"  {code}", n) for code, n in sorted(summary.failed.items())]
    rows.append((app.tr(SUMMARY_IGNORED), summary.ignored))
    title: Text = T("摘要(結束原因:{why})", "Summary (stopped: {why})")
    why = STOP_TEXTS.get(summary.stopped_by)
    click.echo(app.tr(title, why=app.tr(why) if why else summary.stopped_by), err=True)
    width = max(display_width(label) for label, _ in rows) + 2
    for label, n in rows:
        click.echo(f"  {pad(label, width)}{n}", err=True)
