"""The 2024 component's facts in env check (issue 22, item 2): its 30-day root CA
(``agent.official-ca``: fail when expired, warn within 7 days, the Firefox step), which builds
bind where (``agent.exposed``), the restart-after-plugging hint only for builds before 2024,
and both official test-page paths with their success texts. The clock is injected."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from nhicard.envcheck import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    CheckEnv,
    CheckResult,
    agent_serve,
    official_ca,
    run_checks,
)
from nhicard.envcheck import agent as agent_group
from nhicard.envcheck.settings import AgentSettings
from nhicard.platform import linux as platform_linux
from nhicard.platform import macos as platform_macos
from nhicard.platform import windows as platform_windows
from tests.support.envcheck_servers import TestCA, wss_component
from tests.support.https import make_ca

HOSTS_OK = "127.0.0.1 localhost\n127.0.0.1 iccert.nhi.gov.tw\n"


def check(ca_file: Path, now: dt.datetime | None = None, **kw: object) -> CheckResult:
    env = CheckEnv(
        platform=kw.pop("platform", platform_linux),  # type: ignore[arg-type]
        environ={},
        official_ca_file=ca_file,
        now=(lambda: now) if now is not None else None,
    )
    [r] = run_checks(official_ca.checks(), env, budget=20)
    return r


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dt.datetime, dt.datetime]:
    """A generated CA (valid from 30 days ago to 30 days ahead): file, not before, not after."""
    _, cert, path = make_ca(tmp_path_factory.mktemp("official-ca"))
    return path, cert.not_valid_before_utc, cert.not_valid_after_utc


def assert_renew_fix(r: CheckResult, path: Path) -> None:
    assert r.fix is not None
    assert "Reinstall the official component" in r.fix.en and "30 days only" in r.fix.en
    assert "in Firefox, first delete the old nhi-localhost-ca" in r.fix.en
    assert str(path) in r.fix.en
    assert "重新安裝官方元件" in r.fix.zh and "30 天" in r.fix.zh
    assert "Firefox 要先" in r.fix.zh and "刪除舊的 nhi-localhost-ca" in r.fix.zh


def test_expired_ca_fails_with_the_fix(ca: tuple[Path, dt.datetime, dt.datetime]) -> None:
    path, _, until = ca
    r = check(path, until + dt.timedelta(seconds=1))
    assert r.status == FAIL
    stamp = until.strftime("%Y-%m-%d %H:%M UTC")
    assert r.summary.en == (
        f"the official component's root CA expired on {stamp}: browsers no longer trust the "
        "component and 「讀取」 does nothing"
    )
    assert r.summary.zh.startswith(f"官方元件的根憑證已於 {stamp} 過期")
    assert_renew_fix(r, path)
    assert r.detail.startswith(f"{path}: subject CN=nhicard test CA")


def test_ca_expiring_within_seven_days_warns(ca: tuple[Path, dt.datetime, dt.datetime]) -> None:
    path, _, until = ca
    r = check(path, until - dt.timedelta(days=3, hours=1))
    assert r.status == WARN
    assert r.summary.en.endswith("(3 day(s) left)")
    assert "剩 3 天" in r.summary.zh
    assert_renew_fix(r, path)
    assert check(path, until - dt.timedelta(days=7)).status == WARN
    assert check(path, until - dt.timedelta(days=7, seconds=1)).status == PASS


def test_valid_ca_passes(ca: tuple[Path, dt.datetime, dt.datetime]) -> None:
    path, _, until = ca
    r = check(path, until - dt.timedelta(days=20, hours=1))
    assert r.status == PASS
    assert r.summary.en.endswith("(20 days left)")
    assert r.fix is None


def test_the_real_clock_is_the_default(ca: tuple[Path, dt.datetime, dt.datetime]) -> None:
    path, _, _ = ca
    assert check(path).status == PASS  # made valid for 30 more days


def test_ca_not_yet_valid_points_at_the_clock(ca: tuple[Path, dt.datetime, dt.datetime]) -> None:
    path, since, _ = ca
    r = check(path, since - dt.timedelta(hours=1))
    assert r.status == WARN
    assert "the clock may be wrong" in r.summary.en and r.fix is not None
    assert "clock.offset" in r.fix.en


def test_missing_unreadable_and_unpublished(tmp_path: Path) -> None:
    missing = check(tmp_path / "NHIRootCA.crt")
    assert missing.status == SKIP
    assert "the 2024 official component is not installed" in missing.summary.en
    garbage = tmp_path / "garbage.crt"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    r = check(garbage)
    assert r.status == WARN and "cannot read the official component's CA" in r.summary.en
    for plat in (platform_windows, platform_macos):
        env = CheckEnv(platform=plat, environ={})
        [r] = run_checks(official_ca.checks(), env, budget=20)
        assert r.status == SKIP and "not published" in r.summary.en


def test_linux_location_is_the_installers() -> None:
    env = CheckEnv(platform=platform_linux, environ={})
    assert official_ca.ca_path(env) == Path("/usr/local/share/NHIICC/cert/NHIRootCA.crt")


def test_a_der_ca_with_the_2024_organisation_says_2024_build(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    test_ca = TestCA(tmp_path, "localhost-ca", organization="nhi-localhost-ca")
    der = tmp_path / "NHIRootCA.crt"
    der.write_bytes(test_ca.cert.public_bytes(Encoding.DER))
    env = CheckEnv(platform=platform_linux, environ={}, official_ca_file=der)
    assert official_ca.installed_build(env) == "2024"
    assert agent_group.restart_hint(env) is None
    other = CheckEnv(platform=platform_linux, environ={}, official_ca_file=tmp_path / "none")
    assert official_ca.installed_build(other) is None
    assert agent_group.restart_hint(other) == agent_group.RESTART_UNKNOWN_BUILD


# -- the restart hint, by build ----------------------------------------------------------------


def agent_results(url: str, tmp_path: Path, **kw: object) -> dict[str, CheckResult]:
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS_OK)
    env = CheckEnv(
        agent=AgentSettings(url, ca_bundle=str(kw.pop("ca_bundle"))),
        platform=platform_linux,
        environ={},
        hosts_file=hosts,
        timeout=0.5,
        official_ca_file=kw.pop("official_ca_file", tmp_path / "no-ca"),  # type: ignore[arg-type]
    )
    return {r.id: r for r in run_checks(agent_group.checks(), env, budget=20)}


def test_2020_build_gets_the_restart_hint(tmp_path: Path) -> None:
    ca2020 = TestCA(tmp_path / "ca", "NHI SelfRoot CA")
    with wss_component(ca2020.issue("c"), version="0001") as url:
        version = agent_results(url, tmp_path, ca_bundle=ca2020.pem)["agent.version"]
    assert version.status == WARN and version.fix is not None
    assert "Until then: Builds before 2024 look for readers only when they start" in version.fix.en
    assert "sudo systemctl restart NHIICC" in version.fix.en
    assert "更新前:2024 年以前的元件版本只在啟動時尋找讀卡機" in version.fix.zh


def test_2024_build_answering_needs_no_restart_hint(tmp_path: Path) -> None:
    test_ca = TestCA(tmp_path / "ca", "localhost-ca", organization="nhi-localhost-ca")
    with wss_component(test_ca.issue("c")) as url:
        version = agent_results(url, tmp_path, ca_bundle=test_ca.pem)["agent.version"]
    assert version.status == PASS and version.fix is None


@pytest.mark.parametrize(("installed", "hinted"), [(False, True), (True, False)])
def test_unknown_build_gets_the_hint_worded_for_that(
    tmp_path: Path, installed: bool, hinted: bool
) -> None:
    test_ca = TestCA(tmp_path / "ca", "localhost-ca", organization="nhi-localhost-ca")
    ca_file = test_ca.pem if installed else tmp_path / "none"
    with wss_component(test_ca.issue("c"), answer=False) as url:
        version = agent_results(url, tmp_path, ca_bundle=test_ca.pem, official_ca_file=ca_file)[
            "agent.version"
        ]
    assert version.status == WARN and version.fix is not None
    assert ("If the component is a build from before 2024" in version.fix.en) is hinted
    assert ("若元件是 2024 年以前的版本" in version.fix.zh) is hinted


# -- which builds bind where; the test pages ---------------------------------------------------

PROC_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
   0: 00000000:1E61 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0
"""


def test_exposed_says_which_builds_bind_where(tmp_path: Path) -> None:
    (tmp_path / "tcp").write_text(PROC_TCP)
    env = CheckEnv(proc_net=tmp_path, platform=platform_linux, environ={})
    exposed = {r.id: r for r in run_checks(agent_serve.checks(), env, budget=20)}["agent.exposed"]
    assert exposed.status == WARN and exposed.fix is not None
    assert "2020 build listens on 0.0.0.0:7777" in exposed.fix.en
    assert "the 2022 and 2024 builds listen on 127.0.0.1:7777 only" in exposed.fix.en
    assert "CMS_mNHIICC_Setup.Linux.zip" in exposed.fix.en
    assert "2020 版官方元件就是聽 0.0.0.0:7777" in exposed.fix.zh
    assert "2024 builds 127.0.0.1:7777" in exposed.detail
    (tmp_path / "tcp").write_text(PROC_TCP.replace("00000000:1E61", "0100007F:1E61"))
    passed = {r.id: r for r in run_checks(agent_serve.checks(), env, budget=20)}["agent.exposed"]
    assert passed.status == PASS and "the 2020 build binds 0.0.0.0:7777" in passed.detail


@pytest.mark.parametrize("pick", [lambda t: t.zh, lambda t: t.en])
def test_both_test_pages_and_their_success_texts(pick: Callable[[object], str]) -> None:
    text = pick(agent_group.LINKS)
    assert "https://cloudicweb.nhi.gov.tw/cloudic/system/webtesting/SampleY.aspx" in text
    assert "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/webtesting/SampleY.aspx" in text
    assert "「讀卡成功：XXX」" in text and "「認證卡片：成功!」" in text
    assert "「讀取健保卡」" in text and "「驗證健保卡」" in text
