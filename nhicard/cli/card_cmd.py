"""``nhicard card …``: reading the NHI card."""

from __future__ import annotations

import click

from nhicard.cli.context import get_app
from nhicard.cli.lazy import LazyGroup
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.cli.params import Seconds
from nhicard.core.i18n import T

CARD_COLUMNS = (
    "reader",
    "atr",
    "card_type",
    "card_number",
    "name",
    "id_number",
    "birth_date",
    "birth_date_roc",
    "sex",
    "issue_date",
    "issue_date_roc",
    "card_termination",
    "warnings",
)


@click.group(cls=LazyGroup, lazy_commands={"verify": "nhicard.cli.card_verify_cmd:verify"})
def card() -> None:
    """The NHI card (健保卡) in a reader."""


@card.command("read")
@click.option(
    "--wait",
    type=Seconds(),
    metavar="SECONDS",
    help="Wait up to SECONDS for a card to be inserted.",
)
@click.option("--mask", is_flag=True, help="Mask name, ID number and birth date in the output.")
@output_options
def read(wait: float | None, mask: bool, fmt: str | None, as_json: bool) -> None:
    """Read the card holder's basic data from one card.

    Without -r the reader is the one holding a card (an NHI card is preferred over a Health
    Professional Card in the other slot)."""
    from nhicard.card.reading import read_card
    from nhicard.cli.records import card_record
    from nhicard.cli.trace import show_card_traffic
    from nhicard.pcsc.atr import format_atr
    from nhicard.pcsc.readers import open_card

    app = get_app()
    show_card_traffic(app)
    if wait and app.stderr_is_tty:
        app.info(T("等待插入卡片(最多 {s} 秒)…", "Waiting up to {s} s for a card…"), s=f"{wait:g}")
    with open_card(app.reader, wait=wait) as conn:
        app.debug(
            T("讀卡機:{reader};ATR:{atr}", "reader: {reader}; ATR: {atr}"),
            reader=conn.reader,
            atr=format_atr(conn.atr),
        )
        reading = read_card(conn)
    emit(card_record(reading, app.lang, mask=mask), pick_format(fmt, as_json), columns=CARD_COLUMNS)
