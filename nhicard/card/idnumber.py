"""Taiwan national ID and resident permit numbers: format, check digit, sex.

Format ``^[A-Z][12ABCD89]\\d{8}$``: national IDs have 1/2 as second character, new-style
resident permits (from 2021) 8/9, old-style resident permits a letter A–D whose code's last
digit takes part in the check sum.
"""

from __future__ import annotations

import re

ID_RE = re.compile(r"[A-Z][12ABCD89][0-9]{8}")  # used with fullmatch: ASCII only
# the registration site's own page script (public copies, sites.md): no new-style permits
SITE_PAGE_ID_RE = re.compile(r"[A-Z][12ABCD][0-9]{8}")

# the area letter's two-digit code
LETTER_CODES = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34,
    "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25,
    "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 1)


def id_format_ok(value: str) -> bool:
    """True when ``value`` has the shape of an ID / resident permit number."""
    return bool(ID_RE.fullmatch(value))


def site_page_accepts(value: str) -> bool:
    """True when the NHI registration page's own script would let ``value`` through: it
    checks ``^[A-Z][12ABCD]\\d{8}$``, so new-style resident permit numbers (second character
    8 or 9, issued since 2021) are refused by the page although they are valid."""
    return bool(SITE_PAGE_ID_RE.fullmatch(value))


def id_check_ok(value: str) -> bool:
    """True when ``value`` is well-formed and its check digit (the last) is right."""
    if not id_format_ok(value):
        return False
    code = LETTER_CODES[value[0]]
    second = value[1]
    digits = [LETTER_CODES[second] % 10 if second.isalpha() else int(second)]
    digits += [int(c) for c in value[2:9]]
    total = code // 10 + (code % 10) * 9
    total += sum(d * w for d, w in zip(digits, _WEIGHTS, strict=True))
    total += int(value[9])
    return total % 10 == 0


def sex_from_id(value: str) -> str | None:
    """``"M"`` / ``"F"`` from the second character (1/8/A/C male, 2/9/B/D female)."""
    if not id_format_ok(value):
        return None
    return "M" if value[1] in "18AC" else "F"
