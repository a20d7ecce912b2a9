"""The HTTP API ports of ``agent serve`` (:mod:`nhicard.agent.serve.httpapi` maps the calls):
the request handling, CORS and Private Network Access.

The origin is checked before any card work (also on CORS "simple" requests such as an
``<img>`` of a status bitmap): an origin that is not allowed gets ``403`` with
``{"result": "4041"}`` and no CORS headers. A POST body is read, and bounded, first: closing
a connection with its body unread resets it.
"""

from __future__ import annotations

import asyncio
import json

from nhicard.agent.serve import httpapi
from nhicard.agent.serve.commands import ORIGIN_REFUSED, UNKNOWN, CommandPort, outcome
from nhicard.agent.serve.httpwire import RequestHead, http_response
from nhicard.agent.serve.transport import Conn

Reply = tuple[int, str, bytes, list[tuple[str, str]]]

_JSON_TYPE = ("Content-Type", "application/json; charset=utf-8")


def _json(doc: dict[str, str]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def preflight(head: RequestHead) -> list[tuple[str, str]]:
    """CORS preflight answer for an allowed origin, with Private Network Access."""
    out = [
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Max-Age", "600"),
    ]
    wanted = head.get("access-control-request-headers")
    if wanted:
        names = [n.strip() for n in wanted.split(",")]
        if all(n and n.replace("-", "").isalnum() for n in names):
            out.append(("Access-Control-Allow-Headers", ", ".join(names)))
    if (head.get("access-control-request-private-network") or "").lower() == "true":
        out.append(("Access-Control-Allow-Private-Network", "true"))
    if (head.get("access-control-request-local-network") or "").lower() == "true":
        out.append(("Access-Control-Allow-Local-Network", "true"))
    return out


class ApiPort(CommandPort):
    """Answers one request on an HTTP API port."""

    async def handle(
        self,
        conn: Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: RequestHead,
    ) -> None:
        status, reason, body, headers = await self.reply(conn, reader, head)
        writer.write(
            http_response(status, reason, body, [("Server", self._server_header), *headers])
        )
        await asyncio.wait_for(writer.drain(), self.limits.handshake_timeout)

    async def reply(self, conn: Conn, reader: asyncio.StreamReader, head: RequestHead) -> Reply:
        origin = head.get("origin")
        allowed = self.origins.allows_request(origin, head.get("sec-fetch-site"))
        cors = (
            [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
            if origin and allowed
            else [("Vary", "Origin")]
        )
        path = head.path
        call = path[len("/api/") :] if path.startswith("/api/") else None
        known = call in httpapi.POST_CALLS or call in httpapi.BITMAP_CALLS
        if not known:
            return 404, "Not Found", b"Not found\n", []
        label = f"{origin or '-'} api/{call}"
        body = b""
        if head.method == "POST":  # read (and bound) the body first: closing with it unread
            if head.get("transfer-encoding") is not None:  # would reset the connection
                return 411, "Length Required", b"", cors
            length_text = head.get("content-length") or "0"
            if not length_text.isdigit() or int(length_text) > httpapi.MAX_BODY:
                return 413, "Content Too Large", b"", cors
            body = await asyncio.wait_for(
                reader.readexactly(int(length_text)), self.limits.handshake_timeout
            )
        if not allowed:
            self._note(f"{label} -> 403")
            return 403, "Forbidden", _json({"result": ORIGIN_REFUSED}), [_JSON_TYPE]
        if head.method == "OPTIONS":
            return 204, "No Content", b"", [*cors, *preflight(head)]
        if call in httpapi.BITMAP_CALLS:
            if head.method not in ("GET", "HEAD"):
                return 405, "Method Not Allowed", b"", [*cors, ("Allow", "GET")]
            if call == "GetStatus.bmp":
                doc = {
                    "result": httpapi.OK,
                    "version": self.commands.dispatch("GetVersion").partition(":")[2],
                    "service": "nhicard",
                }
            else:
                doc = await self.commands.card_status(conn)
            self._note(f"{label} -> {outcome(doc['result'])}")
            bmp = httpapi.status_bitmap(doc)
            return (
                200,
                "OK",
                bmp if head.method == "GET" else b"",
                [*cors, ("Content-Type", "image/bmp"), ("Cache-Control", "no-store")],
            )
        if head.method != "POST":
            return 405, "Method Not Allowed", b"", [*cors, ("Allow", "POST")]
        assert call is not None
        command = httpapi.command_for(call, httpapi.parse_body(body))
        reply = UNKNOWN if command is None else await self.commands.answer(conn, command)
        answer = httpapi.json_reply(call, reply)
        self._note(f"{label} -> {outcome(answer['result'])}")
        return 200, "OK", _json(answer), [*cors, _JSON_TYPE, ("Cache-Control", "no-store")]
