"""The direct backend: our card layer on a virtual card (in process, and through the real
pcscd + vpcd) plus our SAM client against the sandbox SAM server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from nhicard.agent.base import BasicData, CardAgent
from nhicard.agent.client.direct import DIRECT_AGENT_VERSION, DirectAgent, random_digits
from nhicard.agent.errors import (
    AgentCardAbsent,
    AgentCardFailure,
    AgentError,
    AgentNetworkError,
    AgentPcscUnavailable,
    AgentReaderError,
    AgentUsageError,
)
from nhicard.agent.sam import encrypt
from nhicard.agent.sam.client import SamEndpoint
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import CardAbsent, PcscUnavailable, ReaderError
from nhicard.core.i18n import T
from nhicard.sandbox.data import load_data
from nhicard.sandbox.keys import SandboxKeys, verify_h_sign
from nhicard.sandbox.sam import SamServer, SamServerThread
from nhicard.sandbox.vcard import FaultSpec, InProcessConnection, VirtualCard
from nhicard.transport.connection import Connection

DATA = load_data()
WANG, LIN = DATA.cards[0], DATA.cards[1]
VR = "0011" + "9876543210123456"
NOON_TAIPEI = datetime(2025, 3, 9, 4, 0, tzinfo=UTC)

WANG_BASIC = BasicData("000012345678", "A123456789", "王小明", "0640101", "M", "0")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SandboxKeys:
    return SandboxKeys.load_or_create(tmp_path_factory.mktemp("sam"))


@pytest.fixture(scope="module")
def sam(keys: SandboxKeys) -> Iterator[SamServerThread]:
    with SamServer(DATA, keys, read_timeout=2.0).serve_in_thread() as running:
        yield running


def in_process(card: VirtualCard, log: list[InProcessConnection] | None = None):  # type: ignore[no-untyped-def]
    @contextmanager
    def opener(reader: str | None) -> Iterator[Connection]:
        conn = InProcessConnection(card)
        if log is not None:
            log.append(conn)
        yield conn

    return opener


def raising(exc: Exception):  # type: ignore[no-untyped-def]
    def opener(reader: str | None) -> AbstractContextManager[Connection]:
        raise exc

    return opener


def agent_for(
    sam: SamServerThread, keys: SandboxKeys, card: VirtualCard | None = None, **kw: object
) -> DirectAgent:
    opener = kw.pop("card_opener", None) or in_process(card or VirtualCard(WANG))
    return DirectAgent(
        reader=None,
        sam=SamEndpoint("127.0.0.1", sam.port, keys.wrap_key),
        clock=kw.pop("clock", lambda: NOON_TAIPEI),
        card_opener=opener,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_is_a_card_agent(sam: SamServerThread, keys: SandboxKeys) -> None:
    agent = agent_for(sam, keys)
    assert isinstance(agent, CardAgent)
    assert agent.selection.kind == "direct"


def test_version_and_random(sam: SamServerThread, keys: SandboxKeys) -> None:
    agent = agent_for(sam, keys, rng=lambda n: bytes(n))
    assert agent.get_version() == DIRECT_AGENT_VERSION == "0011"
    assert agent.get_random() == "0000000000000000"
    values = iter([b"\xff" * 8, (12345678901234567).to_bytes(8, "big")])  # 1st rejected
    assert random_digits(lambda n: next(values)) == "2345678901234567"
    real = agent_for(sam, keys).get_random()
    assert len(real) == 16 and real.isdigit()


def test_get_basic(sam: SamServerThread, keys: SandboxKeys) -> None:
    sent: list[InProcessConnection] = []
    basic = agent_for(sam, keys, card_opener=in_process(VirtualCard(WANG), sent)).get_basic()
    assert basic == WANG_BASIC
    assert basic.to_wire() == "000012345678,A123456789,王小明,0640101,M,0"
    assert [a.hex().upper() for a in sent[0].sent] == [
        "00A4040010D1580000010000000000000000001100",
        "00CA110002000000",
        "00CA240002000000",
    ]


def test_get_basic_terminated_card(sam: SamServerThread, keys: SandboxKeys) -> None:
    card = VirtualCard(LIN, FaultSpec(terminated=True))
    assert agent_for(sam, keys, card).get_basic().card_termination == "1"


def test_h_sign_runs_the_sam_exchange_and_verifies(sam: SamServerThread, keys: SandboxKeys) -> None:
    sent: list[InProcessConnection] = []
    agent = agent_for(sam, keys, card_opener=in_process(VirtualCard(WANG), sent))
    sig = agent.h_sign(VR)
    assert verify_h_sign(keys.sam_public_key, WANG.card_number, VR, sig)
    apdus = [a.hex().upper() for a in sent[0].sent]
    assert apdus[:3] == [
        "00A4040010D1580000010000000000000000001100",
        "00CA000002000000",
        "0084000008",
    ]
    assert apdus[3].startswith("0082111220") and apdus[3].endswith("10") and len(apdus[3]) == 76
    assert apdus[4] == "00A4040010D1580000010000000000000000003100"  # SELECT SAM at the end


def test_h_sign_of_the_random_alone_as_the_card_password_path_sends_it(
    sam: SamServerThread, keys: SandboxKeys
) -> None:
    """The official page's InnerAuthHC path signs the 16-digit random without the version:
    it travels to the SAM as <se=16> and the signature covers card number ‖ random."""
    random16 = VR[4:]
    sig = agent_for(sam, keys, card_opener=in_process(VirtualCard(WANG))).h_sign(random16)
    assert verify_h_sign(keys.sam_public_key, WANG.card_number, random16, sig)
    assert not verify_h_sign(keys.sam_public_key, WANG.card_number, VR, sig)


class NoSamApplet(InProcessConnection):
    """A virtual card that answers SELECT SAM with 6A 82."""

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if apdu.hex().upper().endswith("3100"):
            return b"", 0x6A82
        return super().transmit(apdu)


def test_h_sign_notes_a_failed_select_sam_in_the_trace(
    sam: SamServerThread, keys: SandboxKeys, caplog: pytest.LogCaptureFixture
) -> None:
    @contextmanager
    def opener(reader: str | None) -> Iterator[Connection]:
        yield NoSamApplet(VirtualCard(WANG))

    caplog.set_level(logging.DEBUG, logger="nhicard.agent")
    sig = agent_for(sam, keys, card_opener=opener).h_sign(VR)
    assert verify_h_sign(keys.sam_public_key, WANG.card_number, VR, sig)
    notes = [r.getMessage() for r in caplog.records if r.name == "nhicard.agent"]
    assert notes == [
        "note: SELECT SAM after H_Sign failed: 卡片回應錯誤 6A 82(file or application not found),"
        "指令 SELECT SAM / the card answered 6A 82 (file or application not found) to SELECT SAM"
    ]


def test_h_sign_refused_card_is_8006(sam: SamServerThread, keys: SandboxKeys) -> None:
    agent = agent_for(sam, keys, VirtualCard(WANG, FaultSpec(bad_auth=True)))
    with pytest.raises(AgentCardFailure) as info:
        agent.h_sign(VR)
    assert (info.value.official_code, exit_code_for(info.value)) == ("8006", 6)


def test_h_sign_with_wrong_argument_is_a_usage_error(
    sam: SamServerThread, keys: SandboxKeys
) -> None:
    with pytest.raises(AgentUsageError):
        agent_for(sam, keys).h_sign("0011123")


def test_sam_unreachable_is_4061(keys: SandboxKeys) -> None:
    agent = DirectAgent(
        reader=None,
        sam=SamEndpoint("127.0.0.1", 9, keys.wrap_key),
        card_opener=in_process(VirtualCard(WANG)),
    )
    with pytest.raises(AgentNetworkError) as info:
        agent.h_sign(VR)
    assert (info.value.official_code, exit_code_for(info.value)) == ("4061", 7)


@pytest.mark.parametrize("after", [1, 2, 3])
def test_card_pulled_mid_way_is_8013(sam: SamServerThread, keys: SandboxKeys, after: int) -> None:
    agent = agent_for(sam, keys, VirtualCard(WANG, FaultSpec(remove_after=after)))
    with pytest.raises(AgentCardAbsent) as info:
        agent.h_sign(VR)
    assert (info.value.official_code, exit_code_for(info.value)) == ("8013", 5)
    assert "removed" in (info.value.detail or "")


@pytest.mark.parametrize(
    ("exc", "cls", "code", "exit_code"),
    [
        (PcscUnavailable(T("x", "pcscd is not running")), AgentPcscUnavailable, "7001", 3),
        (ReaderError(T("x", "no reader")), AgentReaderError, "7002", 4),
        (CardAbsent(T("x", "no card"), reason="no-card"), AgentCardAbsent, "7004", 5),
    ],
)
def test_opening_errors(
    sam: SamServerThread,
    keys: SandboxKeys,
    exc: Exception,
    cls: type[AgentError],
    code: str,
    exit_code: int,
) -> None:
    agent = agent_for(sam, keys, card_opener=raising(exc))
    for op in (agent.get_basic, lambda: agent.h_sign(VR), lambda: agent.encrypt_password("abc123")):
        with pytest.raises(cls) as info:
            op()
        assert (info.value.official_code, exit_code_for(info.value)) == (code, exit_code)
        assert info.value.detail and info.value.detail.startswith(exc.message.en)  # type: ignore[attr-defined]


def test_not_an_nhi_card_is_7004(sam: SamServerThread, keys: SandboxKeys) -> None:
    with pytest.raises(AgentCardAbsent) as info:
        agent_for(sam, keys, VirtualCard(WANG, FaultSpec(moica=True))).get_basic()
    assert info.value.official_code == "7004"


def test_unreadable_profile_is_8011(sam: SamServerThread, keys: SandboxKeys) -> None:
    with pytest.raises(AgentCardFailure) as info:
        agent_for(sam, keys, VirtualCard(WANG, FaultSpec(short_profile=True))).get_basic()
    assert info.value.official_code == "8011"


def test_encrypt_password_uses_card_number_and_taipei_date(
    sam: SamServerThread, keys: SandboxKeys
) -> None:
    late = datetime(2025, 3, 9, 16, 30, tzinfo=UTC)  # 00:30 on 10 March in Taipei
    agent = agent_for(sam, keys, clock=lambda: late)
    hexstr = agent.encrypt_password("abc123")
    assert encrypt.decrypt_password(WANG.card_number, hexstr, date(2025, 3, 10)) == "abc123"
    with pytest.raises(encrypt.EncryptedDataInvalid):
        encrypt.decrypt_password(WANG.card_number, hexstr, date(2025, 3, 9))
    with pytest.raises(AgentUsageError) as info:
        agent.encrypt_password("12345")
    assert info.value.official_code == "8009"


def test_secure_get_basic(sam: SamServerThread, keys: SandboxKeys) -> None:
    hexstr = agent_for(sam, keys).secure_get_basic("abc123")
    assert encrypt.decrypt_secure_basic(hexstr, date(2025, 3, 9)) == WANG_BASIC
    # the password is not used (as published): any value, even an 8009 length, gives it
    again = agent_for(sam, keys).secure_get_basic("x")
    assert encrypt.decrypt_secure_basic(again, date(2025, 3, 9)) == WANG_BASIC
    # keyed by the Asia/Taipei date: 16:30 UTC on 9 March is already 10 March there
    late = datetime(2025, 3, 9, 16, 30, tzinfo=UTC)
    shifted = agent_for(sam, keys, clock=lambda: late).secure_get_basic("abc123")
    assert encrypt.decrypt_secure_basic(shifted, date(2025, 3, 10)) == WANG_BASIC


# -- through the real pcscd + vpcd -------------------------------------------------------------

SLOT0 = "Virtual PCD 00 00"


@pytest.mark.pcsc
def test_real_stack_basic_and_h_sign(
    virtual_cards, sam: SamServerThread, keys: SandboxKeys
) -> None:  # type: ignore[no-untyped-def]
    virtual_cards.insert(WANG.card_number)
    agent = DirectAgent(reader=SLOT0, sam=SamEndpoint("127.0.0.1", sam.port, keys.wrap_key))
    assert agent.get_basic() == WANG_BASIC
    sig = agent.h_sign(VR)
    assert verify_h_sign(keys.sam_public_key, WANG.card_number, VR, sig)


@pytest.mark.pcsc
def test_real_stack_errors(virtual_cards, sam: SamServerThread, keys: SandboxKeys) -> None:  # type: ignore[no-untyped-def]
    endpoint = SamEndpoint("127.0.0.1", sam.port, keys.wrap_key)
    with pytest.raises(AgentCardAbsent) as info:
        DirectAgent(reader=None, sam=endpoint).get_basic()  # both slots empty
    assert info.value.official_code == "7004"
    with pytest.raises(AgentReaderError) as reader_info:
        DirectAgent(reader="no such reader", sam=endpoint).get_basic()
    assert reader_info.value.official_code == "7002"
    virtual_cards.insert(WANG.card_number, faults="bad-auth")
    with pytest.raises(AgentCardFailure) as auth:
        DirectAgent(reader=SLOT0, sam=endpoint).h_sign(VR)
    assert auth.value.official_code == "8006"
    virtual_cards.insert(WANG.card_number, faults="remove-after=2")
    with pytest.raises(AgentCardAbsent) as pulled:
        DirectAgent(reader=SLOT0, sam=endpoint).h_sign(VR)
    assert pulled.value.official_code == "8013"


@pytest.mark.pcsc
def test_real_stack_pcscd_down_is_7001(pcsc, keys: SandboxKeys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pcsc.stop()
    try:
        with pytest.raises(AgentPcscUnavailable) as info:
            DirectAgent(reader=None, sam=SamEndpoint("127.0.0.1", 9, keys.wrap_key)).get_basic()
        assert (info.value.official_code, exit_code_for(info.value)) == ("7001", 3)
    finally:
        pcsc.start()
