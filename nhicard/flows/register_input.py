"""The input of ``register``, checked and normalised before any page is opened: the
household ID, phone numbers, e-mail, neighbourhood, password and place names as the site
wants them (:func:`parse_request`). The walk through the site is :mod:`nhicard.flows.register`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from nhicard.core.errors import UsageError
from nhicard.core.i18n import T, Text, shown

NEIGHBORHOOD_MAX = 999
PASSWORD_MIN, PASSWORD_MAX = 6, 12


_HOUSEHOLD_RE = re.compile(r"[A-Z0-9]{8}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_MOBILE_RE = re.compile(r"09\d{8}")
_PHONE_MAIN_RE = re.compile(r"(0\d{1,3}-?)?\d{5,8}")
_PHONE_EXT_RE = re.compile(r"^(.*?)(?:#|ext\.?|x|分機|轉)(\d{1,6})$", re.I)


@dataclass(frozen=True)
class RegistrationRequest:
    """What the apply and contact pages ask for (checked and normalised; no password)."""

    household_id: str
    city: str
    district: str
    village: str
    neighborhood: int
    email: str
    phone: str
    mobile: str


def _bad(message: Text, hint: Text | None = None, *, reason: str) -> UsageError:
    return UsageError(message, hint=hint, reason=reason)


def normalize_household_id(value: str) -> str:
    """戶號 as typed → 8 upper-case letters or digits (spaces removed); else exit 2."""
    canon = "".join(unicodedata.normalize("NFKC", value).split()).upper()
    if not _HOUSEHOLD_RE.fullmatch(canon):
        raise _bad(
            T(
                "戶號應為 8 個英文字母或數字(例:F1234567),收到「{value}」",
                "the household ID number must be 8 letters or digits (e.g. F1234567), "
                "got '{value}'",
            ).format(value=value),
            T(
                "戶號印在戶口名簿封面左上角。",
                "It is printed top left on the household certificate.",
            ),
            reason="bad-household-id",
        )
    return canon


def normalize_phone(value: str) -> str:
    """A Taiwan phone number: optional area code, dash, optional extension (``#123``,
    ``ext 123``, ``分機123``) → ``02-23456789#123``; else exit 2."""
    text = unicodedata.normalize("NFKC", value).strip()
    text = re.sub(r"^\((0\d{1,3})\)\s*", r"\1-", text)  # (02) 2345… → 02-2345…
    text = re.sub(r"[\s()]", "", text)
    ext = ""
    found = _PHONE_EXT_RE.match(text)
    if found:
        text, ext = found.group(1), found.group(2)
    if "-" in text:
        head, rest = text.split("-", 1)
        text = f"{head}-{rest.replace('-', '')}"
    if not _PHONE_MAIN_RE.fullmatch(text):
        raise _bad(
            T(
                "聯絡電話格式錯誤:「{value}」(例:02-23456789 或 02-23456789#123)",
                "the phone number '{value}' is not valid (e.g. 02-23456789 or 02-23456789#123)",
            ).format(value=value),
            reason="bad-phone",
        )
    return text + (f"#{ext}" if ext else "")


def normalize_mobile(value: str) -> str:
    """A Taiwan mobile number → ``09xxxxxxxx`` (spaces and dashes removed); else exit 2."""
    digits = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", value))
    if digits.startswith("+886"):
        digits = "0" + digits[4:]
    if not _MOBILE_RE.fullmatch(digits):
        raise _bad(
            T(
                "手機號碼格式錯誤:「{value}」(應為 09 開頭的 10 碼數字,例:0912345678)",
                "the mobile number '{value}' is not valid (10 digits starting with 09, "
                "e.g. 0912345678)",
            ).format(value=value),
            reason="bad-mobile",
        )
    return digits


def check_email(value: str) -> str:
    email = value.strip()
    if len(email) > 254 or not _EMAIL_RE.fullmatch(email):
        raise _bad(
            T(
                "電子郵件格式錯誤:「{value}」",
                "the e-mail address '{value}' is not valid",
            ).format(value=value),
            T("認證通知信會寄到這個地址。", "The verification mail goes to this address."),
            reason="bad-email",
        )
    return email


_DIGITS_RE = re.compile(r"[0-9]{1,9}")


def check_neighborhood(value: str | int) -> int:
    text = unicodedata.normalize("NFKC", str(value)).strip()
    # ASCII digits only (int() refuses "²" though it is a digit), and few enough that int()
    # never meets Python's 4,300-digit limit
    if not _DIGITS_RE.fullmatch(text) or not 1 <= int(text) <= NEIGHBORHOOD_MAX:
        raise _bad(
            T(
                "鄰應為 1 至 999 的整數,收到「{value}」",
                "the neighborhood (鄰) must be a whole number from 1 to 999, got '{value}'",
            ).format(value=shown(str(value), 40)),
            reason="bad-neighborhood",
        )
    return int(text)


def check_password(password: str) -> None:
    """6–12 characters (the site's rule); the message never shows the password."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise _bad(
            T(
                "註冊密碼長度須為 6 至 12 個字元(目前 {n} 個)",
                "the registration password must have 6 to 12 characters (it has {n})",
            ).format(n=len(password)),
            reason="bad-password",
        )


def _place(value: str, what: Text) -> str:
    text = " ".join(value.split())
    if not text:
        raise _bad(
            T("{zh}不可空白", "{en} must not be empty").format(zh=what.zh, en=what.en),
            reason="empty-address",
        )
    return text


CITY = T("縣市", "city/county")
DISTRICT = T("鄉鎮市區", "district/township")
VILLAGE = T("村里", "village")


def household_address(request: RegistrationRequest, chosen: Mapping[str, str]) -> str:
    """The address as the site resolved it (臺北市大安區龍門里 5鄰): the option the site's
    list showed for each typed place (``chosen``: ``city``, ``district``, ``village``),
    the typed words where none was chosen yet."""
    city = chosen.get("city", request.city)
    district = chosen.get("district", request.district)
    village = chosen.get("village", request.village)
    return f"{city}{district}{village} {request.neighborhood}鄰"


def parse_request(
    *,
    household_id: str,
    city: str,
    district: str,
    village: str,
    neighborhood: str | int,
    email: str,
    phone: str,
    mobile: str,
) -> RegistrationRequest:
    """Check every input locally (exit 2 with a clear message) and normalise it."""
    return RegistrationRequest(
        household_id=normalize_household_id(household_id),
        city=_place(city, CITY),
        district=_place(district, DISTRICT),
        village=_place(village, VILLAGE),
        neighborhood=check_neighborhood(neighborhood),
        email=check_email(email),
        phone=normalize_phone(phone),
        mobile=normalize_mobile(mobile),
    )
