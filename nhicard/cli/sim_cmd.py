"""``nhicard sim …``: simulated hardware for tests and demos."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from nhicard.cli.context import get_app
from nhicard.cli.help_layout import HelpGroup
from nhicard.cli.params import host_callback
from nhicard.core.errors import UsageError
from nhicard.core.i18n import T
from nhicard.sandbox.vcard import FAULT_HELP


@click.group(cls=HelpGroup)
def sim() -> None:
    """Simulated cards on the virtual reader (vpcd)."""


@sim.command("card", epilog=FAULT_HELP)
@click.option(
    "--slot",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="vpcd slot: its port is NHICARD_VPCD_PORT (default 35963) plus the slot.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="vpcd port to connect to (overrides --slot).",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, callback=host_callback, help="vpcd host."
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Sandbox data TOML (default: the built-in people).",
)
@click.option(
    "--card-number", default=None, metavar="N", help="Which card of the data (default: the first)."
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to try to reach vpcd before giving up (exit 7); once inserted, the card "
    "reconnects for as long as it runs.",
)
@click.option(
    "--fault",
    "fault_spec",
    default=None,
    metavar="SPEC",
    help="Faults to inject, comma-separated (listed below).",
)
def sim_card(
    slot: int,
    port: int | None,
    host: str,
    data_file: str | None,
    card_number: str | None,
    wait: float,
    fault_spec: str | None,
) -> None:
    """Run one virtual NHI card on vpcd in the foreground (Ctrl-C or SIGTERM stops it).

    The card reconnects by itself when pcscd / vpcd restarts."""
    from nhicard.core.masking import mask_name
    from nhicard.sandbox.data import load_data
    from nhicard.sandbox.vcard import FaultSpec, VirtualCard
    from nhicard.sandbox.vpcd import CONNECTED, DISCONNECTED, PULLED, VpcdCardClient, slot_port

    app = get_app()
    faults = FaultSpec.parse(fault_spec)
    data = load_data(data_file)
    if not data.cards:
        raise UsageError(T("資料檔中沒有卡片", "the data file holds no cards"))
    record = data.card(card_number) if card_number else data.cards[0]
    if record is None:
        raise UsageError(
            T("資料檔中沒有卡號 {n}", "no card number {n} in the data").format(n=card_number),
            hint=T("可用的卡號:{all}", "Card numbers available: {all}").format(
                all=", ".join(c.card_number for c in data.cards)
            ),
        )
    target = port if port is not None else slot_port(slot)
    card = VirtualCard(record, faults)
    described = f"{record.card_number} ({mask_name(record.name)})" + (
        f" [{faults}]" if str(faults) else ""
    )

    def on_event(kind: str) -> None:
        if kind == CONNECTED:
            app.info(
                T(
                    "虛擬卡 {card} 已插入 vpcd {host}:{port}",
                    "virtual card {card} inserted into vpcd {host}:{port}",
                ),
                card=described,
                host=host,
                port=target,
            )
        elif kind == PULLED:
            app.info(T("虛擬卡已依故障設定拔出", "virtual card pulled out (fault remove-after)"))
        elif kind == DISCONNECTED:
            app.debug(T("vpcd 中斷連線,重新連線中…", "vpcd closed the connection; reconnecting…"))

    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    app.debug(
        T("連線到 vpcd {host}:{port}…", "connecting to vpcd {host}:{port}…"), host=host, port=target
    )
    try:
        client = VpcdCardClient(card, host=host, port=target, on_event=on_event)
        client.run(stop, connect_within=wait)
    finally:
        signal.signal(signal.SIGTERM, previous)
