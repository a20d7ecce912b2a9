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
