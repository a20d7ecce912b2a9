"""TLS to the real sites, with locally made chains of the shapes Taiwan's government sites
have used: a leaf under an intermediate under the Government Root Certification Authority
(outside Mozilla's store), and one under Chunghwa Telecom's HiPKI root (distrusted by
browsers in 2025). A failed verification names the issuer and the root and says how to add
that root to the profile's CA bundle; ``env check``'s ``network.tls.*`` shows the chain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T
from nhicard.envcheck import FAIL, PASS, CheckEnv, network, run_checks
from nhicard.envcheck.settings import NetworkTargets, SiteTarget
from nhicard.net import certs
from nhicard.net.tlschain import presented_chain
from nhicard.platform import linux as platform_linux
from nhicard.web.browser import Browser, BrowserPolicy
from tests.support.cli import run_nhicard
from tests.support.envcheck_servers import ServerCert, https_site


@dataclass(frozen=True)
class Chain:
    server: ServerCert  # leaf + intermediate, as the site sends them
    root_pem: Path
    root: str
    intermediate: str


def make_chain(directory: Path, root_cn: str, intermediate_cn: str, org: str) -> Chain:
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    span = {"valid_from": now - dt.timedelta(days=1), "valid_until": now + dt.timedelta(days=30)}
    root_key, inter_key, leaf_key = certs.new_key(), certs.new_key(), certs.new_key()
    root = certs.make_ca(root_key, certs.name(root_cn, org), path_length=1, **span)
    inter = certs.make_ca(
        inter_key, certs.name(intermediate_cn, org), issuer=(root, root_key), **span
    )
    leaf = certs.issue_server_cert(
        inter, inter_key, leaf_key, common_name="127.0.0.1", hosts=("127.0.0.1", "localhost"),
        **span,
    )  # fmt: skip
    server = ServerCert(directory / "chain.pem", directory / "leaf.key")
    server.cert.write_bytes(certs.certificate_pem(leaf) + certs.certificate_pem(inter))
    server.key.write_bytes(certs.private_key_pem(leaf_key))
    root_pem = directory / "root.pem"
    root_pem.write_bytes(certs.certificate_pem(root))
    return Chain(server, root_pem, root_cn, intermediate_cn)


@pytest.fixture(scope="module")
def grca(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return make_chain(
        tmp_path_factory.mktemp("grca"),
        "Government Root Certification Authority - G2 (test)",
        "Government Certification Authority - G2 (test)",
        "Government Root Certification Authority (test)",
    )


@pytest.fixture(scope="module")
def hipki(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return make_chain(
        tmp_path_factory.mktemp("hipki"),
        "HiPKI Root CA - G1 (test)",
        "HiPKI OV TLS CA - G1 (test)",
        "Chunghwa Telecom Co., Ltd. (test)",
    )


def test_the_chain_the_site_sends(grca: Chain) -> None:
    with https_site(grca.server) as url:
        port = int(url.split(":")[2].split("/")[0])
        chain = presented_chain("127.0.0.1", port)
    assert chain is not None
    assert [c.subject.split(",")[0] for c in chain.certs] == [
        "CN=127.0.0.1",
        f"CN={grca.intermediate}",
    ]
    assert chain.issuer.startswith(f"CN={grca.intermediate}")
    assert chain.root.startswith(f"CN={grca.root}")
    assert chain.describe().startswith(
        f"CN=127.0.0.1 ← CN={grca.intermediate} ← CN={grca.root} (not sent); valid until "
    )


@pytest.mark.parametrize(
    ("shape", "note", "publisher"),
    [
        ("grca", "not in Mozilla's", "https://grca.nat.gov.tw/"),
        ("hipki", "distrusted Chunghwa Telecom's CAs in 2025", "https://eca.hinet.net/"),
    ],
)
def test_untrusted_chain_names_issuer_and_root_and_the_fix(
    request: pytest.FixtureRequest, shape: str, note: str, publisher: str
) -> None:
    chain: Chain = request.getfixturevalue(shape)
    with https_site(chain.server) as url:
        with Browser(BrowserPolicy(retries=0)) as browser, pytest.raises(NetworkError) as caught:
            browser.open(url)
        error = caught.value
        assert exit_code_for(error) == 7 and error.reason == "tls-unknown-ca"
        assert f"issued by CN={chain.intermediate}" in error.message.en
        assert f"chaining to CN={chain.root}" in error.message.en
        assert note in error.message.en
        assert f"簽發者 CN={chain.intermediate}" in error.message.zh
        assert f"根憑證 CN={chain.root}" in error.message.zh
        assert error.hint is not None
        assert publisher in error.hint.en and 'extends = "real"' in error.hint.en
        assert "ca_bundle" in error.hint.en and "ca_bundle" in error.hint.zh
        assert error.data["chain"].startswith("CN=127.0.0.1 ← ")
        # the fix works: that root in the profile's CA bundle
        with Browser(BrowserPolicy(ca_bundle=str(chain.root_pem))) as trusting:
            assert trusting.open(url).status == 200


def env_run(url: str, ca_bundle: str | None) -> dict[str, object]:
    targets = NetworkTargets(
        "test", (SiteTarget("nhi", T("註冊網站", "registration site"), url),), None, ca_bundle
    )
    env = CheckEnv(targets=targets, environ={}, platform=platform_linux, timeout=3)
    return {r.id: r for r in run_checks(network.checks(targets, offline=False), env, budget=15)}


def test_env_check_shows_each_sites_chain(grca: Chain) -> None:
    with https_site(grca.server) as url:
        untrusted = env_run(url, None)
        trusted = env_run(url, str(grca.root_pem))
    https = untrusted["network.https.nhi"]
    assert https.status == FAIL  # type: ignore[attr-defined]
    assert f"chaining to CN={grca.root}" in https.summary.en  # type: ignore[attr-defined]
    assert "ca_bundle" in https.fix.en  # type: ignore[attr-defined]
    assert f"chain: CN=127.0.0.1 ← CN={grca.intermediate} ← CN={grca.root}" in https.detail  # type: ignore[attr-defined]
    tls = trusted["network.tls.nhi"]
    assert tls.status == PASS  # type: ignore[attr-defined]
    assert f"chain: CN=127.0.0.1 ← CN={grca.intermediate} ← CN={grca.root} (not sent)" in (
        tls.detail  # type: ignore[attr-defined]
    )


def test_a_command_against_such_a_site_says_it_and_exits_7(grca: Chain, tmp_path: Path) -> None:
    with https_site(grca.server) as url:
        base = url.rsplit("/", 1)[0] + "/"
        profile = tmp_path / "p.toml"
        profile.write_text(f'extends = "real"\n[ecpa]\nbase_url = "{base}"\n', "utf-8")
        done = run_nhicard(
            "--profile", str(profile), "--allow-profile-hosts", "--lang", "en", "ecpa", "login",
            "--account", "someone", env={"NHICARD_PASSWORD": "Pw-246810"},
        )  # fmt: skip
        assert done.returncode == 7, done.stderr
        assert f"issued by CN={grca.intermediate}" in done.stderr
        assert f"chaining to CN={grca.root}" in done.stderr
        assert "ca_bundle" in done.stderr
        profile.write_text(
            f'extends = "real"\nca_bundle = "{grca.root_pem}"\n[ecpa]\nbase_url = "{base}"\n',
            "utf-8",
        )
        trusted = run_nhicard(
            "--profile", str(profile), "--allow-profile-hosts", "--lang", "en", "ecpa", "login",
            "--account", "someone", env={"NHICARD_PASSWORD": "Pw-246810"},
        )  # fmt: skip
    # TLS now verifies; the stand-in's page is not eCPA's: exit 11 with the page saved
    assert trusted.returncode == 11, trusted.stderr
