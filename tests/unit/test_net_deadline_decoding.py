"""The pieces behind issue 23's web fixes: content decoding bounded by what it produces
(:mod:`nhicard.net.decoding`) and the watchdog that ends an exchange at its total deadline
(:mod:`nhicard.net.deadline`)."""

from __future__ import annotations

import socket
import zlib
from collections.abc import Iterator

import httpx
import pytest

from nhicard.core.errors import NetworkError
from nhicard.net.deadline import ExchangeWatchdog
from nhicard.net.decoding import (
    STEP,
    BadEncoding,
    DecodedTooLarge,
    content_codings,
    decode_bounded,
)
from nhicard.web.browser import Browser, BrowserPolicy


def pack(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def gzip(data: bytes) -> bytes:
    return pack(data, zlib.MAX_WBITS | 16)


def chunked(data: bytes, size: int = 7) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


BODY = ("<html><body>" + "健保卡 " * 5000 + "</body></html>").encode("utf-8")


@pytest.mark.parametrize(
    ("codings", "wire"),
    [
        ([], BODY),
        (["gzip"], gzip(BODY)),
        (["deflate"], pack(BODY, zlib.MAX_WBITS)),
        (["deflate"], pack(BODY, -zlib.MAX_WBITS)),  # raw deflate, as some servers send
        (["gzip", "gzip"], gzip(gzip(BODY))),
        (["deflate", "gzip"], gzip(pack(BODY, zlib.MAX_WBITS))),
        (["br"], BODY),  # a coding we do not decode passes through, as in httpx
    ],
)
def test_decoding_gives_the_body_back(codings: list[str], wire: bytes) -> None:
    for size in (7, 65536):
        pieces = list(decode_bounded(chunked(wire, size), codings, len(BODY)))
        assert b"".join(pieces) == BODY
        assert all(0 < len(p) <= STEP for p in pieces) or codings in ([], ["br"])


def test_codings_are_read_from_header_values_in_order() -> None:
    assert content_codings(["gzip, x-gzip", " Deflate ", "identity", ""]) == [
        "gzip",
        "gzip",
        "deflate",
    ]


def test_a_bomb_stops_at_the_limit_of_what_it_produces() -> None:
    """64 MiB of zeros in two gzip layers: refused once 1 MiB is produced."""
    zeros = bytes(1 << 20)
    packer = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    inner = b"".join(packer.compress(zeros) for _ in range(64)) + packer.flush()
    wire = gzip(inner)
    produced = 0
    with pytest.raises(DecodedTooLarge) as caught:
        for piece in decode_bounded(iter([wire]), ["gzip", "gzip"], 1 << 20):
            produced += len(piece)
    assert caught.value.limit == 1 << 20
    assert produced <= 1 << 20


def test_exactly_the_limit_is_accepted() -> None:
    assert b"".join(decode_bounded(iter([gzip(BODY)]), ["gzip"], len(BODY))) == BODY
    with pytest.raises(DecodedTooLarge):
        list(decode_bounded(iter([gzip(BODY)]), ["gzip"], len(BODY) - 1))


def test_a_corrupt_body_is_a_bad_encoding() -> None:
    with pytest.raises(BadEncoding) as caught:
        list(decode_bounded(iter([b"not gzip at all"]), ["gzip"], 1000))
    assert caught.value.coding == "gzip"


def test_browser_reports_a_corrupt_body_as_a_network_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "gzip, deflate"
        stream = httpx.ByteStream(b"not gzip at all")
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=stream)

    with (
        Browser(transport=httpx.MockTransport(answer)) as browser,
        pytest.raises(NetworkError) as caught,
    ):
        browser.open("https://example.test/")
    assert caught.value.reason == "bad-content-encoding"
    assert "example.test" in caught.value.message.en and "example.test" in caught.value.message.zh


def test_browser_decodes_a_streamed_gzip_page() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        stream = httpx.ByteStream(gzip(gzip(BODY)))
        headers = {"Content-Encoding": "gzip, gzip", "Content-Type": "text/html; charset=utf-8"}
        return httpx.Response(200, headers=headers, stream=stream)

    with Browser(BrowserPolicy(), transport=httpx.MockTransport(answer)) as browser:
        page = browser.open("https://example.test/")
    assert "健保卡" in page.text


class FakeStream:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> object:
        return self.sock if name == "socket" else None


@pytest.mark.timeout(20)
def test_watchdog_shuts_the_connection_down_at_the_deadline() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        watchdog = ExchangeWatchdog()
        stream = FakeStream(ours)
        watchdog.trace("connection.connect_tcp.complete", {"return_value": stream})
        with watchdog.armed(0):
            assert ours.recv(10) == b""  # the blocked read returns: the socket was shut down
        assert watchdog.fired
        assert peer.recv(10) == b""  # and the other end sees the connection end


def test_a_late_timer_of_an_earlier_request_does_nothing() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        watchdog = ExchangeWatchdog()
        watchdog.trace("connection.start_tls.complete", {"return_value": FakeStream(ours)})
        with watchdog.armed(3600):
            pass
        with watchdog.armed(3600):
            watchdog._fire(1)  # the first request's timer, firing late
            assert not watchdog.fired
            peer.sendall(b"ok")
            assert ours.recv(10) == b"ok"
