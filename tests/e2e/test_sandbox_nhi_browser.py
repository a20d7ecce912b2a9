"""The sandbox NHI pages in a real browser (Debian chromium via Playwright): the WebForms
AutoPostBack of the address drop-downs and the page script's message when no card agent
answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhicard.sandbox.nhi_messages import AGENT_MISSING
from tests.support.browser_kit import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.support.sandbox_nhi_kit import BASE, data_with, free_socket, nhi_sandbox

pytestmark = pytest.mark.browser


def test_drop_downs_post_back_and_missing_agent_is_reported(tmp_path: Path) -> None:
    sync_api = require_browser()
    closed = free_socket()  # bound, never listening: the agent's port refuses connections
    port = closed.getsockname()[1]
    data = data_with(f'[settings]\nagent_url = "wss://127.0.0.1:{port}/echo"\n')
    with nhi_sandbox(tmp_path, data) as sb, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=list(CHROMIUM_ARGS),
        )
        try:
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto(sb.url + BASE + "mlogin.aspx")
            page.get_by_text("首次登入請先申請 Register for New Account").click()
            page.get_by_role("button", name="我已閱讀完畢,並瞭解相關規定 I Understand").click()
            page.wait_for_selector("text=NHI Card Online Services Registration-Apply")
            with page.expect_navigation():
                page.select_option("#ddlCity", label="臺北市")
            with page.expect_navigation():
                page.select_option("#ddlDistrict", label="大安區")
            villages = page.locator("#ddlVillage option").all_inner_texts()
            assert "龍門里" in villages and "龍坡里" in villages
            page.get_by_role("button", name="讀取 Read").click()
            page.wait_for_function(
                "document.getElementById('lblMessage').textContent.length > 0", timeout=10000
            )
            assert page.inner_text("#lblMessage") == AGENT_MISSING
            page.get_by_role("button", name="檢測健保卡認證").click()
            page.wait_for_function(
                "document.getElementById('lblSetupResult').textContent.length > 0",
                timeout=10000,
            )
            assert page.inner_text("#lblSetupResult") == AGENT_MISSING
            page.screenshot(path=str(tmp_path / "apply.png"), full_page=True)
        finally:
            browser.close()
            closed.close()
