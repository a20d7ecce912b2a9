"""The sandbox NHI login page's script in Chromium signs as the official page script's card +
password path (``InnerAuthHC``, nhi-agent.md) does: ``H_Sign?Random=`` with only the
16-digit random, while 讀取 on the apply page (the H_Sign path) signs version + random."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser_kit import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.support.envcheck_servers import TestCA, server_context, websocket_server
from tests.support.sandbox_nhi_kit import BASE, data_with, nhi_sandbox

pytestmark = [pytest.mark.browser]
RANDOM = "1234567890123456"
BASIC = "000012345678,A123456789,王小明,0650101,M,0"


@contextlib.contextmanager
def scripted_component(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A WSS component answering as the official one does; records each command whole."""
    from websockets.sync.server import ServerConnection

    ca = TestCA(tmp_path / "ca", "NHI SelfRoot CA (test)")
    received: list[str] = []
    replies = {
        "GetBasic": "GetBasic:" + BASIC,
        "GetVersion": "GetVersion:0011",
        "GetRandom": "GetRandom:" + RANDOM,
        "H_Sign": "H_Sign:" + "AB" * 128,
        "EnCrypt": "EnCrypt:" + "CD" * 16,
    }

    def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            for message in ws:
                command = str(message)
                received.append(command)
                ws.send(replies.get(command.partition("?")[0], "9999"))

    with websocket_server(handler, ssl=server_context(ca.issue("component"))) as url:
        yield url, received


def test_login_signs_the_random_alone_and_apply_signs_version_plus_random(
    tmp_path: Path,
) -> None:
    sync_api = require_browser()
    with scripted_component(tmp_path) as (url, received):
        data = data_with(f'[settings]\nagent_url = "{url}"\n')
        with nhi_sandbox(tmp_path / "sb", data) as sb, sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_context(ignore_https_errors=True).new_page()
                page.on("dialog", lambda d: d.accept())
                posted: list[str] = []
                page.on(
                    "request",
                    lambda r: posted.append(r.post_data or "") if r.method == "POST" else None,
                )
                page.goto(sb.url + BASE + "mlogin.aspx")
                page.fill("input[type=password]", "Abc12345")
                with page.expect_navigation():
                    page.get_by_role("button", name="登入 Login").click()
                signs = [c for c in received if c.startswith("H_Sign")]
                assert signs == ["H_Sign?Random=" + RANDOM]
                assert "EnCrypt?Pwd=Abc12345" in received
                (form,) = posted
                assert f"hidRandom={RANDOM}" in form and "hidVersion=0011" in form
                assert "hidSign=" + "AB" * 128 in form and "hidEncPwd=" + "CD" * 16 in form
                assert "Abc12345" not in form  # the page cleared the clear-text password

                received.clear()
                page.goto(sb.url + BASE + "UserAction.aspx")
                page.get_by_role("button", name="我已閱讀完畢,並瞭解相關規定 I Understand").click()
                page.wait_for_url("**/cloudic/system/**")
                page.get_by_role("button", name="讀取 Read").click()
                page.wait_for_function(
                    "document.getElementById('lblMessage').textContent.includes('讀取成功')"
                )
                signs = [c for c in received if c.startswith("H_Sign")]
                assert signs == ["H_Sign?Random=0011" + RANDOM]
            finally:
                browser.close()
