"""The WebSocket port of ``agent serve`` (resource ``/echo``): the upgrade, the frames, and
each text message answered by the command set; a plain GET gets a small page.

An origin that is not allowed (:mod:`nhicard.agent.serve.origins`) is refused at the handshake:
``403`` with a short plain-text reason (websockets' ``ServerProtocol.reject``) instead of the
``101`` upgrade, so no WebSocket ever opens for it and it gets no card work. (A ``Host`` that is
not this computer's is refused with ``403`` before this, by the transport.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from nhicard.agent.serve.commands import (
    UNKNOWN,
    CommandPort,
    command_name,
    outcome,
)
from nhicard.agent.serve.httpwire import RequestHead, http_response
from nhicard.agent.serve.transport import Conn

RESOURCE = "/echo"
MAX_REQUEST = 4096
ORIGIN_REFUSED_BODY = "Origin not allowed\n"
NO_ORIGIN_REFUSED_BODY = "Origin missing on a cross-site request: not allowed\n"

_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>nhicard agent</title></head>"
    "<body><p>nhicard agent: NHI card agent (WebSocket at /echo)</p></body></html>"
)


class WebSocketPort(CommandPort):
    """Answers one connection on the WebSocket port."""

    async def handle(
        self,
        conn: Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        raw: bytes,
        head: RequestHead,
    ) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Request
        from websockets.protocol import State
        from websockets.server import ServerProtocol

        if "websocket" not in (head.get("upgrade") or "").lower():
            body = _PAGE.encode()
            headers = [
                ("Server", self._server_header),
                ("Content-Type", "text/html; charset=utf-8"),
            ]
            writer.write(http_response(200, "OK", body if head.method != "HEAD" else b"", headers))
            await writer.drain()
            return
        if head.path != RESOURCE:
            writer.write(http_response(404, "Not Found", b"Not found\n"))
            await writer.drain()
            return
        origin = head.get("origin")
        allowed = self.origins.allows_request(origin, head.get("sec-fetch-site"))
        protocol = ServerProtocol(max_size=MAX_REQUEST)
        protocol.receive_data(raw)
        events = protocol.events_received()
        if not events or not isinstance(events[0], Request):
            return
        if allowed:
            response = protocol.accept(events[0])
        else:  # refused before any upgrade: no WebSocket opens for this page
            response = protocol.reject(
                403, ORIGIN_REFUSED_BODY if origin is not None else NO_ORIGIN_REFUSED_BODY
            )
            self._note(f"{origin or '-'} WebSocket -> 403")
        response.headers["Server"] = self._server_header
        protocol.send_response(response)
        await self._flush(protocol, writer)
        if response.status_code != 101:
            return
        fragments: list[bytes] = []
        while protocol.state is State.OPEN:
            data = await asyncio.wait_for(reader.read(65536), self.limits.idle_timeout)
            if not data:
                protocol.receive_eof()
                break
            protocol.receive_data(data)
            for event in protocol.events_received():
                if not isinstance(event, Frame) or event.opcode not in (
                    Opcode.TEXT,
                    Opcode.BINARY,
                    Opcode.CONT,
                ):
                    continue
                fragments.append(bytes(event.data))
                if not event.fin:
                    continue
                message, fragments = b"".join(fragments), []
                text = message.decode("utf-8", errors="replace")
                if event.opcode is Opcode.BINARY and len(message) > 0:
                    reply = UNKNOWN
                else:
                    reply = await self.commands.answer(conn, text)
                self._note(f"{origin or '-'} {command_name(text)} -> {outcome(reply)}")
                protocol.send_text(reply.encode())
            await self._flush(protocol, writer)
        await self._flush(protocol, writer)

    async def _flush(self, protocol: Any, writer: asyncio.StreamWriter) -> None:
        for chunk in protocol.data_to_send():
            if chunk:
                writer.write(chunk)
        await asyncio.wait_for(writer.drain(), self.limits.handshake_timeout)
