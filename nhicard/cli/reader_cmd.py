"""``nhicard reader …``: the PC/SC readers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from nhicard.cli.context import get_app
from nhicard.cli.help_layout import HelpGroup
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.core.i18n import T

if TYPE_CHECKING:
    from nhicard.transport.connection import Connection

READER_COLUMNS = ("index", "name", "state", "atr", "card_type", "card_label")


@click.group(cls=HelpGroup)
def reader() -> None:
    """Smart card readers (PC/SC)."""


def _answers_nhi_select(conn: Connection) -> bool:
    """Does a card with an unlisted ATR answer like an NHI card? (The card layer is imported
    only when such a card is in a reader.)"""
    from nhicard.card.session import answers_nhi_select

    return answers_nhi_select(conn)


@reader.command("list")
@output_options
def list_readers_cmd(fmt: str | None, as_json: bool) -> None:
    """List every reader with its state and the card in it.

    State is empty, present, in-use, mute or unavailable; card_type is nhi, nhi-unlisted
    (an unlisted ATR that answers like an NHI card), hpc, moica or unknown."""
    from nhicard.pcsc.readers import list_readers

    app = get_app()
    from nhicard.cli.records import reader_record

    records = [reader_record(i, app.lang) for i in list_readers(probe=_answers_nhi_select)]
    if not records:
        app.info(T("沒有找到讀卡機。", "No readers found."))
    emit(records, pick_format(fmt, as_json), columns=READER_COLUMNS)
