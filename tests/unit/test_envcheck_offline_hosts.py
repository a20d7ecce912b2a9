"""No name lookup and no connection beyond this computer with ``env check --offline``, and
``--agent auto`` asks the official component only when the hosts file maps its host (or the
user named the agent URL): through the real CLI with a resolver that fails and logs
(``tests.support.netguard``), and the factory's rule on its own."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from nhicard import platform
from nhicard.agent import COMPONENT_HOST, DEFAULT_AGENT_URL
from nhicard.agent.client import factory
from nhicard.agent.errors import AgentError
from nhicard.core.i18n import T
from nhicard.envcheck import PASS, SKIP, CheckEnv
from nhicard.envcheck import agent as agent_group
from nhicard.envcheck.settings import AgentSettings
from nhicard.platform.hosts import HostsFile
from nhicard.sites.sam_endpoint import SamEndpoint
from tests.support.cli import run_nhicard
from tests.support.netguard import guarded, off_this_computer, tried

NO_PCSC = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
SAM = SamEndpoint("127.0.0.1", 1, bytes(24))
LOOKUP_COMPONENT = f"lookup {COMPONENT_HOST}"


def env_check(
    where: Path, *args: str, root: tuple[str, ...] = ()
) -> tuple[int, dict[str, dict[str, Any]], list[str]]:
    where.mkdir()
    env, log = guarded(where)
    proc = run_nhicard(
        "--lang", "en", *root, "env", "check", "--json", *args, env={**env, **NO_PCSC}
    )
    assert proc.returncode in (0, 10), proc.stderr
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    return proc.returncode, checks, tried(log)


def etc_hosts_maps_component() -> bool:
    try:
        return bool(HostsFile.read("/etc/hosts").addresses(COMPONENT_HOST))
    except OSError:
        return False


# -- env check --offline ------------------------------------------------------------------
def test_offline_looks_up_nothing_and_reaches_only_this_computer(tmp_path: Path) -> None:
    # the named URL makes --agent auto ask the component whatever the hosts file says
    named = ("--agent-url", DEFAULT_AGENT_URL)
    _, checks, seen = env_check(tmp_path / "on", root=named)
    assert LOOKUP_COMPONENT in seen  # online, the component's name is looked up (control)
    _, checks, seen = env_check(tmp_path / "off", "--offline", root=named)
    log = tmp_path / "off" / "net.log"
    assert off_this_computer(log) == []
    assert LOOKUP_COMPONENT not in seen
    for cid in ("agent.backend", "network.dns.nhi", "clock.offset"):
        assert (checks[cid]["status"], checks[cid]["detail"]) == ("skip", "offline"), cid
    assert COMPONENT_HOST in checks["agent.backend"]["summary"]


def test_offline_still_checks_this_computer(tmp_path: Path) -> None:
    """agent.port connects to 127.0.0.1 (the component's address), which offline allows."""
    _, checks, seen = env_check(tmp_path / "a", "--only", "agent", "--offline")
    assert checks["agent.port"]["status"] in ("pass", "warn")
    assert checks["agent.port"]["detail"] != "offline"
    assert any(line.startswith("connect 127.0.0.1:7777") for line in seen)


def test_auto_without_the_hosts_line_asks_nothing(tmp_path: Path) -> None:
    if etc_hosts_maps_component():
        pytest.skip(f"this computer's /etc/hosts maps {COMPONENT_HOST}")
    _, checks, seen = env_check(tmp_path / "a", "--only", "agent,clock")
    assert LOOKUP_COMPONENT not in seen
    backend = checks["agent.backend"]
    assert (backend["status"], backend["detail"]) == ("pass", "direct")
    assert f"the hosts file has no line for {COMPONENT_HOST}" in backend["summary"]


# -- the factory's rule --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "maps"),
    [
        (b"127.0.0.1 localhost\n127.0.0.1 ICCERT.nhi.gov.tw # NHIICC\n", True),
        (b"127.0.0.1 localhost\n# 127.0.0.1 iccert.nhi.gov.tw\n", False),
        (b"", False),
    ],
)
def test_hosts_maps_component(tmp_path: Path, text: bytes, maps: bool) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(text)
    assert factory.hosts_maps_component(hosts_file=path) is maps


def test_an_unreadable_hosts_file_leaves_the_asking_to_the_probe(tmp_path: Path) -> None:
    assert factory.hosts_maps_component(hosts_file=tmp_path / "missing") is True


def test_worth_probing() -> None:
    never = lambda: False  # noqa: E731
    assert not factory.worth_probing(DEFAULT_AGENT_URL, url_given=False, hosts_maps=never)
    assert factory.worth_probing(DEFAULT_AGENT_URL, url_given=True, hosts_maps=never)
    assert factory.worth_probing("wss://localhost:7777/echo", url_given=False, hosts_maps=never)
    assert factory.worth_probing(DEFAULT_AGENT_URL, url_given=False, hosts_maps=lambda: True)


class CountingComponent:
    """Stands for NhiiccAgent: counts the agents made and never answers."""

    made = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        type(self).made += 1

    def get_version(self) -> str:
        raise AgentError(T("沒有回應", "no answer"), detail="test")

    def close(self) -> None:
        pass


def auto(monkeypatch: pytest.MonkeyPatch, **options: Any) -> tuple[str, str, int]:
    CountingComponent.made = 0
    monkeypatch.setattr(factory, "NhiiccAgent", CountingComponent)
    agent = factory.open_agent(
        "auto", reader=None, agent_url=DEFAULT_AGENT_URL, sam=SAM, origin="x", **options
    )
    return agent.selection.kind, agent.selection.reason.en, CountingComponent.made


def test_auto_without_the_hosts_line_uses_direct_without_asking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kind, reason, made = auto(monkeypatch, hosts_maps=lambda: False, api_urls=())
    assert (kind, made) == ("direct", 0)
    assert f"the hosts file has no line for {COMPONENT_HOST}" in reason


@pytest.mark.parametrize("options", [{"hosts_maps": lambda: True}, {"url_given": True}])
def test_auto_asks_with_the_hosts_line_or_a_named_url(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    kind, reason, made = auto(
        monkeypatch, **{"hosts_maps": lambda: False, "api_urls": (), **options}
    )
    assert (kind, made) == ("direct", 1)
    assert "did not answer GetVersion" in reason


# -- env check's agent group on the same rule ----------------------------------------------
def test_agent_checks_without_the_hosts_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    CountingComponent.made = 0
    monkeypatch.setattr(factory, "NhiiccAgent", CountingComponent)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    env = CheckEnv(
        platform=platform.get("linux"),
        environ={},
        hosts_file=hosts,
        agent=AgentSettings(DEFAULT_AGENT_URL),
        profile_sam=SAM,
    )
    version = agent_group.check_version(env)
    assert (version.status, version.detail) == (SKIP, "no hosts line")
    backend = agent_group.check_backend(env)
    assert (backend.status, backend.detail, CountingComponent.made) == (PASS, "direct", 0)
    named = dataclasses.replace(env, agent=AgentSettings(DEFAULT_AGENT_URL, url_given=True))
    assert agent_group.check_backend(named).detail == "direct"
    assert CountingComponent.made == 1  # the named URL was asked
    offline = dataclasses.replace(named, offline=True)
    assert (agent_group.check_backend(offline).status, CountingComponent.made) == (SKIP, 1)
