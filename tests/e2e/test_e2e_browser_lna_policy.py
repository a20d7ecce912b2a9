"""Chromium's Local Network Access against ``agent serve``, and ``agent install
--browser-policy`` (issue 22, item 1).

In private mount + network namespaces (``tests/support/lna_browser_scenario.py``): the
real-page-shaped test page at ``https://cloudicweb.nhi.gov.tw`` on 127.0.0.2, declared a
PUBLIC address with ``--ip-address-space-overrides``, is refused every path to ``agent
serve`` on loopback (WSS 7777, HTTP 59001, HTTPS 59002) while no policy allows it; after
``agent install --browser-policy`` writes ``LocalNetworkAccessAllowedForUrls`` into the
(private) ``/etc/chromium/policies/managed/``, the same page reads the card and gets a
signature on every path, and its sandboxed iframe (``Origin: null``) still gets nothing.
``agent status`` reports the policy; ``agent uninstall`` leaves ``/etc/chromium`` (with
someone else's policy file in it) byte for byte as it was.
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
    page_certificate,
    require_private_browser,
    trust_store_copies,
    trusting_home,
)
from tests.support.cli import nhicard_executable

pytestmark = [pytest.mark.browser, pytest.mark.pcsc]

WANG = load_data().cards[0]
WANG_WIRE = "000012345678,A123456789,王小明,0640101,M,0"
SCENARIO = Path(__file__).resolve().parents[1] / "support" / "lna_browser_scenario.py"
HOSTS = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.2 cloudicweb.nhi.gov.tw\n"
FOREIGN = b'{\n  "HomepageLocation": "https://intranet.example",\n  "LocalNetworkAccessAllowedForUrls": ["https://printer.example"]\n}\n'


def test_local_network_access_blocked_then_allowed_by_policy(virtual_cards, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_private_browser("Local Network Access")
    virtual_cards.insert(WANG.card_number)
    home = tmp_path / "home"
    web_ca, page_cert, page_key = page_certificate(tmp_path)
    trusting_home(home, web_ca)
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    ssl_certs, local_cas = trust_store_copies(tmp_path)
    etc_chromium = tmp_path / "etc-chromium"  # /etc/chromium inside, with an IT policy file
    managed = etc_chromium / "policies" / "managed"
    managed.mkdir(parents=True)
    (managed / "office.json").write_bytes(FOREIGN)
    sam_dir = tmp_path / "sam"
    keys = SandboxKeys.load_or_create(sam_dir)
    config = tmp_path / "scenario.json"
    config.write_text(json.dumps({
        "hosts": str(hosts), "ssl_certs": str(ssl_certs), "local_cas": str(local_cas),
        "etc_chromium": str(etc_chromium), "home": str(home), "work": str(tmp_path),
        "sam_dir": str(sam_dir), "page_cert": str(page_cert), "page_key": str(page_key),
        "nhicard": nhicard_executable(), "reader": virtual_cards.reader_name(0),
    }))  # fmt: skip
    env = {
        **os.environ,
        "HOME": str(home),
        "NHICARD_STATE_DIR": str(tmp_path / "state"),
        "LANG": "C.UTF-8",
    }
    env.pop("NHICARD_LANG", None)
    env.pop("NHICARD_PROFILE", None)
    done = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", sys.executable,
         str(SCENARIO), str(config)],
        env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["install"]["rc"] == 0, out["install"]["stderr"]

    # 1. no policy allows the public page: every path to loopback is refused, no card work
    blocked = out["blocked"]["results"]
    assert out["blocked"]["hidBasic"] == ""
    assert "basic" not in blocked["ws"] and "sign" not in blocked["ws"], blocked
    for api in (blocked["http"], blocked["https"]):
        assert "Failed to fetch" in api.get("error", ""), blocked
        assert "basic" not in api
    assert blocked["iframe"]["http"] == "refused" and blocked["iframe"]["bmp"] == "refused"
    console = "\n".join(out["blocked"]["console"])  # refused by the browser, not by TLS
    assert "ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS" in console, console

    # 2. agent install --browser-policy: our file beside the IT department's, NHI sites listed
    assert out["policy_install"]["rc"] == 0, out["policy_install"]["stderr"]
    changes = json.loads(out["policy_install"]["stdout"])["changes"]
    policy_file = "/etc/chromium/policies/managed/zz-nhicard-local-network-access.json"
    assert {"kind": "browser-policy", "target": policy_file} in [
        {k: c[k] for k in ("kind", "target")} for c in changes
    ]
    files = out["policy_files"]
    ours = json.loads(bytes.fromhex(files["policies/managed/zz-nhicard-local-network-access.json"]))
    assert ours == {"LocalNetworkAccessAllowedForUrls": [
        "https://printer.example",  # the office's own entry, kept: the last file wins
        "https://cloudicweb.nhi.gov.tw", "https://eservice.nhi.gov.tw", "https://ecpa.dgpa.gov.tw",
    ]}  # fmt: skip
    assert bytes.fromhex(files["policies/managed/office.json"]) == FOREIGN
    [chromium] = [p for p in out["status"]["doc"]["browser_policy"] if p["browser"] == "chromium"]
    assert chromium["ours"] and chromium["allows_nhi"] and chromium["target"] == policy_file
    assert "https://printer.example" in chromium["patterns"]

    # 3. with the policy the same page reads the card and signs on every path
    allowed = out["allowed"]
    assert allowed["finished"] and allowed["errors"] == [], allowed
    ws = allowed["results"]["ws"]
    assert ws.get("basic") == WANG_WIRE and ws["version"] == "0011", allowed
    assert verify_h_sign(keys.sam_public_key, WANG.card_number, ws["version"] + ws["random"],
                         ws["sign"])  # fmt: skip
    for api in (allowed["results"]["http"], allowed["results"]["https"]):
        assert "error" not in api, api
        assert api["basic"] == WANG_WIRE and api["sign_result"] == "0000"
    # the sandboxed iframe of the allowed page still gets nothing
    # (its opaque origin matches no policy entry, so Chromium stops it before agent serve
    # would refuse it with a 403: no answer reaches it at all)
    frame = allowed["results"]["iframe"]
    assert frame == {"ws_closed": True, "http": "refused", "bmp": "refused"}, frame
    log = out["serve_log"]
    assert "null " not in log, log
    # card work was done for the allowed run only (the blocked run reached nothing)
    assert log.count("gov.tw GetBasic -> ok") == 1
    assert log.count("gov.tw api/GetBasic -> ok") == 2

    # 4. uninstall: /etc/chromium byte for byte as before (the IT file untouched)
    assert out["uninstall"]["rc"] == 0, out["uninstall"]["stderr"]
    assert out["after"] == out["before"]
    assert (managed / "office.json").read_bytes() == FOREIGN
