"""An NHI card session: the card's commands (nhi-card.md, "APDUs") over a Connection."""

from __future__ import annotations

from nhicard.card.notices import Notice
from nhicard.card.profile import PERSONAL_RANGES, CardData, NhiProfile
from nhicard.core.errors import CardAbsent, CardFailure, NhicardError
from nhicard.core.i18n import T, Text
from nhicard.pcsc import atr as atrs
from nhicard.transport.apdu import ApduError, StatusWord, exchange, transceive
from nhicard.transport.connection import Connection
from nhicard.transport.traffic import log_note

NHI_AID = bytes.fromhex("D1580000010000000000000000001100")
SAM_AID = bytes.fromhex("D1580000010000000000000000003100")
SELECT_NHI = bytes([0x00, 0xA4, 0x04, 0x00, 0x10]) + NHI_AID
SELECT_SAM = bytes([0x00, 0xA4, 0x04, 0x00, 0x10]) + SAM_AID
READ_PROFILE = bytes.fromhex("00CA110002000000")
READ_CARD_DATA = bytes.fromhex("00CA240002000000")
READ_CARD_ID = bytes.fromhex("00CA000002000000")
GET_CHALLENGE = bytes.fromhex("0084000008")
MUTUAL_AUTH_HEADER = bytes.fromhex("0082111220")

SW_NOT_FOUND = StatusWord.FILE_NOT_FOUND
SW_HPC = StatusWord.INCORRECT_P1_P2  # a Health Professional Card's answer to READ PROFILE
SW_INS_NOT_SUPPORTED = StatusWord.INS_NOT_SUPPORTED
# answers after which READ PROFILE is tried again without its trailing Le byte
_RETRY_WITHOUT_LE = frozenset(
    {
        StatusWord.WRONG_LENGTH,
        StatusWord.LC_INCONSISTENT_WITH_P1_P2,
        StatusWord.NO_PRECISE_DIAGNOSIS,
    }
)
LOGGER = "nhicard.card"


def _not_nhi_text(atr: bytes | None, known: atrs.AtrInfo | None = None) -> Text:
    info = known or (atrs.classify_atr(atr) if atr else None)
    if info is not None:
        return Text(
            f"這不是健保卡({info.label.zh})", f"not an NHI card ({info.label.zh}, {info.label.en})"
        )
    label = atrs.unknown_card_label(atr or b"")
    return Text(f"這不是健保卡({label.zh})", f"not an NHI card ({label.en})")


def not_nhi_card(atr: bytes | None) -> CardAbsent:
    """CardAbsent naming the card that was inserted instead of an NHI card."""
    info = atrs.classify_atr(atr) if atr else None
    return CardAbsent(
        _not_nhi_text(atr),
        hint=T("請改插入健保卡。", "Insert the NHI card instead."),
        reason=info.card_type if info and info.card_type != atrs.NHI else "not-nhi",
    )


def health_professional_card() -> CardAbsent:
    """CardAbsent for a Health Professional Card (its answer 6A86 to READ PROFILE)."""
    return CardAbsent(
        _not_nhi_text(None, atrs.AtrInfo(atrs.HPC, atrs.HPC_LABEL)),
        hint=T(
            "這是醫事人員卡;請改插入民眾的健保卡(雙槽讀卡機請確認插在哪一槽,並用 -r 指定)。",
            "This is a Health Professional Card; insert the person's NHI card instead "
            "(on a dual-slot reader check the slot and choose it with -r).",
        ),
        reason="hpc",
    )


class NhiCard:
    """The NHI applet of one card. Methods send the card's APDUs and parse the answers.

    ``warnings`` collects what was unusual but not fatal (e.g. SELECT answered 6D00)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.warnings: list[str] = []

    def select(self) -> None:
        """SELECT the NHI applet. 6A82 → CardAbsent (not an NHI card); 6D00 → a warning
        (some new cards answer so yet read fine; READ PROFILE decides)."""
        _data, sw = exchange(self.conn, SELECT_NHI)
        if sw == StatusWord.OK:
            return
        if sw == SW_NOT_FOUND:
            raise not_nhi_card(self.conn.atr)
        if sw == SW_HPC:
            raise health_professional_card()
        if sw == SW_INS_NOT_SUPPORTED:
            notice = Notice(
                T(
                    "卡片對 SELECT 回應 6D00(新版卡片可能如此),仍繼續讀取",
                    "the card answered SELECT with 6D00 (as some new cards do); reading anyway",
                )
            )
            self.warnings.append(notice)
            log_note(LOGGER, notice)
            return
        raise ApduError(sw, "SELECT")

    def select_sam(self) -> None:
        """SELECT the SAM applet (the last step of the official component's exchange)."""
        transceive(self.conn, SELECT_SAM, command="SELECT SAM")

    def read_profile(self) -> NhiProfile:
        """READ PROFILE (57 bytes). Tries without the trailing Le for readers that reject it.
        6A86 → CardAbsent (Health Professional Card); 6A82 → CardAbsent (not NHI)."""
        data, sw = self._read_profile_raw(READ_PROFILE)
        if sw in _RETRY_WITHOUT_LE:
            data, sw = self._read_profile_raw(READ_PROFILE[:-1])
        if sw == SW_HPC:
            raise health_professional_card()
        if sw == SW_NOT_FOUND:
            raise not_nhi_card(self.conn.atr)
        if sw != StatusWord.OK:
            raise ApduError(sw, "READ PROFILE")
        profile = NhiProfile.from_bytes(data)
        return profile

    def _read_profile_raw(self, apdu: bytes) -> tuple[bytes, int]:
        try:
            return exchange(self.conn, apdu, mask=PERSONAL_RANGES)
        except CardFailure as err:
            if err.reason == "transmit-failed" and apdu == READ_PROFILE:
                return b"", 0x6700  # the reader refused the case-4 form: retry without Le
            raise

    def read_card_data(self) -> CardData:
        """READ CARD DATA: the card termination flag."""
        data = transceive(self.conn, READ_CARD_DATA, command="READ CARD DATA")
        return CardData.from_bytes(data)

    def read_card_id(self) -> str:
        """READ CARD ID: the 12-digit card number."""
        data = transceive(self.conn, READ_CARD_ID, command="READ CARD ID")
        text = data[:12].decode("ascii", errors="replace")
        if len(text) != 12 or not text.isdigit():
            raise CardFailure(
                T("卡號無法解讀", "the card number is unreadable"),
                hint=T("請重新插卡後再試。", "Reinsert the card and retry."),
                reason="card-id-unreadable",
                detail=f"{len(data)} bytes",
            )
        return text

    def get_challenge(self) -> bytes:
        """GET CHALLENGE: 8 random bytes from the card."""
        data = transceive(self.conn, GET_CHALLENGE, command="GET CHALLENGE")
        if len(data) != 8:
            raise CardFailure(
                T("卡片亂數長度不正確", "the card's challenge has the wrong length"),
                reason="challenge-length",
                detail=f"{len(data)} bytes",
            )
        return data

    def mutual_auth(self, challenge32: bytes) -> bytes:
        """MUTUAL AUTH (SAM step): 32 bytes in, 16 bytes out."""
        if len(challenge32) != 32:
            raise ValueError("MUTUAL AUTH takes exactly 32 bytes")
        apdu = MUTUAL_AUTH_HEADER + challenge32 + bytes([0x10])
        data = transceive(self.conn, apdu, command="MUTUAL AUTH")
        if len(data) != 16:
            raise CardFailure(
                T(
                    "卡片認證回應長度不正確",
                    "the card's authentication answer has the wrong length",
                ),
                reason="auth-length",
                detail=f"{len(data)} bytes",
            )
        return data


def answers_nhi_select(conn: Connection) -> bool:
    """True when the card answers SELECT of the NHI applet with 90 00 (probe for unlisted
    ATRs)."""
    try:
        _data, sw = exchange(conn, SELECT_NHI)
    except NhicardError:
        return False
    return sw == StatusWord.OK
