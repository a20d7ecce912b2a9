"""Our SAM client: the network half of H_Sign (nhi-agent.md, steps 1–4, 6 and 8).

Failures raise :class:`~nhicard.agent.errors.AgentError` with the official code of the step
that failed (4061 cannot connect; 8300–8306 key handshake; 8003/8004 message 01/02;
8007/8008 message 03/04; 8006 the SAM refused the card; 9001 the signature is not 256
characters).
"""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from nhicard.agent.base import SIGNATURE_LENGTH
from nhicard.agent.errors import agent_error
from nhicard.agent.sam import wire as samwire
from nhicard.agent.sam.wire import SamMessage, SamProtocolError
from nhicard.core.closing import ClosesOnExit
from nhicard.sites.sam_endpoint import SamEndpoint

__all__ = ["RC_BAD_REQUEST", "RC_CARD_REFUSED", "RC_OK", "SamClient", "SamEndpoint"]

# the sandbox SAM's refusal codes (rc field of an 04 message); the real SAM's are not public
RC_OK = b"OK"
RC_CARD_REFUSED = b"E6"  # unknown card, or its MUTUAL AUTH answer is wrong
RC_BAD_REQUEST = b"E1"  # a well-framed message with the wrong content


Connector = Callable[[tuple[str, int], float], socket.socket]


def _default_connector(address: tuple[str, int], timeout: float) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    # The handshake sends message 8305 and the liveness request back to back: with Nagle's
    # algorithm the second waits for the SAM's (delayed, ≈ 40 ms) ACK of the first.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def new_client_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-1024 key for step 1 of the key handshake (nhi-agent.md)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


class ClientKeys:
    """Client keys made ahead of need, each used for one SAM session only.

    Making an RSA-1024 key takes ≈ 10–20 ms of CPU, most of it outside the GIL. :meth:`prepare`
    starts making the next key on a daemon thread, so that the time overlaps what comes
    before the H_Sign (HTTP requests, reading the card); :meth:`take` hands that key over,
    waiting for it if need be, or makes one on the spot if none was prepared. A key is never
    handed out twice; with ``refill`` the next one is started at once (``agent serve``)."""

    def __init__(self, *, refill: bool = False) -> None:
        self._refill = refill
        self._lock = threading.Lock()
        self._pending: _KeyInMaking | None = None

    def prepare(self) -> None:
        with self._lock:
            if self._pending is None:
                self._pending = _KeyInMaking()

    def take(self) -> rsa.RSAPrivateKey:
        with self._lock:
            pending, self._pending = self._pending, None
        key = pending.result() if pending is not None else new_client_key()
        if self._refill:
            self.prepare()
        return key


class _KeyInMaking:
    def __init__(self) -> None:
        self._done = threading.Event()
        self._key: rsa.RSAPrivateKey | None = None
        threading.Thread(target=self._make, name="sam-client-key", daemon=True).start()

    def _make(self) -> None:
        try:
            self._key = new_client_key()
        except Exception:  # noqa: BLE001,S110 - result() makes one on the caller's thread
            pass
        finally:
            self._done.set()

    def result(self) -> rsa.RSAPrivateKey:
        self._done.wait()
        return self._key if self._key is not None else new_client_key()


class SamClient(ClosesOnExit):
    """One SAM session: :meth:`open` (connect, handshake, liveness), then
    :meth:`exchange_challenge` and :meth:`exchange_signature`, then :meth:`close`."""

    def __init__(
        self,
        endpoint: SamEndpoint,
        *,
        timeout: float = 10.0,
        rng: Callable[[int], bytes] | None = None,
        connector: Connector | None = None,
        keys: ClientKeys | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._keys = keys
        self.timeout = timeout
        self._rng = rng or secrets.token_bytes
        self._connector = connector or _default_connector
        self._sock: socket.socket | None = None
        self._buf = b""
        self._session_key: bytes | None = None

    # -- life cycle ---------------------------------------------------------------------
    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def open(self) -> None:
        """Connect (4061), run the key handshake (8300–8305) and the liveness check (8306)."""
        try:
            self._sock = self._connector((self.endpoint.host, self.endpoint.port), self.timeout)
            self._sock.settimeout(self.timeout)
        except OSError as exc:
            raise agent_error("4061", detail=f"{self.endpoint.address}: {_why(exc)}") from None
        self._handshake()
        self._liveness()

    # -- steps ---------------------------------------------------------------------------
    def _handshake(self) -> None:
        wrap_key = self.endpoint.wrap_key
        client_key = self._keys.take() if self._keys is not None else new_client_key()
        self._send(
            samwire.wrap(wrap_key, samwire.encode_client_hello(client_key.public_key())), "8300"
        )
        reply = self._read(
            lambda b: samwire.extract_wrapped(b, wrap_key, samwire.is_hello, samwire.MAX_HELLO),
            "8301",
        )
        try:
            server_key, block = samwire.parse_server_hello(reply)
        except SamProtocolError as exc:
            code = "8303" if exc.why.startswith(("public key", "RSA key")) else "8302"
            raise agent_error(code, detail=exc.why) from None
        try:
            server_nonce = client_key.decrypt(block, padding.PKCS1v15())
        except ValueError:
            raise agent_error("8304", detail="server nonce does not decrypt") from None
        client_nonce = self._rng(16)
        if len(server_nonce) + len(client_nonce) < 24:
            raise agent_error("8304", detail=f"server nonce has {len(server_nonce)} bytes")
        encrypted = server_key.encrypt(client_nonce, padding.PKCS1v15())
        self._send(samwire.length_prefixed(encrypted), "8305")
        self._session_key = (client_nonce + server_nonce)[:24]

    def _liveness(self) -> None:
        self._send(samwire.LIVENESS_REQUEST, "8306")
        body = self._read(samwire.extract_clear, "8306")
        try:
            (rc,) = samwire.expect(samwire.parse_message(body + samwire.END), "04", (("rc", 2),))
        except SamProtocolError as exc:
            raise agent_error("8306", detail=exc.why) from None
        if rc != RC_OK:
            raise agent_error("8306", detail=f"liveness answer rc={rc!r}")

    def exchange_challenge(self, card_id: str, card_challenge: bytes) -> bytes:
        """Message 01 (card id, card challenge) → 02: the 32 bytes for MUTUAL AUTH."""
        msg = SamMessage("01", (("id", card_id.encode("ascii")), ("rn", card_challenge)))
        self._send_session(msg, "8003")
        reply = self._read_session("8004")
        if reply.kind == "04":
            self._raise_refusal(reply, "8004")
        try:
            (au,) = samwire.expect(reply, "02", (("au", 32),))
        except SamProtocolError as exc:
            raise agent_error("8004", detail=exc.why) from None
        return au

    def exchange_signature(self, card_answer: bytes, version_plus_random: str) -> str:
        """Message 03 (card answer, the 20 characters) → 04: the 256-character signature."""
        msg = SamMessage("03", (("au", card_answer), ("se", version_plus_random.encode("ascii"))))
        self._send_session(msg, "8007")
        reply = self._read_session("8008")
        if reply.kind != "04" or reply.get("rc") != RC_OK:
            self._raise_refusal(reply, "8008")
        try:
            _rc, sig = samwire.expect(reply, "04", (("rc", 2), ("si", None)))
        except SamProtocolError as exc:
            raise agent_error("8008", detail=exc.why) from None
        text = sig.decode("ascii", errors="replace")
        if len(sig) != SIGNATURE_LENGTH or not text.isascii() or not text.isprintable():
            raise agent_error(
                "9001", detail=f"signature has {len(sig)} characters, not {SIGNATURE_LENGTH}"
            )
        return text

    # -- plumbing ------------------------------------------------------------------------
    def _raise_refusal(self, reply: SamMessage, code: str) -> None:
        if reply.kind == "04":
            rc = reply.get("rc")
            if rc == RC_CARD_REFUSED:
                raise agent_error("8006", detail="the SAM refused the card")
            raise agent_error(code, detail=f"SAM answered rc={rc!r}")
        raise agent_error(code, detail=f"unexpected message {reply.kind}")

    def _send_session(self, msg: SamMessage, code: str) -> None:
        if self._session_key is None:
            raise agent_error(code, detail="no session (open() was not called)")
        self._send(samwire.wrap(self._session_key, msg.encode()), code)

    def _read_session(self, code: str) -> SamMessage:
        key = self._session_key
        if key is None:
            raise agent_error(code, detail="no session")
        plain = self._read(lambda b: samwire.extract_wrapped(b, key, samwire.is_message), code)
        try:
            return samwire.parse_message(plain)
        except SamProtocolError as exc:
            raise agent_error(code, detail=exc.why) from None

    def _send(self, data: bytes, code: str) -> None:
        if self._sock is None:
            raise agent_error(code, detail="not connected")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise agent_error(code, detail=_why(exc)) from None

    def _read(self, extract: Callable[[bytes], tuple[bytes, int] | None], code: str) -> bytes:
        if self._sock is None:
            raise agent_error(code, detail="not connected")
        while True:
            try:
                got = extract(self._buf)
            except SamProtocolError as exc:
                raise agent_error(code, detail=exc.why) from None
            if got is not None:
                value, used = got
                self._buf = self._buf[used:]
                return value
            try:
                chunk = self._sock.recv(4096)
            except OSError as exc:
                raise agent_error(code, detail=_why(exc)) from None
            if not chunk:
                raise agent_error(code, detail="the SAM closed the connection")
            self._buf += chunk


def _why(exc: OSError) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return exc.strerror or type(exc).__name__
