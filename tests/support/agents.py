"""Card agents for tests: a gated one for agent serve, a scripted one for the flows; and agent serve on a test port."""

from __future__ import annotations

import ssl
import threading
from types import TracebackType

import pytest

from nhicard.agent.base import AgentSelection, BasicData
from nhicard.agent.errors import agent_error
from nhicard.agent.serve.service import AgentService, OriginPolicy
from nhicard.agent.serve.tls import ensure_server_certificate
from nhicard.core.i18n import T

GOV = "https://cloudicweb.nhi.gov.tw"


WANG = BasicData("000012345678", "A123456789", "王小明", "0640101", "M", "0")


class GatedAgent:
    """A card agent whose card work can be made to hang (``gate``) and that counts calls."""

    selection = AgentSelection("direct", T("測試", "test"))

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.card_calls: list[str] = []
        self.card_present = True

    def _card(self, name: str) -> None:
        self.card_calls.append(name)
        self.gate.wait(30)

    def get_version(self) -> str:
        return "0011"

    def get_random(self) -> str:
        return "1234567890123456"

    def get_basic(self) -> BasicData:
        self._card("GetBasic")
        return WANG

    def h_sign(self, version_plus_random: str) -> str:
        self._card("H_Sign")
        return "A" * 256

    def encrypt_password(self, pwd: str) -> str:
        self._card("EnCrypt")
        return "ABCDEF"

    def secure_get_basic(self, pwd: str) -> str:
        self._card("Secure")
        return "0123"

    def check_card(self) -> None:
        self._card("check")
        if not self.card_present:
            raise agent_error("7004")

    def close(self) -> None:
        pass

    def __enter__(self) -> GatedAgent:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return ensure_server_certificate(tmp_path_factory.mktemp("agent-tls"))


def start(tls, agent: GatedAgent | None = None, **kw: object) -> AgentService:  # type: ignore[no-untyped-def]
    limits = kw.pop("limits", None)
    origins = kw.pop("origins", OriginPolicy(["https://*.gov.tw"]))
    return AgentService(
        agent or GatedAgent(),  # type: ignore[arg-type]
        origins=origins,  # type: ignore[arg-type]
        port=0,
        ssl_context=server_context(tls),
        http_port=0,
        https_port=0,
        limits=limits,  # type: ignore[arg-type]
    ).start_in_thread()


def server_context(tls) -> ssl.SSLContext:  # type: ignore[no-untyped-def]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    return ctx


class ScriptedAgent:
    """A scripted card agent recording its calls."""

    selection = AgentSelection("direct", T("測試", "test"))

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_version(self) -> str:
        self.calls.append("GetVersion")
        return "0001"

    def get_random(self) -> str:
        self.calls.append("GetRandom")
        return "0" * 16

    def get_basic(self) -> BasicData:
        self.calls.append("GetBasic")
        return BasicData("000012345678", "A123456789", "王小明", "0640101", "M", "0")

    def h_sign(self, version_plus_random: str) -> str:
        self.calls.append(f"H_Sign?Random={version_plus_random}")
        return "AB" * 128

    def encrypt_password(self, pwd: str) -> str:
        self.calls.append("EnCrypt")
        return "0123456789ABCDEF" * 2

    def secure_get_basic(self, pwd: str) -> str:
        raise AssertionError("not used")

    def close(self) -> None:
        self.calls.append("close")

    def __enter__(self) -> ScriptedAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
