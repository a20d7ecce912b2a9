"""Group ``agent`` against a real WSS stand-in for the official component on a free loopback
port (answering ``GetVersion:0011``, or never answering), with a test CA."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from nhicard.envcheck import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    CheckEnv,
    CheckResult,
    run_checks,
)
from nhicard.envcheck import agent as agent_group
from nhicard.envcheck.settings import AgentSettings
from nhicard.platform import linux as platform_linux
from nhicard.platform.hosts import HostsFile
from tests.support.envcheck_servers import ServerCert, TestCA, wss_component
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("agent-ca"), "NHI SelfRoot CA (test)")


@pytest.fixture(scope="module")
def cert(ca: TestCA) -> ServerCert:
    return ca.issue("component")


@pytest.fixture(scope="module")
def component(cert: ServerCert) -> Iterator[str]:
    with wss_component(cert) as url:
        yield url


def run(
    settings: AgentSettings, tmp_path: Path, *, timeout: float = 2.0, hosts: str = ""
) -> dict[str, CheckResult]:
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text(hosts)
    env = CheckEnv(
        agent=settings,
        platform=platform_linux,
        environ={},
        hosts_file=hosts_file,
        profile_name="real",
        timeout=timeout,
    )
    return {r.id: r for r in run_checks(agent_group.checks(), env, budget=20)}


def statuses(results: dict[str, CheckResult]) -> dict[str, str]:
    return {k: r.status for k, r in results.items() if k != "agent.installed"}


def assert_optional_fix(r: CheckResult) -> None:
    assert r.fix is not None
    assert "非必要" in r.fix.zh and "direct" in r.fix.zh
    assert "optional" in r.fix.en and "direct agent works without it" in r.fix.en


HOSTS_OK = "127.0.0.1 localhost\n# the component\n127.0.0.1\ticcert.nhi.gov.tw  # NHIICC\n"


def test_component_answering_get_version(component: str, ca: TestCA, tmp_path: Path) -> None:
    results = run(AgentSettings(component, ca_bundle=str(ca.pem)), tmp_path, hosts=HOSTS_OK)
    assert statuses(results) == {
        "agent.hosts": PASS,
        "agent.port": PASS,
        "agent.tls": PASS,
        "agent.version": PASS,
        "agent.backend": PASS,
    }
    assert (
        results["agent.hosts"].summary.en == "iccert.nhi.gov.tw points to this computer (127.0.0.1)"
    )
    assert results["agent.tls"].summary.en == "TLS TLSv1.3, certificate trusted"
    assert "issuer CN=NHI SelfRoot CA (test)" in results["agent.tls"].detail
    assert (
        results["agent.version"].summary.en
        == "the component answers GetVersion: 0011 (a 2024 build)"
    )
    assert results["agent.version"].summary.zh == "官方元件回應 GetVersion:0011(2024 版)"
    backend = results["agent.backend"]
    assert (
        backend.summary.en
        == f"--agent auto uses nhiicc: the component ({component}) answered GetVersion 0011"
    )
    assert backend.detail == "nhiicc"


def test_component_certificate_not_trusted(component: str, tmp_path: Path) -> None:
    results = run(AgentSettings(component), tmp_path, hosts=HOSTS_OK)
    assert statuses(results) == {
        "agent.hosts": PASS,
        "agent.port": PASS,
        "agent.tls": WARN,
        "agent.version": SKIP,
        "agent.backend": PASS,
    }
    r = results["agent.tls"]
    assert r.summary.en == "the component's certificate does not chain to a trusted root"
    assert r.fix is not None
    assert "NHI SelfRoot CA" in r.fix.zh and "ca_bundle" in r.fix.zh
    assert "NHI SelfRoot CA" in r.fix.en and "ca_bundle" in r.fix.en
    assert results["agent.backend"].summary.en.startswith("--agent auto uses direct: ")


def test_nothing_listening_warns_and_direct_is_chosen(tmp_path: Path) -> None:
    url = f"wss://127.0.0.1:{free_port()}/echo"
    results = run(AgentSettings(url), tmp_path)
    assert statuses(results) == {
        "agent.hosts": WARN,
        "agent.port": WARN,
        "agent.tls": SKIP,
        "agent.version": SKIP,
        "agent.backend": PASS,
    }
    port = results["agent.port"]
    assert port.summary.en.startswith("nothing listens on 127.0.0.1:")
    assert port.summary.zh.endswith("沒有程式在接聽(官方元件未啟動)")
    assert_optional_fix(port)
    fix = port.fix.en if port.fix else ""
    assert "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/CMS_mNHIICC_Setup.Linux.zip" in fix
    assert "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/Eventesting.aspx" in fix
    assert "https://cloudicweb.nhi.gov.tw/cloudic/system/webtesting/SampleY.aspx" in fix
    hosts = results["agent.hosts"]
    assert hosts.summary.en == (
        "the hosts file has no entry for iccert.nhi.gov.tw (official component not installed)"
    )
    assert_optional_fix(hosts)
    assert results["agent.backend"].summary.en.startswith(
        f"--agent auto uses direct: the component ({url}) did not answer GetVersion"
    )
    assert not any(r.status == FAIL for r in results.values())


def test_component_that_never_answers_times_out(
    cert: ServerCert, ca: TestCA, tmp_path: Path
) -> None:
    with wss_component(cert, answer=False) as url:
        started = time.monotonic()
        results = run(
            AgentSettings(url, ca_bundle=str(ca.pem)), tmp_path, timeout=0.5, hosts=HOSTS_OK
        )
        took = time.monotonic() - started
    assert statuses(results) == {
        "agent.hosts": PASS,
        "agent.port": PASS,
        "agent.tls": PASS,
        "agent.version": WARN,
        "agent.backend": PASS,
    }
    r = results["agent.version"]
    assert r.summary.en == (
        "the component did not answer GetVersion: the component did not answer GetVersion in time"
    )
    assert "讀卡機元件未在時限內回應 GetVersion" in r.summary.zh
    assert_optional_fix(r)
    assert results["agent.backend"].summary.en.startswith("--agent auto uses direct: ")
    assert took < 8, took


def test_explicit_agent_kind_is_reported(tmp_path: Path) -> None:
    url = f"wss://127.0.0.1:{free_port()}/echo"
    r = run(AgentSettings(url, kind="direct"), tmp_path)["agent.backend"]
    assert (r.status, r.summary.en) == (
        PASS,
        "--agent direct uses direct: --agent direct was chosen",
    )
    assert r.summary.zh == "--agent direct 使用 direct:已指定 --agent direct"


def test_hosts_file_parsing_and_wrong_mapping(tmp_path: Path) -> None:
    assert HostsFile.parse(b"# x\n\n10.0.0.1 a B # c\n::1 b\nbroken\n").mapping() == {
        "a": ["10.0.0.1"],
        "b": ["10.0.0.1", "::1"],
    }
    url = f"wss://127.0.0.1:{free_port()}/echo"
    r = run(AgentSettings(url), tmp_path, hosts="10.1.2.3 iccert.nhi.gov.tw\n")["agent.hosts"]
    assert (r.status, r.summary.en) == (
        WARN,
        "the hosts file maps iccert.nhi.gov.tw to 10.1.2.3, not 127.0.0.1",
    )
    assert_optional_fix(r)
    ipv6 = run(AgentSettings(url), tmp_path, hosts="::1 iccert.nhi.gov.tw\n")["agent.hosts"]
    assert ipv6.status == PASS


def test_component_address_names_this_computer() -> None:
    s = AgentSettings("wss://iccert.nhi.gov.tw:7777/echo")
    assert (s.host, s.port, s.connect_host, s.where) == (
        "iccert.nhi.gov.tw",
        7777,
        "127.0.0.1",
        "127.0.0.1:7777",
    )
    assert AgentSettings("wss://localhost/echo").where == "localhost:443"


def test_install_location(tmp_path: Path) -> None:
    def env_with(path: Path | None) -> CheckEnv:
        plat = SimpleNamespace(
            component_install_dir=lambda environ: path,
            component_download_url=lambda: "https://example.invalid/setup.zip",
        )
        return CheckEnv(platform=plat, environ={})

    assert agent_group.check_installed(env_with(tmp_path)).status == PASS
    missing = agent_group.check_installed(env_with(tmp_path / "NHIICC"))
    assert missing.status == WARN
    assert missing.fix is not None and "https://example.invalid/setup.zip" in missing.fix.zh
    unknown = agent_group.check_installed(env_with(None))
    assert unknown.status == SKIP


# -- the component's two generations, as locally made chains of the same shapes ---------
def test_2020_component_is_recognised_and_its_ca_named(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "ca2020", "NHI SelfRoot CA")
    with wss_component(ca.issue("c2020"), version="0001") as url:
        trusted = run(AgentSettings(url, ca_bundle=str(ca.pem)), tmp_path, hosts=HOSTS_OK)
        untrusted = run(AgentSettings(url), tmp_path, hosts=HOSTS_OK)
    assert trusted["agent.tls"].detail.endswith("2020 build")
    version = trusted["agent.version"]
    assert version.status == WARN and "a 2020 build" in version.summary.en
    assert version.fix is not None and "CMS_mNHIICC_Setup.Linux.zip" in version.fix.en
    fix = untrusted["agent.tls"].fix
    assert fix is not None and "the 2020 component's root CA 'NHI SelfRoot CA'" in fix.en
    assert "「NHI SelfRoot CA」" in fix.zh


def test_2024_component_ca_and_its_localhost_only_leaf(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "ca2024", "localhost-ca", organization="nhi-localhost-ca")
    leaf = ca.issue("c2024", hosts=("localhost",))  # subjectAltName = DNS:localhost only
    with wss_component(leaf) as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        untrusted = run(AgentSettings(url), tmp_path, hosts=HOSTS_OK)
        fix = untrusted["agent.tls"].fix
        assert fix is not None
        assert "organisation nhi-localhost-ca" in fix.en and "nhi-localhost-ca" in fix.zh
        by_name = f"wss://iccert.nhi.gov.tw:{port}/echo"  # hosts → 127.0.0.1, as installed
        wrong_name = run(AgentSettings(by_name, ca_bundle=str(ca.pem)), tmp_path, hosts=HOSTS_OK)
        tls = wrong_name["agent.tls"]
        assert tls.status == WARN
        assert tls.summary.en == (
            "the 2024 component's certificate is for localhost only, not iccert.nhi.gov.tw"
        )
        assert tls.fix is not None and f"--agent-url wss://localhost:{port}/echo" in tls.fix.en
        local = f"wss://localhost:{port}/echo"
        good = run(AgentSettings(local, ca_bundle=str(ca.pem)), tmp_path, hosts=HOSTS_OK)
    assert good["agent.tls"].status == PASS and good["agent.tls"].detail.endswith("2024 build")
    assert good["agent.version"].summary.en.endswith("(a 2024 build)")
