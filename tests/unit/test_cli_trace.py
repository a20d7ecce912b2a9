"""-vv: the card loggers print on stderr while the command runs, and only then."""

from __future__ import annotations

import logging

import click
import pytest

from nhicard.cli.context import AppContext
from nhicard.cli.trace import CARD_LOGGERS, show_card_traffic
from nhicard.transport.apdu import transceive
from nhicard.transport.traffic import TRAFFIC, log_note
from tests.support.fakes import READ_PROFILE, ScriptedConnection


@pytest.mark.parametrize(("verbose", "shown"), [(1, False), (2, True)])
def test_traffic_on_stderr_while_the_command_runs(
    capsys: pytest.CaptureFixture[str], verbose: int, shown: bool
) -> None:
    levels = [logging.getLogger(name).level for name in CARD_LOGGERS]
    with click.Context(click.Command("x")):
        show_card_traffic(AppContext(verbose=verbose))
        transceive(ScriptedConnection("41 42 90 00"), READ_PROFILE, mask=[(1, 2)])
        log_note("nhicard.card", "a remark")
    err = capsys.readouterr().err.splitlines()
    if shown:
        assert err[0] == "APDU > 00 CA 11 00 02 00 00 00"
        assert err[1].startswith("APDU < 41 ** 90 00 (ok) ")
        assert err[2:] == ["note: a remark"]
    else:
        assert err == []
    # the context closed: no handler left behind, levels as they were
    assert [logging.getLogger(name).handlers for name in CARD_LOGGERS] == [[], [], []]
    assert [logging.getLogger(name).level for name in CARD_LOGGERS] == levels
    assert not logging.getLogger("nhicard.transport.apdu").isEnabledFor(TRAFFIC)
