"""The 57-byte basic-data profile (READ PROFILE) and the card-data record (READ CARD DATA).

Layout (nhi-card.md): card number 0..12, name 12..32 (Big5 family, NUL/space padded),
ID 32..42, birth date 42..49 (ROC YYYMMDD), sex 49, issue date 50..57 (ROC YYYMMDD).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from nhicard.card.idnumber import id_check_ok, id_format_ok
from nhicard.card.notices import Notice
from nhicard.card.rocdate import roc_to_date
from nhicard.core.errors import CardFailure
from nhicard.core.i18n import T
from nhicard.core.masking import mask_id

PROFILE_LENGTH = 57
CARD_NUMBER = slice(0, 12)
NAME = slice(12, 32)
ID_NUMBER = slice(32, 42)
BIRTH_DATE = slice(42, 49)
SEX = 49
ISSUE_DATE = slice(50, 57)
# byte ranges that are personal data (name, ID, birth date): masked in APDU traces
PERSONAL_RANGES = (
    (NAME.start, NAME.stop),
    (ID_NUMBER.start, ID_NUMBER.stop),
    (BIRTH_DATE.start, BIRTH_DATE.stop),
)

_UNREADABLE_HINT = T(
    "卡片資料無法辨識;請重新插卡再試,若持續發生請洽健保署更換卡片。",
    "The card's data is unreadable; reinsert it and retry, and if it persists ask NHIA for a new card.",
)


def _unreadable(what: str, detail: str | None = None) -> CardFailure:
    return CardFailure(
        T(
            "健保卡基本資料無法解讀:{what}", "the NHI card's basic data is unreadable: {what}"
        ).format(what=what),
        hint=_UNREADABLE_HINT,
        reason="profile-unreadable",
        detail=detail,
    )


def decode_name(raw: bytes) -> tuple[str, int]:
    """Decode the name field: Big5-HKSCS (superset of Big5), else CP950; never fails.

    Returns (name, number of characters replaced because undecodable). The NUL padding (and
    anything after the first NUL) and space padding are dropped."""
    raw = raw.split(b"\x00", 1)[0].strip(b" ")
    for encoding in ("big5hkscs", "cp950"):
        try:
            return raw.decode(encoding).strip(" \u3000"), 0
        except UnicodeDecodeError:
            continue
    text = raw.decode("big5hkscs", errors="replace").strip(" \u3000")
    return text, text.count("\ufffd")


def plain_big5_ok(raw: bytes) -> bool:
    """True when the name field decodes in plain Big5 (no HKSCS, no CP950 extensions).

    The official component's 2024 Linux build converts names with glibc iconv ``big5``
    (nhi-agent.md): a name outside plain Big5 comes out garbled or not at all there."""
    raw = raw.split(b"\x00", 1)[0].strip(b" ")
    try:
        raw.decode("big5")
    except UnicodeDecodeError:
        return False
    return True


NAME_BYTES = NAME.stop - NAME.start


def encode_name(name: str) -> bytes:
    """The name field as the card stores it: Big5-HKSCS (CP950 for what HKSCS lacks, ``?``
    for what neither has), NUL-padded to 20 bytes. ValueError when it does not fit."""
    out = b""
    for char in name:
        try:
            out += char.encode("big5hkscs")
        except UnicodeEncodeError:
            out += char.encode("cp950", errors="replace")
    if len(out) > NAME_BYTES:
        raise ValueError(
            f"the name {name!r} takes {len(out)} bytes in Big5-HKSCS; "
            f"the card's name field holds {NAME_BYTES}"
        )
    return out.ljust(NAME_BYTES, b"\x00")


def _field(value: str, where: slice, what: str) -> bytes:
    """A fixed-width ASCII field of the layout; ValueError naming it when it does not fit."""
    width = where.stop - where.start
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"the {what} {value!r} is not ASCII") from None
    if len(raw) != width:
        raise ValueError(f"the {what} {value!r} is {len(raw)} characters, the card has {width}")
    return raw


def _sex_byte(sex: str) -> bytes:
    """The inverse of how :meth:`NhiProfile.from_bytes` shows the sex byte (``\\xNN`` for
    one that is not printable)."""
    if len(sex) == 4 and sex.startswith("\\x"):
        try:
            return bytes.fromhex(sex[2:])
        except ValueError:
            pass
    if len(sex) == 1 and 0x20 <= ord(sex) < 0x7F:
        return sex.encode("ascii")
    raise ValueError(f"the sex field {sex!r} is not one printable ASCII character")


def _ascii(field: bytes, what: str) -> str:
    try:
        return field.decode("ascii")
    except UnicodeDecodeError:
        raise _unreadable(what, field.hex(" ").upper()) from None


def _roc(field: bytes, what: str) -> tuple[date, str]:
    text = _ascii(field, what)
    try:
        return roc_to_date(text), text
    except ValueError:
        raise _unreadable(what, repr(text)) from None


@dataclass(frozen=True)
class NhiProfile:
    """The card holder's basic data as the card stores it."""

    card_number: str
    name: str
    id_number: str
    birth_date: date
    birth_date_roc: str
    sex: str
    issue_date: date
    issue_date_roc: str
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes) -> NhiProfile:
        """Parse READ PROFILE's answer. Raises CardFailure for short or garbled data;
        oddities that still leave a usable record (bad check digit, unknown sex code,
        undecodable name bytes, trailing bytes) become ``warnings``."""
        if len(data) < PROFILE_LENGTH:
            raise _unreadable(
                f"{len(data)} bytes instead of {PROFILE_LENGTH}",
                f"{len(data)} bytes",
            )
        warnings: list[Notice] = []
        if len(data) > PROFILE_LENGTH:
            warnings.append(
                Notice(
                    T(
                        "基本資料多出 {n} 位元組,已略過",
                        "{n} extra bytes after the basic data were ignored",
                    ).format(n=len(data) - PROFILE_LENGTH)
                )
            )
        card_number = _ascii(data[CARD_NUMBER], "card number")
        if not card_number.isdigit():
            raise _unreadable("card number", repr(card_number))
        name, replaced = decode_name(data[NAME])
        if replaced:
            warnings.append(
                Notice(
                    T(
                        "姓名有 {n} 個字無法解碼,以 � 代替",
                        "{n} character(s) of the name could not be decoded (shown as �)",
                    ).format(n=replaced)
                )
            )
        elif not plain_big5_ok(data[NAME]):
            warnings.append(
                Notice(
                    T(
                        "姓名含有一般 Big5 沒有的字(例如香港增補字符集 HKSCS 的字):"
                        "官方健保卡讀卡機元件會把這個姓名顯示成亂碼",
                        "the name has characters plain Big5 lacks (e.g. HKSCS ones): the "
                        "official component would garble this name",
                    )
                )
            )
        if not name:
            warnings.append(Notice(T("卡片上的姓名是空白的", "the name on the card is empty")))
        id_number = _ascii(data[ID_NUMBER], "ID number").strip(" \x00")
        if not id_format_ok(id_number):
            raise _unreadable("ID number", mask_id(id_number))
        if not id_check_ok(id_number):
            warnings.append(
                Notice(
                    T(
                        "身分證號 {id} 的檢查碼不正確", "the check digit of ID number {id} is wrong"
                    ).format(id=mask_id(id_number))
                )
            )
        birth_date, birth_roc = _roc(data[BIRTH_DATE], "birth date")
        sex = chr(data[SEX]) if 0x20 <= data[SEX] < 0x7F else f"\\x{data[SEX]:02x}"
        if sex not in ("M", "F"):
            warnings.append(
                Notice(
                    T("性別欄位的值不尋常:{sex}", "unusual value in the sex field: {sex}").format(
                        sex=repr(sex)
                    )
                )
            )
        issue_date, issue_roc = _roc(data[ISSUE_DATE], "issue date")
        return cls(
            card_number=card_number,
            name=name,
            id_number=id_number,
            birth_date=birth_date,
            birth_date_roc=birth_roc,
            sex=sex,
            issue_date=issue_date,
            issue_date_roc=issue_roc,
            warnings=tuple(warnings),
        )

    def to_bytes(self) -> bytes:
        """The 57 bytes READ PROFILE answers for this record: the inverse of
        :meth:`from_bytes` (the dates as their ROC texts, the name NUL-padded). ValueError
        naming the field that does not fit the layout — a name longer than the card's 20
        bytes among them."""
        return (
            _field(self.card_number, CARD_NUMBER, "card number")
            + encode_name(self.name)
            + _field(self.id_number, ID_NUMBER, "ID number")
            + _field(self.birth_date_roc, BIRTH_DATE, "birth date")
            + _sex_byte(self.sex)
            + _field(self.issue_date_roc, ISSUE_DATE, "issue date")
        )


@dataclass(frozen=True)
class CardData:
    """READ CARD DATA: the first byte is the card termination flag (卡片註銷註記)."""

    card_termination: str  # "0" normally; anything else: the card was cancelled
    raw: bytes

    @property
    def terminated(self) -> bool:
        return self.card_termination not in ("0", "")

    @classmethod
    def from_bytes(cls, data: bytes) -> CardData:
        if not data:
            raise CardFailure(
                T("卡片資料(註銷註記)是空的", "the card data (termination flag) is empty"),
                hint=_UNREADABLE_HINT,
                reason="card-data-unreadable",
            )
        first = data[0]
        flag = chr(first) if 0x21 <= first < 0x7F else str(first)
        return cls(card_termination=flag, raw=bytes(data))
