"""One total deadline for a whole HTTP exchange (connect, TLS, head and body, redirects).

httpx's timeouts bound each read, so a server that sends its status line one byte every few
seconds never trips them. :class:`ExchangeWatchdog` learns the sockets of a client's
connections from httpcore's ``trace`` request extension (the ``connect_tcp`` and
``start_tls`` events return the network stream) and, when an armed deadline passes, shuts
them down: the read blocked in httpx's own transport returns at once and httpx raises a
transport error, which the caller reports as the deadline (``fired``).

``shutdown`` goes through a duplicate of the socket's descriptor: the connection ends for
every descriptor, while the objects the transport's thread is using are left untouched (an
``ssl.SSLSocket`` shut down from another thread would drop its TLS state under the reader).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from typing import Any

_CONNECTED = ("connect_tcp.complete", "start_tls.complete")


class ExchangeWatchdog:
    """Shuts down a client's connections when an armed deadline passes.

    Pass :meth:`trace` as the ``trace`` extension of every request; wrap each exchange in
    ``with watchdog.armed(seconds):`` and check :attr:`fired` when it fails or ends.
    """

    def __init__(self) -> None:
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._generation = 0
        self._fired = False

    @property
    def fired(self) -> bool:
        """The deadline of the current (or last) armed exchange has passed."""
        return self._fired

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember each network stream a connection opens."""
        if event.endswith(_CONNECTED):
            stream = info.get("return_value")
            if stream is not None:
                with self._lock:
                    self._streams.add(stream)

    def armed(self, seconds: float) -> _Armed:
        """A context in which the connections are shut down after ``seconds``."""
        with self._lock:
            self._generation += 1
            self._fired = False
            generation = self._generation
        timer = threading.Timer(max(0.0, seconds), self._fire, args=(generation,))
        timer.daemon = True
        timer.name = "nhicard-http-deadline"
        return _Armed(timer)

    def _fire(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # a later exchange armed its own deadline
            self._fired = True
            streams = list(self._streams)
        for stream in streams:
            shutdown_stream(stream)


class _Armed:
    def __init__(self, timer: threading.Timer) -> None:
        self._timer = timer

    def __enter__(self) -> None:
        self._timer.start()

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def shutdown_stream(stream: Any) -> None:
    """End the connection under an httpcore network stream, from any thread."""
    try:
        sock = stream.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
    except (AttributeError, OSError, ValueError):
        return
    if fd < 0:
        return
    with contextlib.suppress(OSError):
        twin = socket.fromfd(fd, sock.family, sock.type)
        try:
            twin.shutdown(socket.SHUT_RDWR)
        finally:
            twin.close()
