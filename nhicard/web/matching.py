"""Matching what a person types to a drop-down's options (city, district, village).

``台北`` finds ``臺北市``, ``大安`` finds ``大安區``, ``Taipei`` finds ``臺北市`` (when the
option shows its English name, or for the 22 cities/counties whose English names are known
here). One match → that option; several → :class:`ChoiceRejected` (exit 8) listing them;
none → :class:`ChoiceRejected` listing the closest options.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from nhicard.core.i18n import T, Text
from nhicard.web.errors import ChoiceRejected
from nhicard.web.formdata import Option
from nhicard.web.text import has_cjk, is_cjk, normalize

ZH_SUFFIXES = ("市", "縣", "區", "鄉", "鎮", "里", "村")
EN_SUFFIXES = ("city", "county", "district", "township", "village", "town")
PLACEHOLDER_PREFIXES = ("請選擇", "請選取", "--")

# The 22 cities and counties: official name → English name (public administrative facts).
CITY_ENGLISH = {
    "臺北市": "Taipei City",
    "新北市": "New Taipei City",
    "桃園市": "Taoyuan City",
    "臺中市": "Taichung City",
    "臺南市": "Tainan City",
    "高雄市": "Kaohsiung City",
    "基隆市": "Keelung City",
    "新竹市": "Hsinchu City",
    "嘉義市": "Chiayi City",
    "新竹縣": "Hsinchu County",
    "苗栗縣": "Miaoli County",
    "彰化縣": "Changhua County",
    "南投縣": "Nantou County",
    "雲林縣": "Yunlin County",
    "嘉義縣": "Chiayi County",
    "屏東縣": "Pingtung County",
    "宜蘭縣": "Yilan County",
    "花蓮縣": "Hualien County",
    "臺東縣": "Taitung County",
    "澎湖縣": "Penghu County",
    "金門縣": "Kinmen County",
    "連江縣": "Lienchiang County",
}
_CITY_ENGLISH_NORMAL = {normalize(k): v for k, v in CITY_ENGLISH.items()}
_NOT_ALNUM_RE = re.compile(r"[^0-9a-z]+")


def zh_key(text: str) -> str:
    """The Chinese part of an option or of user input, normalised (台→臺, widths), without
    spaces."""
    return "".join(filter(is_cjk, normalize(text)))


def strip_zh_suffix(text: str) -> str:
    """``臺北市`` → ``臺北``; a one-character name keeps its suffix (``東區`` → ``東``)."""
    for suffix in ZH_SUFFIXES:
        if text.endswith(suffix) and len(text) > 1:
            return text[: -len(suffix)]
    return text


def en_key(text: str) -> str:
    """The English part, lower-case letters and digits only, without the trailing
    City/County/District/… word (``"Da'an District"`` → ``daan``)."""
    ascii_part = unicodedata.normalize("NFKC", text).casefold()
    words = [w for w in re.split(r"[^0-9a-z']+", ascii_part) if w]
    while len(words) > 1 and words[-1] in EN_SUFFIXES:
        words.pop()
    return _NOT_ALNUM_RE.sub("", "".join(words))


def _is_placeholder(opt: Option) -> bool:
    text = normalize(opt.text)
    return opt.value.strip() == "" or text.startswith(PLACEHOLDER_PREFIXES)


def _english_names(opt: Option) -> set[str]:
    names = set()
    english = en_key(opt.text)  # it splits words at CJK ideographs as at any non-ASCII letter
    if english:
        names.add(english)
    known = _CITY_ENGLISH_NORMAL.get(normalize(zh_key(opt.text)))
    if known:
        names.add(en_key(known))
    return names


def match_option(words: str, options: Sequence[Option], *, what: Text) -> Option:
    """The single option ``words`` means.

    ``what`` names the drop-down in messages (e.g. ``T("縣市", "city/county")``). Raises
    :class:`ChoiceRejected` (exit 8) with ``candidates`` when several or none match.
    """
    real = [o for o in options if not _is_placeholder(o) and not o.disabled]
    typed = normalize(words)
    stages = []
    stages.append([o for o in real if normalize(o.text) == typed or normalize(o.value) == typed])
    if has_cjk(words):
        wanted = zh_key(words)
        stages.append([o for o in real if zh_key(o.text) == wanted])
        stripped = strip_zh_suffix(wanted)
        stages.append([o for o in real if strip_zh_suffix(zh_key(o.text)) == stripped])
    else:
        wanted_en = en_key(words)
        if wanted_en:
            stages.append([o for o in real if wanted_en in _english_names(o)])
    for hits in stages:
        unique = list({o.value: o for o in hits}.values())
        if len(unique) == 1:
            return unique[0]
        if len(unique) > 1:
            listed = [o.text for o in unique]
            raise ChoiceRejected(
                T(
                    "「{words}」符合多個{what_zh}:{list};請輸入完整名稱",
                    "'{words}' matches several options for {what_en}: {list}; type the full name",
                ).format(words=words, what_zh=what.zh, what_en=what.en, list=", ".join(listed)),
                candidates=listed,
                reason="ambiguous",
            )
    closest = _closest(words, real)
    raise ChoiceRejected(
        T(
            "找不到{what_zh}「{words}」;最接近的有:{list}",
            "no {what_en} matches '{words}'; closest: {list}",
        ).format(
            words=words,
            what_zh=what.zh,
            what_en=what.en,
            list=", ".join(closest) if closest else "—",
        ),
        hint=T("請從網站的選項中選擇一個。", "Choose one of the site's options."),
        candidates=closest,
        reason="no-match",
    )


def _closest(words: str, options: Sequence[Option], n: int = 5) -> list[str]:
    # several options may share a key (龍門里 and 龍門村 both key to 龍門): keep them all
    keyed: dict[str, list[str]] = {}
    if has_cjk(words):
        key = strip_zh_suffix(zh_key(words))
        for o in options:
            keyed.setdefault(strip_zh_suffix(zh_key(o.text)), []).append(o.text)
    else:
        key = en_key(words)
        for o in options:
            for name in _english_names(o):
                keyed.setdefault(name, []).append(o.text)
    import difflib  # only when a choice did not match: ≈ 2 ms a command saved otherwise

    near = difflib.get_close_matches(key, list(keyed), n=n, cutoff=0.3)
    contains = [k for k in keyed if key and (key in k or k in key)]
    ordered = list(dict.fromkeys([*contains, *near]))
    return list(dict.fromkeys(text for k in ordered for text in keyed[k]))[:n]
