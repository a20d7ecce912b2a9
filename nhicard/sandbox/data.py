"""Sandbox data: people, cards and households, from TOML (sites.md) or the built-in set.

Only the standard library is used here, so the virtual card works without the sandbox extra.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from nhicard.core.errors import UsageError
from nhicard.core.files import MIB, parse_toml, read_text_limited
from nhicard.core.i18n import T

DEFAULT_ATR = "3BFF1800FF8131FE455448434331305445434F4744484E3224"
NAME_BYTES = 20  # the card's name field: Big5-HKSCS (cp950 for what HKSCS lacks)
# a data file of thousands of people is a few hundred KB; /dev/zero must not fill memory
MAX_DATA_BYTES = 4 * MIB


@dataclass(frozen=True)
class CardRecord:
    card_number: str  # 12 ASCII digits
    name: str
    id_number: str
    birth_date: date
    sex: str  # "M" / "F"
    issue_date: date
    card_termination: str = "0"
    auth_key: bytes = b"\x00" * 16
    atr: bytes = bytes.fromhex(DEFAULT_ATR)


@dataclass(frozen=True)
class Household:
    household_id: str
    city: str
    district: str
    village: str
    neighborhood: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class SandboxData:
    cards: tuple[CardRecord, ...]
    households: tuple[Household, ...]
    # every other top-level table of the file (faults, settings), for the parts that use them
    extra: dict[str, Any] = field(default_factory=dict)

    def card(self, card_number: str) -> CardRecord | None:
        return next((c for c in self.cards if c.card_number == card_number), None)

    def card_by_id(self, id_number: str) -> CardRecord | None:
        return next((c for c in self.cards if c.id_number == id_number), None)

    def household_of(self, id_number: str) -> Household | None:
        return next((h for h in self.households if id_number in h.members), None)


def _bad(path: str, what: str) -> UsageError:
    return UsageError(
        T("沙盒資料檔 {path} 有誤:{what}", "sandbox data file {path} is invalid: {what}").format(
            path=path, what=what
        )
    )


def _date(value: Any, where: str, path: str) -> date:
    if value is None:
        raise _bad(path, f"{where} is missing")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _bad(path, f"{where}: not an ISO date: {value!r}") from None


def name_bytes(name: str) -> int | None:
    """How many bytes ``name`` takes on the card, or None if a character cannot be stored."""
    size = 0
    for char in name:
        for codec in ("big5hkscs", "cp950"):
            try:
                size += len(char.encode(codec))
                break
            except UnicodeEncodeError:
                continue
        else:
            return None
    return size


def _table(doc: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad(path, f"{key}: must be an array of tables ([[{key}]]), not {value!r:.40}")
    return value


def _text(table: dict[str, Any], key: str, where: str, path: str, default: Any = None) -> str:
    value = table.get(key, default)
    if value is None:
        raise _bad(path, f"{where} lacks {key}")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _bad(path, f"{where}.{key}: must be a string or a number, not {value!r:.40}")
    return str(value)


def _check_card(card: CardRecord, where: str, path: str) -> None:
    """What the card's fixed-size profile record can hold (nhi-card.md)."""
    size = name_bytes(card.name)
    if size is None or size > NAME_BYTES or not card.name:
        raise _bad(
            path,
            f"{where}.name: {card.name!r:.40} does not fit the card's {NAME_BYTES} bytes "
            "of Big5-HKSCS",
        )
    if len(card.id_number) != 10 or not card.id_number.isascii():
        raise _bad(path, f"{where}.id_number: must be 10 ASCII characters")
    if len(card.card_termination) != 1 or not card.card_termination.isascii():
        raise _bad(path, f"{where}.card_termination: must be one ASCII character")
    for key, when in (("birth_date", card.birth_date), ("issue_date", card.issue_date)):
        if not 1912 <= when.year <= 2910:
            raise _bad(path, f"{where}.{key}: the card's ROC year must be 1 to 999")


def parse_data(doc: dict[str, Any], path: str = "<data>") -> SandboxData:
    cards = []
    for i, c in enumerate(_table(doc, "card", path)):
        where = f"card[{i}]"
        try:
            number = _text(c, "card_number", where, path)
            if len(number) != 12 or not number.isdigit():
                raise _bad(path, f"{where}.card_number must be 12 digits")
            sex = _text(c, "sex", where, path, "M")
            if sex not in ("M", "F"):
                raise _bad(path, f"{where}.sex must be M or F")
            key = bytes.fromhex(_text(c, "auth_key", where, path, "00" * 16))
            if len(key) != 16:
                raise _bad(path, f"{where}.auth_key must be 16 bytes of hex")
            card = CardRecord(
                card_number=number,
                name=_text(c, "name", where, path),
                id_number=_text(c, "id_number", where, path),
                birth_date=_date(c.get("birth_date"), where + ".birth_date", path),
                sex=sex,
                issue_date=_date(c.get("issue_date"), where + ".issue_date", path),
                card_termination=_text(c, "card_termination", where, path, "0"),
                auth_key=key,
                atr=bytes.fromhex(_text(c, "atr", where, path, DEFAULT_ATR).replace(" ", "")),
            )
        except (TypeError, ValueError) as exc:
            raise _bad(path, f"{where}: {exc}") from None
        _check_card(card, where, path)
        cards.append(card)
    households = []
    for i, h in enumerate(_table(doc, "household", path)):
        where = f"household[{i}]"
        try:
            members = h.get("members", [])
            if not isinstance(members, list):
                raise _bad(path, f"{where}.members: must be an array of ID numbers")
            households.append(
                Household(
                    household_id=_text(h, "household_id", where, path).upper(),
                    city=_text(h, "city", where, path),
                    district=_text(h, "district", where, path),
                    village=_text(h, "village", where, path),
                    neighborhood=int(_text(h, "neighborhood", where, path)),
                    members=tuple(str(m) for m in members),
                )
            )
        except (TypeError, ValueError) as exc:
            raise _bad(path, f"{where}: {exc}") from None
    extra = {k: v for k, v in doc.items() if k not in ("card", "household")}
    return SandboxData(tuple(cards), tuple(households), extra)


def load_data(path: str | Path | None = None) -> SandboxData:
    """Load a sandbox data file, or the built-in people when ``path`` is None."""
    if path is None:
        text = resources.files("nhicard.sandbox").joinpath("default_data.toml").read_text("utf-8")
        return parse_data(tomllib.loads(text), "default_data.toml")
    p = Path(path)
    try:
        text = read_text_limited(p, MAX_DATA_BYTES, T("沙盒資料檔", "sandbox data file"))
        doc = parse_toml(text)
    except FileNotFoundError:
        raise _bad(str(p), "file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _bad(str(p), str(exc)) from None
    return parse_data(doc, str(p))
