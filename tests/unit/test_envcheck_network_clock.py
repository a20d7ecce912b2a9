"""Groups ``network`` and ``clock`` against real HTTPS servers on loopback (a test CA made with
``cryptography``), a listener that never answers, and injected clocks."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nhicard.core.i18n import T
from nhicard.envcheck import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    CheckEnv,
    CheckResult,
    clock,
    network,
    probes,
    run_checks,
)
from nhicard.envcheck.probes import ProbeKind
from nhicard.envcheck.settings import AgentSettings, NetworkTargets, SamTarget, SiteTarget
from nhicard.platform import linux as platform_linux
from tests.support.envcheck_servers import TestCA, https_site, silent_listener
from tests.support.ports import free_port

NHI = T("註冊網站", "registration site")
ECPA = T("人事服務網", "eCPA")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def site_url(ca: TestCA) -> Iterator[str]:
    with https_site(ca.issue("site")) as url:
        yield url


def targets_for(*urls: str, ca_bundle: str | None, sam: SamTarget | None = None) -> NetworkTargets:
    keys = [("nhi", NHI), ("ecpa", ECPA)]
    sites = tuple(SiteTarget(k, label, u) for (k, label), u in zip(keys, urls, strict=False))
    return NetworkTargets("test", sites, sam, ca_bundle)


def run(
    targets: NetworkTargets, *, timeout: float = 2.0, offline: bool = False, **settings: object
) -> dict[str, CheckResult]:
    env = CheckEnv(
        targets=targets, environ={}, platform=platform_linux, **settings, timeout=timeout
    )
    checks = network.checks(targets, offline=offline) + clock.checks(offline=offline)
    return {r.id: r for r in run_checks(checks, env, budget=15)}


def status_map(results: dict[str, CheckResult]) -> dict[str, str]:
    return {k: r.status for k, r in results.items() if k != "clock.timezone"}


def both_fix(result: CheckResult, zh: str, en: str) -> None:
    assert result.fix is not None
    assert zh in result.fix.zh, result.fix.zh
    assert en in result.fix.en, result.fix.en


def test_healthy_sites_pass(ca: TestCA, site_url: str) -> None:
    with silent_listener() as sam_port:
        results = run(
            targets_for(
                site_url, site_url, ca_bundle=str(ca.pem), sam=SamTarget("127.0.0.1", sam_port)
            )
        )
    assert status_map(results) == {
        "network.proxy": PASS,
        "network.dns.nhi": PASS,
        "network.https.nhi": PASS,
        "network.tls.nhi": PASS,
        "network.dns.ecpa": PASS,
        "network.https.ecpa": PASS,
        "network.tls.ecpa": PASS,
        "network.sam": PASS,
        "clock.offset": PASS,
    }
    https = results["network.https.nhi"]
    assert https.summary.en.startswith("registration site: reachable over HTTPS (")
    assert https.summary.zh.startswith("註冊網站:HTTPS 可連線(")
    assert f"{site_url}: HTTP 200, TLSv1.3, " in https.detail
    assert https.detail.endswith("Server: envcheck-test")
    assert results["network.tls.ecpa"].summary.en == "eCPA: TLSv1.3"
    assert results["network.dns.nhi"].summary.en == "registration site: address 127.0.0.1"
    assert results["clock.offset"].summary.en.startswith("the clock is right (within ")
    assert results["network.proxy"].summary.en == "no proxy variables set (direct connection)"


def test_untrusted_certificate_fails_and_clock_is_skipped(tmp_path: Path, site_url: str) -> None:
    other = TestCA(tmp_path / "other", "some other CA")
    results = run(targets_for(site_url, ca_bundle=str(other.pem)))
    assert status_map(results) == {
        "network.proxy": PASS,
        "network.dns.nhi": PASS,
        "network.https.nhi": FAIL,
        "network.tls.nhi": SKIP,
        "network.sam": SKIP,
        "clock.offset": SKIP,
    }
    r = results["network.https.nhi"]
    assert r.summary.en == (
        "registration site: cannot verify the certificate of 127.0.0.1: issued by "
        "CN=envcheck test CA, chaining to CN=envcheck test CA, which this computer does not trust"
    )
    assert r.summary.zh.startswith("註冊網站:無法驗證 127.0.0.1 的憑證:簽發者 CN=envcheck test CA")
    assert "tls-untrusted" in r.detail
    assert "chain: CN=127.0.0.1 ← CN=envcheck test CA (not sent)" in r.detail
    both_fix(r, "根憑證", "ca_bundle")
    assert results["clock.offset"].summary.en == "no site answered: the clock could not be compared"
    assert results["network.sam"].summary.en == "the profile names no SAM server"


@pytest.mark.parametrize(
    ("offset", "status", "en", "zh"),
    [
        (dt.timedelta(minutes=10), FAIL, "the clock is 600 s behind", "電腦時間慢了 600 秒"),
        (dt.timedelta(minutes=-2), WARN, "the clock is 120 s ahead", "電腦時間快了 120 秒"),
    ],
)
def test_clock_offset_against_the_date_header(
    ca: TestCA, offset: dt.timedelta, status: str, en: str, zh: str
) -> None:
    with https_site(ca.issue("skewed"), date_offset=offset) as url:
        results = run(targets_for(url, ca_bundle=str(ca.pem)))
    r = results["clock.offset"]
    assert r.status == status
    assert (r.summary.en, r.summary.zh) == (en, zh)
    both_fix(r, "timedatectl set-ntp true", "timedatectl set-ntp true")
    assert "offset " in r.detail
    # the network checks themselves still pass: a skewed Date is only a clock problem
    assert results["network.https.nhi"].status == PASS


def test_server_error_is_a_failure(ca: TestCA) -> None:
    with https_site(ca.issue("down"), status=503) as url:
        results = run(targets_for(url, ca_bundle=str(ca.pem)))
    r = results["network.https.nhi"]
    assert r.status == FAIL
    assert r.summary.en == "registration site: the site answers error 503 (maintenance?)"
    both_fix(r, "稍後再試", "Try again later")
    # it answered, so the TLS version and the clock are still known
    assert results["network.tls.nhi"].status == PASS
    assert results["clock.offset"].status == PASS


def test_everything_unreachable_times_out_every_network_check(ca: TestCA) -> None:
    with silent_listener() as port_a, silent_listener() as port_b:
        targets = targets_for(
            f"https://127.0.0.1:{port_a}/",
            f"https://127.0.0.1:{port_b}/",
            ca_bundle=str(ca.pem),
            sam=SamTarget("127.0.0.1", free_port()),
        )
        started = time.monotonic()
        results = run(targets, timeout=0.5)
        took = time.monotonic() - started
    assert status_map(results) == {
        "network.proxy": PASS,
        "network.dns.nhi": PASS,
        "network.https.nhi": FAIL,
        "network.tls.nhi": SKIP,
        "network.dns.ecpa": PASS,
        "network.https.ecpa": FAIL,
        "network.tls.ecpa": SKIP,
        "network.sam": FAIL,
        "clock.offset": SKIP,
    }
    for key, label in (("nhi", "registration site"), ("ecpa", "eCPA")):
        r = results[f"network.https.{key}"]
        assert (r.summary.en, r.summary.zh.split(":")[1]) == (f"{label}: timed out", "連線逾時")
        assert ": timeout: " in r.detail
        both_fix(r, "防火牆", "firewall")
    sam = results["network.sam"]
    assert sam.summary.en.startswith("the SAM server 127.0.0.1:")
    assert ": refused: " in sam.detail
    both_fix(sam, "TCP", "TCP")
    # per-check deadlines, checks in parallel: far below the sum of the timeouts
    assert took < 10, took


def test_offline_skips_everything_but_the_proxy_variables(ca: TestCA, site_url: str) -> None:
    results = run(targets_for(site_url, ca_bundle=str(ca.pem)), offline=True)
    assert status_map(results) == {
        "network.proxy": PASS,
        "network.dns.nhi": SKIP,
        "network.https.nhi": SKIP,
        "network.tls.nhi": SKIP,
        "network.sam": SKIP,
        "clock.offset": SKIP,
    }
    assert results["network.https.nhi"].summary.en == "skipped: offline mode (--offline)"
    assert results["clock.timezone"].status in (PASS, WARN, FAIL)


def test_old_tls_version_fails(ca: TestCA, site_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "_tls_version", lambda resp: "TLSv1.1")
    r = run(targets_for(site_url, ca_bundle=str(ca.pem)))["network.tls.nhi"]
    assert r.status == FAIL
    assert r.summary.en == "registration site: TLSv1.1 is too old (TLS 1.2+ needed)"
    both_fix(r, "TLS 1.0", "TLS 1.0")


def test_tls_version_unknown_without_a_tls_stream() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers={"Date": "x"}))
    results = run(targets_for("https://127.0.0.1:9/", ca_bundle=None), http_transport=transport)
    assert results["network.https.nhi"].status == PASS
    assert results["network.tls.nhi"].status == WARN
    assert results["network.tls.nhi"].summary.en == "registration site: the TLS version is unknown"
    # a Date header that does not parse gives nothing to compare
    assert results["clock.offset"].status == SKIP


# -- DNS and proxies --------------------------------------------------------------------
def test_dns_resolves_and_fails() -> None:
    env = CheckEnv(environ={}, timeout=2)
    ok = network.check_dns(SiteTarget("x", NHI, "https://localhost:1/"), env)
    assert ok.status == PASS
    assert ok.summary.en.startswith("registration site: localhost resolves to ")
    bad = network.check_dns(SiteTarget("x", NHI, "https://no-such-host.invalid/"), env)
    assert bad.status == FAIL
    assert bad.summary.en == "registration site: cannot resolve no-such-host.invalid"
    assert bad.summary.zh == "註冊網站:無法解析網域名稱 no-such-host.invalid"
    via_proxy = CheckEnv(environ={"HTTPS_PROXY": "http://proxy.example:8080"}, timeout=2)
    warn = network.check_dns(SiteTarget("x", NHI, "https://no-such-host.invalid/"), via_proxy)
    assert warn.status == WARN
    assert warn.summary.en.endswith("does not resolve here; the proxy resolves it")


def test_proxy_variables_are_reported_without_passwords() -> None:
    env = CheckEnv(
        environ={
            "https_proxy": "http://alice:s3cret@proxy.example:8080",
            "NO_PROXY": "localhost",
        }
    )
    r = network.check_proxy(env)
    assert r.status == PASS
    assert r.summary.en == (
        "proxy in effect: HTTPS_PROXY=http://alice:***@proxy.example:8080, NO_PROXY=localhost"
    )
    assert "s3cret" not in r.detail + r.summary.zh
    bad = network.check_proxy(CheckEnv(environ={"HTTP_PROXY": "http://:8080"}))
    assert bad.status == WARN
    assert bad.summary.en == "malformed proxy variables: HTTP_PROXY"
    both_fix(bad, "http://", "http://")


def test_no_proxy_exempts_hosts() -> None:
    environ = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".gov.tw,example.org"}
    assert not network._uses_proxy(environ, "ecpa.dgpa.gov.tw")
    assert not network._uses_proxy(environ, "example.org")
    assert network._uses_proxy(environ, "example.com")
    assert not network._uses_proxy({}, "example.com")


# -- probes -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (socket.gaierror(-2, "Name or service not known"), ProbeKind.DNS),
        (TimeoutError("timed out"), ProbeKind.TIMEOUT),
        (ConnectionRefusedError(111, "Connection refused"), ProbeKind.REFUSED),
        (ssl.SSLError("wrong version number"), ProbeKind.TLS),
        (httpx.ConnectTimeout("x"), ProbeKind.TIMEOUT),
        (httpx.ConnectError("[Errno 111] Connection refused"), ProbeKind.REFUSED),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            ProbeKind.TLS_UNTRUSTED,
        ),
        (OSError("something else"), ProbeKind.OTHER),
    ],
)
def test_probe_errors_are_classified(exc: BaseException, kind: str) -> None:
    assert probes.classify(exc).kind == kind


def test_tls_handshake_reports_an_untrusted_certificate(
    ca: TestCA, tmp_path: Path, site_url: str
) -> None:
    port = int(site_url.split(":")[2].split("/")[0])
    trusted = probes.tls_handshake(
        "127.0.0.1",
        port,
        server_name="127.0.0.1",
        context=ssl.create_default_context(cafile=str(ca.pem)),
        timeout=2,
    )
    assert (trusted.verified, trusted.verify_error) == (True, None)
    other = TestCA(tmp_path / "o", "other")
    loose = probes.tls_handshake(
        "127.0.0.1",
        port,
        server_name="127.0.0.1",
        context=ssl.create_default_context(cafile=str(other.pem)),
        timeout=2,
    )
    assert loose.verified is False
    assert loose.verify_error
    assert probes.describe_certificate(loose.certificate).startswith(
        "subject CN=127.0.0.1; issuer CN=envcheck test CA;"
    )


# -- time zone --------------------------------------------------------------------------
TAIPEI = dt.timezone(dt.timedelta(hours=8))


def tz_check(utc: str, zone: dt.tzinfo, kind: str = "auto", answers: bool = False) -> object:
    now = dt.datetime.fromisoformat(utc)
    agent = AgentSettings("wss://127.0.0.1:1/echo", kind)
    env = CheckEnv(now=lambda: now, local_tz=zone, agent=agent, component_answers=lambda: answers)
    return clock.check_timezone(env)


def test_timezone_taipei_passes() -> None:
    r = tz_check("2025-01-01T04:00:00+00:00", TAIPEI)
    assert r.status == PASS  # type: ignore[attr-defined]
    assert r.summary.en == "time zone: UTC+08:00 (UTC+08:00) (Taipei time)"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "answers"), [("direct", True), ("auto", False), ("nhiicc", False), ("auto", True)]
)
def test_timezone_elsewhere_warns_with_the_hours_for_every_agent(kind: str, answers: bool) -> None:
    r = tz_check("2025-01-01T04:00:00+00:00", dt.UTC, kind, answers)
    assert r.status == WARN  # type: ignore[attr-defined]
    assert "not Taipei's" in r.summary.en and "EnCrypt" in r.summary.zh  # type: ignore[attr-defined]
    assert "every day from 16:00–24:00 local time (00:00–08:00 in Taipei)" in r.summary.en  # type: ignore[attr-defined]
    assert "每天本機時間 16:00–24:00(台北時間 00:00–08:00)" in r.summary.zh  # type: ignore[attr-defined]
    both_fix(r, "Asia/Taipei", "Asia/Taipei")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "answers"), [("nhiicc", False), ("auto", True)])
def test_different_date_fails_when_the_official_component_does_encrypt(
    kind: str, answers: bool
) -> None:
    r = tz_check("2025-01-01T20:00:00+00:00", dt.UTC, kind, answers)
    assert r.status == FAIL  # type: ignore[attr-defined]
    assert r.summary.en == (  # type: ignore[attr-defined]
        "the local date 2025-01-01 differs from Taipei's 2025-01-02: card+password logins "
        "through the official component (EnCrypt) fail now"
    )
    assert r.summary.zh == (  # type: ignore[attr-defined]
        "本機日期 2025-01-01 與台北日期 2025-01-02 不同:官方元件的健保卡+密碼登入(EnCrypt)現在會失敗"
    )
    both_fix(r, "Asia/Taipei", "Asia/Taipei")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "answers"), [("direct", True), ("auto", False)])
def test_different_date_only_warns_when_nhicard_does_encrypt(kind: str, answers: bool) -> None:
    r = tz_check("2025-01-01T20:00:00+00:00", dt.UTC, kind, answers)
    assert r.status == WARN  # type: ignore[attr-defined]
    assert r.summary.en == (  # type: ignore[attr-defined]
        "the local date 2025-01-01 differs from Taipei's 2025-01-02: card+password logins "
        "through the official component (EnCrypt) fail now (every day from 16:00–24:00 local "
        "time (00:00–08:00 in Taipei) the local date is not Taipei's); nhicard compensates "
        "with the Taipei date"
    )
    assert "nhicard 已自動改用台北日期" in r.summary.zh  # type: ignore[attr-defined]
    assert "Taipei date" in r.fix.en and "台北日期" in r.fix.zh  # type: ignore[attr-defined]
    both_fix(r, "Asia/Taipei", "Asia/Taipei")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hours", "local", "taipei"),
    [
        (0, "16:00–24:00", "00:00–08:00"),
        (-5, "11:00–24:00", "00:00–13:00"),
        (5.5, "21:30–24:00", "00:00–02:30"),
        (9, "00:00–01:00", "23:00–24:00"),
        (14, "00:00–06:00", "18:00–24:00"),
    ],
)
def test_mismatch_window_for_any_offset(hours: float, local: str, taipei: str) -> None:
    assert clock.mismatch_window(dt.timedelta(hours=hours)) == (local, taipei)
    assert clock.mismatch_window(dt.timedelta(hours=8)) is None


@pytest.mark.parametrize("utc", ["2025-01-01T15:55:00+00:00", "2025-01-01T16:05:00+00:00"])
def test_near_midnight_in_taipei_warns(utc: str) -> None:
    r = tz_check(utc, TAIPEI)
    assert r.status == WARN  # type: ignore[attr-defined]
    assert "near midnight in Taipei" in r.summary.en  # type: ignore[attr-defined]
    assert "午夜" in r.summary.zh  # type: ignore[attr-defined]
    both_fix(r, "00:10", "00:10")  # type: ignore[arg-type]
