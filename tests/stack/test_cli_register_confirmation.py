"""``register``'s confirmation on a terminal shows the address as the site resolved it
(臺北市大安區龍門里), not the words typed (台北 大安 龍門里); declining sends nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import sandbox_fixture
from tests.support.register_kit import CARD, PASSWORD
from tests.support.sandbox_fixture import SandboxServer
from tests.support.terminal import run_on_terminal

sandbox_server = sandbox_fixture.sandbox_server
sandbox = sandbox_fixture.sandbox

pytestmark = pytest.mark.pcsc

TYPED = (
    "--household-id", "F1234567", "--city", "台北", "--district", "大安", "--village", "龍門里",
    "--neighborhood", "5", "--email", "ming@example.com", "--phone", "02-23456789",
    "--mobile", "0912345678",
)  # fmt: skip


@pytest.mark.parametrize(
    ("lang", "address"),
    [("zh-TW", "  戶籍地址: 臺北市大安區龍門里 5鄰"), ("en", "  Address: 臺北市大安區龍門里 5鄰")],
)
def test_the_confirmation_shows_the_resolved_address(
    sandbox: SandboxServer, tmp_path: Path, lang: str, address: str
) -> None:
    env = {**sandbox.env(), "NHICARD_STATE_DIR": str(tmp_path), "NHICARD_PASSWORD": PASSWORD}
    r = run_on_terminal(
        "--profile", "sandbox", "--agent", "direct", "--lang", lang, "register", *TYPED,
        env=env, typed=b"n\n", stdout_to_pipe=True,
    )  # fmt: skip
    lines = r.text.replace("\r\n", "\n").split("\n")
    assert address in lines, r.text
    assert not any("台北 大安" in line for line in lines), r.text
    assert r.returncode != 0, r.text  # declined: cancelled
    assert sandbox.application(CARD) is None
