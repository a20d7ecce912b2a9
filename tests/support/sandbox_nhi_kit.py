"""Helpers for the sandbox NHI site tests: the site on real HTTPS (uvicorn in a thread with the
sandbox TLS), an injectable clock, a WebForms-aware client, and the card agent (virtual card
+ the direct backend + the sandbox SAM server) that fills the agent fields."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from bs4 import BeautifulSoup

from nhicard.agent.client.direct import DirectAgent
from nhicard.agent.sam.client import SamEndpoint
from nhicard.sandbox.context import SandboxContext
from nhicard.sandbox.data import CardRecord, SandboxData, load_data, parse_data
from nhicard.sandbox.nhi_site import build_nhi_app
from nhicard.sandbox.sam import SamServer
from nhicard.sandbox.smtp_sink import SmtpSink
from nhicard.sandbox.tls import ensure_tls
from nhicard.sandbox.vcard import InProcessConnection, VirtualCard

BASE = "/cloudic/system/"


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def https_app(app: Any, sock: socket.socket, cert: Path, key: Path) -> Iterator[str]:
    """Serve ``app`` over HTTPS on ``sock`` in a thread; yields the base URL."""
    config = uvicorn.Config(
        app, ssl_certfile=str(cert), ssl_keyfile=str(key), log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the NHI site did not start")
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class NhiSandbox:
    ctx: SandboxContext
    url: str
    ca_bundle: str
    clock: ManualClock
    sink: SmtpSink
    sam_port: int
    maildir: Path

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=self.ca_bundle),
            timeout=20,
            follow_redirects=True,
        )

    def agent(self, record: CardRecord) -> DirectAgent:
        """The direct card agent over an in-process virtual card and the sandbox SAM."""
        card = VirtualCard(record)

        @contextlib.contextmanager
        def opener(reader: str | None) -> Iterator[InProcessConnection]:
            yield InProcessConnection(card)

        endpoint = SamEndpoint("127.0.0.1", self.sam_port, self.ctx.keys.wrap_key)
        return DirectAgent(reader=None, sam=endpoint, clock=self.clock, card_opener=opener)


@contextlib.contextmanager
def nhi_sandbox(
    directory: Path, data: SandboxData | None = None, *, settings_toml: str = ""
) -> Iterator[NhiSandbox]:
    """The NHI site on HTTPS with a SAM server and an SMTP sink, all on free loopback ports."""
    data = data or load_data(None)
    clock = ManualClock()
    tls = ensure_tls(directory)
    maildir = directory / "Maildir"
    sink = SmtpSink(maildir)
    sock = free_socket()
    port = sock.getsockname()[1]
    with sink.serve_in_thread():
        endpoints = {"nhi_url": f"https://127.0.0.1:{port}", "smtp": f"127.0.0.1:{sink.port}"}
        ctx = SandboxContext.open(directory, data=data, endpoints=endpoints, clock=clock)
        with SamServer(data, ctx.keys, "127.0.0.1", 0).serve_in_thread() as sam:
            app = build_nhi_app(ctx)
            with https_app(app, sock, tls.server_cert, tls.server_key) as url:
                yield NhiSandbox(ctx, url, str(tls.ca_cert), clock, sink, sam.port, maildir)
        ctx.close()


def data_with(extra_toml: str) -> SandboxData:
    """The built-in people plus extra TOML tables (faults, settings)."""
    import tomllib
    from importlib import resources

    text = resources.files("nhicard.sandbox").joinpath("default_data.toml").read_text("utf-8")
    return parse_data(tomllib.loads(text + "\n" + extra_toml))


@dataclass
class Page:
    """One HTML page and its form1, with the WebForms postback rules."""

    response: httpx.Response
    soup: BeautifulSoup = field(init=False)

    def __post_init__(self) -> None:
        self.soup = BeautifulSoup(self.response.text, "html.parser")

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def message(self) -> str:
        el = self.soup.select_one("#lblMessage")
        return el.get_text(" ", strip=True) if el else ""

    def fields(self) -> dict[str, str]:
        """What a browser would post: text/hidden/password inputs and selected options."""
        form = self.soup.select_one("form#form1")
        assert form is not None, self.text[:500]
        values: dict[str, str] = {}
        for el in form.select("input"):
            kind = (el.get("type") or "text").lower()
            if kind in ("text", "hidden", "password") and el.get("name"):
                values[str(el["name"])] = str(el.get("value") or "")
        for sel in form.select("select"):
            chosen = sel.select_one("option[selected]") or sel.select_one("option")
            values[str(sel["name"])] = str(chosen.get("value") or "") if chosen else ""
        return values

    def action(self) -> str:
        form = self.soup.select_one("form#form1")
        assert form is not None
        return BASE + str(form["action"]).removeprefix("./")

    def button_value(self, name: str) -> str:
        el = self.soup.select_one(f"input[name={name}]")
        assert el is not None, f"no button {name}"
        return str(el["value"])

    def option_value(self, select: str, label: str) -> str:
        for opt in self.soup.select(f"select[name={select}] option"):
            if opt.get_text(strip=True) == label:
                return str(opt["value"])
        raise AssertionError(f"no option {label!r} in {select}")


def submit(
    client: httpx.Client,
    page: Page,
    *,
    button: str | None = None,
    target: str = "",
    **changes: str,
) -> Page:
    """Post form1 back like a browser: press ``button`` or fire ``__doPostBack(target)``."""
    values = page.fields()
    values.update(changes)
    values["__EVENTTARGET"] = target
    if button:
        values[button] = page.button_value(button)
    return Page(client.post(page.action(), data=values))


def read_card(
    client: httpx.Client,
    page: Page,
    agent: DirectAgent,
    *,
    target: str = "btnReadCard",
    random_alone: bool = False,
    **changes: str,
) -> Page:
    """What the page script does on 讀取: agent calls into the hidden fields, then postback.
    ``random_alone``: sign only the 16-digit random, as the card + password login does."""
    basic = agent.get_basic().to_wire()
    version, random = agent.get_version(), agent.get_random()
    sign = agent.h_sign(random if random_alone else version + random)
    return submit(
        client,
        page,
        target=target,
        hidBasic=basic,
        hidVersion=version,
        hidRandom=random,
        hidSign=sign,
        **changes,
    )
