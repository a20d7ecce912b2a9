"""A hostile IMAP server (issue 23): a greeting or SEARCH answer trickled a byte at a time, a
server that stalls, endless untagged lines and a 2 GiB literal that ignores the partial fetch.
Each ends with exit 7 naming the server, here through ``ImapSource`` with a short deadline
(through the installed CLI, with its real 30 s deadline and under ``prlimit --as``:
tests/stack/test_hostile_imap_cli.py)."""

from __future__ import annotations

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.mail.errors import ImapUnavailable
from nhicard.mail.imap import ImapSource
from tests.support.hostile_imap import HostileImap, hostile  # noqa: F401


@pytest.mark.parametrize(
    ("hostile", "reason", "said"),
    [
        ("drip-greeting", "timeout", "did not finish answering within 1 s"),
        ("drip-search", "timeout", "did not finish answering within 1 s"),
        ("stall", "timeout", "did not finish answering within 1 s"),
        ("lines", "imap-too-large", "sent more than an answer may hold; stopped"),
        ("literal", "imap-too-large", "sent more than an answer may hold; stopped"),
    ],
    indirect=["hostile"],
)
def test_hostile_server_ends_with_exit_7(
    hostile: HostileImap,  # noqa: F811
    reason: str,
    said: str,
) -> None:
    source = ImapSource(hostile.url(), "pw", ca_bundle=str(hostile.ca), timeout=1)
    with pytest.raises(ImapUnavailable) as info:
        list(source.messages())
    assert (exit_code_for(info.value), info.value.reason) == (7, reason)
    assert info.value.message.en == f"the IMAP server 127.0.0.1:{hostile.port} {said}"
