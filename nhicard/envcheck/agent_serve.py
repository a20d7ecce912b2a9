"""Group ``agent``, nhicard's own part: what ``nhicard agent install`` set up (the same items
as ``agent status``), and whether a component is reachable from the LAN.

- ``agent.serve-trust``: the certificate of ``agent serve`` exists and its current CA is
  trusted in every store install put it in (a renewed certificate means a new CA: install
  again);
- ``agent.serve-service``: the login service is registered and running;
- ``agent.exposed``: nothing listens on port 7777 on all interfaces (the official component's
  2020 build does: other computers on the network can then ask it for the card; the 2022 and
  2024 builds bind 127.0.0.1:7777). Linux only (``/proc/net/tcp``).

The hosts entry and ``GetVersion`` are the group's ``agent.hosts`` and ``agent.version``.
Not having run ``agent install`` is a ``skip``: it is optional.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from nhicard.agent import COMPONENT_PORT
from nhicard.core.i18n import T, Text
from nhicard.envcheck import Check, CheckEnv, Finding, passed, skipped, warned

GROUP = "agent"
_ANY4 = "00000000"
_ANY6 = "0" * 32
_LISTEN = "0A"

# where the official component's builds listen (nhi-agent.md)
BUILDS_BIND = (
    f"official component: the 2020 build binds 0.0.0.0:{COMPONENT_PORT}, the 2022 and 2024 "
    f"builds 127.0.0.1:{COMPONENT_PORT}; nhicard agent serve 127.0.0.1:{COMPONENT_PORT}"
)

INSTALL_FIX = T(
    "執行 nhicard agent install(會重新信任目前的 CA)。",
    "Run nhicard agent install (it trusts the current CA again).",
)


def _status(env: CheckEnv) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        from nhicard.agent.serve.install import Machine, status
        from nhicard.core.paths import state_dir

        machine = env.agent_machine or Machine.current(state_dir())
        # the hosts line is agent.hosts' job: read from the file, never through the resolver
        # (no name lookup, offline or when the line is missing)
        return status(dataclasses.replace(machine, hosts_is_system=False))

    doc: dict[str, Any] = env.memo("agent-install-status", compute)
    return doc


def check_trust(env: CheckEnv) -> Finding:
    doc = _status(env)
    if not doc["installed"]:
        return skipped(
            T(
                "尚未執行 nhicard agent install(在自己的瀏覽器使用健保署網站時才需要)",
                "nhicard agent install has not been run (needed only to use the NHI sites in "
                "your own browser with nhicard)",
            )
        )
    cert = doc["certificate"]
    if not cert["exists"]:
        return warned(
            T("agent serve 的憑證不存在", "the certificate of agent serve is missing"),
            INSTALL_FIX,
            cert["file"],
        )
    stale = [t["target"] for t in doc["trust"] if not t["current"]]
    detail = "; ".join(
        f"{t['store']} {t['target']}: {'ok' if t['current'] else 'stale'}" for t in doc["trust"]
    )
    if stale or not doc["trust"]:
        return warned(
            T(
                "瀏覽器未信任 agent serve 目前的 CA:{s}",
                "the browsers do not trust the current CA of agent serve: {s}",
            ).format(s=", ".join(stale) or "-"),
            INSTALL_FIX,
            detail,
        )
    return passed(
        T("{n} 個憑證庫信任 agent serve 的 CA", "{n} store(s) trust the CA of agent serve").format(
            n=len(doc["trust"])
        ),
        detail,
    )


def service_fix(kind: str) -> Text:
    commands = {
        "systemd-user": "systemctl --user start nhicard-agent",
        "launchd": "launchctl kickstart gui/$(id -u)/tw.nhicard.agent",
        "task-scheduler": "schtasks /Run /TN nhicard-agent",
    }
    cmd = commands.get(kind, "nhicard agent serve")
    return T(
        f"啟動服務:{cmd}(或執行 nhicard agent install)",
        f"Start it: {cmd} (or run nhicard agent install)",
    )


def check_service(env: CheckEnv) -> Finding:
    doc = _status(env)
    service = doc["service"]
    if not service["installed"]:
        return skipped(
            T(
                "沒有 nhicard 的登入服務(未安裝,或以 --no-service 安裝)",
                "no nhicard login service (not installed, or installed with --no-service)",
            )
        )
    if service["running"]:
        return passed(T("登入服務執行中", "the login service is running"), service["file"])
    return warned(
        T("nhicard 的登入服務沒有執行", "nhicard's login service is not running"),
        service_fix(service["kind"]),
        service["file"],
    )


def wildcard_listeners(proc_net: Path, port: int = COMPONENT_PORT) -> list[str]:
    """``0.0.0.0:PORT`` / ``[::]:PORT`` when something listens there on all interfaces."""
    found = []
    for name, any_addr, label in (("tcp", _ANY4, "0.0.0.0"), ("tcp6", _ANY6, "[::]")):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != _LISTEN:
                continue
            address, _, port_hex = fields[1].partition(":")
            if address == any_addr and port_hex and int(port_hex, 16) == port:
                found.append(f"{label}:{port}")
    return sorted(set(found))


def check_exposed(env: CheckEnv) -> Finding:
    proc_net = env.proc_net or Path("/proc/net")
    if not (proc_net / "tcp").exists():
        return skipped(T("只在 Linux 檢查(/proc/net/tcp)", "checked on Linux only (/proc/net/tcp)"))
    found = wildcard_listeners(proc_net)
    if found:
        return warned(
            T(
                "有程式在所有網路介面的 {p} 埠接聽({w}):同一網路的其他電腦也能連到讀卡元件",
                "something listens on port {p} on all interfaces ({w}): other computers on the "
                "network can reach the card component",
            ).format(p=COMPONENT_PORT, w=", ".join(found)),
            T(
                "2020 版官方元件就是聽 0.0.0.0:{p};2022 與 2024 版只聽 127.0.0.1:{p}。請更新官方元件"
                "({u}),或改用只聽 127.0.0.1 的 nhicard agent serve,或以防火牆封鎖外部連到 {p} 埠。",
                "The official component's 2020 build listens on 0.0.0.0:{p}; the 2022 and 2024 "
                "builds listen on 127.0.0.1:{p} only. Update the component ({u}), or use nhicard "
                "agent serve (127.0.0.1 only) instead, or block outside access to port {p} in "
                "the firewall.",
            ).format(p=COMPONENT_PORT, u=env.platform.component_download_url()),
            f"{', '.join(found)}; {BUILDS_BIND}",
        )
    return passed(
        T("{p} 埠沒有對外接聽", "nothing listens on port {p} on all interfaces").format(
            p=COMPONENT_PORT
        ),
        f"{proc_net}; {BUILDS_BIND}",
    )


def checks() -> list[Check]:
    return [
        Check("agent.serve-trust", GROUP, check_trust),
        Check("agent.serve-service", GROUP, check_service),
        Check("agent.exposed", GROUP, check_exposed),
    ]
