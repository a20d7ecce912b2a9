"""``nhicard sim card`` as a subprocess on the private pcscd's vpcd, read back with
``nhicard card read``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.stack import PcscStack, VirtualCardSlots

SLOT0 = "Virtual PCD 00 00"
SLOT1 = "Virtual PCD 00 01"

CUSTOM_DATA = """\
[[card]]
card_number = "000098765432"
name = "王建喆"
id_number = "FC12345674"
birth_date = "1960-02-29"
sex = "M"
issue_date = "2025-12-01"
atr = "3B FC 18 00 00 81 31 FE 45 80 73 C8 21 13 66 02 04 03 55 00 02 D2"
"""


@contextmanager
def sim_card(pcsc: PcscStack, *args: str) -> Iterator[subprocess.Popen[str]]:
    env = dict(os.environ, LANG="C.UTF-8", PYTHONIOENCODING="utf-8")
    proc = subprocess.Popen(
        [nhicard_executable(), "--lang", "en", "sim", "card", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        slots = VirtualCardSlots(pcsc)
        if pcsc.running:
            for slot in (0, 1):
                slots.wait_state(slot, ("empty",))


@pytest.mark.pcsc
def test_sim_card_is_read_back_and_stops_on_sigterm(pcsc: PcscStack) -> None:
    slots = VirtualCardSlots(pcsc)
    with sim_card(pcsc, "--port", str(pcsc.slot_port(0)), "--card-number", "000034567890") as proc:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert (
            line
            == f"virtual card 000034567890 (安*) inserted into vpcd 127.0.0.1:{pcsc.slot_port(0)}\n"
        )
        slots.wait_state(0, ("present",))
        read = run_nhicard("card", "read", "--json")
        assert read.returncode == 0, read.stderr
        data = json.loads(read.stdout)
        assert (data["reader"], data["name"], data["id_number"]) == (SLOT0, "安娜", "A900000007")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 3
        assert proc.stdout is not None and proc.stdout.read() == ""
    slots.wait_state(0, ("empty",))


@pytest.mark.pcsc
def test_sim_card_slot_data_file_and_faults(pcsc: PcscStack, tmp_path: Path) -> None:
    data_file = tmp_path / "people.toml"
    data_file.write_text(CUSTOM_DATA, encoding="utf-8")
    slots = VirtualCardSlots(pcsc)
    with sim_card(pcsc, "--slot", "1", "--data", str(data_file), "--fault", "t0,select-6d00"):
        slots.wait_state(1, ("present",))
        read = run_nhicard("--lang", "en", "-r", "1", "card", "read", "--json")
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout) == {
            "reader": SLOT1,
            "atr": "3B FC 18 00 00 81 31 FE 45 80 73 C8 21 13 66 02 04 03 55 00 02 D2",
            "card_type": "nhi",
            "card_number": "000098765432",
            "name": "王建喆",
            "id_number": "FC12345674",
            "birth_date": "1960-02-29",
            "birth_date_roc": "0490229",
            "sex": "M",
            "issue_date": "2025-12-01",
            "issue_date_roc": "1141201",
            "card_termination": "0",
            "warnings": [
                "the card answered SELECT with 6D00 (as some new cards do); reading anyway",
                # 喆 is HKSCS, outside the plain Big5 the official component converts with
                "the name has characters plain Big5 lacks (e.g. HKSCS ones): the official "
                "component would garble this name",
            ],
        }


@pytest.mark.pcsc
def test_sim_card_comes_back_after_pcscd_restart(pcsc: PcscStack) -> None:
    slots = VirtualCardSlots(pcsc)
    with sim_card(pcsc, "--card-number", "000023456789"):
        slots.wait_state(0, ("present",))
        pcsc.restart()
        slots.wait_state(0, ("present",))
        read = run_nhicard("card", "read", "--json")
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout)["name"] == "林峯"


def test_sim_card_usage_errors() -> None:
    proc = run_nhicard("--lang", "en", "sim", "card", "--fault", "t0,explode", "--port", "1")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "Error: unknown card fault “explode”"
    proc = run_nhicard(
        "--lang", "en", "sim", "card", "--card-number", "000000000000", "--port", "1"
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "Error: no card number 000000000000 in the data",
        "Hint: Card numbers available: 000012345678, 000023456789, 000034567890",
    ]


def test_sim_card_help_documents_every_fault() -> None:
    proc = run_nhicard("sim", "card", "--help")
    assert proc.returncode == 0
    for fault in (
        "t0",
        "6c",
        "remove-after=N",
        "delay=MS",
        "hpc",
        "moica",
        "garbage-profile",
        "short-profile",
        "unknown-atr",
        "select-6d00",
        "bad-auth",
        "terminated",
    ):
        assert f"\n    {fault} " in proc.stdout, fault
