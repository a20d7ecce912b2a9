"""The card side of vpcd (vsmartcard's virtual reader driver for pcscd).

vpcd listens on TCP (127.0.0.1:35963 for slot 0, +1 for slot 1); a virtual card connects to
it, which pcscd sees as a card inserted (about a second later), and closing the connection
is pulling the card. Every message both ways is a 2-byte big-endian length and a payload; a
1-byte payload from vpcd is a control code (0x00 power off, 0x01 power on, 0x02 reset,
0x04 ATR request, answered with the ATR); anything longer is a command APDU, answered with
the response APDU.

``run(stop, connect_within=S)`` gives up with :class:`VpcdUnreachable` (a network error:
exit 7, naming host:port) when the first connection is not made within S seconds; once the
card has been inserted it reconnects for as long as it runs (pcscd restarting).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable

from nhicard.core.errors import NetworkError, UsageError
from nhicard.core.i18n import T, shown
from nhicard.sandbox.vcard import CardPulled, VirtualCard

DEFAULT_PORT = 35963
CONNECT_WITHIN = 30.0  # seconds `sim card` waits for vpcd to accept the card by default
PORT_ENV = "NHICARD_VPCD_PORT"  # another base port (slot 0) for vpcd
CTRL_OFF = 0x00
CTRL_ON = 0x01
CTRL_RESET = 0x02
CTRL_ATR = 0x04

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)

CONNECTED = "connected"
DISCONNECTED = "disconnected"
PULLED = "pulled"


class VpcdUnreachable(NetworkError):
    """vpcd did not accept the card's connection in time."""


def unreachable(host: str, port: int, seconds: float, cause: OSError | None) -> VpcdUnreachable:
    return VpcdUnreachable(
        T(
            "{s} 秒內無法連線到 vpcd {host}:{port}",
            "cannot connect to vpcd at {host}:{port} within {s} s",
        ).format(host=host, port=port, s=f"{seconds:g}"),
        hint=T(
            "確認 pcscd 與 vsmartcard-vpcd 正在執行,且主機與連接埠(--host、--port、--slot、"
            "NHICARD_VPCD_PORT)正確;--wait 可等更久。",
            "Check that pcscd with vsmartcard-vpcd is running and that the host and port "
            "(--host, --port, --slot, NHICARD_VPCD_PORT) are right; --wait waits longer.",
        ),
        reason="vpcd-unreachable",
        detail=(str(cause) or type(cause).__name__) if cause is not None else None,
    )


def base_port() -> int:
    """vpcd's first port (slot 0): ``NHICARD_VPCD_PORT``, else 35963; a usage error when the
    variable is set to anything but a port number."""
    env = os.environ.get(PORT_ENV, "").strip()
    if not env:
        return DEFAULT_PORT
    if env.isascii() and env.isdecimal() and len(env) <= 5 and 1 <= int(env) <= 65535:
        return int(env)
    raise UsageError(
        T(
            "環境變數 {name} 應為連接埠號碼(1 至 65535),目前是「{value}」",
            "the environment variable {name} must be a port number (1 to 65535), not '{value}'",
        ).format(name=PORT_ENV, value=shown(env, 20)),
        hint=T(
            "請修正或取消設定 {name}(預設 {port})。", "Fix or unset {name} (default {port})."
        ).format(name=PORT_ENV, port=DEFAULT_PORT),
        reason="bad-environment",
    )


def slot_port(slot: int = 0, base: int | None = None) -> int:
    """vpcd's port for ``slot``: ``base`` or :func:`base_port`, plus slot (a usage error past
    port 65535)."""
    port = (base_port() if base is None else base) + slot
    if port > 65535:
        raise UsageError(
            T(
                "vpcd 插槽 {slot} 的連接埠 {port} 超過 65535",
                "vpcd slot {slot} would be port {port}, past 65535",
            ).format(slot=slot, port=port),
            reason="bad-slot",
        )
    return port


class VpcdCardClient:
    """Connects ``card`` to vpcd and answers vpcd until stopped.

    ``run(stop_event)`` keeps the card inserted, reconnecting when vpcd (pcscd) restarts;
    ``disconnect()`` pulls the card and ``connect()`` inserts it again (thread-safe).
    ``on_event(kind)`` is told ``connected`` / ``disconnected`` / ``pulled``."""

    def __init__(
        self,
        card: VirtualCard,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        on_event: Callable[[str], None] | None = None,
        retry_interval: float = 0.3,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.on_event = on_event
        self.retry_interval = retry_interval
        self._inserted = threading.Event()
        self._inserted.set()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.connected = threading.Event()

    def connect(self) -> None:
        """Insert the card (the run loop connects to vpcd)."""
        self._inserted.set()

    def disconnect(self) -> None:
        """Pull the card: close the connection and stay out until :meth:`connect`."""
        self._inserted.clear()
        self._close()

    def _close(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _notify(self, kind: str) -> None:
        if self.on_event is not None:
            self.on_event(kind)

    def run(self, stop: threading.Event, *, connect_within: float | None = None) -> None:
        """Serve until ``stop`` is set; with ``connect_within``, raise
        :class:`VpcdUnreachable` when the first connection is not made in that many
        seconds."""
        deadline = None if connect_within is None else time.monotonic() + connect_within
        last_error: OSError | None = None
        try:
            while not stop.is_set():
                if not self._inserted.is_set():
                    stop.wait(0.1)
                    continue
                timeout = 1.0
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        assert connect_within is not None
                        raise unreachable(self.host, self.port, connect_within, last_error)
                    timeout = min(timeout, left)
                try:
                    sock = socket.create_connection((self.host, self.port), timeout=timeout)
                except (OSError, UnicodeError) as exc:  # UnicodeError: a host IDNA refuses
                    last_error = exc if isinstance(exc, OSError) else OSError(str(exc))
                    if deadline is not None:
                        stop.wait(max(0.0, min(self.retry_interval, deadline - time.monotonic())))
                    else:
                        stop.wait(self.retry_interval)
                    continue
                deadline = None  # inserted once: from now on reconnect for as long as we run
                sock.settimeout(0.2)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._lock:
                    self._sock = sock
                self.card.insert()
                self.connected.set()
                self._notify(CONNECTED)
                pulled = self._serve(sock, stop)
                self.connected.clear()
                self._close()
                if pulled:
                    self._inserted.clear()
                    self._notify(PULLED)
                else:
                    self._notify(DISCONNECTED)
                    stop.wait(self.retry_interval)
        finally:
            self._close()

    def _serve(self, sock: socket.socket, stop: threading.Event) -> bool:
        """Answer vpcd until the connection ends; True when the card pulled itself out."""
        while not stop.is_set():
            header = self._recv_exact(sock, 2, stop)
            if header is None:
                return False
            (length,) = struct.unpack(">H", header)
            payload = self._recv_exact(sock, length, stop) if length else b""
            if payload is None:
                return False
            if len(payload) == 1:
                answer = self._control(payload[0])
                if answer is None:
                    continue
            else:
                try:
                    answer = self.card.process(payload)
                except CardPulled:
                    return True
            try:
                sock.sendall(struct.pack(">H", len(answer)) + answer)
            except OSError:
                return False
        return False

    def _control(self, code: int) -> bytes | None:
        if code in (CTRL_OFF, CTRL_ON, CTRL_RESET):
            self.card.reset()
            return None
        if code == CTRL_ATR:
            return self.card.atr
        return None

    def _recv_exact(self, sock: socket.socket, size: int, stop: threading.Event) -> bytes | None:
        buf = b""
        while len(buf) < size:
            if stop.is_set() or not self._inserted.is_set():
                return None
            if _QUICKACK is not None:
                # vpcd writes length and payload separately; acknowledging at once avoids a
                # 40 ms Nagle / delayed-ACK stall per APDU
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            try:
                chunk = sock.recv(size - len(buf))
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        """Run in a daemon thread; returns the thread and its stop event."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="vpcd-card", daemon=True)
        thread.start()
        return thread, stop
