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

from nhicard.errors import UsageError
from nhicard.i18n import T

DEFAULT_ATR = "3BFF1800FF8131FE455448434331305445434F4744484E3224"


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
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _bad(path, f"{where}: not an ISO date: {value!r}") from None


def parse_data(doc: dict[str, Any], path: str = "<data>") -> SandboxData:
    cards = []
    for i, c in enumerate(doc.get("card", [])):
        where = f"card[{i}]"
        try:
            number = str(c["card_number"])
            if len(number) != 12 or not number.isdigit():
                raise _bad(path, f"{where}.card_number must be 12 digits")
            sex = str(c.get("sex", "M"))
            if sex not in ("M", "F"):
                raise _bad(path, f"{where}.sex must be M or F")
            key = bytes.fromhex(str(c.get("auth_key", "00" * 16)))
            if len(key) != 16:
                raise _bad(path, f"{where}.auth_key must be 16 bytes of hex")
            cards.append(
                CardRecord(
                    card_number=number,
                    name=str(c["name"]),
                    id_number=str(c["id_number"]),
                    birth_date=_date(c["birth_date"], where + ".birth_date", path),
                    sex=sex,
                    issue_date=_date(c["issue_date"], where + ".issue_date", path),
                    card_termination=str(c.get("card_termination", "0")),
                    auth_key=key,
                    atr=bytes.fromhex(str(c.get("atr", DEFAULT_ATR)).replace(" ", "")),
                )
            )
        except KeyError as exc:
            raise _bad(path, f"{where} lacks {exc.args[0]}") from None
        except ValueError as exc:
            raise _bad(path, f"{where}: {exc}") from None
    households = []
    for i, h in enumerate(doc.get("household", [])):
        where = f"household[{i}]"
        try:
            households.append(
                Household(
                    household_id=str(h["household_id"]).upper(),
                    city=str(h["city"]),
                    district=str(h["district"]),
                    village=str(h["village"]),
                    neighborhood=int(h["neighborhood"]),
                    members=tuple(str(m) for m in h.get("members", [])),
                )
            )
        except KeyError as exc:
            raise _bad(path, f"{where} lacks {exc.args[0]}") from None
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
        doc = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise _bad(str(p), "file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _bad(str(p), str(exc)) from None
    return parse_data(doc, str(p))
