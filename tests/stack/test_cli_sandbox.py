"""``nhicard sandbox up|status|down`` as a user runs them: the installed CLI, the real server
process on free loopback ports, HTTPS with the sandbox CA, and SQLite state kept across runs."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup

from nhicard.agent.sam.encrypt import encrypt_password
from nhicard.sandbox.keys import SandboxKeys, sign_h_sign
from nhicard.sandbox.store import RegistrationStore
from tests.support.cli import run_nhicard
from tests.support.ports import free_port_base, port_free, process_alive

KEYS = ["nhi_url", "ecpa_url", "elearn_url", "smtp", "maildir", "ca_bundle", "sam", "readers",
        "agent_origin", "pid"]  # fmt: skip
CARD, ID_NUMBER, NAME, PASSWORD = "000012345678", "A123456789", "王小明", "Secret123"
TAIPEI = timezone(timedelta(hours=8))


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "sandbox"
    yield directory
    run_nhicard("sandbox", "down", "--dir", str(directory))  # never leave a server behind


def up(directory: Path, base: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_nhicard(
        "sandbox", "up", "--dir", str(directory), "--port-base", str(base), "--format", "json",
        *extra,
    )  # fmt: skip


def register_directly(directory: Path) -> None:
    """A verified registration written into the running sandbox's SQLite store."""
    store = RegistrationStore.open(directory)
    try:
        now = datetime.now(UTC)
        store.apply(
            card_number=CARD, id_number=ID_NUMBER, name=NAME, password=PASSWORD,
            email="wang@example.test", phone="02-23456789", mobile="0912345678", now=now,
        )  # fmt: skip
        store.complete_verification(store.issue_link(CARD, now), now)
    finally:
        store.close()


def ecpa_login(endpoints: dict[str, Any], directory: Path) -> str:
    """The eCPA NHI-card chain against the running server, signing as its SAM would; the
    name eCPA's home shows."""
    keys = SandboxKeys.load(directory)
    verify = ssl.create_default_context(cafile=endpoints["ca_bundle"])
    xhr = {"X-Requested-With": "XMLHttpRequest"}
    with httpx.Client(verify=verify, timeout=10, base_url=endpoints["ecpa_url"]) as client:
        client.get("/webform/clogin.aspx").raise_for_status()
        random = client.post("/Home/GetNHIRandom", headers=xhr).text
        body = {
            "basic": f"{CARD},{ID_NUMBER},{NAME},0640101,M,0",
            "version": "0001",
            "random": random,
            "sign": sign_h_sign(keys.sam_private_key, CARD, "0001" + random),
            "password": encrypt_password(CARD, PASSWORD, datetime.now(TAIPEI).date()),
            "ApID": "CrossHRD",
            "loginType": "3",
        }
        ticket = client.post("/Home/GetApTicketNHI", data=body, headers=xhr).text
        assert ticket.isalnum() and ticket.isupper(), ticket
        home = client.get("/webform/home.aspx")
        return str(BeautifulSoup(home.text, "html.parser").select_one("#lblUserName").text)


def test_up_status_down_up_keeps_users(sandbox_dir: Path) -> None:
    base = free_port_base()
    started = up(sandbox_dir, base, "--no-card")
    assert started.returncode == 0, started.stderr
    endpoints = json.loads(started.stdout)
    assert list(endpoints) == KEYS
    pid = endpoints["pid"]
    assert endpoints == {
        "nhi_url": f"https://127.0.0.1:{base}",
        "ecpa_url": f"https://127.0.0.1:{base + 1}",
        "elearn_url": f"https://127.0.0.1:{base + 2}",
        "smtp": f"127.0.0.1:{base + 3}",
        "maildir": str((sandbox_dir / "maildir").resolve()),
        "ca_bundle": str((sandbox_dir / "ca.pem").resolve()),
        "sam": f"127.0.0.1:{base + 4}",
        "readers": [],
        "agent_origin": [f"https://127.0.0.1:{base}", f"https://127.0.0.1:{base + 1}"],
        "pid": pid,
    }
    assert json.loads((sandbox_dir / "endpoints.json").read_text()) == endpoints
    assert process_alive(pid)

    status = run_nhicard("sandbox", "status", "--dir", str(sandbox_dir), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == [
        {"part": "nhi", "address": endpoints["nhi_url"], "state": "up"},
        {"part": "ecpa", "address": endpoints["ecpa_url"], "state": "up"},
        {"part": "elearn", "address": endpoints["elearn_url"], "state": "up"},
        {"part": "smtp", "address": endpoints["smtp"], "state": "up"},
        {"part": "sam", "address": endpoints["sam"], "state": "up"},
    ]

    again = up(sandbox_dir, free_port_base(), "--no-card")
    assert again.returncode == 2
    assert again.stdout == ""
    assert f"already running (process {pid}" in again.stderr or str(pid) in again.stderr
    assert "sandbox down" in again.stderr

    register_directly(sandbox_dir)
    assert ecpa_login(endpoints, sandbox_dir) == NAME

    down = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout) == {
        "status": "stopped",
        "pid": pid,
        "dir": str(sandbox_dir.resolve()),
    }
    assert not process_alive(pid)
    assert all(port_free(p) for p in range(base, base + 5))
    assert not (sandbox_dir / "endpoints.json").exists()
    assert not (sandbox_dir / "server.pid").exists()

    stopped = run_nhicard("sandbox", "status", "--dir", str(sandbox_dir), "--json")
    assert stopped.returncode == 7
    assert {p["state"] for p in json.loads(stopped.stdout)} == {"down"}
    assert "not running" in stopped.stderr or "並未執行" in stopped.stderr

    restarted = up(sandbox_dir, base, "--no-card")
    assert restarted.returncode == 0, restarted.stderr
    endpoints = json.loads(restarted.stdout)
    assert endpoints["pid"] != pid
    assert ecpa_login(endpoints, sandbox_dir) == NAME  # the user survived the restart

    final = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
    assert json.loads(final.stdout)["status"] == "stopped"
    assert not process_alive(endpoints["pid"])
    assert all(port_free(p) for p in range(base, base + 5))
    nothing = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
    assert nothing.returncode == 0
    assert json.loads(nothing.stdout)["status"] == "not-running"


def test_up_table_output_and_env_dir(tmp_path: Path) -> None:
    directory = tmp_path / "from-env"
    env = {"NHICARD_SANDBOX_DIR": str(directory)}
    base = free_port_base()
    try:
        started = run_nhicard(
            "sandbox", "up", "--no-card", "--port-base", str(base), "--format", "table", env=env
        )
        assert started.returncode == 0, started.stderr
        rows = dict(line.split(None, 1) for line in started.stdout.splitlines())
        assert list(rows) == KEYS
        assert rows["ecpa_url"] == f"https://127.0.0.1:{base + 1}"
        assert rows["readers"] == "-"
        assert rows["agent_origin"] == f"https://127.0.0.1:{base}; https://127.0.0.1:{base + 1}"
        assert (directory / "endpoints.json").exists()
    finally:
        stopped = run_nhicard("sandbox", "down", env=env)
    assert stopped.returncode == 0
    assert not (directory / "server.pid").exists()


def test_busy_port_refused_before_starting(sandbox_dir: Path) -> None:
    base = free_port_base()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 3))
        busy.listen(1)
        result = up(sandbox_dir, base, "--no-card")
    assert result.returncode == 7
    assert f"{base + 3}" in result.stderr and "--port-base" in result.stderr
    assert not (sandbox_dir / "server.pid").exists()


def test_bad_data_file_is_a_usage_error(sandbox_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "people.toml"
    bad.write_text('[[card]]\ncard_number = "123"\n', "utf-8")
    result = up(sandbox_dir, free_port_base(), "--no-card", "--data", str(bad))
    assert result.returncode == 2
    assert "people.toml" in result.stderr
    assert result.stdout == ""


def test_stale_pid_file_does_not_block_up(sandbox_dir: Path) -> None:
    sandbox_dir.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    (sandbox_dir / "server.pid").write_text(f"{gone.pid}\n")
    (sandbox_dir / "endpoints.json").write_text('{"pid": 1}')
    base = free_port_base()
    started = up(sandbox_dir, base, "--no-card")
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    assert int((sandbox_dir / "server.pid").read_text()) == pid
    down = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
    assert json.loads(down.stdout)["pid"] == pid
    deadline = time.monotonic() + 5
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(pid)


@pytest.mark.pcsc
def test_up_with_virtual_card_on_vpcd(pcsc: Any, sandbox_dir: Path) -> None:
    base = free_port_base()
    started = up(sandbox_dir, base)
    assert started.returncode == 0, started.stderr
    endpoints = json.loads(started.stdout)
    assert endpoints["readers"] == ["Virtual PCD 00 00"]
    status = run_nhicard("sandbox", "status", "--dir", str(sandbox_dir), "--json")
    assert status.returncode == 0, status.stderr
    assert {"part": "card", "address": "Virtual PCD 00 00", "state": "up"} in json.loads(
        status.stdout
    )
    card = run_nhicard("--reader", "Virtual PCD 00 00", "card", "read", "--json")
    assert card.returncode == 0, card.stderr
    assert json.loads(card.stdout)["card_number"] == CARD
    down = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir))
    assert down.returncode == 0
    from nhicard.pcsc.readers import list_readers

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = {r.name: r.state for r in list_readers(probe=None)}
        if states.get("Virtual PCD 00 00") == "empty":
            break
        time.sleep(0.1)
    assert states.get("Virtual PCD 00 00") == "empty"


def test_card_without_pcsc_fails_fast_with_hint(sandbox_dir: Path, tmp_path: Path) -> None:
    env = {"PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")}
    started = time.monotonic()
    result = run_nhicard(
        "sandbox", "up", "--dir", str(sandbox_dir), "--port-base", str(free_port_base()), env=env
    )
    assert result.returncode in (3, 4), result.stderr
    assert "--no-card" in result.stderr
    assert time.monotonic() - started < 15
    assert not (sandbox_dir / "server.pid").exists()


def test_down_then_up_ten_times_in_a_row(pcsc: Any, sandbox_dir: Path) -> None:
    """`sandbox down` returns only once the server has exited and its ports are free, so an
    `up` right after it always works: ten rounds, with the virtual card on vpcd each time."""
    base = free_port_base()
    for round_no in range(10):
        started = up(sandbox_dir, base)
        assert started.returncode == 0, (round_no, started.stderr)
        endpoints = json.loads(started.stdout)
        assert endpoints["readers"] == ["Virtual PCD 00 00"]
        down = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
        assert down.returncode == 0, (round_no, down.stderr)
        assert json.loads(down.stdout)["pid"] == endpoints["pid"]
        # asked the moment `down` returned: nothing may still be running or listening
        assert not process_alive(endpoints["pid"]), round_no
        assert all(port_free(p) for p in range(base, base + 5)), round_no
