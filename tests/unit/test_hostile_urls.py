"""Addresses that libraries choke on (issue 14): an IDNA-invalid ``--imap`` host, a broken or
70 KB ``--return-url``, an ``--agent-url`` with a 300-character label or port 99999. Each is
refused before any connection, exit 2 with a message in both languages — never exit 1."""

from __future__ import annotations

import pytest

from nhicard.core.i18n import T
from nhicard.net.urlcheck import host_problem, url_problem
from tests.support.cli import run_nhicard

LONG_LABEL = "a" * 300


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"wss://{LONG_LABEL}.example:7777/echo", "longer than 253"),
        (f"wss://{'b' * 64}.example:7777/echo", "not valid"),
        ("wss://127.0.0.1:99999/echo", "Port out of range"),
        ("https://iccert.nhi.gov.tw:7777/echo", "only wss:// / ws://"),
        ("wss://a..b:7777/echo", "not valid"),
    ],
)
def test_bad_agent_url_is_a_usage_error(url: str, expected: str) -> None:
    proc = run_nhicard("--lang", "en", "--agent-url", url, "card", "read")
    assert proc.returncode == 2, proc.stderr
    assert "--agent-url: the component address cannot be used" in proc.stderr
    assert expected in proc.stderr and "internal error" not in proc.stderr


def test_bad_agent_url_in_chinese_and_from_the_environment() -> None:
    proc = run_nhicard("--lang", "zh-TW", "card", "read", env={"NHICARD_AGENT_URL": "wss://[::1"})
    assert proc.returncode == 2, proc.stderr
    assert "元件網址無法使用" in proc.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://[::1", "Invalid IPv6 URL"),
        ("https://elearn.example/" + "a" * 70_000, "more than 4096"),
        ("https://elearn.example/a\x01b", "'\\x01'"),
        ("javascript:alert(1)", "only https:// / http://"),
    ],
)
def test_bad_return_url_is_a_usage_error(url: str, expected: str) -> None:
    proc = run_nhicard(
        "--lang", "en", "ecpa", "login", "--return-url", url, env={"NHICARD_PASSWORD": "x"}
    )
    assert proc.returncode == 2, proc.stderr
    assert "--return-url: the return URL cannot be used" in proc.stderr
    assert expected in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize("url", ["imaps://u@a..b/INBOX", f"imaps://u@{'c' * 70}.example/INBOX"])
def test_idna_invalid_imap_host_is_a_usage_error(url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "pw"
    secret.write_text("pw\n")
    proc = run_nhicard(
        "--lang", "en", "verify-email", "--imap", url, "--imap-password-file", str(secret)
    )
    assert proc.returncode == 2, proc.stderr
    assert "unusable IMAP URL: the host name is not valid" in proc.stderr


def test_host_and_url_checks() -> None:
    assert host_problem("cloudicweb.nhi.gov.tw") is None
    assert host_problem("::1") is None and host_problem("127.0.0.1") is None
    assert host_problem("健保.tw") is None
    assert (host_problem("") or T("", "")).en == "no host"
    assert url_problem("https://elearn.hrd.gov.tw/sso_verify.php", ("https",)) is None
