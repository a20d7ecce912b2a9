"""Group ``card`` in process: the virtual card through ``InProcessConnection`` (no PC/SC), for
the cases the real stack cannot stage (an ID number failing its check digit)."""

from __future__ import annotations

import dataclasses

import pytest

from nhicard.core.i18n import T
from nhicard.envcheck import FAIL, PASS, SKIP, WARN, CheckEnv, CheckResult, run_checks
from nhicard.envcheck import card as card_group
from nhicard.pcsc.readers import ReaderInfo, ReaderState
from nhicard.sandbox.data import load_data
from nhicard.sandbox.vcard import FaultSpec, InProcessConnection, VirtualCard

READER = "In-process reader"


class ClosableConnection(InProcessConnection):
    def close(self) -> None:
        pass


def run(faults: str = "", **record_changes: str) -> dict[str, CheckResult]:
    record = dataclasses.replace(load_data().cards[0], **record_changes)  # type: ignore[arg-type]
    card = VirtualCard(record, FaultSpec.parse(faults))
    info = ReaderInfo(0, READER, ReaderState.PRESENT, card.atr, "nhi", T("健保卡", "NHI card"))
    env = CheckEnv(
        list_readers=lambda: [info],
        choose_card_reader=lambda spec: READER,
        connect_card=lambda name: ClosableConnection(card, name),
        timeout=5,
    )
    return {r.id: r for r in run_checks(card_group.checks(), env)}


def test_healthy_card_in_process() -> None:
    results = run()
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, PASS)


def test_id_number_failing_its_check_digit() -> None:
    r = run(id_number="A123456788")["card.id-check"]
    assert r.status == FAIL
    assert (r.summary.en, r.summary.zh) == (
        "the ID number A12****788 fails its check digit",
        "身分證號 A12****788 檢查碼不正確",
    )
    assert r.fix is not None and "NHI office" in r.fix.en and "健保署" in r.fix.zh


@pytest.mark.parametrize("faults", ["garbage-profile", "short-profile"])
def test_unreadable_profile_fails_and_skips_the_id_check(faults: str) -> None:
    results = run(faults)
    assert results["card.select"].status == PASS
    assert results["card.profile"].status == FAIL
    assert results["card.id-check"].status == SKIP
    assert results["card.termination"].status == PASS
    fix = results["card.profile"].fix
    assert fix is not None and fix.zh and fix.en


def test_terminated_and_select_6d00() -> None:
    results = run("terminated,select-6d00")
    assert results["card.select"].status == WARN
    assert results["card.termination"].status == FAIL
    assert (
        results["card.termination"].summary.en
        == "this card has been cancelled (termination flag 1)"
    )
