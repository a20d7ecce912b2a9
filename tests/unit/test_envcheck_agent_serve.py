"""``env check``'s agent items for nhicard's own agent (issue 12): what ``agent install`` set
up, with fixes, and a warning when a component listens on all interfaces (the LAN)."""

from __future__ import annotations

import socket
from pathlib import Path

from nhicard.agent.serve import install as inst
from nhicard.envcheck import PASS, SKIP, WARN, CheckEnv, agent_serve, run_checks
from tests.support.install_kit import Script, machine

PROC_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
   0: 0100007F:1E61 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0
   1: 00000000:1E61 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0
   2: 00000000:1E62 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0
"""


def results(env: CheckEnv) -> dict[str, object]:
    return {r.id: r for r in run_checks(agent_serve.checks(), env, budget=20)}


def test_not_installed_is_skipped(tmp_path: Path) -> None:
    m = machine(tmp_path, nssdbs=[], run=Script())
    out = results(CheckEnv(agent_machine=m, proc_net=tmp_path / "none"))
    assert [out[k].status for k in ("agent.serve-trust", "agent.serve-service", "agent.exposed")] == [  # type: ignore[attr-defined]
        SKIP, SKIP, SKIP,
    ]  # fmt: skip


def test_installed_items_and_fixes(tmp_path: Path) -> None:
    script = Script()
    m = machine(tmp_path, system="macos", run=script)
    inst.install(m, service=True)
    sha1 = inst.sha1_of(m.ca_file)
    script.on(["security", "find-certificate"], inst.Result(0, f"SHA-1 hash: {sha1}\n"))
    script.on(["launchctl", "print"], inst.Result(0, "state = running\n"))
    out = results(CheckEnv(agent_machine=m))
    assert out["agent.serve-trust"].status == PASS  # type: ignore[attr-defined]
    assert out["agent.serve-service"].status == PASS  # type: ignore[attr-defined]

    script.on(["security", "find-certificate"], inst.Result(0, "SHA-1 hash: " + "0" * 40 + "\n"))
    script.on(["launchctl", "print"], inst.Result(0, "state = not running\n"))
    out = results(CheckEnv(agent_machine=m))
    trust, service = out["agent.serve-trust"], out["agent.serve-service"]
    assert trust.status == WARN and "nhicard agent install" in trust.fix.en  # type: ignore[attr-defined]
    assert "nhicard agent install" in trust.fix.zh  # type: ignore[attr-defined]
    assert service.status == WARN and "launchctl kickstart" in service.fix.en  # type: ignore[attr-defined]


def test_listening_on_all_interfaces_warns(tmp_path: Path) -> None:
    (tmp_path / "tcp").write_text(PROC_TCP)
    assert agent_serve.wildcard_listeners(tmp_path) == ["0.0.0.0:7777"]
    out = results(CheckEnv(proc_net=tmp_path))
    exposed = out["agent.exposed"]
    assert exposed.status == WARN  # type: ignore[attr-defined]
    assert "other computers on the network" in exposed.summary.en  # type: ignore[attr-defined]
    assert "其他電腦" in exposed.summary.zh  # type: ignore[attr-defined]
    (tmp_path / "tcp").write_text(PROC_TCP.replace("   1: 00000000:1E61", "   1: 0100007F:1E63"))
    assert results(CheckEnv(proc_net=tmp_path))["agent.exposed"].status == PASS  # type: ignore[attr-defined]


def test_real_proc_net_sees_a_wildcard_listener() -> None:
    proc = Path("/proc/net")
    if not (proc / "tcp").exists():
        return
    with socket.socket() as wild, socket.socket() as local:
        wild.bind(("0.0.0.0", 0))
        wild.listen()
        local.bind(("127.0.0.1", 0))
        local.listen()
        wild_port, local_port = wild.getsockname()[1], local.getsockname()[1]
        assert agent_serve.wildcard_listeners(proc, wild_port) == [f"0.0.0.0:{wild_port}"]
        assert agent_serve.wildcard_listeners(proc, local_port) == []
