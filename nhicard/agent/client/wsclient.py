"""A blocking WebSocket client that reads and writes its socket from one thread.

``NhiiccAgent`` asks one thing and waits for one answer, so it needs no background reader.
The websockets library's threading client has one (it reads on a thread of its own while the
caller writes), and an ``ssl.SSLSocket`` is an OpenSSL ``SSL`` object, which must not be read
and written at the same time from two threads: over TLS 1.3, where session tickets arrive
after the handshake, about one connection in 300 lost its opening request on our machines
and timed out ("timed out while waiting for handshake response"). Here the protocol is
websockets' sans-I/O ``ClientProtocol`` (the same parser the server side uses) and every read
and write happens on the caller's thread, within the caller's deadline.

Errors are the standard ones: ``OSError`` (``ssl.SSLError`` included) for the network,
``TimeoutError`` for a deadline, websockets' ``InvalidHandshake`` / ``InvalidURI`` for a bad
answer or address, ``ConnectionClosed`` when the peer closed.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import ssl
import time
from typing import Any

CLOSE_WAIT = 1.0  # seconds to wait for the peer's closing frame after ours


class WebSocketClient:
    """One WebSocket connection; :meth:`open` first, then :meth:`send_text` / :meth:`recv`,
    then :meth:`close`."""

    def __init__(
        self,
        url: str,
        *,
        origin: str | None,
        ssl_context: ssl.SSLContext | None,
        max_size: int,
    ) -> None:
        from websockets.client import ClientProtocol
        from websockets.typing import Origin
        from websockets.uri import parse_uri

        self._uri = parse_uri(url)  # InvalidURI
        if self._uri.secure and ssl_context is None:
            raise ValueError("a wss:// URL needs a TLS context")
        self._ssl = ssl_context if self._uri.secure else None
        self._protocol: Any = ClientProtocol(
            self._uri, origin=Origin(origin) if origin else None, max_size=max_size
        )
        self._sock: socket.socket | None = None
        self._pending: collections.deque[Any] = collections.deque()

    # -- opening -----------------------------------------------------------------------------
    def open(self, timeout: float) -> None:
        """TCP, TLS and the HTTP upgrade, all within ``timeout`` seconds."""
        from websockets.http11 import Response

        deadline = time.monotonic() + timeout
        sock = socket.create_connection((self._uri.host, self._uri.port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock.settimeout(_remaining(deadline))
                sock = self._ssl.wrap_socket(sock, server_hostname=self._uri.host)
            self._sock = sock
            request = self._protocol.connect()
            self._protocol.send_request(request)
            self._flush(deadline)
            while True:
                event = self._next_event(deadline, handshake=True)
                if isinstance(event, Response):
                    break
            if self._protocol.handshake_exc is not None:
                raise self._protocol.handshake_exc
        except BaseException:
            self._abort()
            raise

    # -- messages ----------------------------------------------------------------------------
    def send_text(self, text: str, timeout: float) -> None:
        self._protocol.send_text(text.encode("utf-8"))
        self._flush(time.monotonic() + timeout)

    def recv(self, timeout: float) -> str | bytes:
        """The next complete text or binary message."""
        from websockets.frames import Frame, Opcode

        deadline = time.monotonic() + timeout
        fragments: list[bytes] = []
        first: Any = None
        while True:
            event = self._next_event(deadline)
            if not isinstance(event, Frame):
                continue
            if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                first, fragments = event.opcode, [bytes(event.data)]
            elif event.opcode is Opcode.CONT and first is not None:
                fragments.append(bytes(event.data))
            else:
                continue  # ping (answered by the protocol), pong, close (seen by _next_event)
            if event.fin:
                data = b"".join(fragments)
                return data.decode("utf-8", errors="replace") if first is Opcode.TEXT else data

    # -- closing -----------------------------------------------------------------------------
    def close(self) -> None:
        """Send a closing frame, wait briefly for the peer's, drop the socket. Never raises."""
        from websockets.protocol import State

        try:
            if self._sock is not None and self._protocol.state is State.OPEN:
                self._protocol.send_close()
                deadline = time.monotonic() + CLOSE_WAIT
                self._flush(deadline)
                with contextlib.suppress(Exception):
                    while True:
                        self._next_event(deadline)
        except Exception:  # noqa: BLE001,S110 - closing a broken connection must not fail
            pass
        finally:
            self._abort()

    # -- plumbing ----------------------------------------------------------------------------
    def _next_event(self, deadline: float, *, handshake: bool = False) -> Any:
        from websockets.exceptions import InvalidMessage
        from websockets.protocol import State

        while not self._pending:
            if self._protocol.state is State.CLOSED:
                if handshake and self._protocol.handshake_exc is not None:
                    raise self._protocol.handshake_exc
                if handshake:
                    raise InvalidMessage("the connection closed before the handshake answer")
                raise self._protocol.close_exc
            assert self._sock is not None
            self._sock.settimeout(_remaining(deadline))
            data = self._sock.recv(65536)  # TimeoutError past the deadline
            if data:
                self._protocol.receive_data(data)
            else:
                self._protocol.receive_eof()
            self._pending.extend(self._protocol.events_received())
            self._flush(deadline)  # pongs, the answer to a closing frame
        return self._pending.popleft()

    def _flush(self, deadline: float) -> None:
        assert self._sock is not None
        for chunk in self._protocol.data_to_send():
            if chunk:
                self._sock.settimeout(_remaining(deadline))
                self._sock.sendall(chunk)
            else:  # the protocol wants the write side closed
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_WR)

    def _abort(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left
