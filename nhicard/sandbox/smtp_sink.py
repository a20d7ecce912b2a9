"""The sandbox mail sink: a real SMTP server (aiosmtpd) that stores every message it accepts
into a Maildir (``new/``, ``cur/``, ``tmp/``) through :class:`mailbox.Maildir`.

The sink accepts any sender and recipient (it is the whole "Internet" of the sandbox) and
adds ``Return-Path`` and ``Delivered-To`` headers as a delivery agent would.
"""

from __future__ import annotations

import asyncio
import mailbox
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

DEFAULT_HOSTNAME = "smtp.sandbox.invalid"


class MaildirHandler:
    """aiosmtpd handler: each accepted message becomes one file in the Maildir."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = Path(maildir)
        self._box = mailbox.Maildir(str(self.maildir), factory=None, create=True)
        self._lock = threading.Lock()
        self.delivered = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or b""
        if not isinstance(content, bytes):
            content = str(content).encode("utf-8")
        sender = envelope.mail_from or ""
        trace = f"Return-Path: <{sender}>\n".encode("utf-8", "replace")
        for rcpt in envelope.rcpt_tos:
            trace += f"Delivered-To: {rcpt}\n".encode("utf-8", "replace")
        body = content.replace(b"\r\n", b"\n")
        await asyncio.to_thread(self._store, trace + body)
        return "250 Message accepted for delivery"

    def _store(self, raw: bytes) -> None:
        with self._lock:
            self._box.add(raw)
            self.delivered += 1


class SmtpSink:
    """An SMTP server on ``host:port`` (``port=0``: any free port) writing to ``maildir``."""

    def __init__(self, maildir: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.maildir = Path(maildir)
        self.host = host
        self.port = port
        self.handler = MaildirHandler(self.maildir)
        self._server: asyncio.base_events.Server | None = None

    def _protocol(self) -> SMTP:
        return SMTP(
            self.handler,
            hostname=DEFAULT_HOSTNAME,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="nhicard sandbox SMTP sink",
        )

    async def start(self) -> None:
        """Listen inside the running event loop."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @contextmanager
    def serve_in_thread(self) -> Iterator[SmtpSink]:
        """Run the sink in its own event loop in a thread (for tests and tools)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=run, name="smtp-sink", daemon=True)
        thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def stats(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "delivered": self.handler.delivered}
