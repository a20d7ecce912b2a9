"""Group ``agent``: Chrome's and Edge's Local Network Access (``agent.browser-lna``).

Chrome/Chromium 142 (2025-10) and Edge 143 ask the person before a public web site may fetch
from this computer's loopback, where the official component and ``agent serve`` listen;
Chrome 147 does the same for WebSockets (the component's ``wss://…:7777``). Until the person
allows it for the NHI site, or a managed policy ``LocalNetworkAccessAllowedForUrls`` lists
the site, 「讀取」 on the NHI page does nothing (nhi-agent.md, "Browsers").

The check finds the installed Chromium-family browsers (:mod:`nhicard.platform.browsers`),
and for each one whose version asks, reads the policy where that browser reads it
(:meth:`nhicard.platform.base.Platform.browser_policy_places`): ours from ``agent install
--browser-policy`` or anyone's. In a Linux policy directory the file last by name that sets
the policy is the one Chromium applies (lists are not merged across files). ``warn`` with
both fixes when a browser asks and no policy allows the NHI site; ``pass`` when every such
browser's policy allows it or no installed version asks yet; ``skip`` without such a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nhicard.agent.serve.lna_policy import (
    POLICY,
    Writer,
    allows,
    json_dir_files,
    target_of,
)
from nhicard.agent.serve.origins import NHI_SITE
from nhicard.core.i18n import T, Text
from nhicard.envcheck import Check, CheckEnv, Finding, passed, skipped, warned
from nhicard.platform.base import PolicyPlace, Runner, run_command
from nhicard.platform.browsers import BrowserInstall, installed_browsers

GROUP = "agent"

# the first version that asks before a public site fetches from loopback, per browser
FETCH_FROM = {"chromium": 142, "chrome": 142, "edge": 143}
WEBSOCKET_FROM = 147  # Chromium's version: WebSockets too (Edge shares Chromium's numbers)


@dataclass(frozen=True)
class BrowserState:
    """One browser: what its version blocks, and the policy that applies to it."""

    install: BrowserInstall
    blocks_fetch: bool
    blocks_websocket: bool
    policy: str | None  # where the applying policy was found (None: no policy)
    allowed: bool  # the applying policy allows the NHI site

    @property
    def asks(self) -> bool:
        return self.blocks_fetch or self.blocks_websocket

    def describe(self) -> str:
        i = self.install
        if not self.asks:
            what = f"does not ask yet (fetch from {FETCH_FROM.get(i.browser, 142)})"
        elif i.major is None:
            what = "version unknown: may ask"
        elif self.blocks_websocket:
            what = "asks for fetch and WebSockets"
        else:
            what = f"asks for fetch (WebSockets from {WEBSOCKET_FROM})"
        if self.policy is None:
            pol = f"no {POLICY} policy"
        else:
            pol = f"policy {self.policy}: {'allows' if self.allowed else 'does not allow'} "
            pol += NHI_SITE
        return f"{i.describe()} ({i.source}): {what}; {pol}"


def blocked(install: BrowserInstall) -> tuple[bool, bool]:
    """(fetch, WebSockets) blocked without permission; an unknown version counts as asking
    (every build since late 2025 does)."""
    major = install.major
    if major is None:
        return True, True
    return major >= FETCH_FROM.get(install.browser, 142), major >= WEBSOCKET_FROM


def json_dir_policy(directory: Path) -> tuple[str, list[str]] | None:
    """(file, patterns) of the file last by name in a Linux managed-policy directory that
    sets the policy: the one Chromium applies."""
    applying: tuple[str, list[str]] | None = None
    for f, patterns in json_dir_files(directory):
        applying = (str(f), patterns)
    return applying


def place_policy(place: PolicyPlace, run: Runner) -> tuple[str, list[str]] | None:
    """(where, patterns) of the policy at ``place``, or None when it is not set there."""
    if place.kind == "json-dir":
        return json_dir_policy(Path(place.location))
    patterns = Writer(run).read(place)
    return (target_of(place), patterns) if patterns else None


def _places(env: CheckEnv) -> tuple[PolicyPlace, ...]:
    if env.browser_policy_places is not None:
        return env.browser_policy_places
    return env.platform.browser_policy_places()


def _run(env: CheckEnv) -> Runner:
    if env.run_tool is not None:
        return env.run_tool
    return lambda argv: run_command(argv, timeout=env.timeout)


def browser_states(env: CheckEnv) -> list[BrowserState]:
    run = _run(env)
    found: Sequence[BrowserInstall] = (
        env.browsers() if env.browsers is not None
        else installed_browsers(env.platform.NAME, env.environ, run=env.run_tool)
    )  # fmt: skip
    out = []
    for b in found:
        fetch, ws = blocked(b)
        policy = None
        for place in _places(env):
            if place.browser == b.browser:
                policy = place_policy(place, run)
                if policy is not None:
                    break
        allowed = policy is not None and allows(policy[1], NHI_SITE)
        out.append(BrowserState(b, fetch, ws, policy[0] if policy else None, allowed))
    return out


def fixes() -> Text:
    """Both ways to let the NHI page reach the component."""
    return T(
        f"二擇一:(1) 在健保署網頁按「讀取」時,瀏覽器會詢問是否允許 {NHI_SITE[8:]} 存取"
        "區域網路上的裝置(本機的讀卡元件),請按「允許」;若曾按過封鎖,點網址列左邊的圖示 →"
        "「網站設定」→「區域網路存取權」改為「允許」,再重新整理頁面。(2) 由系統管理員執行 "
        "sudo nhicard agent install --browser-policy(Windows:以系統管理員身分開啟的終端機執行 "
        f"nhicard agent install --browser-policy),把健保署網站寫入受管理政策 {POLICY},"
        "瀏覽器就不再詢問;然後重新啟動瀏覽器。",
        f"Either: (1) when you press 「讀取」 on the NHI page, the browser asks whether "
        f"{NHI_SITE[8:]} may access devices on your local network (the card component on this "
        "computer): choose Allow; if you blocked it before, click the icon left of the address "
        "bar → Site settings → Local network access → Allow, and reload the page. Or (2) as "
        "administrator run sudo nhicard agent install --browser-policy (Windows: nhicard agent "
        f"install --browser-policy in a terminal opened as administrator): it lists the NHI "
        f"sites in the managed policy {POLICY}, so the browser no longer asks; then restart "
        "the browser.",
    )


def check_browser_lna(env: CheckEnv) -> Finding:
    states = browser_states(env)
    if not states:
        return skipped(
            T(
                "沒有找到 Chrome、Chromium 或 Edge(不需檢查區域網路存取權)",
                "no Chrome, Chromium or Edge found (no Local Network Access to check)",
            )
        )
    detail = "; ".join(s.describe() for s in states)
    asking = [s for s in states if s.asks]
    missing = [s for s in asking if not s.allowed]
    if missing:
        names = ", ".join(s.install.describe() for s in missing)
        return warned(
            T(
                "{b} 會先詢問才讓網站連到本機(區域網路存取權),且沒有政策允許 {s}:"
                "未允許前,健保署網頁的「讀取」沒有反應",
                "{b} asks before a web site may reach this computer (Local Network Access) "
                "and no policy allows {s}: until it is allowed, 「讀取」 on the NHI page does "
                "nothing",
            ).format(b=names, s=NHI_SITE),
            fixes(),
            detail,
        )
    if asking:
        return passed(
            T(
                "{b}:受管理政策允許 {s} 連到本機",
                "{b}: a managed policy allows {s} to reach this computer",
            ).format(b=", ".join(s.install.describe() for s in asking), s=NHI_SITE),
            detail,
        )
    return passed(
        T(
            "{b}:此版本還不會詢問區域網路存取權",
            "{b}: this version does not ask for Local Network Access yet",
        ).format(b=", ".join(s.install.describe() for s in states)),
        detail,
    )


def checks() -> list[Check]:
    # up to three programs asked --version (3 s each at most)
    return [Check("agent.browser-lna", GROUP, check_browser_lna, timeout=12.0)]
