"""Files that hold personal data are made private (0600) also where ``os.fchmod`` is missing:
Windows with Python 3.11 and 3.12 (it came there in 3.13). ``card verify --report F
--show-pii`` and ``sandbox up``'s log crashed there with an internal error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nhicard.card.report import ReportFile
from nhicard.core.atomicfile import make_private
from nhicard.sandbox import supervisor
from tests.support.fakes import verification


@pytest.fixture(params=["fchmod", "no-fchmod"])
def fchmod(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """With ``os.fchmod``, and without it as on Windows before Python 3.13."""
    if request.param == "no-fchmod":
        monkeypatch.delattr(os, "fchmod")
    return str(request.param)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_make_private(tmp_path: Path, fchmod: str) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o644)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        make_private(fd, path)
    finally:
        os.close(fd)
    assert mode(path) == 0o600


def test_report_with_full_id_numbers_is_private(tmp_path: Path, fchmod: str) -> None:
    new, old = tmp_path / "new.csv", tmp_path / "old.jsonl"
    old.write_text("")
    old.chmod(0o644)  # a report that existed before, readable by others
    for path in (new, old):
        report = ReportFile(path, show_pii=True)
        report.append(verification(hour=9))  # a new report is made with its first record
        report.close()
        assert mode(path) == 0o600
    assert new.read_text().startswith("verified_at,")


def test_sandbox_log_is_private(tmp_path: Path, fchmod: str) -> None:
    log = tmp_path / "server.log"
    log.write_text("")
    log.chmod(0o666)
    fd = supervisor.open_log(log)
    os.close(fd)
    assert mode(log) == 0o600
