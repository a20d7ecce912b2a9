"""``-vv``: the card traffic the core logs (see :mod:`nhicard.transport.traffic`) printed on stderr,
one line per record, as the APDUs are sent and received."""

from __future__ import annotations

import logging

import click

from nhicard.cli.context import AppContext
from nhicard.transport.traffic import TRAFFIC, TRAFFIC_NAME

# the loggers of the card layers: APDUs (nhicard.transport.apdu) and the notes among them
CARD_LOGGERS = ("nhicard.transport.apdu", "nhicard.card", "nhicard.agent")


class StderrHandler(logging.Handler):
    """Each record's message on stderr (the stream current when it is logged)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - logging's own convention for a broken record
            self.handleError(record)
            return
        click.echo(text, err=True)


def show_card_traffic(app: AppContext) -> None:
    """With ``-vv``, print the card's APDUs and notes on stderr until the command ends."""
    if app.verbose < 2:
        return
    logging.addLevelName(TRAFFIC, TRAFFIC_NAME)
    handler = StderrHandler(TRAFFIC)
    saved: list[tuple[logging.Logger, int]] = []
    for name in CARD_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(TRAFFIC)
        logger.addHandler(handler)

    def stop() -> None:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)

    click.get_current_context().call_on_close(stop)
