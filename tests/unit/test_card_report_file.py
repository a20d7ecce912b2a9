"""``card verify --report``: a new report is made with its first record (none is left behind
by a command that fails first), and nothing an existing report holds is lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nhicard.card.report import ReportFile, read_report
from nhicard.core.errors import UsageError
from tests.support.fakes import verification


@pytest.mark.parametrize("name", ["box.csv", "box.jsonl"])
def test_no_file_until_the_first_record(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with ReportFile(path):
        pass
    assert not path.exists()
    with ReportFile(path) as report:
        assert not path.exists()
        report.append(verification("1"))
        assert path.exists()
    assert [r["card_number"] for r in read_report(path)] == ["1"]
    if name.endswith(".csv"):
        assert path.read_text().startswith("verified_at,reader,")


def test_a_missing_folder_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "box.csv"
    with pytest.raises(UsageError) as info:
        ReportFile(path)
    assert info.value.reason == "report-unwritable"
    assert info.value.detail == "No such file or directory"
    assert not path.parent.exists()


@pytest.mark.parametrize(
    "content",
    [
        "verified_at,reader,atr,card_type,card_number,id_number,result,reason,apdu_ms\n"
        "2026-11-27T09:30:00+08:00,R,3B,nhi,7,A12****789,ok,,1.0\n",
        "verified_at,reader,atr,card_type,card_number,id_number,result,reason,apdu_ms\n"
        "2026-11-27T09:30:00+08:00,R,3B,nhi,7,A12****789,ok,,1.0\n2026-11-27T09:31",  # cut
    ],
)
def test_an_existing_report_keeps_every_byte(tmp_path: Path, content: str) -> None:
    path = tmp_path / "box.csv"
    path.write_text(content)
    with ReportFile(path) as report:
        assert [r["card_number"] for r in report.existing] == ["7"]
        report.append(verification("8"))
    text = path.read_text()
    assert text.startswith(content)
    assert [r["card_number"] for r in read_report(path)] == ["7", "8"]


def test_a_report_that_cannot_be_made_later_is_said_not_raised(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    report = ReportFile(folder / "box.jsonl")
    shutil.rmtree(folder)  # gone between the start and the first card
    report.append(verification("1"))
    report.append(verification("2"))
    report.close()
    assert report.lost == 2
    failure = report.failure()
    assert failure is not None
    assert "2 result(s) are not in it" in failure.en
    assert not folder.exists()
