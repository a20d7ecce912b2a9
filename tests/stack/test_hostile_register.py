"""``register`` under audit (issue 14), as a subprocess against the sandbox: ASP.NET state is
not printed in ``-vv`` traces; bad targets for ``--save-pages`` are refused cleanly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import sandbox_fixture
from tests.support.cli import run_nhicard
from tests.support.register_kit import ARGS, CARD, PASSWORD
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


def test_ctrl_c_in_the_final_submit_then_the_rerun_sends_no_second_mail(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    import json
    import os
    import signal
    import subprocess
    import time

    from tests.support.cli import nhicard_executable

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
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert len(sandbox.mails()) == 1
    sandbox.use("")  # the site answers promptly again

    again = run_nhicard(*head, "register", *ARGS, "--json", "--yes", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "status": "submitted", "email": "ming@example.com", "resumed": True,
    }  # fmt: skip
    assert "interrupted (Ctrl-C) during its final submit" in again.stderr
    assert "Not sending it again" in again.stderr
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
    import json

    from nhicard.flows.journal import Journal

    state = tmp_path / "state"
    journal = Journal.open("register", CARD, state_dir=state)
    journal.record("submitting", interrupted=True, email="ming@example.com")
    env = {**sandbox.env(), "NHICARD_STATE_DIR": str(state), "NHICARD_PASSWORD": PASSWORD}
    head = ["--profile", "sandbox", "--agent", "direct", "--lang", "en"]
    done = run_nhicard(*head, "register", *ARGS, "--json", "--yes", "--resend", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "submitted"
    assert len(sandbox.mails()) == 1 and sandbox.application(CARD) is not None
