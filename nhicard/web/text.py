"""Text normalisation for comparing what people type with what pages show.

Full-width and half-width forms are unified (NFKC), 台 and 臺 are treated as the same
character, whitespace is collapsed and case is folded.
"""

from __future__ import annotations

import re
import unicodedata

_SPACE_RE = re.compile(r"\s+")
_DECORATION = "*＊★☆:：" + " "
# CJK ideographs: Extension A and the unified block, compatibility ideographs, planes 2–3.
# Tested by code point rather than a regex: a character class this wide takes ≈ 2 ms to
# compile, at every start of the program.
_CJK_RANGES = ((0x3400, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF))
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")
_ASCII_WORD_RE = re.compile(r"[A-Za-z0-9]")


def normalize(text: str) -> str:
    """NFKC, 台→臺, whitespace collapsed to single spaces, trimmed, case-folded."""
    text = unicodedata.normalize("NFKC", text).replace("台", "臺")
    return _SPACE_RE.sub(" ", text).strip().casefold()


def normalize_label(text: str) -> str:
    """:func:`normalize` plus removal of the marks around labels (``*``, ``★``, colons)."""
    text = normalize(text)
    return text.strip(_DECORATION).strip()


def label_variants(text: str) -> set[str]:
    """The ways a bilingual label can be referred to: the whole text, its Chinese part and its
    English part (``"* 姓名 Name"`` → ``{"姓名 name", "姓名", "name"}``).

    Brackets are treated as spaces, so ``"縣市(City/County)"`` also gives ``"city/county"``.
    """
    base = normalize_label(text)
    if not base:
        return set()
    unbracketed = normalize_label(re.sub(r"[()\[\]【】『』「」]", " ", base))
    variants = {base, unbracketed}
    zh = "".join(ch for ch in unbracketed if is_cjk(ch) or ch in "、,.")
    zh = zh.strip("、,.")
    if zh:
        variants.add(zh)
    en = normalize_label(_NON_ASCII_RE.sub(" ", unbracketed)).strip(".,;!?\"'").strip()
    if _ASCII_WORD_RE.search(en):
        variants.add(en)
    return {v for v in variants if v}


def is_cjk(ch: str) -> bool:
    """True if the character is a CJK ideograph."""
    code = ord(ch)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def has_cjk(text: str) -> bool:
    """True if the text contains at least one CJK ideograph."""
    return any(map(is_cjk, text))
