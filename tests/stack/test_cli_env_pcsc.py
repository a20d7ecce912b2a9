"""``env check`` groups ``pcsc`` and ``card`` through the real stack: the installed CLI as a
subprocess, the private pcscd with vpcd, virtual cards (with faults) from this process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cli import run_nhicard
from tests.support.stack import VirtualCardSlots, held_exclusively

pytestmark = pytest.mark.pcsc

SLOT0 = "Virtual PCD 00 00"
PCSC_IDS = ["pcsc.service", "pcsc.context", "pcsc.readers", "pcsc.reader-state", "pcsc.exclusive"]
CARD_IDS = [
    "card.present",
    "card.atr",
    "card.select",
    "card.profile",
    "card.id-check",
    "card.termination",
]


def env_check(
    lang: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    proc = run_nhicard(
        "--lang", lang, *args, "env", "check", "--only", "pcsc,card", "--json", env=env
    )
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["checks"]}


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    """Every check's status but ``pcsc.usb``'s, which depends on this computer's USB
    (tests/stack/test_envcheck_usb.py runs it against fake trees)."""
    return {c["id"]: c["status"] for c in doc["checks"] if c["id"] != "pcsc.usb"}


def fix_in_both_languages(
    args: tuple[str, ...], check_id: str, zh: str, en: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """Run in both languages; the check's fix must carry ``zh`` / ``en``; returns the English run."""
    code_zh, doc_zh, _ = env_check("zh-TW", *args, env=env)
    code, doc, err = env_check("en", *args, env=env)
    assert code == code_zh
    assert zh in (by_id(doc_zh)[check_id]["fix"] or ""), by_id(doc_zh)[check_id]
    assert en in (by_id(doc)[check_id]["fix"] or ""), by_id(doc)[check_id]
    return code, doc


def test_pcscd_not_running(tmp_path: object) -> None:
    env = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    code, doc = fix_in_both_languages(
        (), "pcsc.service", "systemctl start pcscd", "systemctl start pcscd", env
    )
    assert code == 10
    assert statuses(doc) == {"pcsc.service": "fail"} | dict.fromkeys(
        PCSC_IDS[1:] + CARD_IDS, "skip"
    )
    service = by_id(doc)["pcsc.service"]
    assert service["summary"] == "the PC/SC service is not running"
    assert service["detail"] == "/nonexistent/pcscd.comm: no such socket"
    assert by_id(doc)["pcsc.usb"]["status"] == "skip"  # needs pcsc.context
    assert doc["summary"] == {"pass": 0, "warn": 0, "fail": 1, "skip": 11}


def test_pcscd_running_without_a_card(virtual_cards: VirtualCardSlots) -> None:
    code, doc = fix_in_both_languages((), "card.present", "請插入健保卡", "Insert the NHI card")
    assert code == 10
    assert statuses(doc) == dict.fromkeys(PCSC_IDS, "pass") | {
        "card.present": "fail"
    } | dict.fromkeys(CARD_IDS[1:], "skip")
    checks = by_id(doc)
    assert checks["pcsc.readers"]["summary"] == "2 reader(s)"
    assert checks["pcsc.readers"]["detail"] == "#0 Virtual PCD 00 00; #1 Virtual PCD 00 01"
    assert checks["pcsc.reader-state"]["summary"] == "reader states: #0 empty, #1 empty"
    assert checks["card.present"]["summary"] == "no card in any reader"


def test_healthy_virtual_card(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert()
    code, doc, err = env_check("en")
    assert code == 0, err
    assert statuses(doc) == dict.fromkeys(PCSC_IDS + CARD_IDS, "pass")
    checks = by_id(doc)
    assert checks["card.present"]["summary"] == f"a card is in {SLOT0}"
    assert checks["card.atr"]["summary"] == "ATR: NHI card"
    assert (
        checks["card.profile"]["summary"] == "profile read (王*明, A12****789, card 0000****5678)"
    )
    assert checks["card.id-check"]["summary"] == "the ID number's check digit is right (A12****789)"
    assert checks["card.termination"]["summary"] == "the card is valid (not cancelled)"
    assert "A123456789" not in json.dumps(doc, ensure_ascii=False)
    assert "王小明" not in json.dumps(doc, ensure_ascii=False)
    assert all(c["fix"] is None for c in doc["checks"])


@pytest.mark.parametrize(
    ("faults", "summary", "zh", "en"),
    [
        (
            "hpc",
            "this is a Health Professional Card, not an NHI card",
            "請改插入民眾的健保卡",
            "Insert the person's NHI card instead",
        ),
        (
            "moica",
            "this is a MOICA citizen certificate, not an NHI card",
            "請改插入健保卡",
            "Insert the NHI card instead",
        ),
    ],
)
def test_wrong_cards_fail_at_the_atr(
    virtual_cards: VirtualCardSlots, faults: str, summary: str, zh: str, en: str
) -> None:
    virtual_cards.insert(faults=faults)
    code, doc = fix_in_both_languages((), "card.atr", zh, en)
    assert code == 10
    assert statuses(doc) == dict.fromkeys(PCSC_IDS + ["card.present"], "pass") | {
        "card.atr": "fail"
    } | dict.fromkeys(CARD_IDS[2:], "skip")
    assert by_id(doc)["card.atr"]["summary"] == summary


def test_unlisted_atr_that_selects_passes(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(faults="unknown-atr")
    code, doc, err = env_check("en")
    assert code == 0, err
    assert statuses(doc) == dict.fromkeys(PCSC_IDS + CARD_IDS, "pass")
    atr = by_id(doc)["card.atr"]
    assert atr["summary"] == (
        "NHI-compatible card (unlisted ATR): ATR not listed, but the card answers the NHI SELECT"
    )
    assert atr["detail"] == "3B FA 18 00 00 81 31 FE 45 4E 48 49 53 41 4E 44 42 4F 58 EB"


def test_cancelled_card_fails_termination(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(faults="terminated")
    code, doc = fix_in_both_languages((), "card.termination", "換發", "apply for one")
    assert code == 10
    assert statuses(doc)["card.termination"] == "fail"
    assert statuses(doc)["card.profile"] == "pass"


def test_select_6d00_is_a_warning(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(faults="select-6d00")
    code, doc, err = env_check("en")
    assert code == 0, err
    select = by_id(doc)["card.select"]
    assert select["status"] == "warn"
    assert (
        select["summary"]
        == "the card answered SELECT with 6D00 (as some new cards do); reading anyway"
    )
    assert statuses(doc)["card.profile"] == "pass"


def test_reader_held_exclusively_by_another_program(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert()
    with held_exclusively(SLOT0):
        code, doc = fix_in_both_languages((), "pcsc.exclusive", "HIS", "HIS")
    assert code == 10
    checks = by_id(doc)
    assert checks["pcsc.exclusive"]["status"] == "warn"
    assert (
        checks["pcsc.exclusive"]["summary"]
        == f"the card in {SLOT0} is held exclusively by another program"
    )
    assert checks["card.present"]["status"] == "pass"
    assert checks["card.select"]["status"] == "fail"
    assert "in use by another program" in checks["card.select"]["summary"]
