"""Web-side transport faults through the installed CLI (quality.md "Web side"): DNS failure,
connection refused, an expired certificate and an unknown certificate authority, each exit 7
with a clear message and hint in zh-TW and English, and nothing written to stdout.

The commands run with ``--profile sandbox`` against an endpoints file whose site addresses
point at the fault: an unresolvable name, a closed port, real HTTPS servers on loopback whose
certificate is expired or signed by a CA the profile does not trust."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_nhicard
from tests.support.https import make_ca, make_leaf, serve
from tests.support.profiles import write_sandbox
from tests.support.register_kit import REGISTER

PASSWORD = "Pw-246810"
ECPA = ("ecpa", "login")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Loopback HTTPS servers: ``expired`` (CA trusted, certificate expired), ``foreign`` (a
    valid certificate of another CA); and ``ca``, the trusted CA bundle."""
    d = tmp_path_factory.mktemp("certs")
    ca_key, ca_cert, ca_path = make_ca(d)
    other = d / "other"
    other.mkdir()
    other_key, other_cert, _ = make_ca(other)
    expired = serve(*make_leaf(d, ca_key, ca_cert, "expired", expired=True))
    foreign = serve(*make_leaf(other, other_key, other_cert, "foreign"))
    yield {
        "ca": str(ca_path),
        "expired": f"https://127.0.0.1:{expired[0].server_address[1]}",
        "foreign": f"https://127.0.0.1:{foreign[0].server_address[1]}",
    }
    for server, thread in (expired, foreign):
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(tmp_path: Path, url: str, ca: str, lang: str, command: tuple[str, ...]):  # type: ignore[no-untyped-def]
    sandbox_dir = write_sandbox(
        tmp_path / "sandbox", nhi_url=url, ecpa_url=url, elearn_url=url, ca_bundle=ca
    )
    env = {
        "NHICARD_SANDBOX_DIR": str(sandbox_dir),
        "NHICARD_PASSWORD": PASSWORD,
        "NHICARD_STATE_DIR": str(tmp_path / "state"),
    }
    return run_nhicard(
        "--profile", "sandbox", "--agent", "direct", "--lang", lang, *command, env=env
    )  # fmt: skip


CASES = {
    "dns": (
        "cannot resolve the host name nhicard-audit.invalid (DNS failure)",
        "無法解析主機名稱 nhicard-audit.invalid(DNS 失敗)",
        "Check the network, DNS and proxy settings",
    ),
    "refused": (
        "127.0.0.1 refused the connection",
        "127.0.0.1 拒絕連線",
        "The site may be down or blocked by a firewall",
    ),
    "expired": (
        "the certificate of 127.0.0.1 has expired or is not yet valid",
        "127.0.0.1 的憑證已過期或尚未生效",
        "Check this computer's date and time.",
    ),
    "foreign": (  # the chain the site sent is named, with how to trust its root
        "cannot verify the certificate of 127.0.0.1: issued by CN=nhicard test CA, chaining to "
        "CN=nhicard test CA, which this computer does not trust",
        "無法驗證 127.0.0.1 的憑證:簽發者 CN=nhicard test CA,根憑證 CN=nhicard test CA "
        "不受這台電腦信任",
        'ca_bundle = "<that file>"',
    ),
}


@pytest.mark.parametrize(
    ("fault", "command"),
    [(fault, REGISTER) for fault in CASES]
    + [(fault, ECPA) for fault in ("dns", "expired", "foreign")],  # refused: retried, slow
    ids=[f"{fault}-register" for fault in CASES] + ["dns-ecpa", "expired-ecpa", "foreign-ecpa"],
)
def test_transport_fault_is_exit_7_in_both_languages(
    servers: dict[str, str], tmp_path: Path, fault: str, command: tuple[str, ...]
) -> None:
    url = {
        "dns": "https://nhicard-audit.invalid",
        "refused": f"https://127.0.0.1:{closed_port()}",
    }.get(fault) or servers[fault]
    en_message, zh_message, en_hint = CASES[fault]
    en = run(tmp_path, url, servers["ca"], "en", command)
    assert (en.returncode, en.stdout) == (7, ""), en.stderr
    lines = en.stderr.splitlines()
    assert lines[0].startswith(f"Error: {en_message}"), en.stderr
    assert lines[-1].startswith("Hint: ") and en_hint in lines[-1], en.stderr
    zh = run(tmp_path, url, servers["ca"], "zh-TW", command)
    assert (zh.returncode, zh.stdout) == (7, ""), zh.stderr
    assert zh.stderr.splitlines()[0].startswith(f"錯誤: {zh_message}"), zh.stderr
    assert zh.stderr.splitlines()[-1].startswith("建議: "), zh.stderr
    assert PASSWORD not in en.stderr + zh.stderr
