"""``card verify --report FILE`` over an existing file that is not a report, or that cannot
be read or written (issue 23): only a usage error (exit 2) that says why, never another
exception, and the file is left as it was; records that could not be written end the
command with exit 2 after its results are shown."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from nhicard.card import report as report_module
from nhicard.card.report import REPORT_FIELDS, ReportFile, read_report
from nhicard.cli.card_verify_cmd import _maybe_report
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import AlreadyReported, Category, LocalIOError, UsageError
from nhicard.core.i18n import T
from tests.support.fakes import verification

HEADER = ",".join(REPORT_FIELDS) + "\n"
RECORD = {
    "verified_at": "2026-11-27T09:30:00+08:00",
    "reader": "讀卡機 R",
    "atr": "3B 00",
    "card_type": "nhi",
    "card_number": "7",
    "id_number": "A12****789",
    "result": "ok",
    "reason": None,
    "apdu_ms": 1.0,
}
LINE = json.dumps(RECORD, ensure_ascii=False) + "\n"


JUNK = [
    ("nested.jsonl", ("[" * 100_000 + "]" * 100_000 + "\n").encode(), "line 1 is nested too"),
    ("nested-cut.jsonl", (LINE + '{"a":' + "[" * 100_000).encode(), "line 2 is nested too"),
    ("digits.jsonl", (LINE + "1" * 5000 + "\n").encode(), "line 2: Exceeds the limit"),
    ("list.jsonl", b'[1, "a"]\n', "line 1 is not a JSON object"),
    ("number.jsonl", (LINE + "5\n").encode(), "line 2 is not a JSON object"),
    ("text.jsonl", b"hello, world\n", "line 1 is not JSON"),
    ("bytes.jsonl", bytes(range(256)) * 8, "line 2 is not UTF-8 text"),
    ("bytes.csv", bytes(range(256)) * 8, "line 2 is not UTF-8 text"),
    ("latin1.csv", HEADER.encode() + "2026,Lecteur é,x\n".encode("latin-1"), "line 2 is not UTF-8"),
    ("field.csv", (HEADER + '"' + "a" * 200_000 + '"\n').encode(), "CSV: field larger than"),
    ("field-header.csv", ('"' + "a" * 200_000 + '"\n').encode(), "CSV: field larger than"),
    ("blank-first.csv", b"\n\n" + HEADER.encode(), "(header )"),
]


@pytest.mark.parametrize(("name", "content", "why"), JUNK, ids=[j[0] for j in JUNK])
def test_junk_is_not_a_report_and_is_left_alone(
    tmp_path: Path, name: str, content: bytes, why: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UsageError) as info:
        ReportFile(path)
    err = info.value
    assert (type(err), err.reason, exit_code_for(err)) == (UsageError, "report-foreign", 2)
    assert err.message.en.startswith(f"“{path}” is not a card verify report (")
    assert why in err.message.en
    assert err.message.zh.startswith(f"「{path}」不是 card verify 的報告檔(")
    assert len(err.message.en) < len(str(path)) + 200  # the reason is cut short
    assert path.read_bytes() == content


def test_a_foreign_header_is_shown_safely(tmp_path: Path) -> None:
    path = tmp_path / "terminal.csv"
    path.write_text("a,\x1b[31mred\x07,\u202e" + "b" * 500 + "\n")
    with pytest.raises(UsageError) as info:
        read_report(path)
    shown = info.value.message.en
    assert "(header a,\\x1b[31mred\\x07,\\u202e" + "b" * 36 + "…)" in shown
    assert all(ch.isprintable() for ch in shown)


def test_a_report_over_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "REPORT_LIMIT", 1024)
    path = tmp_path / "big.jsonl"
    path.write_text(LINE * 10)
    with pytest.raises(UsageError) as info:
        ReportFile(path)
    assert (info.value.reason, exit_code_for(info.value)) == ("file-too-large", 2)
    assert "over the limit of 1 KiB" in info.value.message.en
    assert path.read_text() == LINE * 10


def test_a_report_that_cannot_be_read_is_a_local_io_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "box.jsonl"
    path.write_text(LINE)

    def refused(*args: object, **kwargs: object) -> bytes:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(report_module, "read_limited", refused)
    with pytest.raises(LocalIOError) as info:
        ReportFile(path)
    assert exit_code_for(info.value) == 2
    assert info.value.message.en == f"cannot read the report file “{path}”: Permission denied"
    assert info.value.message.zh == f"無法讀取報告檔「{path}」:Permission denied"
    assert info.value.hint is not None and "permissions" in info.value.hint.en


def test_a_report_that_cannot_be_opened_for_appending_is_a_local_io_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "box.csv"
    path.write_text(HEADER)

    def read_only(*args: object, **kwargs: object) -> int:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(report_module.os, "open", read_only)
    with pytest.raises(LocalIOError) as info:
        ReportFile(path)
    assert info.value.message.en == (
        f"cannot write the report file “{path}”: Read-only file system"
    )
    assert info.value.hint is not None and "read-only" in info.value.hint.en
    assert path.read_text() == HEADER


def test_a_last_line_cut_in_the_middle_of_a_character_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "box.jsonl"
    cut = LINE.encode()[: LINE.encode().index("讀".encode()) + 1]  # 1 byte of 3
    path.write_bytes(LINE.encode() + cut)
    with ReportFile(path) as report:
        assert [r["card_number"] for r in report.existing] == ["7"]
        report.append(verification("8"))
    assert [r["card_number"] for r in read_report(path)] == ["7", "8"]
    assert path.read_bytes().startswith(LINE.encode() + cut + b"\n")


def no_space(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_lost_records_are_a_local_io_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "box.jsonl"
    monkeypatch.setattr(report_module.os, "fsync", no_space)
    report = ReportFile(path)
    assert report.lost_error() is None
    report.append(verification("1"))
    report.append(verification("2"))
    report.close()
    err = report.lost_error()
    assert isinstance(err, LocalIOError) and err.category == Category.USAGE
    assert (err.reason, exit_code_for(err)) == ("report-not-written", 2)
    assert err.message.en == (
        f"could not write the report file “{path}”: No space left on device; 2 result(s) are "
        "not in it (they were still printed)"
    )
    assert "2 筆結果未寫入" in err.message.zh
    assert err.hint is not None and "Free some space" in err.hint.en


FAILED = T("卡片驗證失敗", "a card failed verification")


@pytest.mark.parametrize("ending", [None, AlreadyReported(Category.CARD_ERROR, FAILED)])
def test_card_verify_ends_with_exit_2_when_records_are_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: AlreadyReported | None
) -> None:
    """Whatever the cards' result (ok, or failed and already reported), a record that is not
    in the report makes the command's exit status 2."""
    monkeypatch.setattr(report_module.os, "fsync", no_space)
    path = tmp_path / "box.csv"
    with pytest.raises(LocalIOError) as info, _maybe_report(str(path), False) as report:
        assert report is not None
        report.append(verification("1"))
        if ending is not None:
            raise ending
    assert exit_code_for(info.value) == 2
    assert "1 result(s) are not in it" in info.value.message.en


def test_card_verify_keeps_its_exit_status_when_every_record_is_written(tmp_path: Path) -> None:
    path = tmp_path / "box.csv"
    failed = AlreadyReported(Category.CARD_ERROR, FAILED)
    with pytest.raises(AlreadyReported) as info, _maybe_report(str(path), False) as report:
        assert report is not None
        report.append(verification("1"))
        raise failed
    assert info.value is failed
    with _maybe_report(str(path), False) as report:
        assert report is not None
        report.append(verification("2"))
    assert [r["card_number"] for r in read_report(path)] == ["1", "2"]
