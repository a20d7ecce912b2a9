"""A person in Chromium: the e-learning site sends them to eCPA, they type the card password
in the NHI-card column, the page's script runs the chain through ``nhicard agent serve`` (the
virtual card on vpcd, the sandbox SAM), and they land back on e-learning signed in; then the
account/password column the same way. The page's requests are checked against the recorded
shape (XHR, form-urlencoded, plain text; loginType + APReqEncodedData to sso_verify.php,
302 → sso_home.php → 302 /mooc/index.php)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from nhicard.sandbox import supervisor
from nhicard.sandbox.store import RegistrationStore
from tests.support.browser_kit import CHROMIUM, require_browser, wait_listening
from tests.support.cli import nhicard_executable
from tests.support.ports import free_port, free_port_base

pytestmark = [pytest.mark.browser, pytest.mark.pcsc]
TAIPEI = timezone(timedelta(hours=8))


def register(directory: Path) -> None:
    store = RegistrationStore.open(directory)
    now = datetime.now(TAIPEI)
    store.apply(
        card_number="000012345678", id_number="A123456789", name="王小明",
        password="Secret123", email="w@example.test", phone="02-1", mobile="0912", now=now,
    )  # fmt: skip
    store.complete_verification(store.issue_link("000012345678", now), now)
    store.close()


def test_person_signs_in_to_elearning_through_ecpa(pcsc: Any, tmp_path: Path) -> None:
    sync_api = require_browser()
    directory = tmp_path / "sandbox"
    agent_port = free_port()
    data = tmp_path / "people.toml"
    builtin = Path(__file__).resolve().parents[2] / "nhicard" / "sandbox" / "default_data.toml"
    shutil.copy(builtin, data)
    with data.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[settings]\nagent_url = "wss://127.0.0.1:{agent_port}/echo"\n')
    env = {**os.environ, "NHICARD_SANDBOX_DIR": str(directory)}
    endpoints = supervisor.start(directory, data_file=data, port_base=free_port_base(), env=env)
    agent = None
    try:
        register(directory)
        agent = subprocess.Popen(
            [nhicard_executable(), "--profile", "sandbox", "--reader", "Virtual PCD 00 00",
             "agent", "serve", "--port", str(agent_port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_listening(agent_port, agent)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            try:
                context = browser.new_context(ignore_https_errors=True)
                page = context.new_page()
                seen: list[Any] = []
                page.on("request", lambda r: seen.append(r))
                page.goto(endpoints["elearn_url"] + "/")
                assert page.inner_text("#loginState").startswith("尚未登入")
                page.click("#lnkEcpaLogin")
                page.wait_for_url("**/webform/clogin.aspx?returnUrl=*")
                page.click("#btnCitizenLogin")
                page.wait_for_function(
                    "document.getElementById('loginMessage').textContent.includes('沙盒不提供')"
                )
                page.fill("#nhiPassword", "Secret123")
                page.click("#btnNhiLogin")
                page.wait_for_url("**/mooc/index.php", timeout=20000)
                assert page.inner_text("#userName") == "王小明"
                assert "Logged in as 王小明" in page.inner_text("#loginState")
                page.screenshot(path=str(tmp_path / "elearn-signed-in.png"))
                calls = [r for r in seen if "/Home/" in r.url]
                assert [r.url.rsplit("/", 1)[1] for r in calls] == [
                    "GetNHIRandom", "GetApTicketNHI", "EnterTwoWayLog", "EnterApplicationTwoWay",
                ]  # fmt: skip
                for r in calls:
                    assert r.method == "POST"
                    assert r.headers["x-requested-with"] == "XMLHttpRequest"
                sso = [r for r in seen if r.url.endswith("/sso_verify.php")]
                assert sso[-1].method == "POST"
                assert sso[-1].post_data.startswith("loginType=3&APReqEncodedData=")
                assert any("/sso_home.php?ssoid=" in r.url for r in seen)

                # the account/password column, in a fresh browser context
                page = browser.new_context(ignore_https_errors=True).new_page()
                seen.clear()
                page.on("request", lambda r: seen.append(r))
                page.goto(endpoints["elearn_url"] + "/")
                page.click("#lnkEcpaLogin")
                page.wait_for_url("**/webform/clogin.aspx?returnUrl=*")
                page.fill("#txtAccount", "ming.wang")
                page.fill("#txtPassword", "Ecpa-135790")
                page.evaluate("document.getElementById('btnAccountLogin').click()")
                page.wait_for_timeout(300)
                assert not [r for r in seen if "/Home/" in r.url]  # a script's click: ignored
                page.click("#btnAccountLogin")
                page.wait_for_url("**/mooc/index.php", timeout=20000)
                assert page.inner_text("#userName") == "王小明"
                calls = [r for r in seen if "/Home/" in r.url]
                assert [r.url.rsplit("/", 1)[1] for r in calls] == [
                    "GetUID", "GetApTicketV2", "EnterTwoWayLog", "EnterApplicationTwoWay",
                ]  # fmt: skip
                assert calls[1].post_data == (
                    "account=ming.wang&password=Ecpa-135790&ApID=CrossHRD"
                )
                assert calls[2].post_data == (
                    "account=ming.wang&loginType=0&sn=&ticket=&appId=CrossHRD"
                )
                sso = [r for r in seen if r.url.endswith("/sso_verify.php")][-1]
                assert sso.post_data.startswith("loginType=0&APReqEncodedData=")
            finally:
                browser.close()
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=10)
        supervisor.stop(directory)
