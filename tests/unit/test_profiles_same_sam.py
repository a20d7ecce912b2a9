"""One profile loader: ``sandbox``, ``real`` and user files that ``extends`` them give every
command — register's and ecpa login's flow settings, verify-email, ``agent serve`` and
``env check`` — the same SAM and the same site URLs.

(The bug this guards: with ``my.toml`` = ``extends = "sandbox"``, ``agent serve`` and ``env
check`` read the TOML raw and used the real SAM while ``register`` used the sandbox's.)
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nhicard.cli.context import AppContext
from nhicard.cli.flow_options import flow_settings
from nhicard.cli.main import cli, exit_code_for
from nhicard.core.errors import NetworkError
from nhicard.envcheck.plan import load_profile
from nhicard.flows.base import _default_agent, open_flow
from nhicard.sandbox.tls import ensure_tls
from nhicard.sites.loader import resolve_profile
from nhicard.sites.model import ProfileError
from nhicard.sites.sam_endpoint import SamEndpoint
from nhicard.sites.sandbox_endpoints import SandboxEndpoints, write_endpoints
from tests.support.cli import nhicard_executable
from tests.support.ports import free_port

WRAP = "00112233445566778899aabbccddeeff0011223344556677"
PUBLISHED = b"2725268641815652" + bytes(8)
SANDBOX_SAM = ("127.0.0.1", 18444, bytes.fromhex(WRAP))
REAL_SAM = ("cloudicap.nhi.gov.tw", 443, PUBLISHED)
SANDBOX_LOGIN = "https://127.0.0.1:18440/cloudic/system/mlogin.aspx"
REAL_LOGIN = "https://cloudicweb.nhi.gov.tw/cloudic/system/mlogin.aspx"


def fake_sandbox(directory: Path) -> Path:
    """A sandbox directory as ``sandbox up`` leaves it (no part needs to answer here)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sam_wrap_key.hex").write_text(WRAP + "\n")
    tls = ensure_tls(directory)  # a real CA: the flows' browser loads it
    write_endpoints(
        directory,
        SandboxEndpoints(
            nhi_url="https://127.0.0.1:18440",
            ecpa_url="https://127.0.0.1:18441",
            elearn_url="https://127.0.0.1:18442",
            smtp="127.0.0.1:18443",
            maildir=str(directory / "maildir"),
            ca_bundle=str(tls.ca_cert),
            sam="127.0.0.1:18444",
            agent_origins=("https://127.0.0.1:18440", "https://127.0.0.1:18441"),
            pid=os.getpid(),
        ),
    )
    return directory


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("NHICARD_SANDBOX_DIR", str(fake_sandbox(tmp_path / "sb")))
    monkeypatch.setenv("NHICARD_STATE_DIR", str(tmp_path / "state"))
    mine_sb = tmp_path / "mine-sandbox.toml"
    mine_sb.write_text('extends = "sandbox"\nname = "mine"\n')
    mine_real = tmp_path / "mine-real.toml"
    mine_real.write_text('extends = "real"\nname = "mine"\n')
    return {
        "sandbox": "sandbox",
        "extends-sandbox": str(mine_sb),
        "real": "real",
        "extends-real": str(mine_real),
    }


EXPECTED = {
    "sandbox": (SANDBOX_SAM, SANDBOX_LOGIN),
    "extends-sandbox": (SANDBOX_SAM, SANDBOX_LOGIN),
    "real": (REAL_SAM, REAL_LOGIN),
    "extends-real": (REAL_SAM, REAL_LOGIN),
}


def triple(sam: SamEndpoint) -> tuple[str, int, bytes]:
    return (sam.host, sam.port, sam.wrap_key)


def flow_view(profile: str) -> tuple[tuple[str, int, bytes], str]:
    """The SAM the direct agent of register / ecpa login is given, and the login URL their
    browser opens (the flows' own settings and open_flow)."""
    settings = flow_settings(AppContext(profile=profile, agent="direct"))
    with open_flow(settings) as env:
        agent = _default_agent(dataclasses.replace(settings, agent_kind="direct"), env.profile)
        try:
            sam = agent.sam  # type: ignore[attr-defined]
        finally:
            agent.close()
        return triple(sam), env.profile.nhi.url("login")


def verify_email_view(profile: str) -> tuple[tuple[str, int, bytes], str]:
    """verify-email resolves its profile before the flow (to find the mail source)."""
    settings = flow_settings(AppContext(profile=profile))
    p = resolve_profile(settings.profile, sandbox_dir=settings.sandbox_dir)
    return triple(p.sam), p.nhi.url("login")


def env_check_view(profile: str) -> tuple[tuple[str, int, bytes], str]:
    """``env check``: the SAM agent.backend builds its agent with, and what the
    network.profile line reports (through the CLI)."""
    loaded = load_profile(profile)
    assert loaded.sam is not None, loaded.error
    result = CliRunner().invoke(
        cli,
        ["--lang", "en", "--profile", profile, "--agent", "direct", "env", "check",
         "--only", "network,agent", "--offline", "--json"],
    )  # fmt: skip
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["agent.backend"]["status"] == "pass", checks["agent.backend"]
    line = checks["network.profile"]
    assert line["status"] == "pass", line
    detail = dict(part.split(" ", 1) for part in line["detail"].split("; "))
    host, _, port = detail["sam"].rpartition(":")
    assert (host, int(port)) == (loaded.sam.host, loaded.sam.port)
    return triple(loaded.sam), detail["nhi"]


def agent_serve_sam(profile: str) -> str:
    """The SAM ``agent serve`` announces (a real process; stopped by SIGTERM)."""
    proc = subprocess.Popen(
        [nhicard_executable(), "--lang", "en", "--profile", profile, "agent", "serve",
         "--no-tls", "--port", str(free_port()), "--http-port", "0", "--https-port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, LANG="C.UTF-8"),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                raise AssertionError(f"agent serve exited with {proc.wait()}")
            if "card agent service:" in line:
                return line.rsplit("(SAM ", 1)[1].rstrip(")\n")
        raise AssertionError("agent serve did not announce itself")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_command_gets_the_same_sam_and_urls(profiles: dict[str, str], name: str) -> None:
    profile = profiles[name]
    sam, login = EXPECTED[name]
    assert flow_view(profile) == (sam, login)
    assert verify_email_view(profile) == (sam, login)
    assert env_check_view(profile) == (sam, login)
    assert agent_serve_sam(profile) == f"{sam[0]}:{sam[1]}"


def test_a_profile_file_overriding_the_sam(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(
        'extends = "real"\n[sam]\nhost = "sam.example"\nport = 4443\nwrap_key = "'
        + "ab" * 24
        + '"\n'
    )
    assert triple(resolve_profile(str(f)).sam) == (
        "sam.example",
        4443,
        b"\xab" * 24,
    )
    loaded = load_profile(str(f))
    assert loaded.sam is not None and triple(loaded.sam) == ("sam.example", 4443, b"\xab" * 24)
    f.write_text('extends = "real"\n[sam]\nwrap_key = "abcd"\n')
    with pytest.raises(ProfileError) as bad:
        resolve_profile(str(f))
    assert exit_code_for(bad.value) == 2 and "sam.wrap_key" in bad.value.message.en
    with pytest.raises(ProfileError) as unknown:
        resolve_profile(str(tmp_path / "nonexistent-profile.toml"))
    assert exit_code_for(unknown.value) == 2


def test_sandbox_profiles_without_a_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command says "sandbox not running" (exit 7) the same way, also through
    ``extends``; the SAM key is never shown."""
    monkeypatch.setenv("NHICARD_SANDBOX_DIR", str(tmp_path / "absent"))
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "sandbox"\n')
    for profile in ("sandbox", str(mine)):
        with pytest.raises(NetworkError) as err:
            resolve_profile(profile)
        assert exit_code_for(err.value) == 7 and err.value.reason == "sandbox-not-running"
        loaded = load_profile(profile)
        assert loaded.sam is None and isinstance(loaded.error, NetworkError)
        done = subprocess.run(
            [nhicard_executable(), "--lang", "en", "--profile", profile, "agent", "serve",
             "--no-tls", "--port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 7, done.stderr
        assert "sandbox not running: run `nhicard sandbox up`" in done.stderr
    fake_sandbox(tmp_path / "absent")
    sam = resolve_profile("sandbox").sam
    assert WRAP not in repr(sam)
