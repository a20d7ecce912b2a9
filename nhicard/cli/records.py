"""What commands print for people and scripts, rendered from the core's results: texts in
the chosen language, personal data masked on request (cli-contract.md's field names).

The core returns frozen results holding bilingual :class:`~nhicard.core.i18n.Text` values; the
language and masking for display are decided here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nhicard.core.masking import mask_date, mask_id, mask_name

if TYPE_CHECKING:
    from nhicard.card.reading import CardReading
    from nhicard.envcheck import CheckResult
    from nhicard.pcsc.readers import ReaderInfo


def reader_record(info: ReaderInfo, lang: str) -> dict[str, Any]:
    """One ``reader list`` record."""
    from nhicard.pcsc.atr import format_atr

    return {
        "index": info.index,
        "name": info.name,
        "state": info.state.value,
        "atr": format_atr(info.atr) if info.atr else None,
        "card_type": info.card_type,
        "card_label": info.card_label.render(lang) if info.card_label else None,
    }


def card_record(reading: CardReading, lang: str, *, mask: bool = False) -> dict[str, Any]:
    """The ``card read`` record; ``mask`` hides name, ID and birth date as in logs."""
    from nhicard.card.notices import render_notice
    from nhicard.pcsc.atr import format_atr

    p = reading.profile
    record: dict[str, Any] = {
        "reader": reading.reader,
        "atr": format_atr(reading.atr),
        "card_type": reading.card_type,
        "card_number": p.card_number,
        "name": p.name,
        "id_number": p.id_number,
        "birth_date": p.birth_date.isoformat(),
        "birth_date_roc": p.birth_date_roc,
        "sex": p.sex,
        "issue_date": p.issue_date.isoformat(),
        "issue_date_roc": p.issue_date_roc,
        "card_termination": reading.card_data.card_termination,
        "warnings": [render_notice(w, lang) for w in reading.warnings],
    }
    if mask:
        record["name"] = mask_name(p.name)
        record["id_number"] = mask_id(p.id_number)
        record["birth_date"] = mask_date(record["birth_date"])
        record["birth_date_roc"] = mask_date(p.birth_date_roc)
    return record


def check_record(result: CheckResult, lang: str) -> dict[str, Any]:
    """One ``env check`` line: ``id, group, status, summary, detail, fix``."""
    return {
        "id": result.id,
        "group": result.group,
        "status": result.status,
        "summary": result.summary.render(lang),
        "detail": result.detail,
        "fix": result.fix.render(lang) if result.fix is not None else None,
    }


def env_report(results: Sequence[CheckResult], lang: str) -> dict[str, Any]:
    """The ``env check`` JSON document, texts in ``lang``."""
    from nhicard.envcheck import summarize

    return {"checks": [check_record(r, lang) for r in results], "summary": summarize(results)}
