"""Name resolution within a deadline.

``getaddrinfo`` blocks in the C library for as long as the system's resolver tries (a
resolver that never answers: several attempts of several seconds each, per search domain),
and nothing can interrupt it from another thread: neither a socket timeout nor
:class:`~nhicard.net.deadline.ExchangeWatchdog` covers it. :func:`resolve` therefore runs it
in a daemon worker thread and waits at most the time the exchange has left; past that the
caller gets :class:`ResolveTimeout` (a ``socket.gaierror``, so it is reported as a DNS
failure naming the host) while the worker ends whenever the resolver gives up.

:mod:`nhicard.net.httpresolve` puts it in front of httpx's connections (IMAP uses it
directly, without importing httpx).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from typing import Any

AddrInfo = tuple[Any, ...]


class ResolveTimeout(socket.gaierror):
    """The resolver did not answer within the deadline (``EAI_AGAIN``)."""


def _numeric(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def resolve(
    host: str, port: int, timeout: float | None, *, kind: int = socket.SOCK_STREAM
) -> list[AddrInfo]:
    """``socket.getaddrinfo(host, port, type=kind)``, given up after ``timeout`` seconds
    (``None``: no limit) with :class:`ResolveTimeout`; its own errors pass unchanged."""
    if timeout is None or _numeric(host):
        return socket.getaddrinfo(host, port, type=kind)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=kind)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc

    worker = threading.Thread(target=work, name="nhicard-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, timeout))
    if worker.is_alive():
        raise ResolveTimeout(
            socket.EAI_AGAIN,
            f"no answer from the name resolver for {host} within {round(timeout, 2):g} s",
        )
    if "error" in box:
        raise box["error"]
    infos: list[AddrInfo] = box["infos"]
    return infos


def connect_within(host: str, port: int, left: Callable[[], float]) -> socket.socket:
    """A TCP connection to ``host:port``, as ``socket.create_connection`` makes it, with the
    name lookup and each connect attempt bounded by ``left()``: the seconds the caller's one
    deadline has left (it raises when none are left)."""
    error: OSError = TimeoutError(f"no address for {host}")
    for family, kind, proto, _name, address in resolve(host, port, left()):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left())
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error
