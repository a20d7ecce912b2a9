"""PC/SC return codes → typed errors; reader choice by index or name."""

from __future__ import annotations

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.errors import CardAbsent, CardFailure, PcscUnavailable, ReaderError
from nhicard.pcsc import codes
from nhicard.pcsc.names import resolve_reader


@pytest.mark.parametrize(
    ("code", "cls", "exit_code", "reason"),
    [
        (codes.SCARD_E_NO_SERVICE, PcscUnavailable, 3, "no-service"),
        (codes.SCARD_E_SERVICE_STOPPED, PcscUnavailable, 3, "no-service"),
        (codes.SCARD_E_INVALID_HANDLE, PcscUnavailable, 3, "stale-context"),
        (codes.SCARD_E_NO_READERS_AVAILABLE, ReaderError, 4, "no-reader"),
        (codes.SCARD_E_UNKNOWN_READER, ReaderError, 4, "reader-unavailable"),
        (codes.SCARD_E_READER_UNAVAILABLE, ReaderError, 4, "reader-unavailable"),
        (codes.SCARD_E_NO_SMARTCARD, CardAbsent, 5, "no-card"),
        (codes.SCARD_W_REMOVED_CARD, CardAbsent, 5, "card-removed"),
        (codes.SCARD_E_SHARING_VIOLATION, CardFailure, 6, "sharing-violation"),
        (codes.SCARD_W_UNRESPONSIVE_CARD, CardFailure, 6, "card-mute"),
        (codes.SCARD_W_UNPOWERED_CARD, CardFailure, 6, "card-mute"),
        (codes.SCARD_E_PROTO_MISMATCH, CardFailure, 6, "card-unsupported"),
        (codes.SCARD_W_RESET_CARD, CardFailure, 6, "card-reset"),
        (codes.SCARD_F_COMM_ERROR, CardFailure, 6, "transmit-failed"),
        (codes.SCARD_E_NOT_TRANSACTED, CardFailure, 6, "transmit-failed"),
        (0x80100099, CardFailure, 6, "transmit-failed"),
    ],
)
def test_translation(code: int, cls: type, exit_code: int, reason: str) -> None:
    err = codes.translate(code, reader="Reader X", during="SCardConnect")
    assert type(err) is cls
    assert exit_code_for(err) == exit_code
    assert err.reason == reason
    assert err.hint is not None and err.hint.zh and err.hint.en
    assert err.message.zh and err.message.en
    if reason not in ("no-reader",):
        assert err.detail is not None and f"0x{code:08X}" in err.detail


def test_sharing_violation_message_is_clear_in_both_languages() -> None:
    err = codes.translate(codes.SCARD_E_SHARING_VIOLATION, reader="EZ100PU 00 00")
    assert err.message.en == "the card in “EZ100PU 00 00” is in use by another program"
    assert err.message.zh == "讀卡機「EZ100PU 00 00」中的卡片正被其他程式獨占使用"


def test_signed_codes_from_winscard_are_normalised() -> None:
    signed = codes.SCARD_E_NO_SMARTCARD - (1 << 32)
    assert codes.normalize(signed) == codes.SCARD_E_NO_SMARTCARD
    assert type(codes.translate(signed)) is CardAbsent
    assert codes.code_name(signed) == "SCARD_E_NO_SMARTCARD (0x8010000C)"


NAMES = ["Castles EZ100PU 00 00", "ACS ACR39U 01 00", "ACS ACR39U 01 01"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0", "Castles EZ100PU 00 00"),
        ("2", "ACS ACR39U 01 01"),
        ("ez100", "Castles EZ100PU 00 00"),
        ("acr39u 01 01", "ACS ACR39U 01 01"),
        (" EZ100PU ", "Castles EZ100PU 00 00"),
    ],
)
def test_resolve_reader(spec: str, expected: str) -> None:
    assert resolve_reader(spec, NAMES) == expected


def test_exact_name_wins_over_substring() -> None:
    names = ["Reader A", "Reader A 2"]
    assert resolve_reader("reader a", names) == "Reader A"


def test_resolve_reader_errors() -> None:
    with pytest.raises(ReaderError) as info:
        resolve_reader("0", [])
    assert info.value.reason == "no-reader"
    with pytest.raises(ReaderError) as info:
        resolve_reader("acr39u", NAMES)
    assert info.value.reason == "reader-ambiguous"
    assert (
        info.value.message.en
        == "“acr39u” matches several readers: 1: ACS ACR39U 01 00; 2: ACS ACR39U 01 01"
    )
    with pytest.raises(ReaderError) as info:
        resolve_reader("gemalto", NAMES)
    assert info.value.reason == "reader-not-found"
    assert info.value.hint is not None
    assert info.value.hint.en == (
        "Available readers: 0: Castles EZ100PU 00 00; 1: ACS ACR39U 01 00; 2: ACS ACR39U 01 01"
    )
    with pytest.raises(ReaderError) as info:
        resolve_reader("3", NAMES)
    assert info.value.message.zh == "沒有編號 3 的讀卡機"


def test_reader_state_names() -> None:
    sc = pytest.importorskip("smartcard.scard")
    from nhicard.pcsc.readers import state_name

    assert state_name(sc.SCARD_STATE_EMPTY) == "empty"
    assert state_name(sc.SCARD_STATE_PRESENT) == "present"
    assert state_name(sc.SCARD_STATE_PRESENT | sc.SCARD_STATE_INUSE) == "in-use"
    assert state_name(sc.SCARD_STATE_PRESENT | sc.SCARD_STATE_EXCLUSIVE) == "in-use"
    assert state_name(sc.SCARD_STATE_PRESENT | sc.SCARD_STATE_MUTE) == "mute"
    assert state_name(sc.SCARD_STATE_UNAVAILABLE) == "unavailable"
    assert state_name(sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_IGNORE) == "unavailable"
    assert state_name(0) == "unavailable"
