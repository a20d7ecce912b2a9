"""``register`` warns before submitting when the card's ID number will not pass the NHI
registration page's own ID check ``^[A-Z][12ABCD]\\d{8}$`` (new-style resident permits, second
character 8 or 9; sites.md). The page's script refuses such a number, the site's server is
not known to: so the sandbox server takes it (only its page script refuses), and nhicard —
which runs no page script — submits with the warning said first. Through the real CLI, the
sandbox server process and a virtual card on the private pcscd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_nhicard
from tests.support.register_kit import ARGS, PASSWORD
from tests.support.sandbox_fixture import SandboxServer, sandbox, sandbox_server  # noqa: F401
from tests.support.stack import VirtualCardSlots

pytestmark = pytest.mark.pcsc

ANNA_CARD = "000034567890"  # 安娜, resident permit A900000007 (sandbox data)
ANNA_ARGS = (
    "--household-id", "E1122334",
    "--city", "新北市",
    "--district", "板橋區",
    "--village", "文化里",
    "--neighborhood", "3",
    "--email", "anna@example.com",
    "--phone", "02-2345-6789",
    "--mobile", "0912-345-678",
)  # fmt: skip
WARNING_EN = (
    "the card's ID number A90****007 does not pass the registration page's own ID check "
    "(^[A-Z][12ABCD]\\d{8}$; new-style resident permit numbers have 8 or 9 as second "
    "character): in a browser the page refuses it."
)
WARNING_ZH = "此卡的證號 A90****007 通不過註冊網頁本身的證號檢查(^[A-Z][12ABCD]\\d{8}$;"


def _register(
    sb: SandboxServer, state: Path, reader: str, args: tuple[str, ...], *extra: str
) -> tuple[int, str, str]:
    env = {**sb.env(), "NHICARD_STATE_DIR": str(state), "NHICARD_PASSWORD": PASSWORD}
    proc = run_nhicard(
        "--profile", "sandbox", "--agent", "direct", "-r", reader, *extra,
        "register", *args, "--json", "--yes", env=env,
    )  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def test_new_style_permit_is_warned_before_submitting_and_submitted(
    sandbox: SandboxServer,  # noqa: F811
    virtual_cards: VirtualCardSlots,
    tmp_path: Path,
) -> None:
    virtual_cards.insert(ANNA_CARD, slot=1)
    reader = virtual_cards.reader_name(1)
    code, out, err = _register(sandbox, tmp_path / "en", reader, ANNA_ARGS, "--lang", "en", "-v")
    assert code == 0, err
    assert json.loads(out)["status"] == "submitted"
    flat = _squeeze(err)
    assert WARNING_EN in flat
    assert "A900000007" not in err  # masked
    # said before the final submit
    assert flat.index("registration page's own ID check") < flat.index("submitting the application")
    stored = sandbox.application(ANNA_CARD)
    assert stored is not None and stored.email == "anna@example.com"


def test_the_warning_in_chinese_and_dry_run(
    sandbox: SandboxServer,  # noqa: F811
    virtual_cards: VirtualCardSlots,
    tmp_path: Path,
) -> None:
    virtual_cards.insert(ANNA_CARD, slot=1)
    reader = virtual_cards.reader_name(1)
    code, out, err = _register(
        sandbox, tmp_path / "zh", reader, (*ANNA_ARGS, "--dry-run"), "--lang", "zh-TW"
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "dry-run"
    assert WARNING_ZH in _squeeze(err)
    assert "新式居留證號第二碼為 8 或 9" in err


def test_a_national_id_gets_no_such_warning(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    # the sandbox's own card (王小明, A123456789) on slot 0
    code, out, err = _register(
        sandbox, tmp_path / "wang", "Virtual PCD 00 00", (*ARGS, "--dry-run"), "--lang", "en"
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "dry-run"
    assert "own ID check" not in err
