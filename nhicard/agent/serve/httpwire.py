"""HTTP/1.1 on the wire for ``agent serve``: the request head every port reads first (request
line and headers, bounded by :data:`MAX_HEAD`) and the one-shot responses it writes (always
``Connection: close``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate

MAX_HEAD = 8192


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), in order

    def get(self, name: str) -> str | None:
        """The one value of header ``name``; :class:`BadRequest` when it is repeated."""
        values = [v for k, v in self.headers if k == name]
        if len(values) > 1:
            raise BadRequest(f"repeated {name} header")
        return values[0] if values else None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def parse_head(head: bytes) -> RequestHead:
    """Request line and headers of an HTTP/1.1 request head (ending in an empty line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise BadRequest("bad request line")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or not name.isascii():
            raise BadRequest("bad header line")
        headers.append((name.lower(), value.strip(" \t")))
    return RequestHead(parts[0], parts[1], tuple(headers))


def http_response(
    status: int, reason: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body
