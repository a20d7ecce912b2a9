"""Reading one card's profile end to end: SELECT, READ PROFILE, READ CARD DATA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nhicard.card.notices import Notice, render_notice
from nhicard.card.profile import CardData, NhiProfile
from nhicard.card.session import NhiCard
from nhicard.connection import Connection
from nhicard.i18n import T, Text
from nhicard.masking import mask_date, mask_id, mask_name
from nhicard.pcsc import atr as atrs


@dataclass(frozen=True)
class CardReading:
    """What ``card read`` reports about one card."""

    reader: str
    atr: bytes
    card_type: str
    card_label: Text
    profile: NhiProfile
    card_data: CardData
    warnings: tuple[str, ...]

    def to_record(self, lang: str, *, mask: bool = False) -> dict[str, Any]:
        """The JSON record of the CLI contract (``card read``); ``mask`` hides name, ID and
        birth date as in logs."""
        p = self.profile
        record: dict[str, Any] = {
            "reader": self.reader,
            "atr": atrs.format_atr(self.atr),
            "card_type": self.card_type,
            "card_number": p.card_number,
            "name": p.name,
            "id_number": p.id_number,
            "birth_date": p.birth_date.isoformat(),
            "birth_date_roc": p.birth_date_roc,
            "sex": p.sex,
            "issue_date": p.issue_date.isoformat(),
            "issue_date_roc": p.issue_date_roc,
            "card_termination": self.card_data.card_termination,
            "warnings": [render_notice(w, lang) for w in self.warnings],
        }
        if mask:
            record["name"] = mask_name(p.name)
            record["id_number"] = mask_id(p.id_number)
            record["birth_date"] = mask_date(record["birth_date"])
            record["birth_date_roc"] = mask_date(p.birth_date_roc)
        return record


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
