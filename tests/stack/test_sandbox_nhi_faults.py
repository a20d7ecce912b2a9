"""Fault switches of the sandbox NHI site ([faults.nhi] in the sandbox data), through HTTPS."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from nhicard.core.errors import UsageError
from nhicard.sandbox import nhi_messages as msg
from nhicard.sandbox.faults import SandboxFaults
from tests.support.sandbox_nhi_kit import (
    BASE,
    NhiSandbox,
    Page,
    data_with,
    nhi_sandbox,
    read_card,
    submit,
)


def sandbox(tmp_path: Path, faults: str) -> AbstractContextManager[NhiSandbox]:
    return nhi_sandbox(tmp_path, data_with("[faults.nhi]\n" + faults))


def test_5xx_on_a_chosen_step_then_recovery(tmp_path: Path) -> None:
    faults = 'error_step = "apply"\nerror_status = 503\nerror_times = 1\n'
    with sandbox(tmp_path, faults) as sb, sb.client() as client:
        terms = Page(client.get(BASE + "UserAction.aspx"))
        agree = {"btnAgree": terms.button_value("btnAgree")}
        failed = client.post(BASE + "UserAction.aspx", data=terms.fields() | agree)
        assert failed.status_code == 503 and "Service Unavailable" in failed.text
        terms = Page(client.get(BASE + "UserAction.aspx"))
        apply = submit(client, terms, button="btnAgree")
        assert apply.response.status_code == 200
        assert "NHI Card Online Services Registration-Apply" in apply.text


def test_maintenance_page(tmp_path: Path) -> None:
    with sandbox(tmp_path, "maintenance = true\n") as sb, sb.client() as client:
        for path in ("mlogin.aspx", "UserAction.aspx", "Verify.aspx?token=x"):
            page = Page(client.get(BASE + path))
            assert page.response.status_code == 503
            assert (
                "系統維護中" in page.text
                and page.message == f"{msg.MAINTENANCE.zh} {msg.MAINTENANCE.en}"
            )


def test_session_expires_mid_flow(tmp_path: Path) -> None:
    with sandbox(tmp_path, 'expire_session_at = "apply"\n') as sb, sb.client() as client:
        apply = submit(client, Page(client.get(BASE + "UserAction.aspx")), button="btnAgree")
        gone = submit(client, apply, target="ddlCity", ddlCity="01")
        assert gone.response.status_code == 200 and "逾時" in gone.message
        again = Page(client.get(BASE + "UserAction.aspx"))  # starting over works
        assert "全民健康保險網路服務註冊管理作業要點" in again.text


def test_renamed_control_and_caption(tmp_path: Path) -> None:
    faults = 'rename_controls = { btnReadCard = "btnRead2" }\nrelabel = { "下一步 Next" = "繼續 Go On" }\n'
    with sandbox(tmp_path, faults) as sb, sb.client() as client:
        apply = submit(client, Page(client.get(BASE + "UserAction.aspx")), button="btnAgree")
        assert apply.soup.select_one("input[name=btnReadCard]") is None
        assert apply.soup.select_one("input[name=btnRead2]") is not None
        assert apply.button_value("btnSubmit") == "繼續 Go On" and "下一步 Next" not in apply.text
        # the old name is no longer a postback target the page offers
        old = read_card(client, apply, sb.agent(sb.ctx.data.cards[0]))
        assert "Invalid postback or callback argument." in old.text
        apply = submit(client, Page(client.get(BASE + "UserAction.aspx")), button="btnAgree")
        read = read_card(client, apply, sb.agent(sb.ctx.data.cards[0]), target="btnRead2")
        assert read.message == f"{msg.READ_OK.zh} {msg.READ_OK.en}"


@pytest.mark.parametrize(
    "table",
    [
        {"faults": {"nhi": {"error_step": "nowhere"}}},
        {"faults": {"nhi": {"error_status": 404}}},
        {"faults": {"nhi": {"bogus": 1}}},
        {"faults": {"nhi": {"rename_controls": {"btnSubmit": 3}}}},
        {"faults": {"nhi": {"reject_state_at": "nowhere"}}},
        {"faults": {"nhi": {"reject_state_at": "apply", "reject_state_times": "often"}}},
        {"faults": {"card": "no-such-fault"}},
        {"faults": {"card": 5}},
    ],
)
def test_bad_fault_tables_are_usage_errors(table: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        SandboxFaults.from_data(table)


def test_card_faults_per_card_or_for_all() -> None:
    faults = SandboxFaults.from_data({"faults": {"card": {"000012345678": "t0,delay=5"}}})
    assert faults.card_faults("000012345678").t0 is True
    assert faults.card_faults("000012345678").delay_ms == 5
    assert faults.card_faults("000023456789").t0 is False
    every = SandboxFaults.from_data({"faults": {"card": "bad-auth"}})
    assert every.card_faults("000023456789").bad_auth is True


def test_page_state_rejection_counts_down() -> None:
    nhi = SandboxFaults.from_data(
        {"faults": {"nhi": {"reject_state_at": "apply", "reject_state_times": 2}}}
    ).nhi
    assert [nhi.rejects_state("apply") for _ in range(3)] == [True, True, False]
    assert nhi.rejects_state("contact") is False
    always = SandboxFaults.from_data({"faults": {"nhi": {"reject_state_at": "login"}}}).nhi
    assert all(always.rejects_state("login") for _ in range(4))
