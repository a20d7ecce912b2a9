"""The ``nhiicc`` backend over the HTTP API of the official component's Windows builds
(``http://127.0.0.1:59001/api/``, ``https://127.0.0.1:59002/api/``; nhi-agent.md), for when
the component offers it and its WebSocket does not answer.

Requests are sent as the client script sends them (a JSON string as the body, with a form
content type) and carry our ``Origin``; replies are JSON with ``result`` ``"0000"`` or an
official code. The field holding ``EncryptPwd`` / ``GetEncryptBasic`` data is not public: we
read ``data`` (our ``agent serve``'s name), else the reply's only other string field.
"""

from __future__ import annotations

import json
import ssl
from typing import Any
from urllib.parse import urlsplit

from nhicard.agent import COMPONENT_HTTP_PORT, COMPONENT_HTTPS_PORT
from nhicard.agent.base import (
    AgentKind,
    AgentSelection,
    BasicData,
    check_password_length,
    check_version_plus_random,
)
from nhicard.agent.client.nhiicc import (
    DEFAULT_ORIGIN,
    LOOPBACK_HOSTS,
    MAX_REPLY,
    READ_TIMEOUT,
    parse_hex,
    parse_random,
    parse_signature,
    parse_version,
)
from nhicard.agent.errors import agent_error, component_error
from nhicard.core.closing import ClosesOnExit
from nhicard.core.i18n import T

DEFAULT_API_URLS = (
    f"http://127.0.0.1:{COMPONENT_HTTP_PORT}/api/",
    f"https://127.0.0.1:{COMPONENT_HTTPS_PORT}/api/",
)
OK = "0000"


def _check_base(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        raise component_error(
            T(
                "元件的 HTTP API 必須位於本機(http(s)://127.0.0.1:埠/api/)",
                "the component's HTTP API must be on this computer (http(s)://127.0.0.1:PORT/api/)",
            ),
            detail=url,
        )


class NhiiccHttpAgent(ClosesOnExit):
    """:class:`~nhicard.agent.base.CardAgent` over the component's HTTP API at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        origin: str = DEFAULT_ORIGIN,
        ca_bundle: str | None = None,
        timeout: float = READ_TIMEOUT,
        selection: AgentSelection | None = None,
    ) -> None:
        _check_base(base_url)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.origin = origin
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.selection = selection or AgentSelection(
            AgentKind.NHIICC, T("讀卡機元件的 HTTP API", "the component's HTTP API")
        )
        self._client: Any = None

    # -- CardAgent -----------------------------------------------------------------------
    def get_version(self) -> str:
        return parse_version(self._field("GetVersion", "version"))

    def get_random(self) -> str:
        return parse_random(self._field("GetRandom", "random"))

    def get_basic(self) -> BasicData:
        doc = self._call("GetBasic")
        keys = ("card_no", "as_id", "name", "birthday", "sex", "card_termination")
        return BasicData.from_wire(",".join(str(doc.get(k, "")) for k in keys))

    def h_sign(self, version_plus_random: str) -> str:
        check_version_plus_random(version_plus_random)
        return parse_signature(self._field("SignHC", "sign", {"random": version_plus_random}))

    def encrypt_password(self, pwd: str) -> str:
        check_password_length(pwd)
        return parse_hex("EnCrypt", self._data(self._call("EncryptPwd", {"pwd": pwd})))

    def secure_get_basic(self, pwd: str) -> str:
        check_password_length(pwd)
        doc = self._call("GetEncryptBasic", {"pwd": pwd})
        return parse_hex("SecureGetBasicWithParam", self._data(doc))

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- transport -----------------------------------------------------------------------
    def _http(self) -> Any:
        if self._client is None:
            import httpx

            verify: ssl.SSLContext | bool = True
            if urlsplit(self.base_url).scheme == "https":
                verify = ssl.create_default_context(cafile=self.ca_bundle)
            self._client = httpx.Client(verify=verify, timeout=self.timeout, trust_env=False)
        return self._client

    def _call(self, call: str, body: dict[str, str] | None = None) -> dict[str, Any]:
        """POST one call; the body (which may carry a password) never enters an error."""
        import httpx

        try:
            resp = self._http().post(
                self.base_url + call,
                content=json.dumps(body) if body is not None else "",
                headers={
                    "Origin": self.origin,
                    "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
                },
            )
        except httpx.HTTPError as exc:
            raise component_error(
                T("無法連線到讀卡機元件的 HTTP API", "cannot reach the component's HTTP API"),
                detail=f"{self.base_url}{call}: {type(exc).__name__}",
            ) from None
        if len(resp.content) > MAX_REPLY:
            raise component_error(T("元件回應過大", "the component's reply is too large"))
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise component_error(
                T("元件的 HTTP API 回應無法解讀", "the component's HTTP API reply is unreadable"),
                detail=f"{call}: HTTP {resp.status_code}",
            )
        result = str(doc.get("result", ""))
        if result != OK:
            raise agent_error(result or "9999", detail=f"HTTP API {call}")
        return doc

    def _field(self, call: str, name: str, body: dict[str, str] | None = None) -> str:
        value = self._call(call, body).get(name)
        return value if isinstance(value, str) else ""

    @staticmethod
    def _data(doc: dict[str, Any]) -> str:
        if isinstance(doc.get("data"), str):
            return str(doc["data"])
        others = [v for k, v in doc.items() if k != "result" and isinstance(v, str)]
        return others[0] if len(others) == 1 else ""
