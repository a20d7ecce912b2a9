"""The ``nhiicc`` backend: a WebSocket client to the official component (NHIICC).

The component listens on ``wss://iccert.nhi.gov.tw:7777/echo`` (the installer maps that name
to 127.0.0.1) with a certificate from its own root, "NHI SelfRoot CA", which it installs only
into the browsers' certificate stores. TLS is always verified: pass that CA (exported as a PEM
file) as ``ca_bundle``; without it the system trust store is used and the official component's
certificate is refused with a message saying so. ``ws://`` is accepted only for loopback
addresses (``nhicard agent serve --no-tls``).

Replies are ``Command:payload`` on success or a bare numeric code on failure; codes become
:class:`~nhicard.agent.errors.AgentError` (4041 = our Origin is not on the component's
whitelist, 4021 = the component has no whitelist). ``nhicard agent serve`` refuses an Origin
earlier, with ``403`` at the WebSocket handshake: that is read as the same 4041 error. The
component may also send frames prefixed ``log:`` or ``connected:`` (the pages show them in an
``alert()``): they are not replies; they are kept in :attr:`NhiiccAgent.notices` and the wait
goes on for the reply, within the same deadline.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import time
from urllib.parse import urlsplit

from nhicard.agent import DEFAULT_AGENT_URL
from nhicard.agent.base import (
    SIGNATURE_LENGTH,
    AgentKind,
    AgentSelection,
    BasicData,
    check_password_length,
    check_version_plus_random,
)
from nhicard.agent.client.wsclient import WebSocketClient
from nhicard.agent.errors import AgentError, agent_error, component_error
from nhicard.core.closing import ClosesOnExit
from nhicard.core.i18n import T

CONNECT_TIMEOUT = 3.0  # seconds to open the WebSocket (the component is on this computer)
READ_TIMEOUT = 30.0  # seconds for the component's answer (a card operation)

DEFAULT_ORIGIN = "https://cloudicweb.nhi.gov.tw"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_REPLY = 64 * 1024
NOTICE_PREFIXES = ("log:", "connected:")
MAX_NOTICES = 32

_CODE = re.compile(r"^\d{4}$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def parse_reply(command: str, reply: object) -> str:
    """The payload of the component's reply to ``command`` (e.g. ``"GetBasic"``).

    A bare 4-digit code raises its :class:`AgentError`; anything else that is not
    ``command:payload`` raises an AgentError without an official code."""
    if isinstance(reply, bytes):
        try:
            reply = reply.decode("utf-8")
        except UnicodeDecodeError:
            raise _unexpected(command, "binary reply that is not UTF-8") from None
    if not isinstance(reply, str):
        raise _unexpected(command, f"reply of type {type(reply).__name__}")
    text = reply.strip()
    if _CODE.match(text):
        raise agent_error(text, detail=f"reply to {command}")
    prefix = command + ":"
    if not text.startswith(prefix):
        raise _unexpected(command, f"reply does not start with {prefix!r} ({len(text)} chars)")
    return text[len(prefix) :]


def _unexpected(command: str, why: str) -> AgentError:
    return component_error(
        T(
            "讀卡機元件對 {cmd} 的回應無法解讀", "the component's reply to {cmd} is unreadable"
        ).format(cmd=command),
        detail=why,
    )


def parse_version(payload: str) -> str:
    if len(payload) != 4 or not payload.isascii() or not payload.isprintable():
        raise _unexpected("GetVersion", f"version has {len(payload)} characters, not 4")
    return payload


def parse_random(payload: str) -> str:
    if len(payload) != 16 or not payload.isascii() or not payload.isdigit():
        raise _unexpected("GetRandom", "not 16 decimal digits")
    return payload


def parse_signature(payload: str) -> str:
    if len(payload) != SIGNATURE_LENGTH or not payload.isascii() or not payload.isprintable():
        raise agent_error(
            "9001", detail=f"signature has {len(payload)} characters, not {SIGNATURE_LENGTH}"
        )
    return payload


def parse_hex(command: str, payload: str) -> str:
    if not payload or len(payload) % 2 or not _HEX.match(payload):
        raise _unexpected(command, "payload is not hex")
    return payload.upper()


def handshake_refusal(url: str, exc: Exception) -> AgentError | None:
    """The 4041 error for a ``403`` answer to the WebSocket upgrade (how ``agent serve``
    refuses an Origin), else None. A 403 whose reason names the ``Host`` is not about the
    origin: None too."""
    from websockets.exceptions import InvalidStatus

    if not isinstance(exc, InvalidStatus) or exc.response.status_code != 403:
        return None
    body = bytes(exc.response.body or b"")[:200].decode("utf-8", errors="replace")
    reason = "".join(c for c in body.partition("\n")[0] if c.isprintable()).strip()
    if reason.lower().startswith("host"):
        return None
    return agent_error(
        "4041", detail=f"{url}: HTTP 403 at the WebSocket handshake: {reason or '-'}"
    )


def _ssl_context(url: str, ca_bundle: str | None) -> ssl.SSLContext | None:
    parts = urlsplit(url)
    if parts.scheme == "ws":
        if parts.hostname not in LOOPBACK_HOSTS:
            raise component_error(
                T("只有本機位址可使用未加密的 ws://", "plain ws:// is allowed only for loopback"),
                detail=url,
            )
        return None
    if parts.scheme != "wss":
        raise component_error(
            T("元件位址必須是 wss:// 網址", "the component address must be a wss:// URL"),
            detail=url,
        )
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise component_error(
            T("無法讀取 CA 憑證檔 {path}", "cannot read the CA bundle {path}").format(
                path=str(ca_bundle)
            ),
            detail=str(exc),
        ) from None


class NhiiccAgent(ClosesOnExit):
    """:class:`~nhicard.agent.base.CardAgent` talking to the official component.

    One WebSocket is opened on first use and kept until :meth:`close`."""

    def __init__(
        self,
        url: str = DEFAULT_AGENT_URL,
        *,
        origin: str = DEFAULT_ORIGIN,
        ca_bundle: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        selection: AgentSelection | None = None,
    ) -> None:
        self.url = url
        self.origin = origin
        self.ca_bundle = ca_bundle
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.selection = selection or AgentSelection(
            AgentKind.NHIICC, T("已指定 --agent nhiicc", "--agent nhiicc was chosen")
        )
        self._ws: WebSocketClient | None = None
        self.notices: list[str] = []  # the component's log:/connected: frames, newest last

    # -- CardAgent -----------------------------------------------------------------------
    def get_version(self) -> str:
        return parse_version(self._call("GetVersion", "GetVersion"))

    def get_random(self) -> str:
        return parse_random(self._call("GetRandom", "GetRandom"))

    def get_basic(self) -> BasicData:
        return BasicData.from_wire(self._call("GetBasic", "GetBasic"))

    def h_sign(self, version_plus_random: str) -> str:
        check_version_plus_random(version_plus_random)
        return parse_signature(self._call("H_Sign", f"H_Sign?Random={version_plus_random}"))

    def encrypt_password(self, pwd: str) -> str:
        check_password_length(pwd)
        return parse_hex("EnCrypt", self._call("EnCrypt", f"EnCrypt?Pwd={pwd}"))

    def secure_get_basic(self, pwd: str) -> str:
        # as published, the component does not use the password: no length check here
        name = "SecureGetBasicWithParam"
        return parse_hex(name, self._call(name, f"{name}?Pwd={pwd}"))

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):  # closing a broken socket must not fail
                ws.close()

    # -- transport -----------------------------------------------------------------------
    def _connect(self) -> WebSocketClient:
        if self._ws is not None:
            return self._ws
        from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

        ctx = _ssl_context(self.url, self.ca_bundle)
        try:
            client = WebSocketClient(
                self.url, origin=self.origin, ssl_context=ctx, max_size=MAX_REPLY
            )
            client.open(self.connect_timeout)
        except ssl.SSLCertVerificationError as exc:
            raise component_error(
                T("讀卡機元件的 TLS 憑證驗證失敗", "the component's TLS certificate was refused"),
                detail=f"{self.url}: {exc.verify_message or exc}; official component: pass the "
                "'NHI SelfRoot CA' certificate as the CA bundle",
            ) from None
        except (OSError, TimeoutError, InvalidURI, InvalidHandshake, WebSocketException) as exc:
            refused = handshake_refusal(self.url, exc)
            if refused is not None:
                raise refused from None
            raise component_error(
                T("無法連線到讀卡機元件", "cannot connect to the card reader component"),
                detail=f"{self.url}: {type(exc).__name__}: {exc}",
            ) from None
        self._ws = client
        return client

    def _call(self, command: str, request: str) -> str:
        """Send one request and parse its reply. The request (which may carry a password) is
        never put into an error message; only ``command`` is."""
        from websockets.exceptions import WebSocketException

        ws = self._connect()
        deadline = time.monotonic() + self.read_timeout
        try:
            ws.send_text(request, self.read_timeout)
            while True:  # notices do not extend the deadline: it is the whole answer's
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                reply = ws.recv(left)
                if not (isinstance(reply, str) and reply.startswith(NOTICE_PREFIXES)):
                    break
                self.notices = [*self.notices, reply[:200]][-MAX_NOTICES:]
        except TimeoutError:
            self.close()
            raise component_error(
                T(
                    "讀卡機元件未在時限內回應 {cmd}", "the component did not answer {cmd} in time"
                ).format(cmd=command),
                detail=f"{self.read_timeout:g} s",
            ) from None
        except (OSError, WebSocketException) as exc:
            self.close()
            raise component_error(
                T("與讀卡機元件的連線中斷", "the connection to the component was lost"),
                detail=f"{command}: {type(exc).__name__}",
            ) from None
        return parse_reply(command, reply)
