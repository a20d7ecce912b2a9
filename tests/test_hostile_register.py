"""``register`` under audit (issue 14), as a subprocess against the sandbox: ASP.NET state is
not printed in ``-vv`` traces; bad targets for ``--save-pages`` are refused cleanly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import sandbox_fixture
from tests.conftest import run_nhicard
from tests.sandbox_fixture import SandboxServer
from tests.test_cli_register import ARGS, PASSWORD

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
