"""ATR formatting and the table of cards people insert (nhi-card.md, "ATRs").

``classify_atr`` names a card from its ATR alone. An ATR missing from the table is
``unknown`` here; whether it is an NHI-compatible card ("nhi-unlisted") is decided by asking
the card (SELECT), which the card layer does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nhicard.core.i18n import T, Text

NHI = "nhi"
NHI_UNLISTED = "nhi-unlisted"
HPC = "hpc"
MOICA = "moica"
UNKNOWN = "unknown"
CARD_TYPES = (NHI, NHI_UNLISTED, HPC, MOICA, UNKNOWN)

NHI_LABEL = T("健保卡", "NHI card")
NHI_PROBABLE_LABEL = T(
    "健保卡(疑似,ATR 未正式列名)", "NHI card (probable; ATR listed as 'Health insurance')"
)
NHI_UNLISTED_LABEL = T("相容健保卡(未列名 ATR)", "NHI-compatible card (unlisted ATR)")
HPC_LABEL = T("醫事人員卡", "Health Professional Card")
MOICA_LABEL = T("自然人憑證", "MOICA Citizen Digital Certificate")
UNKNOWN_LABEL = T("未知卡片", "unknown card")

_NHI_ATRS = (
    "3B FF 18 00 FF 81 31 FE 45 54 48 43 43 31 30 54 45 43 4F 47 44 48 4E 32 24",
    "3B FF 18 00 FF 81 31 FE 45 54 48 43 43 31 30 54 45 43 4F 47 44 49 4E 31 26",
    "3B FD 13 00 00 81 31 FE 45 4A 43 4F 50 32 31 76 32 33 31 47 44 54 E1",
    "3B FC 18 00 00 81 31 FE 45 80 73 C8 21 13 66 02 04 03 55 00 02 D2",
    "3B EE 00 00 81 31 FE 45 80 31 80 66 40 90 93 06 0F 17 83 0F 90 00 F3",
    "3B FD 18 00 00 81 31 FE 45 53 4C 4A 35 32 47 78 78 79 79 79 7A 52 AA",
    "3B FA 18 00 00 81 31 FE 45 50 56 4A 43 4F 50 34 53 49 44 93",
    "3B FA 18 00 00 81 31 FE 45 53 4C 4A 35 32 47 78 78 79 79 FC",
)
# Listed only as "Health insurance": almost certainly an NHI card. Decision: classify it as
# ``nhi`` (it is read exactly like the others) and say "probable" in the label.
_NHI_PROBABLE_ATRS = ("3B EE 00 00 81 31 FE 45 80 31 80 66 40 90 93 06 0F 17 83 01 90 00 FD",)
_HPC_ATRS = ("3B F9 18 00 00 81 31 FE 45 50 56 5F 4A 32 44 30 38 31 B6",)
_MOICA_ATRS = (
    "3B 8B 80 01 00 31 C1 64 08 40 21 30 00 90 00 57",
    "3B D8 96 00 81 B1 FE 45 1F 07 43 48 54 47 50 4B 49 4A DD",
)

_HEX_RE = re.compile(r"^[0-9A-Fa-f]*$")


@dataclass(frozen=True)
class AtrInfo:
    """What the ATR says about a card: a ``card_type`` value and a human label."""

    card_type: str
    label: Text


def format_atr(atr: bytes) -> str:
    """``b"\\x3b\\xff"`` → ``"3B FF"`` (uppercase hex, one space between bytes)."""
    return " ".join(f"{b:02X}" for b in atr)


def parse_atr(text: str) -> bytes:
    """``"3B FF 18 …"`` / ``"3bff18…"`` / ``"3B:FF"`` → bytes; ValueError on anything else."""
    compact = re.sub(r"[\s:]", "", text)
    if not compact or len(compact) % 2 or not _HEX_RE.match(compact):
        raise ValueError(f"not an ATR in hex: {text!r}")
    return bytes.fromhex(compact)


def _table() -> dict[bytes, AtrInfo]:
    table: dict[bytes, AtrInfo] = {}
    for atrs, info in (
        (_NHI_ATRS, AtrInfo(NHI, NHI_LABEL)),
        (_NHI_PROBABLE_ATRS, AtrInfo(NHI, NHI_PROBABLE_LABEL)),
        (_HPC_ATRS, AtrInfo(HPC, HPC_LABEL)),
        (_MOICA_ATRS, AtrInfo(MOICA, MOICA_LABEL)),
    ):
        for a in atrs:
            table[parse_atr(a)] = info
    return table


ATR_TABLE: dict[bytes, AtrInfo] = _table()


def classify_atr(atr: bytes | None) -> AtrInfo | None:
    """The table entry for an ATR, or ``None`` when the ATR is not in the table."""
    if not atr:
        return None
    return ATR_TABLE.get(bytes(atr))


def unknown_card_label(atr: bytes, smartcard_list: object | None = None) -> Text:
    """Label of a card whose ATR is not in our table: the pcsc-tools name when known."""
    from nhicard.pcsc.smartcard_list import SmartcardList, default_smartcard_list

    lst = smartcard_list if isinstance(smartcard_list, SmartcardList) else default_smartcard_list()
    name = lst.describe(atr) if lst is not None else None
    if name:
        return T("未知卡片:{name}", "unknown card: {name}").format(name=name)
    return UNKNOWN_LABEL
