"""Choosing a card-agent backend: ``direct``, ``nhiicc`` or ``auto`` (nhi-agent.md).

``auto`` asks the official component for ``GetVersion`` with a short timeout; if it answers,
the component is used; if its WebSocket does not answer but the Windows builds' HTTP API
does (``http://127.0.0.1:59001/api/``, ``https://127.0.0.1:59002/api/``), that is used; else
the ``direct`` backend. ``nhiicc`` also falls back to the HTTP API when the WebSocket does not
answer. The chosen agent's ``selection`` says
which and why (for ``-v`` and ``env check``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nhicard.agent.base import AgentSelection, CardAgent
from nhicard.agent.client.direct import CardOpener, DirectAgent
from nhicard.agent.client.nhiicc import CONNECT_TIMEOUT, READ_TIMEOUT, NhiiccAgent
from nhicard.agent.client.nhiicc_http import DEFAULT_API_URLS, NhiiccHttpAgent
from nhicard.agent.errors import AgentError
from nhicard.agent.sam.client import SamEndpoint
from nhicard.core.clock import Clock
from nhicard.core.errors import UsageError
from nhicard.core.i18n import T, Text

KINDS = ("auto", "direct", "nhiicc")
PROBE_TIMEOUT = 1.0  # seconds the component has to answer GetVersion before direct is used

Log = Callable[[Text], None]


@dataclass(frozen=True)
class ComponentProbe:
    """Result of asking the official component for its version."""

    url: str
    ok: bool
    version: str | None = None
    error: AgentError | None = None


def probe_component(
    url: str, *, origin: str, ca_bundle: str | None = None, timeout: float = PROBE_TIMEOUT
) -> ComponentProbe:
    """Does the component at ``url`` answer ``GetVersion`` within ``timeout`` seconds?"""
    agent = NhiiccAgent(
        url, origin=origin, ca_bundle=ca_bundle, connect_timeout=timeout, read_timeout=timeout
    )
    with agent:
        try:
            return ComponentProbe(url, True, version=agent.get_version())
        except AgentError as exc:
            return ComponentProbe(url, False, error=exc)


def probe_http_api(
    urls: Sequence[str], *, origin: str, ca_bundle: str | None, timeout: float
) -> tuple[str, str] | None:
    """The first HTTP API base in ``urls`` that answers ``GetVersion``: (base, version)."""
    for url in urls:
        agent = NhiiccHttpAgent(url, origin=origin, ca_bundle=ca_bundle, timeout=timeout)
        try:
            return url, agent.get_version()
        except AgentError:
            continue
        finally:
            agent.close()
    return None


def _http_agent(url: str, version: str, origin: str, ca_bundle: str | None) -> NhiiccHttpAgent:
    return NhiiccHttpAgent(
        url,
        origin=origin,
        ca_bundle=ca_bundle,
        timeout=READ_TIMEOUT,
        selection=AgentSelection(
            "nhiicc",
            T(
                "讀卡機元件的 WebSocket 沒有回應,HTTP API({url})回應 GetVersion {version}",
                "the component's WebSocket did not answer; its HTTP API ({url}) answered "
                "GetVersion {version}",
            ).format(url=url, version=version),
        ),
    )


def open_agent(
    kind: str,
    *,
    reader: str | None,
    agent_url: str,
    sam: SamEndpoint,
    origin: str,
    ca_bundle: str | None = None,
    clock: Clock | None = None,
    log: Log | None = None,
    card_opener: CardOpener | None = None,
    probe_timeout: float = PROBE_TIMEOUT,
    api_urls: Sequence[str] = DEFAULT_API_URLS,
) -> CardAgent:
    """A card agent of ``kind``; use it as a context manager (``with open_agent(...) as a``)."""
    if kind not in KINDS:
        raise UsageError(T("未知的讀卡代理:{kind}", "unknown card agent: {kind}").format(kind=kind))

    def direct(reason: Text) -> DirectAgent:
        return DirectAgent(
            reader=reader,
            sam=sam,
            clock=clock,
            card_opener=card_opener,
            selection=AgentSelection("direct", reason),
        )

    agent: CardAgent
    if kind == "direct":
        agent = direct(T("已指定 --agent direct", "--agent direct was chosen"))
    elif kind == "nhiicc":
        agent = NhiiccAgent(
            agent_url,
            origin=origin,
            ca_bundle=ca_bundle,
            selection=AgentSelection(
                "nhiicc", T("已指定 --agent nhiicc", "--agent nhiicc was chosen")
            ),
        )
        if (
            api_urls
            and not probe_component(
                agent_url, origin=origin, ca_bundle=ca_bundle, timeout=probe_timeout
            ).ok
        ):
            found = probe_http_api(
                api_urls, origin=origin, ca_bundle=ca_bundle, timeout=probe_timeout
            )
            if found is not None:
                agent = _http_agent(*found, origin, ca_bundle)
    else:
        probe = NhiiccAgent(
            agent_url,
            origin=origin,
            ca_bundle=ca_bundle,
            connect_timeout=probe_timeout,
            read_timeout=probe_timeout,
        )
        try:
            version = probe.get_version()
        except AgentError as exc:
            probe.close()
            found = (
                probe_http_api(api_urls, origin=origin, ca_bundle=ca_bundle, timeout=probe_timeout)
                if api_urls
                else None
            )
            if found is not None:
                agent = _http_agent(*found, origin, ca_bundle)
                if log is not None:
                    log(selection_text(agent.selection))
                return agent
            agent = direct(
                Text(
                    f"讀卡機元件({agent_url})沒有回應 GetVersion:{_short(exc, 'zh')};"
                    "改用內建 direct",
                    f"the component ({agent_url}) did not answer GetVersion: "
                    f"{_short(exc, 'en')}; using direct",
                )
            )
        else:
            probe.read_timeout = READ_TIMEOUT
            probe.connect_timeout = CONNECT_TIMEOUT
            probe.selection = AgentSelection(
                "nhiicc",
                T(
                    "讀卡機元件({url})回應 GetVersion {version}",
                    "the component ({url}) answered GetVersion {version}",
                ).format(url=agent_url, version=version),
            )
            agent = probe
    if log is not None:
        log(selection_text(agent.selection))
    return agent


def selection_text(sel: AgentSelection) -> Text:
    """One line for ``-v``: which backend and why."""
    return Text(
        f"讀卡代理:{sel.kind}({sel.reason.zh})", f"card agent: {sel.kind} ({sel.reason.en})"
    )


def _short(exc: AgentError, lang: str) -> str:
    text = exc.message.zh if lang == "zh" else exc.message.en
    return f"{text} ({exc.detail})" if exc.detail else text
