"""Browser against a real HTTPS server on loopback (own CA made here), plus transport faults."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from nhicard import __version__
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NetworkError
from nhicard.web.browser import Browser, BrowserPolicy
from nhicard.web.errors import StaleForm
from nhicard.web.redact import Redactor
from tests.support.https import Handler, make_ca, make_leaf, serve

# -- a tiny CA and HTTPS server ------------------------------------------------------------


@dataclass
class TlsServer:
    url: str
    ca: str
    server: ThreadingHTTPServer


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsServer, TlsServer]]:
    d = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert, ca_path = make_ca(d)
    good = serve(*make_leaf(d, ca_key, ca_cert, "good"))
    expired = serve(*make_leaf(d, ca_key, ca_cert, "expired", expired=True))
    servers = tuple(
        TlsServer(f"https://127.0.0.1:{s.server_address[1]}", str(ca_path), s)
        for s, _ in (good, expired)
    )
    yield servers  # type: ignore[misc]
    for server, thread in (good, expired):
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def site(tls: tuple[TlsServer, TlsServer]) -> TlsServer:
    Handler.hits.clear()
    return tls[0]


def browser_for(site: TlsServer, **policy: object) -> tuple[Browser, list[float], list[str]]:
    sleeps: list[float] = []
    trace: list[str] = []
    settings = {"ca_bundle": site.ca, "read_timeout": 5.0, **policy}
    b = Browser(BrowserPolicy(**settings), sleep=sleeps.append, trace=trace.append)  # type: ignore[arg-type]
    return b, sleeps, trace


# -- tests ---------------------------------------------------------------------------------


def test_cookies_follow_redirects_and_requests_are_counted(site: TlsServer) -> None:
    b, _, trace = browser_for(site)
    with b:
        page = b.open(site.url + "/set")
        assert page.url == site.url + "/show"
        assert page.text == "<p>cookie=sid=abc123</p>"
        assert b.requests_made == 3
        assert b.cookies.get("sid") == "abc123"
        assert [line.split(" → ")[1].split(" ")[0] for line in trace] == ["302", "303", "200"]
        assert b.current is page and page.serial == 1
        form_page = b.open(site.url + "/form")
        shown = b.click(form_page, "看 cookie")
        assert (shown.url, shown.serial, shown.text) == (
            site.url + "/show",
            3,
            "<p>cookie=sid=abc123</p>",
        )


def test_form_post_is_encoded_as_a_browser_would_with_masked_trace(site: TlsServer) -> None:
    redactor = Redactor()
    redactor.add_secret("王小明", "name")
    b, _, trace = browser_for(site)
    b.redactor = redactor
    with b:
        page = b.open(site.url + "/form")
        form = page.form()
        form["密碼"] = "Secret-99"
        form["姓名"] = "王小明"
        echoed = b.click(page, "送出").json()
    assert echoed == {
        "method": "POST",
        "body": "__VIEWSTATE=vs1&pwd=Secret-99&who=%E7%8E%8B%E5%B0%8F%E6%98%8E&go=%E9%80%81%E5%87%BA",
        "ctype": "application/x-www-form-urlencoded; charset=utf-8",
        "ua": f"nhicard/{__version__}",
        "origin": site.url,
        "referer": site.url + "/form",
        "xhr": None,
    }
    joined = "\n".join(trace)
    assert "Secret-99" not in joined and "王小明" not in joined
    assert "pwd=***" in joined and "who=王*明" in joined
    assert f"POST {site.url}/echo → 200" in joined


def test_fetch_is_xhr_and_keeps_the_current_page(site: TlsServer) -> None:
    b, _, _ = browser_for(site)
    with b:
        page = b.open(site.url + "/form")
        answer = b.fetch("POST", site.url + "/echo", json={"a": "臺"})
        assert answer.json()["body"] == '{"a": "臺"}'
        assert answer.json()["xhr"] == "XMLHttpRequest"
        assert answer.json()["ctype"] == "application/json; charset=utf-8"
        assert b.current is page
        b.submit(page.form().submission("go"))  # still the current page's form: allowed


def test_stale_form_is_refused(site: TlsServer) -> None:
    b, _, _ = browser_for(site)
    with b:
        old = b.open(site.url + "/form")
        b.open(site.url + "/form")
        with pytest.raises(StaleForm):
            b.submit(old.form().submission("go"))


def test_5xx_get_is_retried_with_backoff_post_is_not(site: TlsServer) -> None:
    b, sleeps, _ = browser_for(site, retries=2, backoff=0.25)
    with b:
        with pytest.raises(NetworkError) as err:
            b.open(site.url + "/fail")
        assert err.value.reason == "server-error" and exit_code_for(err.value) == 7
        assert "127.0.0.1" in err.value.message.en and "503" in err.value.message.en
        assert Handler.hits["GET /fail"] == 3 and sleeps == [0.25, 0.5]
        with pytest.raises(NetworkError):
            b.fetch("POST", site.url + "/fail", pairs=[("a", "1")])
        assert Handler.hits["POST /fail"] == 1
        assert b.open(site.url + "/flaky").text == "<p>recovered</p>"
        assert Handler.hits["GET /flaky"] == 2
        assert b.requests_made == 3 + 1 + 2


def test_maintenance_page_is_a_network_error_with_its_message(site: TlsServer) -> None:
    b, sleeps, _ = browser_for(
        site, maintenance_markers=("系統維護中",), message_selectors=("#msg",)
    )
    with b, pytest.raises(NetworkError) as err:
        b.open(site.url + "/maint")
    assert err.value.reason == "maintenance"
    assert "系統維護中,預計 18:00 恢復" in err.value.message.zh
    assert sleeps == []  # a maintenance page is not retried


def test_unknown_ca_is_refused(site: TlsServer) -> None:
    b, _, _ = browser_for(site, ca_bundle=None)
    with b, pytest.raises(NetworkError) as err:
        b.open(site.url + "/show")
    assert err.value.reason == "tls-unknown-ca"
    assert "127.0.0.1" in err.value.message.en
    assert err.value.hint is not None and "proxy" in err.value.hint.en
    assert "nhicard env check" in err.value.hint.en
    assert Handler.hits["GET /show"] == 0


def test_expired_certificate_is_refused(tls: tuple[TlsServer, TlsServer]) -> None:
    expired = tls[1]
    b, sleeps, _ = browser_for(expired)
    with b, pytest.raises(NetworkError) as err:
        b.open(expired.url + "/show")
    assert err.value.reason == "tls-expired"
    assert sleeps == []


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    b = Browser(BrowserPolicy(retries=1, backoff=0.1), sleep=sleeps.append)
    with b, pytest.raises(NetworkError) as err:
        b.open(f"https://127.0.0.1:{port}/")
    assert err.value.reason == "connection-refused"
    assert "127.0.0.1 refused the connection" in err.value.message.en
    assert sleeps == [0.1] and b.requests_made == 2


def test_read_timeout_is_not_retried(site: TlsServer) -> None:
    b, sleeps, _ = browser_for(site, read_timeout=0.3)
    with b, pytest.raises(NetworkError) as err:
        b.open(site.url + "/slow")
    assert err.value.reason == "read-timeout" and sleeps == [] and b.requests_made == 1


def test_plain_http_refused_even_by_redirect(site: TlsServer) -> None:
    b, _, _ = browser_for(site)
    with b:
        with pytest.raises(NetworkError) as err:
            b.open("http://127.0.0.1:1/")
        assert err.value.reason == "insecure-url" and b.requests_made == 0
        with pytest.raises(NetworkError) as err:
            b.open(site.url + "/to-http")
        assert err.value.reason == "insecure-url" and b.requests_made == 1


def test_redirect_loop_is_bounded(site: TlsServer) -> None:
    b, _, _ = browser_for(site, max_redirects=3)
    with b, pytest.raises(NetworkError) as err:
        b.open(site.url + "/loop")
    assert err.value.reason == "too-many-redirects" and b.requests_made == 4


# -- faults that need no server ------------------------------------------------------------


def failing(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


def test_dns_failure_is_classified_and_not_retried() -> None:
    exc = httpx.ConnectError("[Errno -2] Name or service not known")
    exc.__cause__ = socket.gaierror(-2, "Name or service not known")
    sleeps: list[float] = []
    b = Browser(transport=failing(exc), sleep=sleeps.append)
    with pytest.raises(NetworkError) as err:
        b.open("https://cloudicweb.nhi.gov.tw/cloudic/system/mlogin.aspx")
    assert err.value.reason == "dns"
    assert "cloudicweb.nhi.gov.tw" in err.value.message.zh
    assert "proxy" in (err.value.hint.en if err.value.hint else "")
    assert sleeps == []


def test_connect_timeout_is_retried() -> None:
    sleeps: list[float] = []
    b = Browser(
        BrowserPolicy(retries=2, backoff=1),
        transport=failing(httpx.ConnectTimeout("t")),
        sleep=sleeps.append,
    )
    with pytest.raises(NetworkError) as err:
        b.open("https://example.test/")
    assert err.value.reason == "connect-timeout" and sleeps == [1, 2] and b.requests_made == 3


def test_injected_client_is_used_and_left_open() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["user-agent"])
        return httpx.Response(200, text="<p>ok</p>", headers={"content-type": "text/html"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with Browser(client=client) as b:
        assert b.open("https://example.test/").text == "<p>ok</p>"
    assert not client.is_closed and seen == [f"nhicard/{__version__}"]
    client.close()
