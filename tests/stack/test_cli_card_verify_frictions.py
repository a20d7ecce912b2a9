"""``card verify`` as a newcomer meets it in the sandbox (two vpcd readers): the help's batch
example with ``-r 0`` runs, no report is left behind by a command that fails before a card,
an existing report loses nothing, and the summary's words follow --lang, aligned by display
width (CJK characters take two columns)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from wcwidth import wcswidth

from tests.support.cli import run_nhicard
from tests.support.stack import VirtualCardSlots

WANG = "000012345678"
HEADER = "verified_at,reader,atr,card_type,card_number,id_number,result,reason,apdu_ms"


def summary_lines(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("Summary", "摘要")))
    return lines[start:]


def number_columns(lines: list[str]) -> set[int]:
    """The display column where each summary row's count starts."""
    return {wcswidth(line.rstrip("0123456789")) for line in lines}


def test_the_help_example_names_the_reader() -> None:
    r = run_nhicard("card", "verify", "--help")
    assert "nhicard -r 0 card verify --watch --report box-2026-11.csv" in r.stdout


@pytest.mark.pcsc
def test_no_report_is_left_behind_by_an_early_failure(
    virtual_cards: VirtualCardSlots, tmp_path: Path
) -> None:
    new = tmp_path / "box.csv"
    r = run_nhicard("--lang", "en", "card", "verify", "--watch", "--report", str(new))
    assert r.returncode == 4  # two readers and no -r
    assert "several readers" in r.stderr
    assert not new.exists()
    r = run_nhicard("--lang", "en", "card", "verify", "--report", str(new))
    assert r.returncode == 5  # no card
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old.csv"
    content = f"{HEADER}\n2026-11-27T09:30:00+08:00,R,3B,nhi,7,A12****789,ok,,1.0\n"
    old.write_text(content)
    r = run_nhicard("--lang", "en", "card", "verify", "--watch", "--report", str(old))
    assert r.returncode == 4
    assert old.read_text() == content


@pytest.mark.pcsc
def test_the_help_example_runs_and_keeps_what_was_there(
    virtual_cards: VirtualCardSlots, tmp_path: Path
) -> None:
    report = tmp_path / "box-2026-11.csv"
    virtual_cards.insert(WANG, slot=0)
    args = ("-r", "0", "card", "verify", "--watch", "--report", str(report), "--count", "1")
    r = run_nhicard("--lang", "en", *args)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(report.open()))
    assert [",".join(rows[0])] == [HEADER]
    assert [(row[4], row[6]) for row in rows[1:]] == [(WANG, "ok")]
    assert summary_lines(r.stderr)[1:3] == ["  ok               1", "  failed           0"]
    first = report.read_text()
    r = run_nhicard("--lang", "en", *args, "--recheck")
    assert r.returncode == 0, r.stderr
    assert report.read_text().startswith(first)
    assert len(list(csv.reader(report.open()))) == 3


@pytest.mark.pcsc
def test_the_summary_speaks_zh_tw_and_aligns(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(WANG, slot=0)
    r = run_nhicard("--lang", "zh-TW", "-r", "0", "card", "verify", "--watch", "--count", "1")
    assert r.returncode == 0, r.stderr
    lines = summary_lines(r.stderr)
    assert lines[0] == "摘要(結束原因:已達指定張數)"
    labels = [line.strip().rstrip("0123456789").strip() for line in lines[1:]]
    assert labels == ["通過", "失敗", "略過(重複插入)"]
    assert "ok" not in r.stderr.split("摘要")[1]
    assert len(number_columns(lines[1:])) == 1, lines
