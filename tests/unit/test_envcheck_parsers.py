"""Property tests of the small parsers of ``env check``: any input, no unexpected exception."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from nhicard.envcheck import GROUPS, network, probes
from nhicard.envcheck.plan import parse_groups
from nhicard.platform import RUNNING, STOPPED, UNKNOWN
from nhicard.platform import windows as platform_windows
from nhicard.platform.hosts import HostsFile


@given(st.binary())
def test_hosts_parser_takes_any_bytes(data: bytes) -> None:
    hosts = HostsFile.parse(data)
    assert hosts.to_bytes() == data
    for name, addresses in hosts.mapping().items():
        assert addresses and not any("A" <= c <= "Z" for c in name)  # ASCII lower case
        assert "#" not in name and all("#" not in a for a in addresses)
        assert hosts.addresses(name) == addresses


@given(st.text())
def test_sc_query_parser_takes_any_text(text: str) -> None:
    assert platform_windows.parse_sc_query(text) in (RUNNING, STOPPED, UNKNOWN)


@given(st.one_of(st.none(), st.text()))
def test_date_header_parser_returns_an_aware_time_or_none(value: str | None) -> None:
    parsed = probes._parse_date(value)
    assert parsed is None or (isinstance(parsed, dt.datetime) and parsed.tzinfo is not None)


@given(st.text())
def test_group_list_parser_raises_only_value_error(text: str) -> None:
    try:
        groups = parse_groups(text)
    except ValueError:
        return
    assert groups and set(groups) <= set(GROUPS)


@given(st.text())
def test_proxy_password_hiding_never_raises(url: str) -> None:
    shown = network.hide_password(url)
    assert isinstance(shown, str)


def test_password_is_hidden() -> None:
    assert network.hide_password("http://u:p@h:1") == "http://u:***@h:1"
    assert network.hide_password("http://h:1") == "http://h:1"
