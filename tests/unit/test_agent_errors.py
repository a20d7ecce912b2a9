"""Official codes → typed errors, exit codes and searchable messages; BasicData wire format.
(Which SAM a profile means: tests/unit/test_profiles_same_sam.py.)"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.agent.base import BasicData
from nhicard.agent.errors import OFFICIAL_CODES, AgentError, agent_error
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import CardAbsent, NetworkError

EXIT_CODES = {
    "7001": 3, "7002": 4, "7003": 4, "7004": 5, "8013": 5,
    "8001": 6, "8002": 6, "8006": 6, "8010": 6, "8011": 6,
    "4061": 7, "4041": 7, "4021": 7, "8003": 7, "8004": 7, "8005": 7, "8007": 7, "8008": 7,
    "8201": 7, "8202": 7, "8300": 7, "8302": 7, "8303": 7, "8304": 7, "8305": 7, "8306": 7,
    "8009": 2, "9001": 9, "9002": 9, "9999": 1,
}  # fmt: skip


@pytest.mark.parametrize(("code", "exit_code"), sorted(EXIT_CODES.items()))
def test_exit_code_of_each_official_code(code: str, exit_code: int) -> None:
    err = agent_error(code)
    assert isinstance(err, AgentError)
    assert exit_code_for(err) == exit_code
    assert err.official_code == code
    # both languages carry the code and the official text, so users can search for them
    assert code in err.message.zh and code in err.message.en
    assert err.official_text and err.official_text in err.message.zh
    assert err.official_text in err.message.en
    assert err.hint is not None


# The official error table (nhi-agent.md), verbatim; every other code gets the pages' A001.
OFFICIAL_TABLE = {
    "4061": "無法連接服務網站", "7001": "pcsc環境異常", "7002": "無法存取讀卡機",
    "7003": "無法存取讀卡機", "7004": "未置入健保卡", "8001": "讀卡異常", "8002": "讀卡異常",
    "8003": "認卡傳輸異常", "8004": "認卡傳輸異常", "8005": "認卡傳輸異常", "8007": "認卡傳輸異常",
    "8008": "認卡傳輸異常", "8006": "卡片回傳無法認卡", "8010": "讀取基本資料失敗",
    "8011": "讀取基本資料失敗", "8201": "服務異常", "8202": "服務異常", "8302": "PKCS#11異常",
    "8303": "PKCS#11異常", "8306": "PKCS#11異常", "8304": "Session 建立異常",
    "8305": "Session 建立異常", "9001": "驗簽失敗", "9002": "驗簽失敗",
}  # fmt: skip


@pytest.mark.parametrize(("code", "text"), sorted(OFFICIAL_TABLE.items()))
def test_official_texts_quoted_verbatim_as_code_then_text(code: str, text: str) -> None:
    err = agent_error(code)
    assert err.official_text == text
    assert f"[{code}] {text}" in err.message.zh and f"[{code}] {text}" in err.message.en


@pytest.mark.parametrize("code", ["8009", "9999", "4041", "4021", "8300", "8301", "1234"])
def test_every_other_code_shows_the_pages_a001_text(code: str) -> None:
    err = agent_error(code)
    a001 = f"A001元件安裝問題，請下載元件安裝檔執行安裝[{code}]"
    assert err.official_text == a001
    assert f"[{code}] {a001}" in err.message.zh and f"[{code}] {a001}" in err.message.en


def test_messages() -> None:
    err = agent_error("8006", detail="the SAM refused the card")
    assert err.text.zh == (
        "讀卡元件錯誤 [8006] 卡片回傳無法認卡:卡片未通過相互認證 (the SAM refused the card)"
    )
    assert err.text.en == (
        "card agent error [8006] 卡片回傳無法認卡: the card failed the mutual authentication "
        "(the SAM refused the card)"
    )
    assert "Component not installed properly" in agent_error("9999").hint.en  # type: ignore[union-attr]
    assert isinstance(agent_error("8013"), CardAbsent)
    assert isinstance(agent_error("4061"), NetworkError)
    unknown = agent_error("1234")
    assert (
        unknown.official_code == "1234" and exit_code_for(unknown) == 7 and "1234" in str(unknown)
    )


def test_every_official_code_of_the_docs_is_known() -> None:
    documented = {"4061", "4041", "4021", "7001", "7002", "7003", "7004", "8009", "8013", "9999"}
    documented |= {"8001", "8002", "8003", "8004", "8005", "8006", "8007", "8008", "8010", "8011"}
    documented |= {str(c) for c in range(8300, 8307)} | {"9001", "9002", "8201", "8202"}
    assert documented <= set(OFFICIAL_CODES)


def test_basic_data_wire_format() -> None:
    basic = BasicData("000012345678", "A123456789", "王小明", "0640101", "M", "0")
    wire = "000012345678,A123456789,王小明,0640101,M,0"
    assert basic.to_wire() == wire
    assert BasicData.from_wire(wire) == basic
    assert BasicData.from_wire("000012345678,A123456789,Smith, John,0640101,F,1").name == (
        "Smith, John"
    )
    assert basic.to_dict() == {
        "card_number": "000012345678", "id_number": "A123456789", "name": "王小明",
        "birth_date_roc": "0640101", "sex": "M", "card_termination": "0",
    }  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "000012345678,A123456789,王小明,0640101,M",
        "00001234567,A123456789,王小明,0640101,M,0",
        "000012345678,A123456789,王小明,640101,M,0",
        "000012345678,A123456789,王小明,0640101,X,0",
        "000012345678,,王小明,0640101,M,0",
    ],
)
def test_basic_data_malformed(bad: str) -> None:
    with pytest.raises(AgentError) as info:
        BasicData.from_wire(bad)
    assert exit_code_for(info.value) == 7


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_basic_data_garbage_raises_typed_errors(text: str) -> None:
    try:
        BasicData.from_wire(text)
    except AgentError:
        return
