"""The one hosts-file model (``nhicard.platform.hosts``), used by env check and agent install:
any bytes in, the same bytes out; a line added with the file's own line ending and taken out
again exactly; a Windows hosts file saved by Notepad in Big5 with CRLF read by env check."""

from __future__ import annotations

from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from nhicard.envcheck import PASS, WARN, CheckEnv
from nhicard.envcheck.agent import check_hosts
from nhicard.platform import windows
from nhicard.platform.hosts import HostsFile, write_in_place
from tests.support.hosts_samples import BIG5_CRLF

MARK = "# added by nhicard agent install"
LINE = f"127.0.0.1 iccert.nhi.gov.tw {MARK}"


def test_big5_crlf_round_trip_and_lookup() -> None:
    hosts = HostsFile.parse(BIG5_CRLF)
    assert hosts.to_bytes() == BIG5_CRLF
    assert hosts.addresses("INTRANET.example.com.tw") == ["10.1.1.20"]
    assert hosts.addresses("localhost") == []  # commented out
    assert hosts.newline() == b"\r\n"
    added = hosts.with_line(LINE)
    assert added.to_bytes() == BIG5_CRLF + LINE.encode() + b"\r\n"
    assert added.addresses("iccert.nhi.gov.tw") == ["127.0.0.1"]
    assert added.has_line_with(MARK) and not hosts.has_line_with(MARK)
    assert added.without_lines_with(MARK).to_bytes() == BIG5_CRLF


def test_the_line_ending_is_the_files_own() -> None:
    assert HostsFile.parse(b"a b\n").with_line(LINE).to_bytes() == b"a b\n" + LINE.encode() + b"\n"
    assert (
        HostsFile().with_line(LINE, default_newline=b"\r\n").to_bytes() == LINE.encode() + b"\r\n"
    )
    mixed = HostsFile.parse(b"a b\r\nc d\r\ne f\n")
    assert mixed.newline() == b"\r\n"  # most lines
    assert HostsFile.parse(b"a b\r\nc d\n").newline() == b"\n"  # a tie: the one used last


def test_a_last_line_without_ending_stays_last_and_unended() -> None:
    data = b"127.0.0.1 localhost\r\n10.0.0.1 printer"
    added = HostsFile.parse(data).with_line(LINE)
    assert added.to_bytes() == (
        b"127.0.0.1 localhost\r\n" + LINE.encode() + b"\r\n10.0.0.1 printer"
    )
    assert added.addresses("printer") == ["10.0.0.1"]
    assert added.without_lines_with(MARK).to_bytes() == data


def test_fields_and_comments() -> None:
    hosts = HostsFile.parse(
        b"\xef\xbb\xbf127.0.0.2 first\n"  # Notepad's "UTF-8 with BOM"
        b"  10.0.0.1\ta B   # c d\n"
        b"::1 b\n"
        b"broken\n"
        b"# 10.9.9.9 b\n"
    )
    assert hosts.mapping() == {"first": ["127.0.0.2"], "a": ["10.0.0.1"], "b": ["10.0.0.1", "::1"]}
    assert hosts.addresses("B") == ["10.0.0.1", "::1"]


def test_only_the_marked_line_goes() -> None:
    data = b"# mine\r\n127.0.0.1 iccert.nhi.gov.tw\r\n"  # the person's own line, not ours
    marked = HostsFile.parse(data + LINE.encode() + b"\r\n")
    assert marked.without_lines_with(MARK).to_bytes() == data


@given(st.binary(), st.sampled_from([b"\n", b"\r\n"]))
def test_adding_and_removing_gives_back_the_same_bytes(data: bytes, default: bytes) -> None:
    assume(MARK.encode() not in data)
    hosts = HostsFile.parse(data)
    added = hosts.with_line(LINE, default_newline=default)
    assert added.addresses("iccert.nhi.gov.tw")[-1:] == ["127.0.0.1"]
    assert added.without_lines_with(MARK).to_bytes() == data


def test_written_in_place(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(BIG5_CRLF)
    inode = path.stat().st_ino
    write_in_place(path, HostsFile.parse(BIG5_CRLF).with_line(LINE))
    assert path.stat().st_ino == inode  # a bind-mounted /etc/hosts is rewritten, not replaced
    assert path.read_bytes() == BIG5_CRLF + LINE.encode() + b"\r\n"


def test_env_check_reads_a_big5_crlf_hosts_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(BIG5_CRLF)
    env = CheckEnv(platform=windows, environ={}, hosts_file=path)
    missing = check_hosts(env)
    assert missing.status == WARN and missing.detail.endswith("iccert.nhi.gov.tw → no entry")
    path.write_bytes(BIG5_CRLF + b"127.0.0.1 iccert.nhi.gov.tw\r\n")
    found = check_hosts(env)
    assert found.status == PASS
    assert found.summary.en == "iccert.nhi.gov.tw points to this computer (127.0.0.1)"
