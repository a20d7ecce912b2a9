"""Tables align zh-TW text: widths are display columns (wcwidth), a CJK character takes two."""

from __future__ import annotations

import pytest
from wcwidth import wcswidth

from nhicard.card.batch import BatchSummary
from nhicard.cli.card_verify_view import print_summary
from nhicard.cli.context import AppContext
from nhicard.cli.output import display_width, pad, render


def starts(line: str, cells: list[str]) -> list[int]:
    """The display column where each of ``cells`` begins in ``line``."""
    found, pos = [], 0
    for cell in cells:
        at = line.index(cell, pos)
        found.append(wcswidth(line[:at]))
        pos = at + len(cell)
    return found


def test_pad_and_width_count_display_columns() -> None:
    assert display_width("王小明") == 6
    assert display_width("Anna") == 4
    assert pad("王小明", 8) == "王小明  "
    assert display_width(pad("略過(重複插入)", 20)) == 20
    assert pad("toolong", 3) == "toolong"


def test_a_table_with_zh_in_a_middle_column_aligns() -> None:
    rows = [
        {"name": "王小明", "state": "present", "label": "健保卡"},
        {"name": "Anna Smith", "state": "empty", "label": "-"},
        {"name": "林峯", "state": "in-use", "label": "x"},
    ]
    lines = render(rows, "table").splitlines()
    columns = {
        tuple(starts(line, [r["name"], r["state"], r["label"]]))
        for line, r in zip(lines[2:], rows, strict=True)
    }
    assert len(columns) == 1, lines
    assert columns == {tuple(starts(lines[0], ["name", "state", "label"]))}


def test_a_single_record_with_zh_labels_aligns() -> None:
    record = {"name": "王小明", "id_number": "A12****789"}
    lines = render(record, "table", headers={"name": "姓名", "id_number": "身分證號"}).splitlines()
    assert len({starts(line, [line.split()[1]])[0] for line in lines}) == 1, lines


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh-TW", ["通過", "失敗", "hpc", "略過(重複插入)"]),
        ("en", ["ok", "failed", "hpc", "ignored (again)"]),
    ],
)
def test_the_verify_summary_follows_the_language_and_aligns(
    capsys: pytest.CaptureFixture[str], lang: str, words: list[str]
) -> None:
    summary = BatchSummary(stopped_by="count")
    summary.ok = 12
    summary.failed = {"hpc": 1}
    summary.ignored = 3
    print_summary(AppContext(lang=lang), summary)
    lines = capsys.readouterr().err.splitlines()[1:]
    assert [line.strip().rstrip("0123456789").strip() for line in lines] == words
    assert len({wcswidth(line.rstrip("0123456789")) for line in lines}) == 1, lines
