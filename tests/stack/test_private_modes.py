"""Files holding personal data or secrets are 0600 whatever the umask (issue 14): a
``card verify --show-pii`` report, the sandbox's SQLite database with its ``-wal`` / ``-shm``
files, and its ``server.log``. The CLI runs with umask 000."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from nhicard.sandbox.data import load_data
from tests.support.cli import nhicard_executable
from tests.support.stack import VirtualCardSlots, free_port_range


def run_umask_000(
    *args: str, timeout: float = 60, umask: int = 0
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {"LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [nhicard_executable(), "--lang", "en", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=lambda: os.umask(umask),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_show_pii_report_is_0600(virtual_cards: VirtualCardSlots, tmp_path: Path) -> None:  # noqa: F811
    virtual_cards.insert()
    report = tmp_path / "report.csv"
    done = run_umask_000("-r", "0", "card", "verify", "--report", str(report), "--show-pii")
    assert done.returncode == 0, done.stderr
    assert load_data().cards[0].id_number in report.read_text()  # the full ID: personal data
    assert mode(report) == 0o600
    # an existing, wider report becomes 0600 once full IDs go into it
    wide = tmp_path / "wide.csv"
    wide.touch()
    wide.chmod(0o644)
    again = run_umask_000("-r", "0", "card", "verify", "--report", str(wide), "--show-pii")
    assert again.returncode == 0, again.stderr
    assert mode(wide) == 0o600


def test_masked_report_keeps_the_usual_mode(
    virtual_cards: VirtualCardSlots,  # noqa: F811
    tmp_path: Path,
) -> None:
    virtual_cards.insert()
    report = tmp_path / "report.csv"
    done = run_umask_000("-r", "0", "card", "verify", "--report", str(report), umask=0o022)
    assert done.returncode == 0, done.stderr
    assert mode(report) == 0o644  # as the umask says


def test_sandbox_database_and_log_are_0600(tmp_path: Path) -> None:
    directory = tmp_path / "sb"
    base = free_port_range(5)
    up = run_umask_000(
        "sandbox", "up", "--no-card", "--dir", str(directory), "--port-base", str(base)
    )
    try:
        assert up.returncode == 0, up.stderr
        for name in (
            "registrations.sqlite3",
            "registrations.sqlite3-wal",
            "registrations.sqlite3-shm",
            "server.log",
        ):
            path = directory / name
            assert path.exists(), name
            assert mode(path) == 0o600, (name, oct(mode(path)))
    finally:
        run_umask_000("sandbox", "down", "--dir", str(directory))
