"""``agent serve``'s choices made in the serving package (issue 21, item 2): the origin
policy, the TLS material (none, the user's, the sandbox's, the local CA's) and the port
fallback; and the Sec-Fetch-Site rule of the origin policy (issue 23, item 4)."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pytest

from nhicard.agent import COMPONENT_HTTP_PORT, COMPONENT_HTTPS_PORT
from nhicard.agent.serve import setup
from nhicard.agent.serve.origins import DEFAULT_ORIGINS, OriginPolicy
from nhicard.agent.serve.tls import ServerCertificate, ensure_server_certificate
from nhicard.agent.serve.transport import Limits
from nhicard.core.errors import NetworkError, UsageError
from tests.support.agents import GatedAgent


def _unused_sandbox() -> ServerCertificate:
    raise AssertionError("the sandbox certificate is only for the sandbox profile")


def test_no_tls_serves_plain() -> None:
    material = setup.tls_material(
        no_tls=True, cert=None, key=None, sandbox_profile=True,
        sandbox_certificate=_unused_sandbox,
    )  # fmt: skip
    assert material == setup.TlsMaterial(None, None)


@pytest.mark.parametrize(
    ("no_tls", "cert", "key", "message"),
    [
        (False, "c.pem", None, "--cert and --key go together"),
        (False, None, "k.pem", "--cert and --key go together"),
        (True, "c.pem", "k.pem", "--no-tls excludes --cert"),
    ],
)
def test_tls_options_that_do_not_go_together(
    no_tls: bool, cert: str | None, key: str | None, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        setup.check_tls_options(no_tls=no_tls, cert=cert, key=key)
    assert caught.value.message.render("en") == message


def test_local_ca_by_default(tmp_path: Path) -> None:
    material = setup.tls_material(
        no_tls=False, cert=None, key=None, sandbox_profile=False,
        sandbox_certificate=_unused_sandbox, local_ca_dir=tmp_path / "agent-tls",
    )  # fmt: skip
    assert material.context is not None
    assert material.ca_file == tmp_path / "agent-tls" / "ca.pem" and material.ca_file.exists()


def test_sandbox_profile_serves_the_sandbox_certificate(tmp_path: Path) -> None:
    issued = ensure_server_certificate(tmp_path / "sandbox")
    material = setup.tls_material(
        no_tls=False, cert=None, key=None, sandbox_profile=True,
        sandbox_certificate=lambda: issued, local_ca_dir=tmp_path / "agent-tls",
    )  # fmt: skip
    assert material.context is not None and material.ca_file == issued.ca_file
    assert not (tmp_path / "agent-tls").exists()


def test_own_certificate_has_no_ca_to_show(tmp_path: Path) -> None:
    issued = ensure_server_certificate(tmp_path)
    material = setup.tls_material(
        no_tls=False, cert=str(issued.cert_file), key=str(issued.key_file),
        sandbox_profile=True, sandbox_certificate=_unused_sandbox,
    )  # fmt: skip
    assert material.context is not None and material.ca_file is None
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(UsageError) as caught:
        setup.tls_material(
            no_tls=False, cert=str(junk), key=str(junk), sandbox_profile=False,
            sandbox_certificate=_unused_sandbox,
        )  # fmt: skip
    assert caught.value.message.render("en") == "cannot load the TLS certificate or key"


def test_origin_policy(tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.json"
    default = setup.origin_policy((), allow_null=False, sandbox_endpoints=endpoints)
    assert default.patterns == DEFAULT_ORIGINS and default.sandbox_endpoints == endpoints
    given = setup.origin_policy(
        ("https://x.example",), allow_null=True, sandbox_endpoints=endpoints
    )
    assert given.patterns == ("https://x.example",) and given.sandbox_endpoints is None
    assert given.allows("null")
    with pytest.raises(UsageError) as caught:
        setup.origin_policy(("https://a.*.gov.tw",), allow_null=False, sandbox_endpoints=endpoints)
    assert "leftmost" in caught.value.message.render("en")


def _open(http_port: int, https_port: int) -> setup.Started:
    return setup.open_service(
        GatedAgent(),  # type: ignore[arg-type]
        origins=OriginPolicy(DEFAULT_ORIGINS),
        port=0,
        tls=setup.TlsMaterial(None, None),
        http_port=http_port,
        https_port=https_port,
        limits=Limits(),
        log=None,
    )


def test_default_api_ports_taken_fall_back_to_the_websocket() -> None:
    with contextlib.ExitStack() as stack:
        busy = stack.enter_context(socket.socket())
        with contextlib.suppress(OSError):  # already taken by someone else: just as good
            busy.bind(("127.0.0.1", COMPONENT_HTTP_PORT))
            busy.listen()
        started = _open(COMPONENT_HTTP_PORT, COMPONENT_HTTPS_PORT)
        stack.callback(started.service.shutdown)
        assert started.api_ports_taken == (COMPONENT_HTTP_PORT, COMPONENT_HTTPS_PORT)
        assert started.service.api_urls == [] and started.service.port > 0


def test_other_api_port_taken_is_a_network_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(NetworkError) as caught:
            _open(taken, 0)
    assert caught.value.reason == "listen-failed"
    started = _open(0, 0)  # both off: the WebSocket alone, not a fallback
    started.service.shutdown()
    assert started.api_ports_taken is None and started.service.api_urls == []


def test_fetch_site_without_origin_is_a_web_page() -> None:
    policy = OriginPolicy(DEFAULT_ORIGINS)
    for site in ("cross-site", "same-site", " Same-Site "):
        assert not policy.allows_request(None, site), site
    for site in (None, "", "none", "same-origin"):
        assert policy.allows_request(None, site), site
    assert policy.allows_request("https://cloudicweb.nhi.gov.tw", "cross-site")
    assert not policy.allows_request("https://evil.example", "none")


def test_default_origins_are_the_card_sites_not_every_gov_tw_site(tmp_path: Path) -> None:
    """By default only the sites whose pages use the card are answered (issue 23): another
    government site is not, and ``--origin`` replaces the list."""
    policy = setup.origin_policy((), allow_null=False, sandbox_endpoints=tmp_path / "none.json")
    for site in (
        "https://cloudicweb.nhi.gov.tw",
        "https://eservice.nhi.gov.tw",
        "https://ecpa.dgpa.gov.tw",
    ):
        assert policy.allows(site), site
    for other in ("https://www.gov.tw", "https://evil.gov.tw", "https://nhi.gov.tw.evil.com"):
        assert not policy.allows(other), other
    widened = setup.origin_policy(
        ("https://*.gov.tw",), allow_null=False, sandbox_endpoints=tmp_path / "none.json"
    )
    assert widened.allows("https://www.gov.tw")
