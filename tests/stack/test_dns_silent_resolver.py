"""DNS inside the deadline with a real resolver that never answers (issue 23): the CLI runs in
a private network and mount namespace whose only name server, on a loopback address, takes
every query and answers none (``tests.support.silent_resolver``), and whose hosts file
knows no site. A web command and an IMAP mailbox must end with exit 7 naming the host within
the command's own deadline — also when glibc's resolver options would wait 150 s (``options
timeout:30 attempts:5``), over UDP or TCP (``use-vc``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from nhicard.mail.imap import DEFAULT_TIMEOUT as IMAP_DEADLINE
from nhicard.sites.loader import resolve_profile
from tests.support.register_kit import ARGS, PASSWORD
from tests.support.silent_resolver import SLOW_GLIBC, SilentDns, require_private_network

# the real profile's registration site: a name only DNS could resolve
SITE = urlsplit(resolve_profile("real").nhi.base_url).hostname or ""
MAIL = "mail.example"
IMAP_PASSWORD = "imap-Secret-975"
# register --timeout 1: 1 s per read, 2 s for a whole request (connect and name included)
REGISTER = ("--lang", "en", "register", "--dry-run", "--timeout", "1", *ARGS)
# how long a run may take before it counts as hanging: far below glibc's 150 s with
# SLOW_GLIBC, above the command's deadline on a loaded machine (pytest's own limit is 120 s)
REGISTER_LIMIT = 45.0
IMAP_LIMIT = IMAP_DEADLINE + 45.0  # verify-email has no option for it: its default, 30 s

OPTIONS = {
    "glibc-defaults": "",
    "glibc-slow": SLOW_GLIBC,
    "glibc-slow-tcp": SLOW_GLIBC.replace("options", "options use-vc"),
}


@pytest.fixture(autouse=True)
def _private_network() -> None:
    require_private_network()


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_register_ends_at_its_deadline_naming_the_site(tmp_path: Path, options: str) -> None:
    dns = SilentDns(tmp_path / "dns", options)
    result = dns.run_nhicard(
        *REGISTER,
        env={"NHICARD_PASSWORD": PASSWORD, "NHICARD_STATE_DIR": str(tmp_path / "state")},
        timeout=REGISTER_LIMIT,
    )
    assert result.returncode == 7, result.stderr
    assert f"cannot resolve the host name {SITE} (DNS failure)" in result.stderr
    # our deadline ended the lookup, not glibc's resolver giving up
    assert f"no answer from the name resolver for {SITE} within" in result.stderr
    assert dns.asked_for(SITE)  # the query did reach the silent server
    transports = {kind for kind, _data in dns.queries()}
    assert transports == ({"tcp"} if "use-vc" in options else {"udp"})
    assert PASSWORD not in result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("options", [SLOW_GLIBC, ""], ids=["glibc-slow", "glibc-defaults"])
def test_imap_mailbox_ends_at_its_deadline_naming_the_server(tmp_path: Path, options: str) -> None:
    dns = SilentDns(tmp_path / "dns", options)
    result = dns.run_nhicard(
        "--lang", "en", "verify-email", "--imap", f"imaps://user@{MAIL}/INBOX",
        env={"NHICARD_IMAP_PASSWORD": IMAP_PASSWORD},
        timeout=IMAP_LIMIT,
    )  # fmt: skip
    assert result.returncode == 7, result.stderr
    assert f"cannot resolve the IMAP server {MAIL}:993 (DNS)" in result.stderr
    if options:  # glibc would wait 150 s: the command's own 30 s deadline ends it
        assert f"no answer from the name resolver for {MAIL} within" in result.stderr
    assert dns.asked_for(MAIL)
    assert IMAP_PASSWORD not in result.stdout + result.stderr
    assert result.stdout == ""
