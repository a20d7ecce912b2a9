"""verify-email against a hostile IMAP server through the installed CLI: a greeting trickled a
byte at a time ends at the command's real deadline (30 s: hence here, not in tests/unit), and
what a server sends is bounded under ``prlimit --as`` (the in-process cases with a 1 s deadline:
tests/unit/test_hostile_imap.py)."""

from __future__ import annotations

import pytest

from tests.support.cli import run_nhicard
from tests.support.hostile_imap import HostileImap, hostile  # noqa: F401
from tests.support.limited_run import prlimit_path, run_nhicard_limited


def verify_imap(server: HostileImap, *, limited: bool = False):  # type: ignore[no-untyped-def]
    args = (
        "--lang",
        "en",
        "verify-email",
        "--imap",
        server.url(),
        "--imap-ca-bundle",
        str(server.ca),
    )
    env = {"NHICARD_IMAP_PASSWORD": "pw"}
    if limited:
        return run_nhicard_limited(*args, address_space=500 * 1024 * 1024, env=env, timeout=120)
    return run_nhicard(*args, env=env, timeout=120)


@pytest.mark.parametrize("hostile", ["drip-greeting"], indirect=True)
def test_cli_gives_up_a_trickled_greeting(hostile: HostileImap) -> None:  # noqa: F811
    """A byte every 0.2 s never trips a per-read timeout; the command's deadline (30 s) ends
    it (the subprocess timeout only guards against a hang)."""
    done = verify_imap(hostile)
    assert done.returncode == 7, done.stderr
    assert f"the IMAP server 127.0.0.1:{hostile.port} did not finish answering within 30 s" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(prlimit_path() is None, reason="needs prlimit (util-linux)")
@pytest.mark.parametrize("hostile", ["lines", "literal"], indirect=True)
def test_cli_bounds_what_a_server_sends_within_500_mb(hostile: HostileImap) -> None:  # noqa: F811
    done = verify_imap(hostile, limited=True)
    assert done.returncode == 7, done.stderr
    assert f"the IMAP server 127.0.0.1:{hostile.port} sent more than an answer may hold" in (
        done.stderr
    )
    assert "MemoryError" not in done.stderr and "internal error" not in done.stderr
