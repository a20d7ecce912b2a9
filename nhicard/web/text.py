"""Text normalisation for comparing what people type with what pages show.

Full-width and half-width forms are unified (NFKC), 台 and 臺 are treated as the same
character, whitespace is collapsed and case is folded.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_SPACE_RE = re.compile(r"\s+")
_DECORATION = "*＊★☆:：" + " "
# CJK ideographs (Extension A and the unified block, compatibility ideographs, planes 2–3)
# are tested by code point rather than with a regex: a character class this wide takes
# ≈ 2 ms to compile, at every start of the program.
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


@functools.lru_cache(maxsize=4096)  # the same labels are compared on every lookup
def label_variants(text: str) -> frozenset[str]:
    """The ways a bilingual label can be referred to: the whole text, its Chinese part and its
    English part (``"* 姓名 Name"`` → ``{"姓名 name", "姓名", "name"}``).

    Brackets are treated as spaces, so ``"縣市(City/County)"`` also gives ``"city/county"``.
    """
    base = normalize_label(text)
    if not base:
        return frozenset()
    unbracketed = normalize_label(re.sub(r"[()\[\]【】『』「」]", " ", base))
    variants = {base, unbracketed}
    zh = "".join(ch for ch in unbracketed if is_cjk(ch) or ch in "、,.")
    zh = zh.strip("、,.")
    if zh:
        variants.add(zh)
    en = normalize_label(_NON_ASCII_RE.sub(" ", unbracketed)).strip(".,;!?\"'").strip()
    if _ASCII_WORD_RE.search(en):
        variants.add(en)
    return frozenset(v for v in variants if v)


def is_cjk(ch: str) -> bool:
    """True if the character is a CJK ideograph."""
    return (
        "\u3400" <= ch <= "\u9fff"
        or "\uf900" <= ch <= "\ufaff"
        or "\U00020000" <= ch <= "\U0002ffff"
    )


def has_cjk(text: str) -> bool:
    """True if the text contains at least one CJK ideograph."""
    return any(map(is_cjk, text))
