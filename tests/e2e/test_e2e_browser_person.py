"""A person's whole path, clicked through the sandbox in headless Chromium (issue #5 item 9).

The sandbox server runs as ``sandbox up`` runs it (the virtual card 王小明 in vpcd slot 0 of the
test's private pcscd), and ``nhicard --profile sandbox agent serve`` answers the pages' agent
WebSocket. The person: NHI login → 首次登入請先申請 → terms → apply (讀取, 戶號, address
drop-downs posting back, 鄰) → password and contacts → mail sent → opens the verification
mail and its 「健保卡註冊認證作業」 link → 讀取, 確定 → 密碼設定完成 → e-learning → eCPA with
``returnUrl`` → NHI-card column password → back on e-learning signed in as 王小明.

Every page is checked on its visible content and saved as ``artifacts/e2e/NN-name.png``.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
import shutil
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from nhicard.sandbox import supervisor
from tests.support.browser_kit import (
    Screenshots,
    agent_serve,
    launch_chromium,
    require_browser,
)
from tests.support.ports import free_port, free_port_base

pytestmark = [pytest.mark.browser, pytest.mark.pcsc]

ROOT = Path(__file__).resolve().parents[2]
READER = "Virtual PCD 00 00"  # where the sandbox server inserts the first card of its data
NAME = "王小明"  # the first card of the built-in sandbox data
HOUSEHOLD_ID = "F1234567"  # his household: 臺北市 大安區 龍門里 5 鄰
PASSWORD = "Nhi2025ok"
MAIL_TO = "wang.xiaoming@example.test"
MAIL_SUBJECT = "健保卡網路服務註冊認證通知信"
NAV_TIMEOUT = 15_000  # ms; card reads go through pcscd, vpcd and the SAM


def sandbox_data(tmp_path: Path, agent_port: int) -> Path:
    """The built-in people, with the pages told where this test's agent listens."""
    data = tmp_path / "people.toml"
    shutil.copy(ROOT / "nhicard" / "sandbox" / "default_data.toml", data)
    with data.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[settings]\nagent_url = "wss://127.0.0.1:{agent_port}/echo"\n')
    return data


def wait_for_mail(maildir: Path, timeout: float = 10) -> EmailMessage:
    """The one mail the sink stored in ``maildir`` (polled: SMTP delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        box = mailbox.Maildir(str(maildir), factory=None, create=False)
        keys = list(box.keys())
        if keys:
            assert len(keys) == 1, f"expected one mail, found {len(keys)}"
            raw = box.get_bytes(keys[0])
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            return msg
        if time.monotonic() > deadline:
            raise AssertionError(f"no verification mail in {maildir} after {timeout:.0f} s")
        time.sleep(0.1)


def field_value(page: Any, label: str) -> str:
    return str(page.get_by_label(label, exact=True).input_value())


def choose(page: Any, title: str, option: str) -> None:
    """Pick ``option`` by its visible text in the drop-down titled ``title``; the page posts
    back (AutoPostBack), so wait for the new page and check the choice survived."""
    with page.expect_navigation():
        page.get_by_title(title).select_option(label=option)
    chosen = page.get_by_title(title).locator("option:checked").inner_text()
    assert chosen == option, f"{title}: {chosen!r} after the postback"


def read_card(page: Any) -> None:
    """Click 讀取: the page's script asks the agent over the socket it opened on load and
    fills the hidden fields and the name; as the real script, it does not post the form (the
    person's next click does). If it cannot, it says why in the message row."""
    page.get_by_role("button", name="讀取 Read").click()
    try:
        page.wait_for_function(
            "document.getElementById('hidSign') && document.getElementById('hidSign').value.length"
            " === 256 || /\\[\\d{4}\\]|請檢查元件/.test(document.getElementById('lblMessage')"
            ".textContent)",
            timeout=20_000,
        )
    except Exception as exc:  # playwright's TimeoutError
        said = page.locator("#lblMessage").inner_text()
        raise AssertionError(f"讀取 did not fill the card fields; the page says: {said!r}") from exc
    said = page.locator("#lblMessage").inner_text()
    assert "健保卡讀取成功" in said, said


def press(page: Any, button: str) -> str:
    """Click the button labelled ``button``, wait for the page it posts to, and return that
    page's system message (empty when the site had nothing to object to)."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()
    row = page.locator("#lblMessage")
    return str(row.inner_text()) if row.count() else ""


def heading(page: Any) -> str:
    return str(page.locator("h2").first.inner_text())


def test_person_registers_and_signs_in_through_the_browser(pcsc: Any, tmp_path: Path) -> None:
    sync_api = require_browser()
    expect = sync_api.expect
    directory = tmp_path / "sandbox"
    agent_port = free_port()
    env = {**os.environ, "NHICARD_SANDBOX_DIR": str(directory)}
    endpoints = supervisor.start(
        directory, data_file=sandbox_data(tmp_path, agent_port), port_base=free_port_base(),
        env=env,
    )  # fmt: skip
    nhi, elearn = endpoints["nhi_url"], endpoints["elearn_url"]
    shots = Screenshots("e2e")
    try:
        with agent_serve(agent_port, READER, env), sync_api.sync_playwright() as pw:
            browser = launch_chromium(pw, trusted_cert=directory / "server.pem")
            try:
                page = browser.new_context(locale="zh-TW").new_page()
                page.set_default_timeout(NAV_TIMEOUT)
                script_errors: list[str] = []
                page.on("pageerror", lambda exc: script_errors.append(str(exc)))

                # 1. the NHI login page; the person clicks 「首次登入請先申請」
                page.goto(nhi + "/cloudic/system/mlogin.aspx")
                assert heading(page) == "健保卡網路服務註冊 登入 Login"
                expect(page.get_by_label("健保卡密碼 Password")).to_be_visible()
                shots.take(page, "login")
                page.get_by_text("首次登入請先申請").click()

                # 2. the terms: scrolled to the end, then 「我已閱讀完畢…」
                assert heading(page) == "全民健康保險網路服務註冊管理作業要點"
                last_rule = page.get_by_text("六、密碼連續輸入錯誤3次者")
                last_rule.scroll_into_view_if_needed()
                expect(last_rule).to_be_in_viewport()
                shots.take(page, "terms")
                page.get_by_role("button", name=re.compile("^我已閱讀完畢")).click()

                # 3. apply: 讀取 fills 姓名 through the agent; 戶號; address; 鄰
                page.wait_for_url("**/UserAction.aspx")
                assert (
                    heading(page)
                    == "健保卡網路服務註冊-申請 NHI Card Online Services Registration-Apply"
                )
                assert field_value(page, "姓名 Name") == ""
                shots.take(page, "apply")
                read_card(page)
                assert field_value(page, "姓名 Name") == NAME
                expect(page.locator("#lblMessage")).not_to_contain_text("元件")
                shots.take(page, "apply-card-read")
                page.get_by_label("戶號 Household ID number").fill(HOUSEHOLD_ID)
                choose(page, "縣市 City/County", "臺北市")
                choose(page, "鄉鎮市區 District/Township", "大安區")
                choose(page, "村里 Village", "龍門里")
                assert field_value(page, "戶號 Household ID number") == HOUSEHOLD_ID
                assert field_value(page, "姓名 Name") == NAME
                page.get_by_label("鄰(Neighborhood)").fill("5")
                shots.take(page, "apply-filled")
                said = press(page, "下一步 Next")
                assert said == "", f"the apply step was refused: {said!r}"

                # 4. password and contacts, then 確認申請
                expect(page.get_by_label("註冊密碼 Password")).to_be_visible()
                assert page.locator("tr", has_text="姓名 Name").locator("td").inner_text() == NAME
                page.get_by_label("註冊密碼 Password").fill(PASSWORD)
                page.get_by_label("確認密碼 Confirm Password").fill(PASSWORD)
                page.get_by_label("電子郵件 E-mail").fill(MAIL_TO)
                page.get_by_label("聯絡電話 Phone").fill("02-27065866")
                page.get_by_label("手機 Mobile").fill("0912345678")
                shots.take(page, "contact")
                said = press(page, "確認申請")
                assert said.startswith("認證通知信已寄出"), said

                # 5. mail sent; the person opens the mail and its link
                assert heading(page) == "認證通知信已寄出 Verification Mail Sent"
                shown = page.locator("#lblEmail").inner_text()
                assert shown.endswith("@example.test") and shown != MAIL_TO  # masked
                shots.take(page, "mail-sent")
                mail = wait_for_mail(Path(endpoints["maildir"]))
                assert mail["Subject"] == MAIL_SUBJECT
                assert mail["To"] == MAIL_TO
                html_part = mail.get_body(preferencelist=("html",))
                assert html_part is not None
                page.set_content(html_part.get_content())
                expect(page.get_by_text(f"{NAME} 您好")).to_be_visible()
                shots.take(page, "mail")
                page.get_by_role("link", name="健保卡註冊認證作業").click()

                # 6. verification: 讀取, then 確定 → 密碼設定完成
                page.wait_for_url("**/Verify.aspx?token=*")
                assert heading(page) == "健保卡註冊認證作業 NHI Card Registration Verification"
                shots.take(page, "verify")
                read_card(page)
                assert field_value(page, "姓名 Name") == NAME
                expect(page.locator("#lblMessage")).to_contain_text("健保卡讀取成功")
                shots.take(page, "verify-card-read")
                said = press(page, "確定 OK")
                assert said.startswith("密碼設定完成"), said
                expect(page.locator("h2")).to_have_text("密碼設定完成 Password Set")
                shots.take(page, "done")

                # 7. e-learning sends the person to eCPA; the NHI-card column signs them in
                page.goto(elearn + "/")
                expect(page.locator("#loginState")).to_contain_text("尚未登入")
                shots.take(page, "elearn")
                page.get_by_role("link", name=re.compile("以人事服務網 eCPA 登入")).click()
                page.wait_for_url("**/webform/clogin.aspx?returnUrl=*")
                expect(page.get_by_text("登入後將返回")).to_contain_text(elearn + "/sso_verify.php")
                nhi_column = page.locator("section", has=page.get_by_role("heading", name="健保卡"))
                nhi_column.get_by_label("密碼").fill(PASSWORD)
                shots.take(page, "ecpa-login")
                nhi_column.get_by_role("button", name=re.compile("^登入")).click()
                page.wait_for_url("**/mooc/index.php", timeout=20_000)
                expect(page.locator("#loginState")).to_contain_text(f"已登入:{NAME}")
                expect(page.locator("#loginState")).to_contain_text(f"Logged in as {NAME}")
                expect(page.get_by_role("button", name=re.compile("^登出"))).to_be_visible()
                shots.take(page, "elearn-signed-in")
                assert script_errors == [], "the pages' scripts threw"
            finally:
                browser.close()
    finally:
        supervisor.stop(directory)
    assert [p.name for p in shots.paths] == [
        "01-login.png", "02-terms.png", "03-apply.png", "04-apply-card-read.png",
        "05-apply-filled.png", "06-contact.png", "07-mail-sent.png", "08-mail.png",
        "09-verify.png", "10-verify-card-read.png", "11-done.png", "12-elearn.png",
        "13-ecpa-login.png", "14-elearn-signed-in.png",
    ]  # fmt: skip
