"""``card verify --report FILE`` through the installed CLI when FILE is an existing file that
is not a report, or one its user may not read (issue 23): exit 2 with the reason, no internal
error, and the file left byte for byte as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.stack import VirtualCardSlots

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def assert_refused_cleanly(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.pcsc
def test_a_deeply_nested_jsonl_report_is_not_a_report(
    virtual_cards: VirtualCardSlots, tmp_path: Path
) -> None:
    virtual_cards.insert()
    report = tmp_path / "box.jsonl"
    content = ("[" * 100_000 + "]" * 100_000 + "\n").encode()
    report.write_bytes(content)
    for lang, first in (
        ("en", f"Error: “{report}” is not a card verify report (line 1 is nested too deeply)"),
        ("zh-TW", f"錯誤: 「{report}」不是 card verify 的報告檔(line 1 is nested too deeply)"),
    ):
        proc = run_nhicard("--lang", lang, "-r", "0", "card", "verify", "--report", str(report))
        assert_refused_cleanly(proc)
        assert proc.stderr.splitlines()[0] == first
    assert report.read_bytes() == content


@pytest.fixture
def locked_dir() -> Iterator[Path]:
    """A folder of mode 000 (with a report in it) inside one that ``nobody`` can reach
    (pytest's own temp dirs are root's alone)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux) to run as nobody")
    base = Path(tempfile.mkdtemp(prefix="nhicard-report-"))
    base.chmod(0o755)
    locked = base / "locked"
    locked.mkdir()
    try:
        yield locked
    finally:
        locked.chmod(0o700)
        shutil.rmtree(base, ignore_errors=True)


def test_a_report_in_a_folder_nobody_may_enter_exit_2(locked_dir: Path) -> None:
    report = locked_dir / "box.csv"
    content = b"verified_at,reader,atr,card_type,card_number,id_number,result,reason,apdu_ms\n"
    report.write_bytes(content)
    locked_dir.chmod(0o000)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "HOME": str(locked_dir.parent),
        "NHICARD_STATE_DIR": str(locked_dir.parent / "state"),
    }
    runnable = subprocess.run(
        [*AS_NOBODY, nhicard_executable(), "--version"], env=env, capture_output=True, text=True
    )
    if runnable.returncode != 0:
        pytest.skip(f"nobody cannot run {nhicard_executable()}: {runnable.stderr[-300:]}")
    proc = subprocess.run(
        [*AS_NOBODY, nhicard_executable(), "--lang", "en", "card", "verify", "--report",
         str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert_refused_cleanly(proc)
    assert proc.stderr.splitlines() == [
        f"Error: cannot read the report file “{report}”: Permission denied",
        "Hint: Check the permissions of the file and of its folder.",
    ]
    locked_dir.chmod(0o700)
    assert report.read_bytes() == content
