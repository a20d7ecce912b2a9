"""``card verify`` through the real PC/SC stack: the installed CLI as a subprocess, a private
pcscd with vpcd, and virtual cards inserted into and pulled from both slots by the test."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.stack import PcscStack, VirtualCardSlots

SLOT0 = "Virtual PCD 00 00"
SLOT1 = "Virtual PCD 00 01"
ATR_WANG = "3B FF 18 00 FF 81 31 FE 45 54 48 43 43 31 30 54 45 43 4F 47 44 48 4E 32 24"
ATR_LIN = "3B FD 13 00 00 81 31 FE 45 4A 43 4F 50 32 31 76 32 33 31 47 44 54 E1"
ATR_ANNA = "3B FA 18 00 00 81 31 FE 45 50 56 4A 43 4F 50 34 53 49 44 93"
ATR_HPC = "3B F9 18 00 00 81 31 FE 45 50 56 5F 4A 32 44 30 38 31 B6"
ATR_MOICA = "3B 8B 80 01 00 31 C1 64 08 40 21 30 00 90 00 57"
ATR_UNLISTED = "3B FA 18 00 00 81 31 FE 45 4E 48 49 53 41 4E 44 42 4F 58 EB"
WANG, LIN, ANNA = "000012345678", "000023456789", "000034567890"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def record(
    reader: str,
    atr: str,
    card_type: str | None,
    number: str | None,
    id_number: str | None,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "reader": reader,
        "atr": atr,
        "card_type": card_type,
        "card_number": number,
        "id_number": id_number,
        "result": "failed" if reason else "ok",
        "reason": reason,
    }


def stable(rec: dict[str, Any]) -> dict[str, Any]:
    """A record without the fields that vary (checked for shape here)."""
    rec = dict(rec)
    assert ISO_WITH_OFFSET.match(rec.pop("verified_at")), rec
    apdu_ms = rec.pop("apdu_ms")
    assert isinstance(apdu_ms, float) and apdu_ms >= 0, apdu_ms
    return rec


class Watch:
    """``nhicard … card verify --watch …`` running in the background; stdout lines queued."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, LANG="C.UTF-8", PYTHONIOENCODING="utf-8")
        env.pop("NHICARD_LANG", None)
        self.proc = subprocess.Popen(
            [nhicard_executable(), "--lang", "en", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        self.err_changed = threading.Condition()
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.err_changed:
                self.err.append(line.rstrip("\n"))
                self.err_changed.notify_all()

    def next_record(self, timeout: float = 15) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        assert line is not None, "\n".join(self.err)
        return dict(json.loads(line))

    def wait_stderr(self, needle: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        with self.err_changed:
            while True:
                for line in self.err:
                    if needle in line:
                        return line
                left = deadline - time.monotonic()
                assert left > 0, f"{needle!r} not on stderr: " + "\n".join(self.err)
                self.err_changed.wait(left)

    def finish(self, timeout: float = 20) -> tuple[int, list[str], list[str]]:
        """Exit code, the remaining stdout lines, stderr lines."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        rest = []
        while True:
            line = self.lines.get(timeout=5)
            if line is None:
                break
            rest.append(line)
        time.sleep(0.05)
        return code, rest, list(self.err)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def watches() -> Any:
    started: list[Watch] = []

    def start(*args: str) -> Watch:
        w = Watch(*args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def insert_card(
    slots: VirtualCardSlots, base: str, number: str, faults: str = "", slot: int = 0
) -> None:
    """Like ``slots.insert`` but with the sandbox card ``base`` renumbered ``number`` (a box
    of cards holds more than the sandbox's three people)."""
    from nhicard.sandbox.data import load_data
    from nhicard.sandbox.vcard import FaultSpec, VirtualCard
    from nhicard.sandbox.vpcd import VpcdCardClient

    slots.remove(slot)
    template = load_data().card(base)
    assert template is not None
    card = VirtualCard(dataclasses.replace(template, card_number=number), FaultSpec.parse(faults))
    client = VpcdCardClient(card, port=slots.stack.slot_port(slot))
    thread, stop = client.start_thread()
    slots.clients[slot] = (client, thread, stop)
    slots.wait_state(slot, ("present", "in-use", "mute"))


def summary_lines(err: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(err) if line.startswith("Summary"))
    return err[start:]


# -- options that need no card ----------------------------------------------------------------


def test_help_documents_every_reason_code() -> None:
    from nhicard.card.verification import Reason

    proc = run_nhicard("--lang", "en", "card", "verify", "--help")
    assert proc.returncode == 0, proc.stderr
    for reason in Reason:
        assert re.search(rf"^\s+{re.escape(reason.code)}\s+{re.escape(reason.description.en)}$",
                         proc.stdout, re.M), reason  # fmt: skip
    for option in ("--watch", "--all-readers", "--count", "--timeout", "--report", "--show-pii",
                   "--recheck", "--format", "--json"):  # fmt: skip
        assert option in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--report", "out.txt"), "must end in .csv or .jsonl"),
        (("--count", "2"), "--all-readers and --count need --watch"),
        (("--all-readers",), "--all-readers and --count need --watch"),
        (("--watch", "--count", "0"), "0 is not in the range x>=1"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    proc = run_nhicard("--lang", "en", "card", "verify", *args, cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_foreign_report_file_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "cards.csv"
    path.write_text("name,phone\n")
    proc = run_nhicard("--lang", "en", "card", "verify", "--report", str(path))
    assert proc.returncode == 2
    assert (
        proc.stderr.splitlines()[0]
        == f"Error: “{path}” is not a card verify report (header name,phone)"
    )
    assert path.read_text() == "name,phone\n"


def test_unwritable_report_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "box.jsonl"
    proc = run_nhicard("--lang", "en", "card", "verify", "--report", str(path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"Error: cannot write the report file “{path}” (No such file or directory)",
        "Hint: Check that the folder exists and is writable.",
    ]


@pytest.mark.parametrize("watch", [(), ("--watch", "--all-readers")])
def test_pcscd_not_running_exit_3(watch: tuple[str, ...]) -> None:
    env = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    proc = run_nhicard("--lang", "en", "card", "verify", *watch, env=env)
    assert (proc.returncode, proc.stdout) == (3, "")
    assert proc.stderr.splitlines()[0].startswith(
        "Error: the PC/SC service is not running; readers are unreachable"
    )


# -- one card ---------------------------------------------------------------------------------


@pytest.mark.pcsc
def test_single_card_masked_show_pii_and_timing(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(WANG, slot=1)
    proc = run_nhicard("--lang", "en", "-v", "card", "verify", "--json")
    assert proc.returncode == 0, proc.stderr
    assert stable(json.loads(proc.stdout)) == record(SLOT1, ATR_WANG, "nhi", WANG, "A12****789")
    timing = [line for line in proc.stderr.splitlines() if line.startswith(f"Card {WANG}: total")]
    assert len(timing) == 1
    assert re.fullmatch(
        rf"Card {WANG}: total [\d.]+ ms, APDU [\d.]+ ms \(3 APDUs\), connect [\d.]+ ms, "
        r"software [\d.]+ ms",
        timing[0],
    )
    assert "A123456789" not in proc.stderr
    proc = run_nhicard("card", "verify", "--show-pii", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1
    assert stable(json.loads(proc.stdout)) == record(SLOT1, ATR_WANG, "nhi", WANG, "A123456789")


@pytest.mark.pcsc
def test_single_card_report_skip_and_recheck(
    virtual_cards: VirtualCardSlots, tmp_path: Path
) -> None:
    report = tmp_path / "one.jsonl"
    virtual_cards.insert(ANNA, slot=0)
    args = ("--lang", "en", "card", "verify", "--json", "--report", str(report))
    first = run_nhicard(*args)
    assert first.returncode == 0, first.stderr
    assert [json.loads(line) for line in report.read_text().splitlines()] == [
        json.loads(first.stdout)
    ]
    again = run_nhicard(*args)
    assert (again.returncode, again.stdout) == (0, "")
    when = json.loads(first.stdout)["verified_at"]
    assert again.stderr.splitlines() == [
        f"Card {ANNA} is already in the report as ok ({when}); skipped "
        "(add --recheck to verify it again)."
    ]
    recheck = run_nhicard(*args, "--recheck")
    assert recheck.returncode == 0, recheck.stderr
    assert stable(json.loads(recheck.stdout)) == record(SLOT0, ATR_ANNA, "nhi", ANNA, "A90****007")
    assert len(report.read_text().splitlines()) == 2


@pytest.mark.pcsc
def test_single_card_failed_exit_6_and_no_card_exit_5(
    virtual_cards: VirtualCardSlots, tmp_path: Path
) -> None:
    proc = run_nhicard("--lang", "en", "card", "verify", "--json")
    assert (proc.returncode, proc.stdout) == (5, "")
    assert proc.stderr.splitlines()[0] == "Error: no card in any reader"
    report = tmp_path / "one.csv"
    virtual_cards.insert(LIN, faults="terminated")
    proc = run_nhicard("--lang", "en", "card", "verify", "--json", "--report", str(report))
    assert proc.returncode == 6, proc.stderr
    assert stable(json.loads(proc.stdout)) == record(
        SLOT0, ATR_LIN, "nhi", LIN, "F12****341", "terminated"
    )
    assert proc.stderr.splitlines() == [
        f"Card {LIN} failed verification: the card is cancelled (termination flag set): "
        "termination flag is 1"
    ]
    proc = run_nhicard("card", "verify", "--json")  # messages in Chinese by default
    assert proc.returncode == 6
    assert proc.stderr.splitlines() == [
        f"卡片 {LIN} 驗證失敗:卡片已註銷(註銷註記已設定):註銷註記為 1"
    ]
    rows = list(csv.DictReader(report.open()))
    assert [stable(r) | {} for r in [{**rows[0], "apdu_ms": float(rows[0]["apdu_ms"])}]] == [
        {**record(SLOT0, ATR_LIN, "nhi", LIN, "F12****341", "terminated")}
    ]


@pytest.mark.pcsc
def test_single_card_waits_with_timeout(virtual_cards: VirtualCardSlots, watches: Any) -> None:
    w = watches("-r", "0", "card", "verify", "--timeout", "20", "--format", "jsonl")
    time.sleep(0.3)
    assert w.proc.poll() is None  # waiting for a card
    virtual_cards.insert(ANNA, slot=0)
    assert stable(w.next_record()) == record(SLOT0, ATR_ANNA, "nhi", ANNA, "A90****007")
    code, rest, err = w.finish()
    assert (code, rest, err) == (0, [], [])


def test_table_lines_in_watch_mode(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import datetime, timedelta, timezone

    from nhicard.card.verification import Reason, Verification
    from nhicard.cli.card_verify_view import LineWriter

    at = datetime(2026, 11, 27, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    lines = LineWriter("table", show_pii=False)
    lines.begin()
    lines.write(Verification(SLOT0, b"\x3b", "nhi", WANG, "A123456789", None, None, at,
                             apdu_ms=12.34))  # fmt: skip
    lines.write(Verification(SLOT1, b"\x3b", "hpc", None, None, Reason.HPC, None, at))
    assert capsys.readouterr().out.splitlines() == [
        "verified_at               result  reason                card_number   id_number   "
        "apdu_ms  reader",
        "2026-11-27T09:30:00+08:00 ok      -                     000012345678  A12****789  "
        "12.3     Virtual PCD 00 00",
        "2026-11-27T09:30:00+08:00 failed  hpc                   -             -           "
        "0.0      Virtual PCD 00 01",
    ]


# -- a stream of cards -------------------------------------------------------------------------


@pytest.mark.pcsc
def test_watch_both_readers_a_faulty_card_of_each_kind(
    virtual_cards: VirtualCardSlots, watches: Any, tmp_path: Path
) -> None:
    report = tmp_path / "box.jsonl"
    w = watches("card", "verify", "--watch", "--all-readers", "--count", "8", "--report",
                str(report))  # fmt: skip
    steps = [
        (0, WANG, "", "101", record(SLOT0, ATR_WANG, "nhi", "101", "A12****789")),
        (1, WANG, "hpc", "102", record(SLOT1, ATR_HPC, "hpc", None, None, "hpc")),
        (0, WANG, "moica", "103", record(SLOT0, ATR_MOICA, "moica", None, None, "moica")),
        (
            1,
            LIN,
            "garbage-profile",
            "104",
            record(SLOT1, ATR_LIN, "nhi", "104", None, "profile-malformed"),
        ),
        (
            0,
            ANNA,
            "short-profile",
            "105",
            record(SLOT0, ATR_ANNA, "nhi", "105", None, "profile-malformed"),
        ),
        # pulled after SELECT and READ PROFILE: shown, reported, not counted
        (
            1,
            LIN,
            "remove-after=2",
            "106",
            record(SLOT1, ATR_LIN, "nhi", "106", "F12****341", "removed"),
        ),
        (
            0,
            LIN,
            "terminated",
            "107",
            record(SLOT0, ATR_LIN, "nhi", "107", "F12****341", "terminated"),
        ),
        (
            1,
            WANG,
            "unknown-atr,t0",
            "108",
            record(SLOT1, ATR_UNLISTED, "nhi-unlisted", "108", "A12****789"),
        ),
        (0, ANNA, "select-6d00,6c", "109", record(SLOT0, ATR_ANNA, "nhi", "109", "A90****007")),
    ]
    seen = []
    for slot, base, faults, suffix, expected in steps:
        number = "000000000" + suffix
        if expected["card_number"]:
            expected["card_number"] = number
        insert_card(virtual_cards, base, number, faults, slot)
        got = w.next_record()
        seen.append(got)
        assert stable(got) == expected, (faults, w.err)
    code, rest, err = w.finish()
    assert (code, rest) == (6, [])  # eight counted: the run ends by itself
    reported = [json.loads(line) for line in report.read_text().splitlines()]
    assert reported == seen
    assert err[0] == "#1 Card 000000000101: verified ok. Remove the card."
    assert err[1] == (
        f"#2 The card in “{SLOT1}”: FAILED (hpc): a Health Professional Card, not an NHI card: "
        "named by its ATR. Remove the card and set it aside."
    )
    removed = [line for line in err if "FAILED (removed)" in line]
    assert removed == [
        "#6 Card 000000000106: FAILED (removed): the card was pulled out before verification finished: "
        f"the card in “{SLOT1}” was removed while being read (empty answer, card gone). "
        "Remove the card and insert it again afterwards."
    ]
    assert summary_lines(err) == [
        "Summary (stopped: count reached)",
        "  ok                   3",
        "  failed               6",
        "    hpc                1",
        "    moica              1",
        "    profile-malformed  2",
        "    removed            1",
        "    terminated         1",
        "  ignored (again)      0",
    ]


@pytest.mark.pcsc
def test_watch_one_reader_reinserted_card_ignored_then_idle_stop(
    virtual_cards: VirtualCardSlots, watches: Any
) -> None:
    proc = run_nhicard("--lang", "en", "card", "verify", "--watch", "--timeout", "1")
    assert proc.returncode == 4
    assert proc.stderr.splitlines()[0] == (
        f"Error: there are several readers: 0: {SLOT0}; 1: {SLOT1}"
    )
    w = watches("-r", "1", "card", "verify", "--watch", "--timeout", "1.5", "--format", "csv")
    assert w.lines.get(timeout=15) == (
        "verified_at,reader,atr,card_type,card_number,id_number,result,reason,apdu_ms"
    )
    virtual_cards.insert(ANNA, slot=0)  # not the watched reader
    virtual_cards.insert(LIN, slot=1)
    first = w.lines.get(timeout=15)
    assert first is not None and f",{SLOT1},{ATR_LIN},nhi,{LIN},F12****341,ok,," in first
    virtual_cards.remove(1)
    virtual_cards.insert(LIN, slot=1)
    w.wait_stderr(f"Card {LIN} was already verified in this run (ok); ignored. Remove the card.")
    code, rest, err = w.finish()
    assert (code, rest) == (0, [])  # it ended by itself: the summary names the idle timeout
    assert summary_lines(err) == [
        "Summary (stopped: idle timeout)",
        "  ok               1",
        "  failed           0",
        "  ignored (again)  1",
    ]


@pytest.mark.pcsc
def test_watch_sigint_keeps_the_report_and_rerun_skips_verified_cards(
    virtual_cards: VirtualCardSlots, watches: Any, tmp_path: Path
) -> None:
    report = tmp_path / "box.csv"
    w = watches("card", "verify", "--watch", "--all-readers", "--report", str(report), "--json")
    virtual_cards.insert(WANG, slot=0)
    assert stable(w.next_record()) == record(SLOT0, ATR_WANG, "nhi", WANG, "A12****789")
    virtual_cards.insert(ANNA, slot=1)
    assert stable(w.next_record()) == record(SLOT1, ATR_ANNA, "nhi", ANNA, "A90****007")
    w.proc.send_signal(signal.SIGINT)
    code, rest, err = w.finish()
    assert (code, rest) == (130, [])
    assert summary_lines(err)[0] == "Summary (stopped: interrupted)"
    rows = list(csv.reader(report.open()))
    assert rows[0] == [
        "verified_at", "reader", "atr", "card_type", "card_number", "id_number", "result",
        "reason", "apdu_ms",
    ]  # fmt: skip
    assert [r[1:8] for r in rows[1:]] == [
        [SLOT0, ATR_WANG, "nhi", WANG, "A12****789", "ok", ""],
        [SLOT1, ATR_ANNA, "nhi", ANNA, "A90****007", "ok", ""],
    ]
    # a rerun with the same report: both cards (still inserted) are skipped
    proc = run_nhicard("--lang", "en", "card", "verify", "--watch", "--all-readers", "--timeout",
                       "1", "--report", str(report))  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "")
    skipped = [line for line in proc.stderr.splitlines() if "already in the report" in line]
    assert len(skipped) == 2
    assert skipped[0].startswith(f"Card {WANG} is already in the report as ok (")
    assert skipped[0].endswith("); skipped (add --recheck to verify it again). Remove the card.")
    assert len(list(csv.reader(report.open()))) == 3
    # --recheck verifies them again; --show-pii shows (and reports) the ID number in full
    proc = run_nhicard("card", "verify", "--watch", "--all-readers", "--count", "2",
                       "--report", str(report), "--recheck", "--show-pii")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = sorted((stable(json.loads(line)) for line in proc.stdout.splitlines()),
                     key=lambda r: r["reader"])  # fmt: skip
    assert printed == [
        record(SLOT0, ATR_WANG, "nhi", WANG, "A123456789"),
        record(SLOT1, ATR_ANNA, "nhi", ANNA, "A900000007"),
    ]
    rows = list(csv.reader(report.open()))
    assert len(rows) == 5 and rows.count(rows[0]) == 1  # the header once
    assert sorted(r[5] for r in rows[3:]) == ["A123456789", "A900000007"]


@pytest.mark.pcsc
def test_watch_survives_a_pcscd_restart(
    virtual_cards: VirtualCardSlots, watches: Any, pcsc: PcscStack
) -> None:
    w = watches("card", "verify", "--watch", "--all-readers", "--count", "2", "--json")
    virtual_cards.insert(WANG, slot=0)
    assert stable(w.next_record()) == record(SLOT0, ATR_WANG, "nhi", WANG, "A12****789")
    pcsc.restart()
    virtual_cards.wait_state(0, ("present",))
    virtual_cards.insert(LIN, slot=1)
    assert stable(w.next_record(timeout=30)) == record(SLOT1, ATR_LIN, "nhi", LIN, "F12****341")
    code, rest, err = w.finish()
    assert (code, rest) == (0, []), err
    # pcscd was down for a moment (start() waits for its socket and vpcd): retried, recovered
    lost = [i for i, line in enumerate(err) if line.startswith("PC/SC service unavailable (")]
    assert lost and err[lost[-1] + 1] == "The PC/SC service is back.", err
    assert summary_lines(err)[:3] == [
        "Summary (stopped: count reached)",
        "  ok               2",
        "  failed           0",
    ]
