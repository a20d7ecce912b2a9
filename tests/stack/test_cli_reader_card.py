"""``reader list`` and ``card read`` through the real PC/SC stack: the installed CLI as a
subprocess, a private pcscd with vpcd, and virtual cards connected from this process."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.stack import VirtualCardSlots, held_exclusively

pytestmark = pytest.mark.pcsc

SLOT0 = "Virtual PCD 00 00"
SLOT1 = "Virtual PCD 00 01"
ATR_WANG = "3B FF 18 00 FF 81 31 FE 45 54 48 43 43 31 30 54 45 43 4F 47 44 48 4E 32 24"
ATR_LIN = "3B FD 13 00 00 81 31 FE 45 4A 43 4F 50 32 31 76 32 33 31 47 44 54 E1"
ATR_ANNA = "3B FA 18 00 00 81 31 FE 45 50 56 4A 43 4F 50 34 53 49 44 93"
ATR_HPC = "3B F9 18 00 00 81 31 FE 45 50 56 5F 4A 32 44 30 38 31 B6"
ATR_MOICA = "3B 8B 80 01 00 31 C1 64 08 40 21 30 00 90 00 57"
ATR_UNLISTED = "3B FA 18 00 00 81 31 FE 45 4E 48 49 53 41 4E 44 42 4F 58 EB"

WANG = {
    "reader": SLOT0,
    "atr": ATR_WANG,
    "card_type": "nhi",
    "card_number": "000012345678",
    "name": "王小明",
    "id_number": "A123456789",
    "birth_date": "1975-01-01",
    "birth_date_roc": "0640101",
    "sex": "M",
    "issue_date": "2020-07-01",
    "issue_date_roc": "1090701",
    "card_termination": "0",
    "warnings": [],
}
LIN = {
    "reader": SLOT0,
    "atr": ATR_LIN,
    "card_type": "nhi",
    "card_number": "000023456789",
    "name": "林峯",
    "id_number": "F126112341",
    "birth_date": "1988-03-15",
    "birth_date_roc": "0770315",
    "sex": "M",
    "issue_date": "2019-11-20",
    "issue_date_roc": "1081120",
    "card_termination": "0",
    # 峯 is HKSCS: the official component (plain Big5) would garble the name
    "warnings": [
        "姓名含有一般 Big5 沒有的字(例如香港增補字符集 HKSCS 的字):"
        "官方健保卡讀卡機元件會把這個姓名顯示成亂碼"
    ],
}
GARBLED_EN = (
    "the name has characters plain Big5 lacks (e.g. HKSCS ones): the official component "
    "would garble this name"
)
ANNA = {
    "reader": SLOT0,
    "atr": ATR_ANNA,
    "card_type": "nhi",
    "card_number": "000034567890",
    "name": "安娜",
    "id_number": "A900000007",
    "birth_date": "1992-12-31",
    "birth_date_roc": "0811231",
    "sex": "F",
    "issue_date": "2021-02-25",
    "issue_date_roc": "1100225",
    "card_termination": "0",
    "warnings": [],
}
EMPTY_SLOT1 = {
    "index": 1,
    "name": SLOT1,
    "state": "empty",
    "atr": None,
    "card_type": None,
    "card_label": None,
}


def read_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, object, str]:
    proc = run_nhicard(*args, "card", "read", "--json", env=env)
    data = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, data, proc.stderr


@pytest.mark.parametrize(
    ("card_number", "expected"),
    [("000012345678", WANG), ("000023456789", LIN), ("000034567890", ANNA)],
)
def test_card_read_healthy_people(
    virtual_cards: VirtualCardSlots, card_number: str, expected: dict
) -> None:
    virtual_cards.insert(card_number)
    code, data, err = read_json()
    assert (code, data) == (0, expected), err


def test_reader_list_with_card_and_empty_slot(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert("000023456789")
    proc = run_nhicard("--lang", "en", "reader", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        {
            "index": 0,
            "name": SLOT0,
            "state": "present",
            "atr": ATR_LIN,
            "card_type": "nhi",
            "card_label": "NHI card",
        },
        EMPTY_SLOT1,
    ]


def test_reader_list_names_other_cards_and_probes_unlisted_atr(
    virtual_cards: VirtualCardSlots,
) -> None:
    virtual_cards.insert(faults="hpc", slot=0)
    virtual_cards.insert(faults="unknown-atr", slot=1)
    proc = run_nhicard("reader", "list", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [
        {
            "index": 0,
            "name": SLOT0,
            "state": "present",
            "atr": ATR_HPC,
            "card_type": "hpc",
            "card_label": "醫事人員卡",
        },
        {
            "index": 1,
            "name": SLOT1,
            "state": "present",
            "atr": ATR_UNLISTED,
            "card_type": "nhi-unlisted",
            "card_label": "相容健保卡(未列名 ATR)",
        },
    ]


def test_reader_list_moica_and_csv(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(faults="moica", slot=1)
    proc = run_nhicard("--lang", "en", "reader", "list", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "index,name,state,atr,card_type,card_label",
        f"0,{SLOT0},empty,,,",
        f"1,{SLOT1},present,{ATR_MOICA},moica,MOICA Citizen Digital Certificate",
    ]


def test_reader_list_table(virtual_cards: VirtualCardSlots) -> None:
    proc = run_nhicard("reader", "list", "--format", "table")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["index", "name", "state", "atr", "card_type", "card_label"]
    assert lines[2].split() == ["0", "Virtual", "PCD", "00", "00", "empty"]
    assert lines[3].split() == ["1", "Virtual", "PCD", "00", "01", "empty"]


@pytest.mark.parametrize("faults", ["t0", "6c", "t0,6c", "delay=30"])
def test_card_read_protocol_faults_read_the_same(
    virtual_cards: VirtualCardSlots, faults: str
) -> None:
    virtual_cards.insert("000023456789", faults=faults)
    code, data, err = read_json()
    assert (code, data) == (0, LIN), err


def test_card_read_unlisted_atr_select_6d00_and_terminated(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(faults="unknown-atr,select-6d00,terminated")
    code, data, err = read_json("--lang", "en")
    assert code == 0, err
    assert data == {
        **WANG,
        "atr": ATR_UNLISTED,
        "card_type": "nhi-unlisted",
        "card_termination": "1",
        "warnings": [
            "the card answered SELECT with 6D00 (as some new cards do); reading anyway",
            "this card has been cancelled (termination flag set)",
        ],
    }


def test_card_read_warnings_in_chinese_by_default(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(faults="terminated")
    code, data, err = read_json()
    assert code == 0, err
    assert isinstance(data, dict)
    assert data["warnings"] == ["此卡已註銷(註銷註記已設定)"]


def test_bad_auth_does_not_affect_reading(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert("000034567890", faults="bad-auth")
    code, data, err = read_json()
    assert (code, data) == (0, ANNA), err


@pytest.mark.parametrize(
    ("faults", "zh", "en"),
    [
        (
            "hpc",
            "錯誤: 這不是健保卡(醫事人員卡)",
            "Error: not an NHI card (醫事人員卡, Health Professional Card)",
        ),
        (
            "moica",
            "錯誤: 這不是健保卡(自然人憑證)",
            "Error: not an NHI card (自然人憑證, MOICA Citizen Digital Certificate)",
        ),
    ],
)
def test_wrong_cards_exit_5_and_are_named(
    virtual_cards: VirtualCardSlots, faults: str, zh: str, en: str
) -> None:
    virtual_cards.insert(faults=faults)
    proc = run_nhicard("card", "read", "--json")
    assert (proc.returncode, proc.stdout) == (5, "")
    assert proc.stderr.splitlines()[0] == zh
    proc = run_nhicard("--lang", "en", "card", "read", "--json")
    assert (proc.returncode, proc.stdout) == (5, "")
    assert proc.stderr.splitlines()[0] == en


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ("garbage-profile", "Error: the NHI card's basic data is unreadable: card number"),
        (
            "short-profile",
            "Error: the NHI card's basic data is unreadable: 20 bytes instead of 57 (20 bytes)",
        ),
    ],
)
def test_unreadable_profile_exit_6(
    virtual_cards: VirtualCardSlots, faults: str, message: str
) -> None:
    virtual_cards.insert(faults=faults)
    proc = run_nhicard("--lang", "en", "card", "read", "--json")
    assert (proc.returncode, proc.stdout) == (6, "")
    assert proc.stderr.splitlines()[0].startswith(message)
    assert proc.stderr.splitlines()[1].startswith("Hint: ")


def test_card_pulled_between_apdus_exit_5(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(faults="remove-after=1")
    proc = run_nhicard("--lang", "en", "-r", "0", "card", "read", "--json")
    assert (proc.returncode, proc.stdout) == (5, "")
    assert proc.stderr.splitlines()[0].startswith(
        f"Error: the card in “{SLOT0}” was removed while being read"
    )


def test_no_card_exit_5(virtual_cards: VirtualCardSlots) -> None:
    proc = run_nhicard("--lang", "en", "card", "read", "--json")
    assert (proc.returncode, proc.stdout) == (5, "")
    assert proc.stderr.splitlines() == [
        "Error: no card in any reader",
        "Hint: Insert the NHI card (chip first, facing up), or add --wait SECONDS to wait for it.",
    ]
    proc = run_nhicard("--lang", "en", "-r", "1", "card", "read")
    assert proc.returncode == 5
    assert (
        proc.stderr.splitlines()[0]
        == f"Error: no card in reader “{SLOT1}” (SCARD_E_NO_SMARTCARD (0x8010000C) during SCardConnect)"
    )


def test_wait_times_out_exit_5(virtual_cards: VirtualCardSlots) -> None:
    proc = run_nhicard("--lang", "en", "card", "read", "--wait", "1.5", "--json")
    assert (proc.returncode, proc.stdout) == (5, "")
    assert proc.stderr.splitlines()[0] == "Error: no card was inserted within 1.5 s"


def test_wait_sees_a_card_inserted_during_the_wait(virtual_cards: VirtualCardSlots) -> None:
    env = dict(os.environ, LANG="C.UTF-8", PYTHONIOENCODING="utf-8")
    proc = subprocess.Popen(
        [nhicard_executable(), "card", "read", "--wait", "20", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert virtual_cards.state(0) == "empty"
        virtual_cards.insert("000023456789", slot=0)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out) == LIN
    assert err == ""  # stderr is not a terminal: no progress


def test_reader_choice(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert("000023456789", slot=1)
    for spec in ("1", "00 01", "pcd 00 01", SLOT1.upper()):
        code, data, err = read_json("-r", spec)
        assert (code, data) == (0, {**LIN, "reader": SLOT1}), (spec, err)
    # without -r: the one reader holding a card
    code, data, err = read_json()
    assert (code, data) == (0, {**LIN, "reader": SLOT1}), err
    # the reader option also comes from the environment
    code, data, err = read_json(env={"NHICARD_READER": "1"})
    assert (code, data) == (0, {**LIN, "reader": SLOT1}), err


def test_reader_not_found_and_ambiguous_exit_4(virtual_cards: VirtualCardSlots) -> None:
    proc = run_nhicard("--lang", "en", "-r", "virtual", "card", "read")
    assert proc.returncode == 4
    assert proc.stderr.splitlines() == [
        f"Error: “virtual” matches several readers: 0: {SLOT0}; 1: {SLOT1}",
        "Hint: Name the reader by index (-r 0) or a longer part of its name.",
    ]
    proc = run_nhicard("--lang", "en", "-r", "ez100", "card", "read")
    assert proc.returncode == 4
    assert proc.stderr.splitlines() == [
        "Error: no reader matches “ez100”",
        f"Hint: Available readers: 0: {SLOT0}; 1: {SLOT1}",
    ]
    proc = run_nhicard("--lang", "en", "-r", "7", "card", "read")
    assert proc.returncode == 4
    assert proc.stderr.splitlines()[0] == "Error: no reader with index 7"


def test_two_cards_hpc_slot_is_passed_over_two_nhi_cards_are_ambiguous(
    virtual_cards: VirtualCardSlots,
) -> None:
    virtual_cards.insert(faults="hpc", slot=0)
    virtual_cards.insert("000034567890", slot=1)
    code, data, err = read_json()
    assert (code, data) == (0, {**ANNA, "reader": SLOT1}), err
    virtual_cards.insert("000012345678", slot=0)
    proc = run_nhicard("--lang", "en", "card", "read")
    assert proc.returncode == 4
    assert (
        proc.stderr.splitlines()[0] == f"Error: several readers hold a card: 0: {SLOT0}; 1: {SLOT1}"
    )


def test_mask_and_trace(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert("000012345678")
    proc = run_nhicard("-vv", "card", "read", "--mask", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        **WANG,
        "name": "王*明",
        "id_number": "A12****789",
        "birth_date": "1975-**-**",
        "birth_date_roc": "064****",
    }
    trace = [line for line in proc.stderr.splitlines() if line.startswith("APDU ")]
    assert [line.split(" (")[0] for line in trace] == [
        "APDU > 00 A4 04 00 10 D1 58 00 00 01 00 00 00 00 00 00 00 00 00 11 00",
        "APDU < 90 00",
        "APDU > 00 CA 11 00 02 00 00 00",
        "APDU < 30 30 30 30 31 32 33 34 35 36 37 38 "
        + "** " * 37
        + "4D 31 30 39 30 37 30 31 90 00",
        "APDU > 00 CA 24 00 02 00 00 00",
        "APDU < 30 90 00",
    ]
    # neither the name's Big5 bytes nor the ID's ASCII appear anywhere on stderr
    assert "A4 FD A4 70" not in proc.stderr
    assert "41 31 32 33" not in proc.stderr
    assert "A123456789" not in proc.stderr


def test_card_read_table_in_english(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert("000023456789")
    proc = run_nhicard("--lang", "en", "card", "read", "--format", "table")
    assert proc.returncode == 0, proc.stderr
    rows = dict((line.split(None, 1) + [""])[:2] for line in proc.stdout.splitlines())
    assert list(rows) == list(LIN)
    assert rows["name"] == "林峯"
    assert rows["reader"] == SLOT0
    assert rows["card_type"] == "nhi"
    assert rows["birth_date"] == "1988-03-15"
    assert rows["warnings"] == GARBLED_EN


def test_card_in_use_by_another_program_exit_6(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert()
    with held_exclusively(SLOT0):
        proc = run_nhicard("--lang", "en", "card", "read", "--json")
        assert (proc.returncode, proc.stdout) == (6, "")
        assert proc.stderr.splitlines() == [
            f"Error: the card in “{SLOT0}” is in use by another program "
            "(SCARD_E_SHARING_VIOLATION (0x8010000B))",
            "Hint: Close the other program using the reader (for example a clinic's HIS or another card tool) "
            "and retry.",
        ]
        listed = json.loads(run_nhicard("reader", "list", "--json").stdout)
        assert listed[0]["state"] == "in-use"
        assert listed[0]["card_type"] == "nhi"
    code, data, err = read_json()
    assert (code, data) == (0, WANG), err


@pytest.mark.parametrize("command", [("reader", "list"), ("card", "read")])
def test_pcscd_not_running_exit_3(tmp_path: object, command: tuple[str, str]) -> None:
    env = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    proc = run_nhicard("--lang", "en", *command, "--json", env=env)
    assert (proc.returncode, proc.stdout) == (3, "")
    assert proc.stderr.splitlines() == [
        "Error: the PC/SC service is not running; readers are unreachable "
        "(SCARD_E_NO_SERVICE (0x8010001D) during SCardEstablishContext)",
        "Hint: Start the PC/SC service: sudo systemctl start pcscd (without systemd run sudo "
        "pcscd); if it is not installed: sudo apt install pcscd (Fedora: sudo dnf install "
        "pcsc-lite).",
    ]


def test_wait_shows_progress_only_on_a_terminal(virtual_cards: VirtualCardSlots) -> None:
    import pty

    leader, follower = pty.openpty()
    env = dict(os.environ, LANG="C.UTF-8", PYTHONIOENCODING="utf-8")
    proc = subprocess.Popen(
        [nhicard_executable(), "--lang", "en", "card", "read", "--wait", "0.5", "--json"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(30) == 5
    lines = b"".join(chunks).decode().splitlines()
    assert lines[0] == "Waiting up to 0.5 s for a card…"
    assert lines[1] == "Error: no card was inserted within 0.5 s"
