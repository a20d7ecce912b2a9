"""``agent serve``'s H_Sign / SignHC: the version+random form (20 characters) and the 16-digit
random alone, as the official page script sends it on its card + password path
(``InnerAuthHC``, issue 22); and where our ``GetRandom`` comes from (the OS's CSPRNG, unlike
the official component's ``rand()`` seeded with the time)."""

from __future__ import annotations

import secrets

import pytest

from nhicard.agent.base import check_version_plus_random, h_sign_argument_ok
from nhicard.agent.client.direct import DirectAgent, random_digits
from nhicard.agent.errors import AgentUsageError
from nhicard.agent.sam.client import SamEndpoint
from nhicard.agent.serve import httpapi
from nhicard.agent.serve.commands import dispatch
from tests.support.agents import ScriptedAgent

RANDOM16 = "9876543210123456"


@pytest.mark.parametrize("argument", [RANDOM16, "0011" + RANDOM16, "ABCD" + RANDOM16])
def test_h_sign_takes_the_random_alone_or_version_plus_random(argument: str) -> None:
    agent = ScriptedAgent()
    assert dispatch(agent, "H_Sign?Random=" + argument) == "H_Sign:" + "AB" * 128
    assert agent.calls == ["H_Sign?Random=" + argument]


@pytest.mark.parametrize(
    "argument",
    [
        "",
        "123456789012345",  # 15
        "12345678901234567",  # 17
        "ABCD567890123456",  # 16, but not the digits of a random
        "０１２３４５６７８９０１２３４５",  # 16 full-width digits: not ASCII
        "0011" + RANDOM16 + "7",  # 21
        "0011\n" + RANDOM16[1:],  # 20, not printable
    ],
)
def test_other_h_sign_arguments_are_refused_without_card_work(argument: str) -> None:
    agent = ScriptedAgent()
    assert dispatch(agent, "H_Sign?Random=" + argument) == "9999"
    assert agent.calls == []
    assert not h_sign_argument_ok(argument)
    with pytest.raises(AgentUsageError):
        check_version_plus_random(argument)


@pytest.mark.parametrize("random", [RANDOM16, "0011" + RANDOM16])
def test_http_signhc_with_the_random_alone(random: str) -> None:
    command = httpapi.command_for(
        "SignHC", httpapi.parse_body(f'{{"random": "{random}"}}'.encode())
    )
    assert command == "H_Sign?Random=" + random
    agent = ScriptedAgent()
    reply = dispatch(agent, command)
    assert httpapi.json_reply("SignHC", reply) == {"result": "0000", "sign": "AB" * 128}


def _agent(**kw: object) -> DirectAgent:
    def no_sam(endpoint: SamEndpoint) -> object:
        raise AssertionError("GetRandom needs no SAM")

    return DirectAgent(
        reader=None,
        sam=SamEndpoint("127.0.0.1", 1, b"\0" * 24),
        sam_client_factory=no_sam,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_get_random_comes_from_the_os_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our GetRandom is drawn from :func:`secrets.token_bytes` (os.urandom): replacing it
    changes the random, and nothing else is consulted (no ``random`` module, no clock)."""
    drawn: list[int] = []

    def token_bytes(n: int | None = None) -> bytes:
        assert n is not None
        drawn.append(n)
        return (12345678901234567).to_bytes(8, "big")

    monkeypatch.setattr(secrets, "token_bytes", token_bytes)
    agent = _agent()
    assert agent.get_random() == "2345678901234567"
    assert drawn == [8]
    # served as agent serve answers it
    assert dispatch(agent, "GetRandom") == "GetRandom:2345678901234567"


def test_get_random_is_uniform_digits_without_modulo_bias() -> None:
    values = iter([b"\xff" * 8, (10**16 + 42).to_bytes(8, "big")])  # the first is rejected
    assert random_digits(lambda n: next(values)) == "0000000000000042"
    real = {_agent().get_random() for _ in range(20)}
    assert all(len(r) == 16 and r.isdigit() for r in real)
    assert len(real) == 20  # 20 draws of 10^16 values: a repeat means a broken source
