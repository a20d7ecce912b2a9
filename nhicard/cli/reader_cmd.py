"""``nhicard reader …``: the PC/SC readers."""

from __future__ import annotations

import click

from nhicard.cli.context import get_app
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.i18n import T

READER_COLUMNS = ("index", "name", "state", "atr", "card_type", "card_label")


@click.group()
def reader() -> None:
    """Smart card readers (PC/SC)."""


@reader.command("list")
@output_options
def list_readers_cmd(fmt: str | None, as_json: bool) -> None:
    """List every reader with its state and the card in it.

    State is empty, present, in-use, mute or unavailable; card_type is nhi, nhi-unlisted
    (an unlisted ATR that answers like an NHI card), hpc, moica or unknown."""
    from nhicard.pcsc.readers import list_readers

    app = get_app()
    records = [info.to_record(app.lang) for info in list_readers()]
    if not records:
        app.info(T("沒有找到讀卡機。", "No readers found."))
    emit(records, pick_format(fmt, as_json), columns=READER_COLUMNS)
