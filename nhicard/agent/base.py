"""The card-agent interface (nhi-agent.md): what a web page asks of the card.

Both backends (``direct``, ``nhiicc``) implement :class:`CardAgent`; errors are the
:class:`~nhicard.agent.errors.AgentError` family (re-exported here).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from types import TracebackType
from typing import Protocol, runtime_checkable

from nhicard.agent.errors import AgentError, AgentUsageError, agent_error, component_error
from nhicard.core.i18n import T, Text

SIGNATURE_LENGTH = 256
"""H_Sign's answer: the SAM's signature as 256 characters (official code 9001 otherwise)."""

__all__ = ["AgentError", "AgentSelection", "BasicData", "CardAgent", "check_password_length"]

_CARD_NO = re.compile(r"^\d{12}$")
_ROC7 = re.compile(r"^\d{7}$")


@dataclass(frozen=True)
class BasicData:
    """The card's basic data as ``GetBasic`` returns it."""

    card_number: str
    id_number: str
    name: str
    birth_date_roc: str  # 7 digits, ROC calendar YYYMMDD
    sex: str  # "M" / "F"
    card_termination: str  # the card's termination flag (卡片註銷註記), "0" = valid

    def to_wire(self) -> str:
        """``card_no,id_no,name,birthROC7,sex,card_termination`` (the component's format)."""
        return ",".join(
            (
                self.card_number,
                self.id_number,
                self.name,
                self.birth_date_roc,
                self.sex,
                self.card_termination,
            )
        )

    @classmethod
    def from_wire(cls, text: str) -> BasicData:
        """Parse the component's ``GetBasic`` payload. A comma inside the name is kept.

        Raises :class:`AgentError` (no official code) for anything that is not this format.
        """
        parts = text.split(",")
        if len(parts) < 6:
            raise _bad_basic(text, "expected 6 comma-separated fields")
        card_number, id_number = parts[0], parts[1]
        birth, sex, termination = parts[-3], parts[-2], parts[-1]
        name = ",".join(parts[2:-3]).strip()
        if not _CARD_NO.match(card_number):
            raise _bad_basic(text, "card number is not 12 digits")
        if not id_number.isascii() or not id_number.isalnum() or not 1 <= len(id_number) <= 12:
            raise _bad_basic(text, "ID number is not 1-12 letters or digits")
        if not _ROC7.match(birth):
            raise _bad_basic(text, "birth date is not 7 digits (ROC YYYMMDD)")
        if sex not in ("M", "F"):
            raise _bad_basic(text, "sex is not M or F")
        if len(termination) > 2 or not termination.isascii() or not termination.isalnum():
            raise _bad_basic(text, "card termination flag is not one character")
        return cls(card_number, id_number, name, birth, sex, termination)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _bad_basic(text: str, why: str) -> AgentError:
    return component_error(
        T("讀卡元件回傳的基本資料格式不正確", "the card agent returned malformed basic data"),
        detail=f"{why}; {len(text)} characters",
    )


class AgentKind(StrEnum):
    """The ``--agent`` choices: ``auto`` picks one of the two backends."""

    AUTO = "auto"
    DIRECT = "direct"  # nhicard's own reading over PC/SC
    NHIICC = "nhiicc"  # the official component (or ``agent serve``) over WebSocket/HTTP


@dataclass(frozen=True)
class AgentSelection:
    """Which backend an agent is (never ``auto``), and why it was chosen (for ``-v`` and
    ``env check``)."""

    kind: AgentKind
    reason: Text


@runtime_checkable
class CardAgent(Protocol):
    """The operations of the official component, in Python (nhi-agent.md, "Commands")."""

    selection: AgentSelection

    def get_version(self) -> str:
        """Four characters, e.g. ``"0011"``."""
        ...

    def get_random(self) -> str:
        """16 decimal digits."""
        ...

    def get_basic(self) -> BasicData: ...

    def h_sign(self, version_plus_random: str) -> str:
        """The SAM's signature over the card and these 20 characters (or the 16-digit
        random alone, as the card + password path sends it): 256 hex characters."""
        ...

    def encrypt_password(self, pwd: str) -> str:
        """``EnCrypt``: uppercase hex; 8009 unless the password is 6–12 characters."""
        ...

    def secure_get_basic(self, pwd: str) -> str:
        """``SecureGetBasicWithParam``: uppercase hex (as published, the password is not used)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> CardAgent: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def check_password_length(pwd: str) -> None:
    """Raise 8009 unless ``pwd`` has 6–12 characters (the component's rule)."""
    if not 6 <= len(pwd) <= 12:
        raise agent_error("8009")


def h_sign_argument_ok(value: str) -> bool:
    """H_Sign's argument as the official pages send it: 20 printable ASCII characters
    (version 4 + random 16, the H_Sign path), or the 16-digit random alone (the card +
    password path, ``InnerAuthHC``, nhi-agent.md)."""
    if len(value) == 16:
        return value.isascii() and value.isdigit()
    return len(value) == 20 and value.isascii() and value.isprintable()


def check_version_plus_random(value: str) -> None:
    """H_Sign's argument: see :func:`h_sign_argument_ok`."""
    if not h_sign_argument_ok(value):
        raise AgentUsageError(
            T(
                "H_Sign 的參數必須是 20 個 ASCII 字元(版本 4 碼 + 亂數 16 碼)或只有 16 位數字亂數",
                "H_Sign needs 20 ASCII characters (version 4 + random 16) or the 16-digit "
                "random alone",
            ),
            detail=f"got {len(value)} characters",
            reason="h-sign-argument",
        )
