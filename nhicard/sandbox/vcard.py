"""A virtual NHI card: answers the card's APDUs from a sandbox CardRecord, with faults on
demand (``--fault``). Used through vpcd (``nhicard sim card``) or in process
(:class:`InProcessConnection`, for unit tests of every layer above the card)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

from nhicard.card.profile import PROFILE_LENGTH, NhiProfile
from nhicard.card.rocdate import date_to_roc
from nhicard.core.errors import CardAbsent, UsageError
from nhicard.core.i18n import T
from nhicard.sandbox.algorithms import mutual_auth_answer
from nhicard.sandbox.data import CardRecord

NHI_AID = bytes.fromhex("D1580000010000000000000000001100")
SAM_AID = bytes.fromhex("D1580000010000000000000000003100")
HPC_ATR = bytes.fromhex("3BF91800008131FE4550565F4A3244303831B6")
MOICA_ATR = bytes.fromhex("3B8B80010031C16408402130009000 57".replace(" ", ""))
# a T=1 ATR listed nowhere (historical bytes "NHISANDBOX"), for an NHI-compatible card
UNLISTED_ATR = bytes.fromhex("3BFA1800008131FE454E48495341 4E44424F58EB".replace(" ", ""))
T0_CHUNK = 32  # most data bytes one GET RESPONSE returns in the t0 fault

FAULT_HELP = """\
Faults (comma-separated, e.g. --fault t0,delay=50):

\b
  t0               answers come as 61xx and need GET RESPONSE (in 32-byte chunks)
  6c               READ PROFILE with Le other than 39 is answered 6C39
  remove-after=N   the card is pulled (connection dropped) after N APDUs
  delay=MS         each APDU takes MS milliseconds more
  hpc              a Health Professional Card: its ATR, READ commands answer 6A86
  moica            a MOICA certificate card: its ATR, SELECT answers 6A82
  garbage-profile  READ PROFILE returns 57 bytes of garbage
  short-profile    READ PROFILE returns only 20 bytes
  unknown-atr      an ATR listed nowhere, otherwise a normal NHI card
  select-6d00      SELECT answers 6D00, READ PROFILE still works
  bad-auth         MUTUAL AUTH returns a wrong answer
  terminated       the card termination flag (READ CARD DATA) is set
"""


@dataclass(frozen=True)
class FaultSpec:
    """Faults the virtual card injects; parsed from ``--fault`` (see FAULT_HELP)."""

    t0: bool = False
    le_6c: bool = False
    remove_after: int | None = None
    delay_ms: int = 0
    hpc: bool = False
    moica: bool = False
    garbage_profile: bool = False
    short_profile: bool = False
    unknown_atr: bool = False
    select_6d00: bool = False
    bad_auth: bool = False
    terminated: bool = False

    _FLAGS = {
        "t0": "t0",
        "6c": "le_6c",
        "hpc": "hpc",
        "moica": "moica",
        "garbage-profile": "garbage_profile",
        "short-profile": "short_profile",
        "unknown-atr": "unknown_atr",
        "select-6d00": "select_6d00",
        "bad-auth": "bad_auth",
        "terminated": "terminated",
    }
    _VALUES = {"remove-after": "remove_after", "delay": "delay_ms"}

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """``"t0,delay=50"`` → FaultSpec; UsageError naming the bad part otherwise."""
        values: dict[str, object] = {}
        for part in (spec or "").split(","):
            part = part.strip().lower()
            if not part:
                continue
            key, sep, raw = part.partition("=")
            if not sep and key in cls._FLAGS:
                values[cls._FLAGS[key]] = True
            elif sep and key in cls._VALUES and raw.isdigit():
                values[cls._VALUES[key]] = int(raw)
            else:
                known = ", ".join([*cls._FLAGS, *(f"{k}=N" for k in cls._VALUES)])
                raise UsageError(
                    T("不認得的卡片故障設定「{part}」", "unknown card fault “{part}”").format(
                        part=part
                    ),
                    hint=T("可用的故障:{known}", "Known faults: {known}").format(known=known),
                    reason="bad-fault",
                )
        return cls(**values)  # type: ignore[arg-type]

    def __str__(self) -> str:
        names = {v: k for k, v in self._FLAGS.items()} | {v: k for k, v in self._VALUES.items()}
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is True:
                parts.append(names[f.name])
            elif isinstance(value, int) and not isinstance(value, bool) and value:
                parts.append(f"{names[f.name]}={value}")
        return ",".join(parts)


class CardPulled(Exception):
    """The virtual card leaves the reader now (the ``remove-after`` fault)."""


def card_profile(record: CardRecord) -> NhiProfile:
    """A sandbox card's basic data as the card model holds it."""
    return NhiProfile(
        card_number=record.card_number,
        name=record.name,
        id_number=record.id_number,
        birth_date=record.birth_date,
        birth_date_roc=date_to_roc(record.birth_date),
        sex=record.sex,
        issue_date=record.issue_date,
        issue_date_roc=date_to_roc(record.issue_date),
    )


def profile_bytes(record: CardRecord) -> bytes:
    """The 57-byte READ PROFILE answer of a sandbox card (:meth:`NhiProfile.to_bytes`)."""
    return card_profile(record).to_bytes()


def _sw(sw: int) -> bytes:
    return bytes([sw >> 8, sw & 0xFF])


class VirtualCard:
    """Answers command APDUs like an NHI card (``process``), faults included."""

    def __init__(
        self,
        record: CardRecord,
        faults: FaultSpec | None = None,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.record = record
        self.faults = faults or FaultSpec()
        self.rng = rng
        self.sleep = sleep
        self.apdu_count = 0
        self.last_challenge: bytes | None = None
        self.selected: str | None = None
        self._pending = b""

    @property
    def atr(self) -> bytes:
        if self.faults.hpc:
            return HPC_ATR
        if self.faults.moica:
            return MOICA_ATR
        if self.faults.unknown_atr:
            return UNLISTED_ATR
        return self.record.atr

    def insert(self) -> None:
        """The card enters a reader: counters and session state start over."""
        self.apdu_count = 0
        self.reset()

    def reset(self) -> None:
        """Power on / warm reset: selection and pending answers are lost."""
        self.selected = None
        self.last_challenge = None
        self._pending = b""

    def process(self, apdu: bytes) -> bytes:
        """One command APDU → response (data ‖ SW1 SW2). Raises CardPulled per the faults."""
        self.apdu_count += 1
        limit = self.faults.remove_after
        if limit is not None and self.apdu_count > limit:
            raise CardPulled()
        if self.faults.delay_ms:
            self.sleep(self.faults.delay_ms / 1000)
        if len(apdu) < 4:
            return _sw(0x6700)
        if apdu[1] == 0xC0:
            return self._get_response(apdu)
        self._pending = b""
        data, sw = self._dispatch(apdu)
        if self.faults.t0 and data and sw == 0x9000:
            self._pending = data
            return bytes([0x61, len(data) & 0xFF])
        return data + _sw(sw)

    def _get_response(self, apdu: bytes) -> bytes:
        if not self._pending:
            return _sw(0x6985)
        le = (apdu[4] or 256) if len(apdu) >= 5 else 256
        size = min(le, T0_CHUNK) if self.faults.t0 else le
        chunk, self._pending = self._pending[:size], self._pending[size:]
        if self._pending:
            return chunk + bytes([0x61, len(self._pending) & 0xFF])
        return chunk + _sw(0x9000)

    def _dispatch(self, apdu: bytes) -> tuple[bytes, int]:
        cla, ins, p1, p2 = apdu[:4]
        if cla != 0x00:
            return b"", 0x6E00
        if self.faults.moica and ins != 0xA4:
            return b"", 0x6D00
        if ins == 0xA4:
            return self._select(apdu)
        if ins == 0xCA:
            return self._read(apdu, p1, p2)
        if ins == 0x84:
            return self._get_challenge(apdu)
        if ins == 0x82:
            return self._mutual_auth(apdu, p1, p2)
        return b"", 0x6D00

    def _select(self, apdu: bytes) -> tuple[bytes, int]:
        if self.faults.select_6d00:
            return b"", 0x6D00
        if len(apdu) < 5 or apdu[2] != 0x04:
            return b"", 0x6A86
        aid = apdu[5 : 5 + apdu[4]]
        if self.faults.moica or aid not in (NHI_AID, SAM_AID):
            return b"", 0x6A82
        self.selected = "nhi" if aid == NHI_AID else "sam"
        return b"", 0x9000

    def _read(self, apdu: bytes, p1: int, p2: int) -> tuple[bytes, int]:
        if self.faults.hpc:
            return b"", 0x6A86
        if p1 == 0x11 and p2 == 0x00:
            data = self._profile()
            le = apdu[7] if len(apdu) >= 8 else None
            if self.faults.le_6c and le is not None and le != len(data):
                return b"", 0x6C00 | len(data)
            return data, 0x9000
        if p1 == 0x24 and p2 == 0x00:
            flag = "1" if self.faults.terminated else (self.record.card_termination or "0")
            return flag.encode("ascii")[:1], 0x9000
        if p1 == 0x00 and p2 == 0x00:
            return self.record.card_number.encode("ascii"), 0x9000
        return b"", 0x6A86

    def _profile(self) -> bytes:
        if self.faults.garbage_profile:
            return bytes(range(0x80, 0x80 + PROFILE_LENGTH))
        data = profile_bytes(self.record)
        if self.faults.short_profile:
            return data[:20]
        return data

    def _get_challenge(self, apdu: bytes) -> tuple[bytes, int]:
        if len(apdu) != 5 or apdu[4] != 8:
            return b"", 0x6700
        self.last_challenge = self.rng(8)
        return self.last_challenge, 0x9000

    def _mutual_auth(self, apdu: bytes, p1: int, p2: int) -> tuple[bytes, int]:
        if (p1, p2) != (0x11, 0x12):
            return b"", 0x6A86
        if len(apdu) < 5 + 32 or apdu[4] != 0x20:
            return b"", 0x6700
        if self.last_challenge is None:
            return b"", 0x6985
        answer = mutual_auth_answer(self.record.auth_key, apdu[5:37], self.last_challenge)
        self.last_challenge = None
        if self.faults.bad_auth:
            answer = bytes(b ^ 0x5A for b in answer)
        return answer, 0x9000


class InProcessConnection:
    """A :class:`nhicard.transport.connection.Connection` to a VirtualCard, without PC/SC."""

    def __init__(self, card: VirtualCard, reader: str = "In-process virtual reader") -> None:
        self.card = card
        self.reader = reader
        self.atr = card.atr
        self.sent: list[bytes] = []  # every APDU sent, for tests
        card.insert()

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(bytes(apdu))
        try:
            response = self.card.process(bytes(apdu))
        except CardPulled:
            raise CardAbsent(
                T(
                    "讀卡機「{reader}」中的卡片在讀取中被移除",
                    "the card in “{reader}” was removed while being read",
                ).format(reader=self.reader),
                reason="card-removed",
            ) from None
        return response[:-2], (response[-2] << 8) | response[-1]
