"""``python -m nhicard.sandbox.server`` as a process: endpoints, SIGTERM, one server per dir,
and (with pcscd + vpcd) the whole eCPA single sign-on with the direct agent reading the virtual
card that the server put on vpcd and asking the server's SAM for H_Sign."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup

from nhicard.sandbox import supervisor
from nhicard.sandbox.keys import load_wrap_key
from nhicard.sandbox.store import RegistrationStore
from tests.support.ports import free_port_base, port_free, process_alive

TAIPEI = timezone(timedelta(hours=8))


def start_server(directory: Path, base: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "nhicard.sandbox.server", "--dir", str(directory),
         "--port-base", str(base), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_endpoints(directory: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode() if proc.stdout else "exited")
        found = supervisor.read_endpoints(directory)
        if found and found.get("pid") == proc.pid:
            return found
        time.sleep(0.05)
    raise AssertionError("no endpoints.json")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes], dict[str, Any]]]:
    directory = tmp_path / "sb"
    proc = start_server(directory, free_port_base(), "--no-card")
    try:
        yield directory, proc, wait_endpoints(directory, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_every_part_answers_and_sigterm_stops_cleanly(
    server: tuple[Path, subprocess.Popen[bytes], dict[str, Any]],
) -> None:
    directory, proc, endpoints = server
    assert int((directory / "server.pid").read_text()) == proc.pid
    parts = supervisor.probe_parts(endpoints, directory)
    assert [(p.part, p.state) for p in parts] == [
        ("nhi", "up"), ("ecpa", "up"), ("elearn", "up"), ("smtp", "up"), ("sam", "up"),
    ]  # fmt: skip
    verify = ssl.create_default_context(cafile=endpoints["ca_bundle"])
    with httpx.Client(verify=verify) as client:
        page = client.get(endpoints["ecpa_url"] + "/webform/clogin.aspx")
        home = client.get(endpoints["elearn_url"] + "/")
    assert "健保卡" in page.text and "Not signed in" in home.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(endpoints["ecpa_url"], verify=ssl.create_default_context())  # unknown CA
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert not (directory / "server.pid").exists()
    assert not (directory / "endpoints.json").exists()
    base = int(endpoints["nhi_url"].rsplit(":", 1)[1])
    assert all(port_free(p) for p in range(base, base + 5))


def test_second_server_in_same_dir_refused(
    server: tuple[Path, subprocess.Popen[bytes], dict[str, Any]],
) -> None:
    directory, proc, endpoints = server
    second = start_server(directory, free_port_base(), "--no-card")
    out, _ = second.communicate(timeout=30)
    assert second.returncode == 2
    assert f"pid {proc.pid}" in out.decode()
    assert int((directory / "server.pid").read_text()) == proc.pid  # untouched
    assert supervisor.read_endpoints(directory) == endpoints


@pytest.mark.pcsc
def test_sso_with_direct_agent_and_virtual_card(pcsc: Any, tmp_path: Path) -> None:
    from nhicard.agent.client.factory import open_agent
    from nhicard.agent.sam.client import SamEndpoint

    directory = tmp_path / "sb"
    endpoints = supervisor.start(directory, port_base=free_port_base(), card=True)
    try:
        assert endpoints["readers"] == ["Virtual PCD 00 00"]
        store = RegistrationStore.open(directory)
        now = datetime.now(TAIPEI)
        store.apply(
            card_number="000012345678", id_number="A123456789", name="王小明",
            password="Secret123", email="w@example.test", phone="02-1", mobile="0912", now=now,
        )  # fmt: skip
        store.complete_verification(store.issue_link("000012345678", now), now)
        store.close()
        host, port = endpoints["sam"].split(":")
        sam = SamEndpoint(host, int(port), load_wrap_key(directory))
        verify = ssl.create_default_context(cafile=endpoints["ca_bundle"])
        sso_url = endpoints["elearn_url"] + "/sso_verify.php"
        with (
            httpx.Client(verify=verify, timeout=20) as client,
            open_agent(
                "direct",
                reader="Virtual PCD 00 00",
                agent_url="wss://127.0.0.1:1/echo",
                sam=sam,
                origin=endpoints["ecpa_url"],
            ) as agent,
        ):
            ecpa = endpoints["ecpa_url"]
            client.get(f"{ecpa}/webform/clogin.aspx", params={"returnUrl": sso_url})
            xhr = {"X-Requested-With": "XMLHttpRequest"}
            random = client.post(f"{ecpa}/Home/GetNHIRandom", headers=xhr).text
            basic = agent.get_basic()
            version = agent.get_version()
            body = {
                "basic": basic.to_wire(),
                "version": version,
                "random": random,
                "sign": agent.h_sign(version + random),
                "password": agent.encrypt_password("Secret123"),
                "ApID": "CrossHRD",
                "loginType": "3",
            }
            ticket = client.post(f"{ecpa}/Home/GetApTicketNHI", data=body, headers=xhr).text
            assert ticket.isalnum() and ticket.isupper(), ticket
            landed = client.post(
                sso_url,
                data={"loginType": "3", "APReqEncodedData": ticket},
                follow_redirects=True,
            )
            assert (
                BeautifulSoup(landed.text, "html.parser").select_one("#userName").text == "王小明"
            )
    finally:
        pid = supervisor.stop(directory)
    assert pid == endpoints["pid"] and not process_alive(pid)
