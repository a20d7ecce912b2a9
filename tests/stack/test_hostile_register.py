"""``register`` under audit (issues 14 and 23), as a subprocess against the sandbox: ASP.NET
state is not printed in ``-vv`` traces; Ctrl-C, SIGTERM or SIGHUP during the final submit
never lead to a second application; two runs at once never both submit."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from nhicard.flows.journal import Journal, flow_lock
from tests.support import sandbox_fixture
from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.register_kit import ARGS, CARD, PASSWORD, journal_files
from tests.support.sandbox_fixture import SandboxServer

sandbox_server = sandbox_fixture.sandbox_server
sandbox = sandbox_fixture.sandbox

pytestmark = pytest.mark.pcsc


def test_vv_trace_shows_only_the_length_of_the_page_state(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    env = {**sandbox.env(), "NHICARD_STATE_DIR": str(tmp_path), "NHICARD_PASSWORD": PASSWORD}
    proc = run_nhicard(
        "--profile", "sandbox", "-vv", "--agent", "direct", "--lang", "en",
        "register", *ARGS, "--json", "--dry-run", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    form_lines = [line for line in proc.stderr.splitlines() if "form: " in line]
    assert any("__VIEWSTATE=[" in line for line in form_lines), proc.stderr[-2000:]
    for line in form_lines:
        for name in ("__VIEWSTATE", "__EVENTVALIDATION"):
            for value in re.findall(rf"{name}=([^&]*)", line):
                assert value == "" or re.fullmatch(r"\[\d+ chars\]", value), line


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_in_the_final_submit_then_the_rerun_sends_no_second_mail(
    sandbox: SandboxServer, tmp_path: Path, signum: int
) -> None:
    """Ctrl-C, systemd's or ``timeout``'s SIGTERM, a closed terminal's SIGHUP: all alike."""
    sandbox.use('[faults.nhi]\nslow_step = "sent"\nslow_seconds = 20.0\n')
    state = tmp_path / "state"
    env = dict(os.environ) | sandbox.env() | {
        "NHICARD_STATE_DIR": str(state), "NHICARD_PASSWORD": PASSWORD, "LANG": "C.UTF-8",
    }  # fmt: skip
    head = ["--profile", "sandbox", "--agent", "direct", "--lang", "en"]
    proc = subprocess.Popen(
        [nhicard_executable(), *head, "register", *ARGS, "--json", "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    # the site has the application and has handed its mail over (the delivery into the Maildir
    # runs apart from the application's commit); its answer is 20 s away
    while sandbox.application(CARD) is None or not sandbox.mails():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert "Interrupted." in err and "Traceback" not in err
    steps = json.loads(journal_files(state)[0].read_text("utf-8"))
    assert set(steps["steps"]) == {"submitting"} and steps["facts"]["interrupted"] is True
    assert len(sandbox.mails()) == 1
    sandbox.use("")  # the site answers promptly again

    again = run_nhicard(*head, "register", *ARGS, "--json", "--yes", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "status": "submitted", "email": "ming@example.com", "resumed": True,
    }  # fmt: skip
    assert "was interrupted (Ctrl-C, or a SIGTERM/SIGHUP stop) during its final" in again.stderr
    assert "Not sending it again" in again.stderr and "--resend" in again.stderr
    assert len(sandbox.mails()) == 1  # no second verification mail

    sandbox.verify(CARD)  # the user followed the link of that one mail
    done = run_nhicard(*head, "register", *ARGS, "--json", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "already-registered"
    assert "had reached the site and has been verified since" in done.stderr
    assert len(sandbox.mails()) == 1


def test_resend_after_an_interrupted_submit_applies_again(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    journal = Journal.open("register", CARD, state_dir=state)
    journal.record("submitting", interrupted=True, email="ming@example.com")
    env = {**sandbox.env(), "NHICARD_STATE_DIR": str(state), "NHICARD_PASSWORD": PASSWORD}
    head = ["--profile", "sandbox", "--agent", "direct", "--lang", "en"]
    done = run_nhicard(*head, "register", *ARGS, "--json", "--yes", "--resend", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "submitted"
    assert len(sandbox.mails()) == 1 and sandbox.application(CARD) is not None


def test_a_second_run_for_the_same_card_waits_for_the_first_and_does_not_submit_again(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The test holds the card's register lock as a first run would; the CLI run waits for it
    (it says so), then reads the journal the "first run" left: submitted, so nothing is sent."""
    state = tmp_path / "state"
    env = dict(os.environ) | sandbox.env() | {
        "NHICARD_STATE_DIR": str(state), "NHICARD_PASSWORD": PASSWORD, "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }  # fmt: skip
    env.pop("NHICARD_LANG", None)
    site = urlsplit(sandbox.endpoints["nhi_url"]).netloc.lower()
    with flow_lock("register", CARD, site, state_dir=state):
        proc = subprocess.Popen(
            [nhicard_executable(), "--profile", "sandbox", "--agent", "direct", "--lang", "en",
             "register", *ARGS, "--json", "--yes"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # until it waits for the lock
            seen.append(line)
            if "running for this NHI card in another nhicard; waiting" in line:
                break
        else:
            raise AssertionError("".join(seen))
        # what the first run did meanwhile: the site has the application, the journal says so
        Journal.open("register", CARD, state_dir=state).record(
            "submitted", email="ming@example.com"
        )
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(seen) + _err
    assert json.loads(out) == {"status": "submitted", "email": "ming@example.com", "resumed": True}
    assert sandbox.application(CARD) is None and len(sandbox.mails()) == 0  # sent nothing


def test_a_second_run_refuses_when_the_first_holds_the_card_too_long(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    env = {**sandbox.env(), "NHICARD_STATE_DIR": str(state), "NHICARD_PASSWORD": PASSWORD}
    site = urlsplit(sandbox.endpoints["nhi_url"]).netloc.lower()
    with flow_lock("register", CARD, site, state_dir=state):
        done = run_nhicard(
            "--profile", "sandbox", "--agent", "direct", "--lang", "en",
            "register", *ARGS, "--json", "--yes", env=env,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "register is already running for this NHI card in another nhicard" in done.stderr
    assert done.stdout == "" and sandbox.application(CARD) is None and not sandbox.mails()
