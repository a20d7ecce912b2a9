"""``nhicard env check`` on this machine's real browser and a generated official CA, in a
private mount namespace (issue 22, items 1 and 2):

- ``agent.browser-lna`` finds Debian's Chromium and its version, warns with both fixes while
  ``/etc/chromium`` (a private copy) has no policy, and passes once the policy ``agent install
  --browser-policy`` writes (its own writer) is there;
- ``agent.official-ca`` reads ``/usr/local/share/NHIICC/cert/NHIRootCA.crt`` (a private
  copy of ``/usr/local/share``): fails (exit 10) when expired, warns within 7 days, passes
  when valid.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nhicard.agent.serve.lna_policy import Writer
from nhicard.agent.serve.origins import CARD_SITES
from nhicard.net import certs
from nhicard.platform.base import PolicyPlace, run_command
from tests.support.private_mounts import copy_of, require_private_mounts, run_nhicard_with_binds

CHROMIUM = "/usr/bin/chromium"


def env_check(binds: dict[str, Path], tmp_path: Path, lang: str = "en") -> tuple[int, Any]:
    proc = run_nhicard_with_binds(
        binds, "--lang", lang, "--agent", "direct", "env", "check", "--only", "agent",
        "--offline", "--json",
        env={"HOME": str(tmp_path / "home"), "NHICARD_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert proc.returncode in (0, 10), proc.stderr
    return proc.returncode, {c["id"]: c for c in json.loads(proc.stdout)["checks"]}


@pytest.mark.browser
def test_real_chromium_warns_without_policy_and_passes_with_it(tmp_path: Path) -> None:
    require_private_mounts(CHROMIUM)
    printed = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    version = re.search(r"\d+\.\d+\.\d+\.\d+", printed.stdout)
    assert version, printed.stdout
    etc_chromium = copy_of("/etc/chromium", tmp_path)
    binds = {"/etc/chromium": etc_chromium}
    before = sorted(p.name for p in Path("/etc/chromium").iterdir())

    _, checks = env_check(binds, tmp_path)
    lna = checks["agent.browser-lna"]
    major = int(version[0].split(".")[0])
    assert major >= 142  # Debian's Chromium here asks (156 when this was written)
    assert lna["status"] == "warn", lna
    assert lna["summary"].startswith(f"Chromium {version[0]} asks before a web site may reach")
    assert lna["detail"].startswith(f"Chromium {version[0]} ({CHROMIUM}): asks for fetch")
    assert "no LocalNetworkAccessAllowedForUrls policy" in lna["detail"]
    assert "nhicard agent install --browser-policy" in lna["fix"]
    assert "choose Allow" in lna["fix"]

    managed = etc_chromium / "policies" / "managed"
    place = PolicyPlace("chromium", "json-dir", str(managed))
    Writer(lambda argv: run_command(argv)).write(place, CARD_SITES, {})
    _, checks = env_check(binds, tmp_path, lang="zh-TW")
    lna = checks["agent.browser-lna"]
    assert lna["status"] == "pass", lna
    assert lna["summary"] == (
        f"Chromium {version[0]}:受管理政策允許 https://cloudicweb.nhi.gov.tw 連到本機"
    )
    policy = "/etc/chromium/policies/managed/zz-nhicard-local-network-access.json"
    assert f"policy {policy}: allows https://cloudicweb.nhi.gov.tw" in lna["detail"]
    # the machine's own /etc/chromium never saw any of it
    assert sorted(p.name for p in Path("/etc/chromium").iterdir()) == before


def official_ca(share: Path, *, valid_until: dt.datetime) -> Path:
    """A CA like the 2024 installer's (``CN=O=nhi-localhost-ca``) at the installer's place."""
    cert_dir = share / "NHIICC" / "cert"
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca = certs.make_ca(
        certs.new_key(), certs.name("O=nhi-localhost-ca"),
        valid_from=valid_until - dt.timedelta(days=30), valid_until=valid_until,
    )  # fmt: skip
    path = cert_dir / "NHIRootCA.crt"
    path.write_bytes(certs.certificate_pem(ca))
    return path


def test_official_ca_expired_expiring_and_valid(tmp_path: Path) -> None:
    require_private_mounts()
    share = copy_of("/usr/local/share", tmp_path)
    binds = {"/usr/local/share": share}
    now = dt.datetime.now(dt.UTC)

    official_ca(share, valid_until=now - dt.timedelta(hours=1))
    code, checks = env_check(binds, tmp_path)
    ca = checks["agent.official-ca"]
    assert code == 10
    assert ca["status"] == "fail", ca
    assert ca["summary"].startswith("the official component's root CA expired on ")
    assert "in Firefox, first delete the old nhi-localhost-ca" in ca["fix"]
    assert ca["detail"].startswith(
        "/usr/local/share/NHIICC/cert/NHIRootCA.crt: subject CN=O=nhi-localhost-ca"
    )
    assert checks["agent.installed"]["status"] == "pass"

    official_ca(share, valid_until=now + dt.timedelta(days=3, hours=2))
    code, checks = env_check(binds, tmp_path, lang="zh-TW")
    ca = checks["agent.official-ca"]
    assert code == 0 and ca["status"] == "warn", ca
    assert ca["summary"].endswith("過期(剩 3 天)")
    assert "Firefox 要先" in ca["fix"]

    official_ca(share, valid_until=now + dt.timedelta(days=29, hours=2))
    code, checks = env_check(binds, tmp_path)
    ca = checks["agent.official-ca"]
    assert code == 0 and ca["status"] == "pass", ca
    assert ca["summary"].endswith("(29 days left)")
    assert not Path("/usr/local/share/NHIICC").exists()  # the machine's own stayed as it was
