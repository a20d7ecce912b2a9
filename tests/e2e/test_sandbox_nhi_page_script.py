"""The registration pages' script in Chromium, as the public copy of the official one behaves
(nhi-agent.md): the socket to the component is opened on page load; a failed socket raises
the official confirm() offering the four OS downloads; the component's ``connected:`` /
``log:`` frames are shown in an alert(); after 讀取 the form is not posted by the script
(its btnSubmit.click() is commented out), the person's own click posts it."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nhicard.sandbox import supervisor
from tests.support.browser_kit import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.support.envcheck_servers import TestCA, server_context, websocket_server
from tests.support.ports import free_port, free_port_base

pytestmark = [pytest.mark.browser]
SMC = "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/"


@contextlib.contextmanager
def sandbox_with_agent_url(tmp_path: Path, agent_url: str) -> Iterator[dict[str, Any]]:
    directory = tmp_path / "sandbox"
    data = tmp_path / "people.toml"
    builtin = Path(__file__).resolve().parents[2] / "nhicard" / "sandbox" / "default_data.toml"
    shutil.copy(builtin, data)
    with data.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[settings]\nagent_url = "{agent_url}"\n')
    env = {**os.environ, "NHICARD_SANDBOX_DIR": str(directory)}
    endpoints = supervisor.start(
        directory, data_file=data, port_base=free_port_base(), card=False, env=env
    )
    try:
        yield endpoints
    finally:
        supervisor.stop(directory)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    sync_api = require_browser()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def open_apply(page: Any, nhi: str) -> None:
    page.goto(nhi.rstrip("/") + "/cloudic/system/UserAction.aspx")
    page.get_by_role("button", name="我已閱讀完畢,並瞭解相關規定 I Understand").click()
    page.wait_for_url("**/cloudic/system/**")


def test_failed_socket_on_load_asks_to_download_for_this_os(tmp_path: Path) -> None:
    closed = f"wss://127.0.0.1:{free_port()}/echo"  # nothing listens there
    with sandbox_with_agent_url(tmp_path, closed) as endpoints, chromium() as browser:
        page = browser.new_context(ignore_https_errors=True).new_page()
        asked: list[str] = []

        def dismiss(dialog: Any) -> None:
            asked.append(f"{dialog.type}:{dialog.message}")
            dialog.dismiss()

        page.on("dialog", dismiss)
        open_apply(page, endpoints["nhi_url"])
        page.wait_for_timeout(1500)  # no click: the page itself opened the socket on load
        (question,) = [a for a in asked if a.startswith("confirm:")]
        assert "請檢查元件是否已正確安裝且啟動。" in question
        assert "請確認是否要下載安裝程式?" in question
        for link in (
            SMC + "Setup.zip",
            SMC + "mLNHIICC_Setup.Ubuntu.zip",
            SMC + "mLNHIICC_Setup.fedora.zip",
            "https://cloudicweb.nhi.gov.tw/cloudic/System/SMC/mac.Install1.zip",
        ):
            assert link in question  # fmt: skip
        assert page.url.startswith(endpoints["nhi_url"])  # dismissed: the page stays

        # accepted: the browser goes to this OS's installer (Linux here → Ubuntu package)
        page2 = browser.new_context(ignore_https_errors=True).new_page()
        went: list[str] = []
        page2.route(
            "https://cloudicweb.nhi.gov.tw/**",
            lambda route: (went.append(route.request.url), route.fulfill(body="zip"))[1],
        )
        page2.on("dialog", lambda d: d.accept())
        open_apply(page2, endpoints["nhi_url"])
        page2.wait_for_timeout(1500)
        assert went == [SMC + "mLNHIICC_Setup.Ubuntu.zip"]


@contextlib.contextmanager
def greeting_component(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A WSS component that greets each socket with ``connected:`` and records what it gets."""
    from websockets.sync.server import ServerConnection

    ca = TestCA(tmp_path / "ca", "NHI SelfRoot CA (test)")
    cert = ca.issue("component")
    received: list[str] = []

    def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            received.append("open")
            ws.send("connected:NHIICC ready")
            for message in ws:
                received.append(str(message))
                ws.send("log:reading the card")
                ws.send("7004")

    with websocket_server(handler, ssl=server_context(cert)) as url:
        yield url, received


def test_socket_opened_on_load_frames_alerted_and_errors_quoted(tmp_path: Path) -> None:
    with (
        greeting_component(tmp_path) as (url, received),
        sandbox_with_agent_url(tmp_path, url) as endpoints,
        chromium() as browser,
    ):
        page = browser.new_context(ignore_https_errors=True).new_page()
        alerts: list[str] = []

        def on_dialog(dialog: Any) -> None:
            alerts.append(f"{dialog.type}:{dialog.message}")
            dialog.accept()

        page.on("dialog", on_dialog)
        open_apply(page, endpoints["nhi_url"])
        page.wait_for_timeout(1000)
        assert received[:1] == ["open"]  # opened on load, before any click
        assert "alert:connected:NHIICC ready" in alerts
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.get_by_role("button", name="讀取 Read").click()
        page.wait_for_function(
            "document.getElementById('lblMessage').textContent.includes('[7004]')"
        )
        assert received == ["open", "GetBasic"]  # the socket of the page load, reused
        assert "alert:log:reading the card" in alerts
        assert "[7004] 未置入健保卡" in page.locator("#lblMessage").inner_text()
        page.wait_for_timeout(300)
        assert posts == []  # the script never posts the form after 讀取


@contextlib.contextmanager
def card_component(tmp_path: Path, basic: str) -> Iterator[tuple[str, list[str]]]:
    """A WSS component answering as the official one would for a card whose GetBasic is
    ``basic``; records the commands it gets."""
    from websockets.sync.server import ServerConnection

    ca = TestCA(tmp_path / "ca", "NHI SelfRoot CA (test)")
    cert = ca.issue("component")
    received: list[str] = []
    replies = {
        "GetBasic": "GetBasic:" + basic,
        "GetVersion": "GetVersion:0011",
        "GetRandom": "GetRandom:1234567890123456",
    }

    def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            for message in ws:
                command = str(message)
                received.append(command.partition("?")[0])
                name = command.partition("?")[0]
                ws.send(replies.get(name, "H_Sign:" + "AB" * 128 if name == "H_Sign" else "9999"))

    with websocket_server(handler, ssl=server_context(cert)) as url:
        yield url, received


@pytest.mark.parametrize(
    ("id_number", "refused"),
    [("A900000007", True), ("A800000014", True), ("A123456789", False), ("FC12345674", False)],
)
def test_page_script_refuses_ids_its_own_check_refuses(
    tmp_path: Path, id_number: str, refused: bool
) -> None:
    """The official page script's ID check ^[A-Z][12ABCD]\\d{8}$ (sites.md): a new-style
    resident permit number is refused in the page after GetBasic, nothing is signed and
    nothing filled; a national ID or an old-style permit goes on to H_Sign."""
    basic = f"000034567890,{id_number},安娜,0811231,F,0"
    with (
        card_component(tmp_path, basic) as (url, received),
        sandbox_with_agent_url(tmp_path, url) as endpoints,
        chromium() as browser,
    ):
        page = browser.new_context(ignore_https_errors=True).new_page()
        page.on("dialog", lambda d: d.accept())
        open_apply(page, endpoints["nhi_url"])
        page.get_by_role("button", name="讀取 Read").click()
        page.wait_for_function("document.getElementById('lblMessage').textContent.length > 0")
        message = page.locator("#lblMessage").inner_text()
        hidden = page.evaluate(
            "['hidBasic', 'hidSign'].map(n => document.forms.form1.elements[n].value)"
        )
        if refused:
            assert "身分證號格式錯誤" in message and "not in an accepted format" in message
            assert received == ["GetBasic"]  # nothing signed
            assert hidden == ["", ""]
        else:
            assert "健保卡讀取成功" in message
            assert received == ["GetBasic", "GetVersion", "GetRandom", "H_Sign"]
            assert hidden == [basic, "AB" * 128]
