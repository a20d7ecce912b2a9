"""A broken or hostile site (issues 14 and 23): a body of gigabytes is cut off at the cap, a
compression bomb is unpacked only up to the cap (under ``prlimit --as``), and a site that
trickles a byte at a time — in its body, or in its status line and headers — is given up at
the total deadline: each exits 7 with a message naming the site, through the installed CLI
against real HTTPS servers on loopback."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from nhicard.core.errors import NetworkError
from nhicard.web.browser import Browser, BrowserPolicy
from tests.support.cli import run_nhicard
from tests.support.https import make_ca, make_leaf
from tests.support.limited_run import prlimit_path, run_nhicard_limited
from tests.support.profiles import write_sandbox
from tests.support.register_kit import REGISTER

CHUNK = b"<p>" + b"x" * 65_530 + b"</p>"
BOMB_SIZE = 1 << 30  # decoded; about 12 KB on the wire


def gzip_bytes(chunks: Iterator[bytes], level: int = 9) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return b"".join(packer.compress(c) for c in chunks) + packer.flush()


def gzip_gzip_bomb() -> bytes:
    """``Content-Encoding: gzip, gzip`` of 1 GiB of zeros."""
    zeros = bytes(1 << 24)
    inner = gzip_bytes((zeros for _ in range(BOMB_SIZE // len(zeros))), level=1)
    return gzip_bytes(iter([inner]))


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith("/cloudic/"):
            self.path = self.server.mode  # type: ignore[attr-defined]
        if self.path.startswith("/drip-head"):  # status line and headers, a byte at a time
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Drip: " + b"a" * 400
            try:
                for byte in head:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                pass
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if self.path.startswith("/bomb"):
            body = self.server.bomb  # type: ignore[attr-defined]
            self.send_header("Content-Encoding", "gzip, gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/huge"):  # endless, without Content-Length
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(40_000):  # 2.6 GB if nobody stops reading
                    self.wfile.write(CHUNK)
            except OSError:
                return
        elif self.path.startswith(("/forms", "/nested")):
            many = 100_000 if self.path.startswith("/forms") else 200_000
            unit = b"<form></form>" if self.path.startswith("/forms") else b"<div>"
            body = b"<html><body>" + unit * many + b"</body></html>"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.startswith("/stall"):  # headers, then nothing
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            time.sleep(10)
        elif self.path.startswith("/trickle"):  # one byte every 0.3 s, for a minute
            self.send_header("Content-Length", "200")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                return

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    import ssl

    d = tmp_path_factory.mktemp("hostile")
    ca_key, ca_cert, ca_path = make_ca(d)
    cert, key = make_leaf(d, ca_key, ca_cert, "hostile")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    server.mode = "/huge"  # type: ignore[attr-defined]
    server.bomb = gzip_gzip_bomb()  # type: ignore[attr-defined]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield {
        "url": f"https://127.0.0.1:{server.server_address[1]}",
        "ca": str(ca_path),
        "srv": server,
    }
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_browser_caps_the_body(hostile: dict[str, object]) -> None:
    policy = BrowserPolicy(ca_bundle=str(hostile["ca"]), max_body_bytes=1024 * 1024)
    with Browser(policy) as browser, pytest.raises(NetworkError) as caught:
        browser.open(f"{hostile['url']}/huge")
    assert caught.value.reason == "body-too-large"
    assert "larger than 1 MB" in caught.value.message.en


def test_browser_total_deadline(hostile: dict[str, object]) -> None:
    policy = BrowserPolicy(ca_bundle=str(hostile["ca"]), read_timeout=1.0, total_timeout=1.5)
    started = time.monotonic()
    with Browser(policy) as browser, pytest.raises(NetworkError) as caught:
        browser.open(f"{hostile['url']}/trickle")
    assert caught.value.reason == "total-timeout"
    assert time.monotonic() - started < 4


def test_body_under_the_cap_reads_as_before() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, html="<html><body>好</body></html>")

    with Browser(transport=httpx.MockTransport(answer)) as browser:
        page = browser.open("https://example.test/")
    assert "好" in page.text


def _register(tmp_path: Path, hostile: dict[str, object], *extra: str, lang: str = "en") -> object:
    url = str(hostile["url"])
    sandbox_dir = write_sandbox(
        tmp_path / "sandbox", nhi_url=url, ecpa_url=url, elearn_url=url, ca_bundle=hostile["ca"]
    )
    env = {
        "NHICARD_SANDBOX_DIR": str(sandbox_dir),
        "NHICARD_PASSWORD": "Pw-246810",
        "NHICARD_STATE_DIR": str(tmp_path / "state"),
    }
    args = ["--profile", "sandbox", "--agent", "direct", "--lang", lang, *REGISTER, *extra]
    return run_nhicard(*args, env=env, timeout=60)


def test_register_against_a_site_sending_gigabytes_exits_7(
    hostile: dict[str, object], tmp_path: Path
) -> None:
    hostile["srv"].mode = "/huge"  # type: ignore[attr-defined]
    done = _register(tmp_path, hostile)
    assert done.returncode == 7, done.stderr  # type: ignore[attr-defined]
    assert "sent a response larger than 8 MB" in done.stderr  # type: ignore[attr-defined]


def test_register_against_a_trickling_site_gives_up_at_the_total_deadline(
    hostile: dict[str, object], tmp_path: Path
) -> None:
    hostile["srv"].mode = "/trickle"  # type: ignore[attr-defined]
    started = time.monotonic()
    done = _register(tmp_path, hostile, "--timeout", "1")
    assert done.returncode == 7, done.stderr  # type: ignore[attr-defined]
    assert "did not finish its response within 2 s" in done.stderr  # type: ignore[attr-defined]
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("/forms", "100000 forms (at most 200)"), ("/nested", "200002 elements (at most 50000)")],
)
def test_register_against_a_page_of_100000_forms_or_200000_elements_exits_11_quickly(
    hostile: dict[str, object], tmp_path: Path, mode: str, expected: str
) -> None:
    hostile["srv"].mode = mode  # type: ignore[attr-defined]
    started = time.monotonic()
    done = _register(tmp_path, hostile)
    assert done.returncode == 11, done.stderr  # type: ignore[attr-defined]
    assert f"the page is too large to read: {expected}" in done.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in done.stderr  # type: ignore[attr-defined]
    assert time.monotonic() - started < 10


def test_retries_stay_within_the_total_deadline(hostile: dict[str, object]) -> None:
    """A GET whose reads time out is retried only while the request's deadline allows."""
    policy = BrowserPolicy(
        ca_bundle=str(hostile["ca"]), read_timeout=0.6, total_timeout=1.0, retries=5, backoff=0.1
    )
    hostile["srv"].mode = "/trickle"  # type: ignore[attr-defined]
    started = time.monotonic()
    with Browser(policy) as browser, pytest.raises(NetworkError):
        browser.open(f"{hostile['url']}/stall")
    assert time.monotonic() - started < 3.5  # not 6 attempts x 0.6 s + backoff


# -- issue 23: one total deadline for the head too, and decoding bounded by what it produces


def test_browser_total_deadline_covers_a_dripped_status_line(hostile: dict[str, object]) -> None:
    """Every read gets a byte within its timeout, so only the total deadline can end it."""
    policy = BrowserPolicy(ca_bundle=str(hostile["ca"]), read_timeout=1.0, total_timeout=1.5)
    with Browser(policy) as browser, pytest.raises(NetworkError) as caught:
        browser.open(f"{hostile['url']}/drip-head")
    assert caught.value.reason == "total-timeout"
    assert (
        caught.value.message.en == "127.0.0.1 did not finish its response within 1.5 s; giving up"
    )
    assert "127.0.0.1" in caught.value.message.zh


def test_browser_refuses_a_gzip_gzip_bomb_at_the_cap(hostile: dict[str, object]) -> None:
    policy = BrowserPolicy(ca_bundle=str(hostile["ca"]), max_body_bytes=1024 * 1024)
    with Browser(policy) as browser, pytest.raises(NetworkError) as caught:
        browser.open(f"{hostile['url']}/bomb")
    assert caught.value.reason == "body-too-large"


@pytest.mark.timeout(120)
def test_register_against_a_site_dripping_its_headers_exits_7(
    hostile: dict[str, object], tmp_path: Path
) -> None:
    hostile["srv"].mode = "/drip-head"  # type: ignore[attr-defined]
    done = _register(tmp_path, hostile, "--timeout", "1")
    assert done.returncode == 7, done.stderr  # type: ignore[attr-defined]
    assert "127.0.0.1 did not finish its response within 2 s" in done.stderr  # type: ignore[attr-defined]
    done_zh = _register(tmp_path, hostile, "--timeout", "1", lang="zh-TW")
    assert done_zh.returncode == 7, done_zh.stderr  # type: ignore[attr-defined]
    assert "127.0.0.1 在 2 秒內沒有送完回應" in done_zh.stderr  # type: ignore[attr-defined]


@pytest.mark.skipif(prlimit_path() is None, reason="prlimit (util-linux) is not installed")
@pytest.mark.timeout(120)
def test_register_against_a_gzip_bomb_stays_within_600_mb(
    hostile: dict[str, object], tmp_path: Path
) -> None:
    """12 KB of ``gzip, gzip`` that unpacks to 1 GiB: the cap ends it, not MemoryError."""
    hostile["srv"].mode = "/bomb"  # type: ignore[attr-defined]
    url = str(hostile["url"])
    sandbox_dir = write_sandbox(
        tmp_path / "sandbox", nhi_url=url, ecpa_url=url, elearn_url=url, ca_bundle=hostile["ca"]
    )
    env = {
        "NHICARD_SANDBOX_DIR": str(sandbox_dir),
        "NHICARD_PASSWORD": "Pw-246810",
        "NHICARD_STATE_DIR": str(tmp_path / "state"),
    }
    args = ["--profile", "sandbox", "--agent", "direct", "--lang", "en", *REGISTER]
    done = run_nhicard_limited(*args, address_space=600 * 1024 * 1024, env=env)
    assert done.returncode == 7, done.stderr
    assert "127.0.0.1 sent a response larger than 8 MB" in done.stderr
    assert "MemoryError" not in done.stderr and "internal error" not in done.stderr
