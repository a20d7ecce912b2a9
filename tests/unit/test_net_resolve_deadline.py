"""Name resolution inside the exchange's deadline (issue 23): ``getaddrinfo`` blocks outside
any socket timeout and the watchdog, so it runs in a worker waited for at most the time left.
A resolver that never answers is stood in for by a ``getaddrinfo`` that blocks on one name."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from nhicard.core.errors import NetworkError
from nhicard.net.resolve import ResolveTimeout, resolve
from nhicard.net.tlschain import presented_chain
from nhicard.web.browser import Browser, BrowserPolicy

HANGING = "resolver-hangs.test"


@pytest.fixture
def hanging_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host == HANGING:  # answers late, with loopback (nothing listens on its port)
            release.wait(30)
            host = "127.0.0.1"
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield release
    release.set()


def test_resolve_gives_up_at_the_deadline(hanging_resolver: threading.Event) -> None:
    with pytest.raises(ResolveTimeout) as info:
        resolve(HANGING, 443, 0.3)
    assert isinstance(info.value, socket.gaierror)
    assert f"no answer from the name resolver for {HANGING} within 0.3 s" in str(info.value)


def test_resolve_passes_answers_and_errors(hanging_resolver: threading.Event) -> None:
    assert resolve("127.0.0.1", 80, 1)[0][4][:2] == ("127.0.0.1", 80)
    assert any(info[4][0] in ("127.0.0.1", "::1") for info in resolve("localhost", 80, 5))
    with pytest.raises(socket.gaierror):
        resolve("no-such-host.invalid", 80, 5)


def test_web_exchange_ends_with_a_dns_error_naming_the_site(
    hanging_resolver: threading.Event,
) -> None:
    policy = BrowserPolicy(connect_timeout=0.5, total_timeout=2, retries=0)
    with Browser(policy) as browser, pytest.raises(NetworkError) as info:
        browser.open(f"https://{HANGING}:9/")
    assert info.value.reason == "dns"  # a late answer would have been "connection-refused"
    assert HANGING in info.value.message.en


def test_tls_chain_probe_stays_within_its_deadline(hanging_resolver: threading.Event) -> None:
    assert presented_chain(HANGING, 443, timeout=0.3) is None


def test_resolve_names_its_deadline_in_round_seconds(hanging_resolver: threading.Event) -> None:
    # what is left of a deadline is rarely round: 0.29987 s reads as 0.3 s
    with pytest.raises(ResolveTimeout, match=r"within 0\.3 s$"):
        resolve(HANGING, 443, 0.29987)


def test_a_lookup_outlasting_the_whole_deadline_is_still_a_dns_error(
    hanging_resolver: threading.Event,
) -> None:
    # the watchdog fires at the request's deadline while the lookup still waits (a clock
    # that lags 0.3 s after its first reading gives the lookup 0.8 s of the 0.5): there is
    # no connection for it to shut down, and the site was never reached
    import time

    readings: list[float] = []

    def lagging() -> float:
        readings.append(time.monotonic())
        return readings[-1] - (0.3 if len(readings) > 1 else 0.0)

    policy = BrowserPolicy(connect_timeout=10, read_timeout=0.5, total_timeout=0.5, retries=0)
    with Browser(policy, clock=lagging) as browser, pytest.raises(NetworkError) as info:
        browser.open(f"https://{HANGING}:9/")
    assert info.value.reason == "dns"  # not "total-timeout"
    assert HANGING in info.value.message.en
