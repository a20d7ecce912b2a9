"""HTTP content decoding (``Content-Encoding``) bounded by what it produces.

A response of a few KB on the wire can unpack to gigabytes (``gzip, gzip`` of zeros), so a
cap checked after each chunk is unpacked comes too late. :func:`decode_bounded` takes the raw
body in chunks (httpx's ``Response.iter_raw``) and unpacks it layer by layer with
``zlib.decompressobj(...).decompress(data, max_length)``: no layer ever holds more than
:data:`STEP` bytes of output at a time, and :class:`DecodedTooLarge` is raised as soon as the
decoded body (or any intermediate layer) passes the limit.

The codings are httpx's own set without optional packages: ``gzip`` (``x-gzip``),
``deflate`` (zlib-wrapped, or raw as some servers send it) and ``identity``; any other coding
is passed through undecoded, as httpx does for codings it cannot decode. Callers send
``Accept-Encoding:`` :data:`ACCEPT_ENCODING` so that a well-behaved server uses only these.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

ACCEPT_ENCODING = "gzip, deflate"
STEP = 64 * 1024  # the most output one decompress call may produce


class DecodedTooLarge(Exception):
    """The decoded body passed its limit (``limit`` is that limit, in bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"decoded content larger than {limit} bytes")
        self.limit = limit


class BadEncoding(Exception):
    """The body is not valid for its ``Content-Encoding`` (``coding`` names which)."""

    def __init__(self, coding: str, detail: str) -> None:
        super().__init__(f"invalid {coding} content: {detail}")
        self.coding = coding


def content_codings(header_values: Iterable[str]) -> list[str]:
    """The codings of ``Content-Encoding`` header values, in the order they were applied
    (lower case, ``identity`` and empty entries dropped)."""
    codings = []
    for value in header_values:
        for part in value.split(","):
            coding = part.strip().lower()
            if coding and coding != "identity":
                codings.append("gzip" if coding == "x-gzip" else coding)
    return codings


def decode_bounded(raw: Iterable[bytes], codings: list[str], limit: int) -> Iterator[bytes]:
    """The decoded body of ``raw`` (chunks as received) with ``codings`` (as applied, see
    :func:`content_codings`), in pieces of at most :data:`STEP` bytes; raises
    :class:`DecodedTooLarge` past ``limit`` bytes of output and :class:`BadEncoding` for a
    corrupt body."""
    # an intermediate layer is the compressed form of the next: a little over the limit at
    # most for a body within it (incompressible data grows by a few bytes per 16 KB)
    layer_limit = limit + limit // 64 + 4096
    stream: Iterable[bytes] = raw
    known = [c for c in codings if c in ("gzip", "deflate")]
    for i, coding in enumerate(reversed(known)):
        last = i == len(known) - 1
        stream = _layer(stream, coding, limit if last else layer_limit)
    size = 0
    for piece in stream:
        size += len(piece)
        if size > limit:
            raise DecodedTooLarge(limit)
        if piece:
            yield piece


def _layer(source: Iterable[bytes], coding: str, limit: int) -> Iterator[bytes]:
    """One coding undone over ``source``, never more than :data:`STEP` bytes per call."""
    make: Callable[[], zlib._Decompress]
    if coding == "gzip":
        make = lambda: zlib.decompressobj(zlib.MAX_WBITS | 16)  # noqa: E731
    else:
        make = zlib.decompressobj
    decompressor = make()
    first = coding == "deflate"  # deflate: zlib-wrapped, or raw on the first failure
    produced = 0
    for data in source:
        while True:
            try:
                out = decompressor.decompress(data, STEP)
            except zlib.error as exc:
                if not first:
                    raise BadEncoding(coding, str(exc)) from None
                decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
                first = False
                continue
            first = False
            produced += len(out)
            if produced > limit:
                raise DecodedTooLarge(limit)
            if out:
                yield out
            data = decompressor.unconsumed_tail
            # more may be pending inside zlib when the output filled max_length
            if not data and len(out) < STEP:
                break
    try:
        rest = decompressor.flush()
    except zlib.error as exc:  # pragma: no cover - zlib reports errors in decompress
        raise BadEncoding(coding, str(exc)) from None
    if produced + len(rest) > limit:
        raise DecodedTooLarge(limit)
    if rest:
        yield rest
