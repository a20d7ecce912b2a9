"""``nhicard --profile sandbox register`` as a subprocess against the sandbox server process
(HTTPS sites, SAM, SMTP sink) with the virtual card on the private pcscd's vpcd slot 0, read
by the ``direct`` agent (and by ``nhiicc`` through ``nhicard agent serve``)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import sandbox_fixture
from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.register_kit import (
    ARGS,
    CARD,
    PASSWORD,
    agent_service,  # noqa: F401 - a fixture
    journal_files,
    register,
    result,
)
from tests.support.sandbox_fixture import SandboxServer

sandbox_server = sandbox_fixture.sandbox_server
sandbox = sandbox_fixture.sandbox

pytestmark = pytest.mark.pcsc


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_step_progress_stays_off_stderr_in_a_pipe(sandbox: SandboxServer, state: Path) -> None:
    """cli-contract.md: a flow's steps show on stderr on a terminal (or with -v), never in pipes."""
    env = {**sandbox.env(), "NHICARD_STATE_DIR": str(state), "NHICARD_PASSWORD": PASSWORD}
    proc = run_nhicard(
        "--profile", "sandbox", "--agent", "direct", "--lang", "en",
        "register", *ARGS, "--json", "--dry-run", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "dry-run"
    assert "opening the login page" not in proc.stderr


# -- the happy path ---------------------------------------------------------------------------
def test_register_submits_and_the_site_stores_it(sandbox: SandboxServer, state: Path) -> None:
    proc = register(sandbox, state, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert result(proc) == {"status": "submitted", "email": "ming@example.com", "resumed": False}
    stored = sandbox.application(CARD)
    assert stored is not None and not stored.verified
    assert (stored.email, stored.phone, stored.mobile) == (
        "ming@example.com",
        "02-23456789",
        "0912345678",
    )
    assert len(sandbox.mails()) == 1
    assert "讀取健保卡" in proc.stderr and "direct" in proc.stderr
    assert PASSWORD not in proc.stderr + proc.stdout
    (journal,) = journal_files(state)
    text = journal.read_text("utf-8")
    assert PASSWORD not in text and CARD not in text
    assert set(json.loads(text)["steps"]) == {"submitting", "submitted"}
    assert oct(journal.stat().st_mode & 0o777) == "0o600"


def test_second_run_does_not_submit_again_and_verified_is_already_registered(
    sandbox: SandboxServer, state: Path
) -> None:
    assert register(sandbox, state, "--yes").returncode == 0
    again = register(sandbox, state, "--yes")
    assert again.returncode == 0, again.stderr
    assert result(again) == {"status": "submitted", "email": "ming@example.com", "resumed": True}
    assert len(sandbox.mails()) == 1  # nothing sent twice
    assert "--resend" in again.stderr
    sandbox.verify(CARD)
    third = register(sandbox, state, "--yes")
    assert third.returncode == 0, third.stderr
    assert result(third) == {
        "status": "already-registered",
        "email": "ming@example.com",
        "resumed": False,
    }
    fresh = register(sandbox, state.parent / "other-state", "--yes")
    assert result(fresh)["status"] == "already-registered"


def test_resend_applies_again(sandbox: SandboxServer, state: Path) -> None:
    assert register(sandbox, state, "--yes").returncode == 0
    proc = register(sandbox, state, "--yes", "--resend")
    assert proc.returncode == 0, proc.stderr
    assert result(proc)["status"] == "submitted"
    assert len(sandbox.mails()) == 2


def test_dry_run_sends_no_final_post(sandbox: SandboxServer, state: Path, tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    proc = register(sandbox, state, "--dry-run", "--save-pages", str(pages))
    assert proc.returncode == 0, proc.stderr
    assert result(proc) == {"status": "dry-run", "email": "ming@example.com", "resumed": False}
    assert sandbox.application(CARD) is None and sandbox.mails() == []
    assert journal_files(state) == []
    names = [p.name for p in sorted(pages.iterdir())]
    assert names == [
        "01-login.html",
        "02-terms.html",
        "03-apply.html",
        "04-apply-read.html",
        "05-apply-city.html",
        "06-apply-district.html",
        "07-apply-village.html",
        "08-contact.html",
    ]
    for page in pages.iterdir():
        text = page.read_text("utf-8")
        for secret in (PASSWORD, "王小明", "A123456789", CARD, "ming@example.com"):
            assert secret not in text, (page.name, secret)
        assert oct(page.stat().st_mode & 0o777) == "0o600"
    assert "王*明" in (pages / "04-apply-read.html").read_text("utf-8")


def test_register_through_the_nhiicc_agent_service(
    sandbox: SandboxServer,
    state: Path,
    agent_service: str,  # noqa: F811
) -> None:
    proc = register(
        sandbox, state, "--yes", agent=("--agent", "nhiicc", "--agent-url", agent_service)
    )
    assert proc.returncode == 0, proc.stderr
    assert result(proc)["status"] == "submitted"
    assert "nhiicc" in proc.stderr
    stored = sandbox.application(CARD)
    assert stored is not None and stored.email == "ming@example.com"


def test_on_a_terminal_the_password_is_asked_twice_and_the_submit_confirmed(
    sandbox: SandboxServer, state: Path
) -> None:
    """stdin and stderr on a pseudo-terminal, as a person runs it: hidden prompt with
    confirmation, the summary, then 'y'."""
    import pty
    import select

    master, slave = pty.openpty()
    env = {**os.environ, **sandbox.env(), "NHICARD_STATE_DIR": str(state), "LANG": "C.UTF-8"}
    env.pop("NHICARD_PASSWORD", None)
    proc = subprocess.Popen(
        [nhicard_executable(), "--profile", "sandbox", "--agent", "direct", "--lang", "en",
         "register", *ARGS, "--json"],
        stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    answers = [(b"Registration password", PASSWORD), (b"Repeat for confirmation", PASSWORD),
               (b"Submit?", "y")]  # fmt: skip
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        if answers and answers[0][0] in seen:
            seen = seen.replace(answers[0][0], b"<asked>", 1)
            os.write(master, (answers.pop(0)[1] + "\n").encode())
    out = proc.stdout.read() if proc.stdout else b""
    proc.wait(timeout=10)
    os.close(master)
    assert proc.returncode == 0, seen.decode(errors="replace")
    assert answers == []
    assert json.loads(out)["status"] == "submitted"
    text = seen.decode(errors="replace")
    assert "Household ID: F1234567" in text and "Name: 王*明" in text
    assert PASSWORD not in text
