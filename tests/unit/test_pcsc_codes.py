"""PC/SC return codes → typed errors; reader choice by index or name."""

from __future__ import annotations

import os
import pwd

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import CardAbsent, CardFailure, PcscUnavailable, ReaderError
from nhicard.pcsc import codes, polkit
from nhicard.pcsc.names import resolve_reader


@pytest.mark.parametrize(
    ("code", "cls", "exit_code", "reason"),
    [
        (codes.SCARD_E_NO_SERVICE, PcscUnavailable, 3, "no-service"),
        (codes.SCARD_E_SERVICE_STOPPED, PcscUnavailable, 3, "no-service"),
        (codes.SCARD_E_INVALID_HANDLE, PcscUnavailable, 3, "stale-context"),
        (codes.SCARD_W_SECURITY_VIOLATION, PcscUnavailable, 3, "access-refused"),
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


# -- failures that involve no reader: the service, never the card --------------------------
SYSTEMS = ("linux", "win32", "darwin")
CONTEXT_CALLS = ("SCardEstablishContext", "SCardListReaders", "SCardGetStatusChange")


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize(
    "code",
    [
        codes.SCARD_F_INTERNAL_ERROR,
        codes.SCARD_F_COMM_ERROR,
        codes.SCARD_F_UNKNOWN_ERROR,
        codes.SCARD_E_NO_ACCESS,
        0x80100099,
    ],
)
def test_an_unknown_failure_without_a_reader_names_the_code_not_the_card(
    code: int, system: str
) -> None:
    for during in CONTEXT_CALLS:
        err = codes.translate(code, during=during, system=system)
        assert type(err) is PcscUnavailable
        assert exit_code_for(err) == 3
        assert err.reason == "pcsc-failed"
        assert err.detail == f"{codes.code_name(code)} during {during}"
        assert f"0x{code:08X}" in err.text.en and f"0x{code:08X}" in err.text.zh
        assert err.hint is not None
        shown = f"{err.text.both()} {err.hint.both()}".lower()
        for card_talk in ("reinsert", "insert the", "重新插卡", "插入", "“?”", "「?」"):
            assert card_talk not in shown, (card_talk, shown)


def test_pcsc_lite_failures_point_at_pcscd_and_polkit() -> None:
    err = codes.translate(codes.SCARD_F_INTERNAL_ERROR, during="SCardEstablishContext")
    assert err.message.en == "the PC/SC service reported an error"
    assert err.message.zh == "PC/SC 服務回報錯誤"
    assert err.hint is not None
    for text in (err.hint.en, err.hint.zh):
        assert "sudo systemctl restart pcscd" in text
        assert "journalctl -u pcscd" in text
        assert "Rejected unauthorized PC/SC client" in text
        assert polkit.ACCESS_PCSC in text and polkit.ACCESS_CARD in text
    windows = codes.translate(codes.SCARD_F_INTERNAL_ERROR, system="win32")
    assert windows.hint is not None
    assert "sc start SCardSvr" in windows.hint.en and "polkit" not in windows.hint.en


def test_a_card_call_that_fails_unknown_still_names_the_reader() -> None:
    err = codes.translate(0x80100099, reader="Reader X", during="SCardTransmit")
    assert type(err) is CardFailure
    assert err.message.en == "communication with reader “Reader X” failed"


# -- pcsc-lite 2 with polkit ------------------------------------------------------------------
def test_refused_by_polkit_says_what_happened_and_prints_the_rule() -> None:
    err = codes.translate(
        codes.SCARD_W_SECURITY_VIOLATION, during="SCardEstablishContext", system="linux"
    )
    assert type(err) is PcscUnavailable and exit_code_for(err) == 3
    assert err.message.en == "PC/SC refused this program: polkit did not authorize it to use PC/SC"
    assert err.message.zh == "PC/SC 服務拒絕了這個程式:polkit 未授權它使用 PC/SC"
    assert err.detail == "SCARD_W_SECURITY_VIOLATION (0x8010006A) during SCardEstablishContext"
    user = polkit.current_user()
    assert user == pwd.getpwuid(os.geteuid()).pw_name
    assert err.hint is not None
    for text, desktop in (
        (err.hint.en, "Run it from the local desktop session"),
        (err.hint.zh, "請在本機桌面的工作階段中執行"),
    ):
        assert desktop in text
        assert polkit.RULES_PATH in text
        assert f"{polkit.ACCESS_PCSC} " in text and polkit.ACCESS_CARD in text
        assert text.endswith("\n" + polkit.rule_text(user).rstrip("\n"))


def test_refused_the_card_names_the_reader() -> None:
    err = codes.translate(
        codes.SCARD_W_SECURITY_VIOLATION, reader="ACS ACR39U 00 00", during="SCardConnect"
    )
    assert type(err) is PcscUnavailable and err.reason == "access-refused"
    assert err.message.en == (
        "PC/SC refused this program the card in “ACS ACR39U 00 00”: polkit did not authorize it"
    )
    assert (
        err.message.zh
        == "PC/SC 服務拒絕這個程式使用讀卡機「ACS ACR39U 00 00」中的卡片:polkit 未授權"
    )


@pytest.mark.parametrize("system", ["win32", "darwin"])
def test_access_denied_without_pcsc_lite_does_not_talk_of_polkit(system: str) -> None:
    err = codes.translate(codes.SCARD_W_SECURITY_VIOLATION, system=system)
    assert type(err) is PcscUnavailable and err.reason == "access-refused"
    assert err.hint is not None
    assert "polkit" not in err.text.both() + err.hint.both()
    assert err.hint.en.startswith("Run it as the user signed in at the desktop")


def test_polkit_rule_text() -> None:
    rule = polkit.rule_text("alice")
    assert rule.splitlines()[0] == (
        "// /etc/polkit-1/rules.d/49-nhicard-pcsc.rules: let alice use PC/SC readers and "
        "cards (nhicard)"
    )
    assert 'action.id == "org.debian.pcsc-lite.access_pcsc" ||' in rule
    assert 'action.id == "org.debian.pcsc-lite.access_card")' in rule
    assert 'subject.user == "alice"' in rule
    assert "return polkit.Result.YES;" in rule and rule.endswith("});\n")
    assert polkit.ACTIONS == (polkit.ACCESS_PCSC, polkit.ACCESS_CARD)


@pytest.mark.parametrize("name", ['x" || true || "', "a b", "", "-rf", "ü", "a\nb", "x" * 300])
def test_polkit_rule_refuses_what_is_not_a_user_name(name: str) -> None:
    assert not polkit.valid_user(name)
    with pytest.raises(ValueError):
        polkit.rule_text(name)


@pytest.mark.parametrize("name", ["nobody", "www-data", "j.doe", "_pcsc", "HOST$"])
def test_polkit_rule_takes_login_names(name: str) -> None:
    assert f'subject.user == "{name}"' in polkit.rule_text(name)


# -- Windows: the Smart Card service runs only while a reader is plugged in -----------------
@pytest.mark.parametrize("code", [codes.SCARD_E_NO_SERVICE, codes.SCARD_E_SERVICE_STOPPED])
def test_windows_no_service_says_plug_in_the_reader_first(code: int) -> None:
    err = codes.translate(code, during="SCardEstablishContext", system="win32")
    assert type(err) is PcscUnavailable and exit_code_for(err) == 3
    assert err.reason == "no-service"
    assert err.message.en == (
        "the Windows Smart Card service is not running: usually no reader is plugged in"
    )
    assert err.message.zh == "Windows「智慧卡」服務未執行:通常是因為沒有插上讀卡機"
    assert err.hint is not None
    assert err.hint.en.startswith("Plug in the reader (USB) first")
    assert err.hint.zh.startswith("請先插上讀卡機(USB)")
    for text, start in ((err.hint.en, "sc start SCardSvr"), (err.hint.zh, "sc start SCardSvr")):
        assert text.index(start) > text.index("SCardSvr)")  # starting it comes second


def test_no_service_elsewhere_still_says_start_the_service() -> None:
    linux = codes.translate(codes.SCARD_E_NO_SERVICE, system="linux")
    assert linux.hint is not None and "systemctl start pcscd" in linux.hint.en
    assert linux.message.en == "the PC/SC service is not running; readers are unreachable"
    mac = codes.translate(codes.SCARD_E_NO_SERVICE, system="darwin")
    assert mac.hint is not None and "built into macOS" in mac.hint.en


# -- context establishment: what SCardEstablishContext returns reaches the user typed -------
class FakeScard:
    """Stands in for ``smartcard.scard``: SCardEstablishContext answers ``hresults`` in turn
    (the last one from then on)."""

    SCARD_SCOPE_USER = 0

    def __init__(self, *hresults: int) -> None:
        self.hresults = list(hresults)
        self.calls = 0

    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:  # noqa: N802 - pyscard's
        self.calls += 1
        hresult = self.hresults.pop(0) if len(self.hresults) > 1 else self.hresults[0]
        return hresult, 0x1234 if hresult == 0 else 0


@pytest.mark.parametrize(
    ("hresult", "reason"),
    [
        (codes.SCARD_W_SECURITY_VIOLATION, "access-refused"),
        (codes.SCARD_W_SECURITY_VIOLATION - (1 << 32), "access-refused"),  # a signed LONG
        (codes.SCARD_F_INTERNAL_ERROR, "pcsc-failed"),
        (codes.SCARD_E_NO_SERVICE, "no-service"),
        (0x80100099, "pcsc-failed"),
    ],
)
def test_context_establishment_failures_are_pcsc_unavailable(
    monkeypatch: pytest.MonkeyPatch, hresult: int, reason: str
) -> None:
    from nhicard.pcsc import context

    monkeypatch.setattr(context, "scard", lambda: FakeScard(hresult))
    with pytest.raises(PcscUnavailable) as info:
        _ = context.PcscContext().handle
    assert info.value.reason == reason
    assert exit_code_for(info.value) == 3
    assert info.value.detail == f"{codes.code_name(hresult)} during SCardEstablishContext"


@pytest.mark.parametrize(
    ("answers", "calls", "reason"),
    [
        ((codes.SCARD_E_NO_SERVICE, codes.SCARD_W_SECURITY_VIOLATION), 2, "access-refused"),
        ((codes.SCARD_E_NO_SERVICE, codes.SCARD_E_NO_SERVICE, 0), 3, None),
        ((codes.SCARD_E_NO_SERVICE,), 3, "no-service"),  # really absent: asked 3 times in all
        ((codes.SCARD_F_INTERNAL_ERROR,), 1, "pcsc-failed"),  # anything else: asked once
    ],
)
def test_no_service_at_establishment_is_asked_again(
    monkeypatch: pytest.MonkeyPatch, answers: tuple[int, ...], calls: int, reason: str | None
) -> None:
    """pcsc-lite says "no service" to a client pcscd refused before the client wrote."""
    from nhicard.pcsc import context

    fake = FakeScard(*answers)
    monkeypatch.setattr(context, "scard", lambda: fake)
    ctx = context.PcscContext()
    if reason is None:
        assert ctx.handle == 0x1234
    else:
        with pytest.raises(PcscUnavailable) as info:
            _ = ctx.handle
        assert info.value.reason == reason
    assert fake.calls == calls
