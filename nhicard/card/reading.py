"""Reading one card's profile end to end: SELECT, READ PROFILE, READ CARD DATA."""

from __future__ import annotations

from dataclasses import dataclass

from nhicard.card.notices import Notice
from nhicard.card.profile import CardData, NhiProfile
from nhicard.card.session import NhiCard
from nhicard.core.i18n import T, Text
from nhicard.pcsc import atr as atrs
from nhicard.transport.connection import Connection


@dataclass(frozen=True)
class CardReading:
    """What ``card read`` reports about one card (printed by ``nhicard.cli.records``)."""

    reader: str
    atr: bytes
    card_type: str
    card_label: Text
    profile: NhiProfile
    card_data: CardData
    warnings: tuple[str, ...]


def card_type_after_read(atr: bytes) -> atrs.AtrInfo:
    """The type of a card that answered like an NHI card: ``nhi`` when its ATR is listed,
    else ``nhi-unlisted``."""
    info = atrs.classify_atr(atr)
    if info is not None and info.card_type == atrs.NHI:
        return info
    return atrs.AtrInfo(atrs.NHI_UNLISTED, atrs.NHI_UNLISTED_LABEL)


def read_card(conn: Connection) -> CardReading:
    """SELECT, READ PROFILE and READ CARD DATA on ``conn``.

    Raises CardAbsent (not an NHI card, card removed) or CardFailure (card error, unreadable
    data)."""
    card = NhiCard(conn)
    card.select()
    profile = card.read_profile()
    card_data = card.read_card_data()
    info = card_type_after_read(conn.atr)
    warnings = tuple(card.warnings) + profile.warnings
    if card_data.terminated:
        warnings += (
            Notice(
                T(
                    "此卡已註銷(註銷註記已設定)",
                    "this card has been cancelled (termination flag set)",
                )
            ),
        )
    return CardReading(
        reader=conn.reader,
        atr=bytes(conn.atr),
        card_type=info.card_type,
        card_label=info.label,
        profile=profile,
        card_data=card_data,
        warnings=warnings,
    )
