"""``nhicard sim card`` when vpcd cannot be reached (issue 23): nothing listening on the port,
or a host that does not answer, ends after ``--wait`` with exit 7 and a message naming
host:port — it no longer retries forever in silence. Once inserted, the card still
reconnects by itself (vpcd restarting)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from nhicard.sandbox.data import load_data
from nhicard.sandbox.vcard import FaultSpec, VirtualCard
from nhicard.sandbox.vpcd import CONNECTED, VpcdCardClient, VpcdUnreachable
from tests.support.cli import run_nhicard


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def card() -> VirtualCard:
    return VirtualCard(load_data(None).cards[0], FaultSpec.parse(""))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_sim_card_with_nothing_listening_exits_7_naming_host_and_port(lang: str) -> None:
    port = closed_port()
    proc = run_nhicard("--lang", lang, "sim", "card", "--port", str(port), "--wait", "1")
    assert proc.returncode == 7, proc.stderr
    expected = {
        "en": f"cannot connect to vpcd at 127.0.0.1:{port} within 1 s",
        "zh-TW": f"1 秒內無法連線到 vpcd 127.0.0.1:{port}",
    }[lang]
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.timeout(60)
def test_sim_card_with_a_host_that_does_not_answer_exits_7() -> None:
    """192.0.2.1 (TEST-NET-1) is never routed: the connect hangs or fails at once."""
    proc = run_nhicard(
        "--lang", "en", "sim", "card", "--host", "192.0.2.1", "--port", "35963", "--wait", "1.5"
    )  # fmt: skip
    assert proc.returncode == 7, proc.stderr
    assert "cannot connect to vpcd at 192.0.2.1:35963 within 1.5 s" in proc.stderr


def test_sim_card_wait_must_be_positive() -> None:
    proc = run_nhicard("--lang", "en", "sim", "card", "--port", "1", "--wait", "0")
    assert proc.returncode == 2, proc.stderr
    assert "--wait" in proc.stderr


@pytest.mark.timeout(30)
def test_client_gives_up_when_vpcd_never_accepts() -> None:
    client = VpcdCardClient(card(), port=closed_port(), retry_interval=0.05)
    with pytest.raises(VpcdUnreachable) as caught:
        client.run(threading.Event(), connect_within=0.3)
    assert caught.value.reason == "vpcd-unreachable"
    assert caught.value.detail  # the last connection error, e.g. "Connection refused"


@pytest.mark.timeout(30)
def test_the_deadline_covers_only_the_first_connection() -> None:
    """A card inserted in time keeps reconnecting after vpcd closes, past the deadline."""
    with socket.create_server(("127.0.0.1", 0)) as vpcd:
        port = vpcd.getsockname()[1]
        events: list[str] = []
        both = threading.Event()

        def on_event(kind: str) -> None:
            events.append(kind)
            if events.count(CONNECTED) == 2:
                both.set()

        client = VpcdCardClient(card(), port=port, on_event=on_event, retry_interval=0.05)
        stop = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                client.run(stop, connect_within=0.5)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        first, _ = vpcd.accept()
        time.sleep(0.6)  # past the connect deadline (not a timing assertion)
        first.close()  # vpcd restarting: the card must come back
        second, _ = vpcd.accept()
        assert both.wait(20)
        stop.set()
        second.close()
        thread.join(10)
    assert not errors and not thread.is_alive()
