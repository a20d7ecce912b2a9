"""The real NHI pages in a person's own browser with ``agent serve`` (issue 12, item 4).

In private mount + network namespaces (so the real ports 7777/59001/59002 are free, and
``/etc/hosts`` and the system CA store are the test's copies): ``agent install --no-service``
writes the hosts line and trusts the CA in the temp HOME's NSS database (and, as root, the
copied system store); headless Chromium, trusting nothing but that database, opens
``https://cloudicweb.nhi.gov.tw/test.html`` served on loopback, whose script behaves like the
real pages (the WebSocket on load: GetBasic → GetVersion → GetRandom → H_Sign; the HTTP API
with the pixel-encoded status) and gets the virtual card's data and a signature from the
sandbox SAM, while the page's sandboxed iframe (``Origin: null``) gets nothing. ``agent
uninstall`` then leaves ``/etc/hosts``, the NSS database and the system store as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nhicard.sandbox.data import load_data
from nhicard.sandbox.keys import SandboxKeys, verify_h_sign
from tests.support.browser_kit import (
    ARTIFACTS,
    page_certificate,
    require_private_browser,
    trust_store_copies,
    trusting_home,
)
from tests.support.cli import nhicard_executable

pytestmark = [pytest.mark.browser, pytest.mark.pcsc]

WANG = load_data().cards[0]
WANG_WIRE = "000012345678,A123456789,王小明,0640101,M,0"
SCENARIO = Path(__file__).resolve().parents[1] / "support" / "agent_browser_scenario.py"
HOSTS = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.1 cloudicweb.nhi.gov.tw\n"


def test_real_pages_in_chromium_after_agent_install(virtual_cards, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_private_browser("agent install")
    virtual_cards.insert(WANG.card_number)
    home = tmp_path / "home"
    web_ca, page_cert, page_key = page_certificate(tmp_path)
    trusting_home(home, web_ca)
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    ssl_certs, local_cas = trust_store_copies(tmp_path)
    sam_dir = tmp_path / "sam"
    keys = SandboxKeys.load_or_create(sam_dir)
    config = tmp_path / "scenario.json"
    config.write_text(json.dumps({
        "hosts": str(hosts), "ssl_certs": str(ssl_certs), "local_cas": str(local_cas),
        "home": str(home), "work": str(tmp_path), "sam_dir": str(sam_dir),
        "page_cert": str(page_cert), "page_key": str(page_key),
        "nhicard": nhicard_executable(), "reader": virtual_cards.reader_name(0),
    }))  # fmt: skip
    shot = ARTIFACTS / "e2e-agent" / "01-test-page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "NHICARD_STATE_DIR": str(tmp_path / "state"),
        "LANG": "C.UTF-8",
        "NHICARD_SCENARIO_SHOT": str(shot),
    }
    env.pop("NHICARD_LANG", None)
    done = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", sys.executable,
         str(SCENARIO), str(config)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    # install: hosts line, CA trusted in the NSS db and the (copied) system store
    assert out["install"]["rc"] == 0, out["install"]["stderr"]
    kinds = [c["kind"] for c in json.loads(out["install"]["stdout"])["changes"]]
    assert kinds == ["certificate", "nssdb", "system-store", "hosts"]
    assert "127.0.0.1 iccert.nhi.gov.tw # added by nhicard agent install" in out["hosts_installed"]
    assert "nhicard local agent CA" in out["nss_installed"]

    # status while serving: trusted, hosts resolves to 127.0.0.1, GetVersion answered
    status = out["status"]["doc"]
    assert out["status"]["rc"] == 0
    assert [t["current"] for t in status["trust"]] == [True, True]
    assert status["hosts"]["ok"] and status["hosts"]["resolves_to"] == ["127.0.0.1"]
    assert status["answers"]["ok"] and status["answers"]["version"] == "0011"

    page = out["page"]
    assert page["errors"] == [], page
    results = page["results"]
    ws = results["ws"]
    assert ws.get("basic") == WANG_WIRE, results
    assert ws["version"] == "0011" and len(ws["random"]) == 16
    assert len(ws["sign"]) == 256 and page["hidSign"] == ws["sign"]
    assert verify_h_sign(keys.sam_public_key, WANG.card_number, ws["version"] + ws["random"],
                         ws["sign"])  # fmt: skip
    for api in (results["http"], results["https"]):
        assert "error" not in api, api
        assert api["basic"] == WANG_WIRE and api["sign_result"] == "0000"
        assert verify_h_sign(keys.sam_public_key, WANG.card_number,
                             api["version"] + api["random"], api["sign"])  # fmt: skip
        assert api["status"] == {"result": "0000", "version": "0011", "service": "nhicard"}
        assert api["card_status"] == {"result": "0000", "card": "1"}

    # the sandboxed iframe: refused on every path, no card work done for it; its WebSocket
    # is refused at the handshake (403), so it never opens and no message is answered
    frame = results["iframe"]
    assert frame == {"ws_closed": True, "http": "refused", "bmp": "refused"}
    log = out["serve_log"]
    assert "null WebSocket -> 403" in log and "null GetBasic" not in log
    assert "null api/GetBasic -> 403" in log and "null api/GetCardStatus.bmp -> 403" in log
    assert log.count("gov.tw GetBasic -> ok") == 1
    assert log.count("gov.tw api/GetBasic -> ok") == 2

    # uninstall: everything as it was
    assert out["uninstall"]["rc"] == 0, out["uninstall"]["stderr"]
    assert out["after"] == out["before"]
    assert out["before"]["hosts"] == HOSTS
    assert "test web CA" in out["after"]["nss"]
    assert hosts.read_text() == HOSTS
