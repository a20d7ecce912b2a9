"""What the register tests share: the sandbox job's arguments, running register, its journal files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.ports import free_port
from tests.support.sandbox_fixture import SandboxServer

PASSWORD = "Pw-246810"


CARD = "000012345678"


ARGS = (
    "--household-id", "f123 4567",
    "--city", "台北市",
    "--district", "大安",
    "--village", "龍門里",
    "--neighborhood", "5",
    "--email", "ming@example.com",
    "--phone", "02-2345-6789",
    "--mobile", "0912-345-678",
)  # fmt: skip


def with_arg(name: str, value: str) -> tuple[str, ...]:
    args = list(ARGS)
    args[args.index(name) + 1] = value
    return tuple(args)


def register(
    sb: SandboxServer,
    state: Path,
    *extra: str,
    args: tuple[str, ...] = ARGS,
    agent: tuple[str, ...] = ("--agent", "direct"),
    password: str | None = PASSWORD,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**sb.env(), "NHICARD_STATE_DIR": str(state)}
    if password is not None:
        env["NHICARD_PASSWORD"] = password
    lead, extra = global_options(extra)
    return run_nhicard(
        "--profile", "sandbox", "-v", *agent, *lead, "register", *args, "--json", *extra,
        env=env, input=input,
    )  # fmt: skip


def global_options(extra: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``--lang X`` and ``-q`` are options of the root command: move them before it."""
    lead: list[str] = []
    rest: list[str] = []
    items = iter(extra)
    for item in items:
        if item == "--lang":
            lead += [item, next(items)]
        elif item == "-q":
            lead.append(item)
        else:
            rest.append(item)
    return tuple(lead), tuple(rest)


def result(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def journal_files(state: Path) -> list[Path]:
    return sorted((state / "journal").glob("register-*.json"))


@pytest.fixture
def agent_service(sandbox: SandboxServer) -> Iterator[str]:
    """``nhicard --profile sandbox agent serve`` on a free port (the sandbox CA's certificate,
    so the profile's CA bundle trusts it); yields its wss:// URL."""
    port = free_port()
    env = {**os.environ, **sandbox.env(), "LANG": "C.UTF-8"}
    proc = subprocess.Popen(
        [nhicard_executable(), "--profile", "sandbox", "-r", "Virtual PCD 00 00",
         "agent", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(proc.stderr.read() if proc.stderr else "agent serve died")
            time.sleep(0.05)
        yield f"wss://127.0.0.1:{port}/echo"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


REGISTER = (
    "register", "--household-id", "F1234567", "--city", "臺北市", "--district", "大安區",
    "--village", "龍門里", "--neighborhood", "5", "--email", "ming@example.com",
    "--phone", "02-23456789", "--mobile", "0912345678", "--yes",
)  # fmt: skip


# -- the nhiicc backend -------------------------------------------------------------------------
