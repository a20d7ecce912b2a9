"""How a server claims its port, per OS: ``agent serve`` must not share 7777 with the official
component. On Windows SO_REUSEADDR would let a second program bind the same port; there it
takes SO_EXCLUSIVEADDRUSE instead (a Windows-only constant: a test stands in a Linux option
for it, so the real socket records that this option and not SO_REUSEADDR was set)."""

from __future__ import annotations

import socket

import pytest

from nhicard.agent.serve import service
from nhicard.platform import linux, macos, windows
from nhicard.sandbox import supervisor


class Recording:
    def __init__(self) -> None:
        self.options: list[tuple[int, int, int]] = []

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.options.append((level, option, value))


def option(sock: socket.socket, name: int) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, name)


@pytest.fixture
def exclusive_stand_in(monkeypatch: pytest.MonkeyPatch) -> int:
    """``socket.SO_EXCLUSIVEADDRUSE`` as on Windows, standing for SO_KEEPALIVE here."""
    monkeypatch.setattr(socket, "SO_EXCLUSIVEADDRUSE", socket.SO_KEEPALIVE, raising=False)
    return socket.SO_KEEPALIVE


def test_windows_takes_the_port_exclusively(exclusive_stand_in: int) -> None:
    sock = Recording()
    windows.prepare_listener(sock)  # type: ignore[arg-type]
    assert sock.options == [(socket.SOL_SOCKET, exclusive_stand_in, 1)]


def test_windows_without_the_constant_sets_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socket, "SO_EXCLUSIVEADDRUSE", raising=False)
    sock = Recording()
    windows.prepare_listener(sock)  # type: ignore[arg-type]
    assert sock.options == []  # never SO_REUSEADDR


@pytest.mark.parametrize("module", [linux, macos], ids=lambda m: m.NAME)
def test_posix_reuses_the_address(module: object) -> None:
    sock = Recording()
    module.prepare_listener(sock)  # type: ignore[attr-defined]
    assert sock.options == [(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)]


def test_agent_serve_on_windows_binds_exclusively(
    monkeypatch: pytest.MonkeyPatch, exclusive_stand_in: int
) -> None:
    monkeypatch.setattr("sys.platform", "win32")
    with service._listen("127.0.0.1", 0) as sock:
        assert option(sock, exclusive_stand_in) == 1
        assert option(sock, socket.SO_REUSEADDR) == 0


def test_agent_serve_on_linux_reuses_the_address_but_shares_no_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    with service._listen("127.0.0.1", 0) as first:
        assert option(first, socket.SO_REUSEADDR) == 1
        port = first.getsockname()[1]
        with pytest.raises(OSError):
            service._listen("127.0.0.1", port)  # the official component's port stays its own


def test_sandbox_port_check_binds_as_its_servers_do(
    monkeypatch: pytest.MonkeyPatch, exclusive_stand_in: int
) -> None:
    """The check that a port is free claims it the way the sandbox's servers will."""
    seen: list[int] = []
    real = windows.prepare_listener

    def spy(sock: socket.socket) -> None:
        real(sock)
        seen.append(option(sock, exclusive_stand_in))

    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setattr(windows, "prepare_listener", spy)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    assert supervisor._port_bindable("127.0.0.1", port)
    assert seen == [1]
