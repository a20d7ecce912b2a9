"""Choosing a card-agent backend: ``direct``, ``nhiicc`` or ``auto`` (nhi-agent.md).

``auto`` first looks in the hosts file: the component's installer (or the 2024 binary) always
maps ``iccert.nhi.gov.tw`` there, so without that line the component is not installed and
``direct`` is used at once, with no name lookup and no probe (unless the user named the
agent URL, or it names another host). Otherwise it
asks the official component for ``GetVersion`` with a short timeout; if it answers,
the component is used; if its WebSocket does not answer but the Windows builds' HTTP API
does (``http://127.0.0.1:59001/api/``, ``https://127.0.0.1:59002/api/``), that is used; else
the ``direct`` backend. ``nhiicc`` also falls back to the HTTP API when the WebSocket does not
answer. The chosen agent's ``selection`` says
which and why (for ``-v`` and ``env check``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from urllib.parse import urlsplit

from nhicard.agent import COMPONENT_HOST
from nhicard.agent.base import AgentKind, AgentSelection, CardAgent
from nhicard.agent.client.direct import CardOpener, DirectAgent
from nhicard.agent.client.nhiicc import CONNECT_TIMEOUT, READ_TIMEOUT, NhiiccAgent
from nhicard.agent.client.nhiicc_http import DEFAULT_API_URLS, NhiiccHttpAgent
from nhicard.agent.errors import AgentError
from nhicard.agent.sam.client import SamEndpoint
from nhicard.core.clock import Clock
from nhicard.core.errors import UsageError
from nhicard.core.i18n import T, Text

KINDS = tuple(AgentKind)
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


def hosts_maps_component(
    *,
    hosts_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Does a line of the hosts file (this OS's, or ``hosts_file``) map the component's host?
    A hosts file that cannot be read counts as yes: then only asking can tell."""
    from nhicard.platform import current
    from nhicard.platform.hosts import HostsFile

    path: PurePath | str | os.PathLike[str] = hosts_file or current().hosts_file_path(
        environ if environ is not None else os.environ
    )
    try:
        return bool(HostsFile.read(path).addresses(COMPONENT_HOST))
    except OSError:
        return True


def worth_probing(
    agent_url: str, *, url_given: bool, hosts_maps: Callable[[], bool] = hosts_maps_component
) -> bool:
    """Whether ``auto`` asks the component at ``agent_url`` at all: when the user named the
    URL, when it names another host than the component's, or when the hosts file maps the
    component's host (``hosts_maps`` is asked only then)."""
    host = (urlsplit(agent_url).hostname or "").lower()
    return url_given or host != COMPONENT_HOST or hosts_maps()


NOT_INSTALLED = T(
    "hosts 檔沒有 {h} 這一行(官方元件未安裝),不詢問元件,使用內建 direct",
    "the hosts file has no line for {h} (the official component is not installed); not "
    "asking it, using direct",
).format(h=COMPONENT_HOST)


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
            AgentKind.NHIICC,
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
    url_given: bool = False,
    hosts_maps: Callable[[], bool] = hosts_maps_component,
) -> CardAgent:
    """A card agent of ``kind``; use it as a context manager (``with open_agent(...) as a``).

    ``url_given``: the user named ``agent_url`` (``--agent-url``, ``NHICARD_AGENT_URL``), so
    ``auto`` asks the component there even when the hosts file has no line for it;
    ``hosts_maps`` says whether it has one (tests stand in for the hosts file)."""
    if kind not in KINDS:
        raise UsageError(T("未知的讀卡代理:{kind}", "unknown card agent: {kind}").format(kind=kind))

    def direct(reason: Text) -> DirectAgent:
        return DirectAgent(
            reader=reader,
            sam=sam,
            clock=clock,
            card_opener=card_opener,
            selection=AgentSelection(AgentKind.DIRECT, reason),
        )

    agent: CardAgent
    if kind == AgentKind.DIRECT:
        agent = direct(T("已指定 --agent direct", "--agent direct was chosen"))
    elif kind == AgentKind.NHIICC:
        agent = NhiiccAgent(
            agent_url,
            origin=origin,
            ca_bundle=ca_bundle,
            selection=AgentSelection(
                AgentKind.NHIICC, T("已指定 --agent nhiicc", "--agent nhiicc was chosen")
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
    elif not worth_probing(agent_url, url_given=url_given, hosts_maps=hosts_maps):
        agent = direct(NOT_INSTALLED)
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
                AgentKind.NHIICC,
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
