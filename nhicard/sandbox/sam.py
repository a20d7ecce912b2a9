"""The sandbox SAM server: the NHI authentication server's part of H_Sign, on loopback.

It speaks the wire format of nhi-agent.md with the sandbox's own keys (:mod:`keys`): the
hello exchange wrapped with the sandbox wrapping key, RSA-1024 nonces, then session messages
01→02 (32 random bytes for the card's MUTUAL AUTH) and 03→04 (the signature). It checks the
card's answer with the sandbox algorithm (``algorithms.mutual_auth_answer``) and signs with
``keys.sign_h_sign``.

Refusals are session messages ``04<rc=2>E6<E>`` (unknown card or wrong card answer; our
client maps it to 8006) and ``04<rc=2>E1<E>`` (well-framed message with the wrong content).
Anything that cannot be framed or decrypted closes the connection. Every connection has a
read timeout, an overall time limit and size limits; a client can never crash the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from cryptography.hazmat.primitives.asymmetric import padding

from nhicard.agent.sam import wire as samwire
from nhicard.agent.sam.client import RC_BAD_REQUEST, RC_CARD_REFUSED, RC_OK
from nhicard.agent.sam.wire import SamMessage, SamProtocolError
from nhicard.core.closing import ClosesOnExit
from nhicard.sandbox.algorithms import mutual_auth_answer
from nhicard.sandbox.data import SandboxData
from nhicard.sandbox.keys import SandboxKeys, sign_h_sign

Extractor = Callable[[bytes], "tuple[object, int] | None"]


class _Closed(Exception):
    """The client went away or sent something we do not answer."""


@dataclass
class SamStats:
    """Counters for tests and ``sandbox status``."""

    connections: int = 0
    signatures: int = 0
    refusals: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)  # unexpected exceptions (should stay empty)


class _Session:
    def __init__(
        self,
        server: SamServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.buf = b""
        self.key: bytes | None = None

    async def read(self, extract: Extractor) -> object:
        while True:
            got = extract(self.buf)  # raises SamProtocolError on garbage
            if got is not None:
                value, used = got
                self.buf = self.buf[used:]
                return value
            if len(self.buf) > samwire.MAX_HELLO * 2:
                raise _Closed("buffer limit")
            chunk = await asyncio.wait_for(self.reader.read(4096), self.server.read_timeout)
            if not chunk:
                raise _Closed("client closed")
            self.buf += chunk

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_message(self, msg: SamMessage) -> None:
        assert self.key is not None
        await self.send(samwire.wrap(self.key, msg.encode()))

    async def refuse(self, rc: bytes) -> NoReturn:
        self.server.stats.refusals += 1
        await self.send_message(SamMessage("04", (("rc", rc),)))
        raise _Closed("refused")

    def _next_packet(self, buf: bytes) -> tuple[object, int] | None:
        live = samwire.LIVENESS_REQUEST
        if buf.startswith(live):
            return live, len(live)
        if live.startswith(buf):
            return None
        assert self.key is not None
        key = self.key
        return samwire.extract_wrapped(buf, key, samwire.is_message)

    async def next_message(self) -> SamMessage:
        """The next session message, answering liveness checks on the way."""
        while True:
            packet = await self.read(self._next_packet)
            if packet == samwire.LIVENESS_REQUEST:
                await self.send(SamMessage("04", (("rc", RC_OK),)).encode())
                continue
            assert isinstance(packet, bytes)
            return samwire.parse_message(packet)

    async def run(self) -> None:
        srv = self.server
        wrap_key = srv.keys.wrap_key
        # 1-2: hello, server nonce for the client's key
        hello = await self.read(
            lambda b: samwire.extract_wrapped(b, wrap_key, samwire.is_hello, samwire.MAX_HELLO)
        )
        assert isinstance(hello, bytes)
        client_key = samwire.parse_client_hello(hello)
        server_nonce = srv.rng(16)
        block = client_key.encrypt(server_nonce, padding.PKCS1v15())
        await self.send(
            samwire.wrap(wrap_key, samwire.encode_server_hello(srv.keys.sam_public_key, block))
        )
        # 3: client nonce → session key
        enc_nonce = await self.read(samwire.extract_length_prefixed)
        assert isinstance(enc_nonce, bytes)
        try:
            client_nonce = srv.keys.sam_private_key.decrypt(enc_nonce, padding.PKCS1v15())
        except ValueError:
            raise _Closed("client nonce does not decrypt") from None
        if len(client_nonce) < 8:
            raise _Closed("client nonce too short")
        self.key = (client_nonce + server_nonce)[:24]
        # 6: card id and card challenge → 32 bytes for MUTUAL AUTH
        msg = await self.next_message()
        try:
            card_id_raw, card_challenge = samwire.expect(msg, "01", (("id", 12), ("rn", 8)))
        except SamProtocolError:
            await self.refuse(RC_BAD_REQUEST)
        card_id = card_id_raw.decode("ascii", errors="replace")
        card = srv.data.card(card_id) if card_id.isdigit() else None
        if card is None:
            await self.refuse(RC_CARD_REFUSED)
        assert card is not None
        au32 = srv.rng(32)
        await self.send_message(SamMessage("02", (("au", au32),)))
        # 8: the card's answer and version+random → signature
        msg = await self.next_message()
        try:
            # se: version+random (20) or, on the card + password path, the random alone (16)
            answer, version_plus_random = samwire.expect(msg, "03", (("au", 16), ("se", None)))
        except SamProtocolError:
            await self.refuse(RC_BAD_REQUEST)
        if len(version_plus_random) not in (16, 20):
            await self.refuse(RC_BAD_REQUEST)
        expected = mutual_auth_answer(card.auth_key, au32, card_challenge)
        if not hmac.compare_digest(answer, expected):
            await self.refuse(RC_CARD_REFUSED)
        text = version_plus_random.decode("ascii", errors="replace")
        if not (text.isascii() and text.isprintable()) or "\ufffd" in text:
            await self.refuse(RC_BAD_REQUEST)
        sig = sign_h_sign(srv.keys.sam_private_key, card.card_number, text)
        await self.send_message(SamMessage("04", (("rc", RC_OK), ("si", sig.encode("ascii")))))
        srv.stats.signatures += 1


class SamServer:
    """The sandbox SAM on ``host:port`` (port 0 = any free port; see :attr:`port`)."""

    def __init__(
        self,
        data: SandboxData,
        keys: SandboxKeys,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        read_timeout: float = 10.0,
        session_timeout: float = 30.0,
        max_connections: int = 32,
        rng: Callable[[int], bytes] | None = None,
    ) -> None:
        self.data = data
        self.keys = keys
        self.host = host
        self._port = port
        self.read_timeout = read_timeout
        self.session_timeout = session_timeout
        self.max_connections = max_connections
        self.rng = rng or secrets.token_bytes
        self.stats = SamStats()
        self._server: asyncio.Server | None = None
        self._active = 0

    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Start listening in the running event loop."""
        self._server = await asyncio.start_server(self._handle, self.host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        if self._active >= self.max_connections:
            writer.close()
            self.stats.dropped += 1
            return
        self._active += 1
        try:
            await asyncio.wait_for(_Session(self, reader, writer).run(), self.session_timeout)
        except (_Closed, SamProtocolError, TimeoutError, ConnectionError, OSError):
            self.stats.dropped += 1
        except Exception as exc:  # noqa: BLE001 - a client must never take the server down
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self._active -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def serve_in_thread(self) -> SamServerThread:
        """Run this server in its own thread and event loop (for tests and scripts)."""
        return SamServerThread(self)


class SamServerThread(ClosesOnExit):
    """A :class:`SamServer` running in a background thread; a context manager."""

    def __init__(self, server: SamServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sandbox-sam", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.server.stop())
        self._loop.close()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return self.server.address

    def close(self) -> None:
        """Leave ``with``: :meth:`stop`."""
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
