"""What every web flow shares: settings, the browser, the card agent, page checks.

``open_flow(settings)`` resolves the site profile, builds the :class:`~nhicard.web.browser.Browser`
(the profile's TLS and maintenance policy, a masked trace, a redactor that knows the run's
secrets) and yields a :class:`FlowEnv`. The card agent is opened only when a flow first
asks for ``env.agent`` (so a flow that fails before the card is needed never touches the
reader). Any :class:`~nhicard.core.errors.SiteChanged` leaving the block without a saved page
gets the current page saved (redacted) and its path attached, for the exit-11 report.

The core never prints: progress goes to ``settings.log`` (a ``Text`` callback), traces to
``settings.trace``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from nhicard.agent import DEFAULT_AGENT_URL
from nhicard.agent.base import SIGNATURE_LENGTH, BasicData, CardAgent
from nhicard.agent.errors import component_error
from nhicard.core.clock import Clock, utc_now
from nhicard.core.errors import NetworkError, SiteChanged, SiteRejected
from nhicard.core.i18n import T, Text
from nhicard.flows.errors import SessionExpired
from nhicard.flows.hosts import check_profile_hosts
from nhicard.sites.loader import resolve_profile
from nhicard.sites.model import PageSpec, SiteProfile, SiteSpec
from nhicard.web.aspnet import page_messages
from nhicard.web.browser import Browser, policy_for
from nhicard.web.errors import PageUnparsable
from nhicard.web.form import Form, Key
from nhicard.web.formdata import Submission
from nhicard.web.page import Page
from nhicard.web.pages import PageSaver
from nhicard.web.redact import Redactor, redactor_for

END_STEP = "END"

Log = Callable[[Text], None]
Trace = Callable[[str], None]
AgentFactory = Callable[["FlowSettings", SiteProfile], CardAgent]


@dataclass(frozen=True)
class FlowSettings:
    """How a flow runs: which profile and card agent, where progress and traces go.

    ``transport``, ``agent_factory`` and ``sleep`` are for tests (an ``httpx.MockTransport``,
    a scripted agent, no real waiting); ``read_timeout`` overrides the HTTP read timeout.
    """

    profile: str = "real"
    agent_kind: str = "auto"
    agent_url: str = DEFAULT_AGENT_URL
    agent_url_given: bool = False  # the user named agent_url: auto asks there regardless
    reader: str | None = None
    trace: Trace | None = None
    log: Log | None = None
    # a problem that does not change the result (a page or the journal could not be
    # written): the CLI always shows it
    warn: Log | None = None
    # a derived profile may send the password to hosts outside its base (flows/hosts.py)
    allow_profile_hosts: bool = False
    # hosts besides the profile's sites that forms may go to (ecpa login --return-url's)
    extra_form_hosts: tuple[str, ...] = ()
    save_pages: Path | None = None
    clock: Clock = utc_now
    read_timeout: float | None = None
    sandbox_dir: Path | None = None
    transport: httpx.BaseTransport | None = None
    agent_factory: AgentFactory | None = None
    sleep: Callable[[float], None] | None = None
    state_dir: Path | None = None


def _default_agent(settings: FlowSettings, profile: SiteProfile) -> CardAgent:
    from nhicard.agent.client.factory import open_agent

    return open_agent(
        settings.agent_kind,
        reader=settings.reader,
        agent_url=settings.agent_url,
        url_given=settings.agent_url_given,
        sam=profile.sam,
        origin=profile.agent_origin,
        ca_bundle=profile.ca_bundle,
        clock=settings.clock,
        log=settings.log,
    )


@functools.cache
def _bilingual_re() -> re.Pattern[str]:
    """A message "中文 English" (compiled when a site message is first read: ≈ 2 ms)."""
    return re.compile(r"^(.*?[\u3000-\u303f\u3400-\u9fff\uff00-\uffef])\s+([A-Za-z].*)$", re.S)


# Messages of the real site seen in Chinese only, and their English (extend as they are met).
KNOWN_MESSAGES: dict[str, str] = {
    "戶號或戶籍地址與戶籍資料不符": "The household ID number or address does not match the "
    "household registration records.",
    "電子郵件格式錯誤": "The e-mail address is not valid.",
    "此健保卡已完成註冊": "This NHI card is already registered.",
    "請檢查元件是否已正確安裝且啟動": "Check that the card reader component is installed and "
    "running.",
}


def site_message_text(message: str) -> Text:
    """A site message as bilingual text: a bilingual message split into its halves, a known
    Chinese one translated, anything else verbatim in both languages."""
    found = _bilingual_re().match(message.strip())
    if found:
        return Text(found.group(1).strip(), found.group(2).strip())
    for zh, en in KNOWN_MESSAGES.items():
        if zh in message:
            return Text(message, en)
    return Text(message, message)


def site_rejected(messages: list[str], *, step: str, hint: Text | None = None) -> SiteRejected:
    """Exit 8 carrying the site's own messages verbatim (``data["messages"]``)."""
    texts = [site_message_text(m) for m in messages]
    joined = Text(" / ".join(t.zh for t in texts), " / ".join(t.en for t in texts))
    return SiteRejected(
        T("網站拒絕了輸入:{zh}", "the site rejected the input: {en}").format(
            zh=joined.zh, en=joined.en
        ),
        hint=hint
        or T("請依網站訊息修正後再執行一次。", "Correct it as the site says and run again."),
        reason="site-message",
        data={"messages": list(messages), "step": step},
    )


class FlowEnv:
    """One flow run's profile, browser, redactor, card agent and page saver."""

    def __init__(
        self, settings: FlowSettings, profile: SiteProfile, browser: Browser, redactor: Redactor
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.browser = browser
        self.redactor = redactor
        self._agent: CardAgent | None = None
        self._saver = PageSaver(settings.save_pages, redactor) if settings.save_pages else None
        self._failure_saver: PageSaver | None = None
        self._unwritable: list[PageSaver] = []

    # -- messages ------------------------------------------------------------------------
    def log(self, text: Text) -> None:
        """A progress line (the CLI shows it on stderr unless --quiet)."""
        if self.settings.log is not None:
            self.settings.log(text)

    def warn(self, text: Text) -> None:
        """A problem that does not change the flow's result (shown even with --quiet)."""
        if self.settings.warn is not None:
            self.settings.warn(text)

    def add_secret(self, value: str | None, kind: str = "other") -> None:
        """Mask ``value`` in traces and saved pages from now on."""
        self.redactor.add_secret(value, kind)

    def now(self) -> datetime:
        return self.settings.clock()

    # -- the card agent ------------------------------------------------------------------
    @property
    def agent(self) -> CardAgent:
        """The card agent, opened on first use (logs which backend and why)."""
        if self._agent is None:
            factory = self.settings.agent_factory or _default_agent
            self._agent = factory(self.settings, self.profile)
        return self._agent

    def close(self) -> None:
        try:
            if self._agent is not None:
                self._agent.close()
        finally:
            self._agent = None
            self.browser.close()

    # -- navigation, with --save-pages ---------------------------------------------------
    def open(self, url: str, step: str) -> Page:
        return self.save_and_return(self.browser.open(url), step)

    def submit(self, submission: Submission, step: str) -> Page:
        return self.save_and_return(self.browser.submit(submission), step)

    def click(self, page: Page, key: Key, step: str) -> Page:
        return self.save_and_return(self.browser.click(page, key), step)

    def save_and_return(self, page: Page, step: str) -> Page:
        self.save(page, step)
        return page

    def save(self, page: Page, step: str) -> Path | None:
        """Save the page (redacted) when ``--save-pages`` is set; returns its path, or None
        when it could not be written (disk full, read-only: said with :meth:`warn`)."""
        return self._save_with(self._saver, page, step) if self._saver is not None else None

    def keep_page(self, page: Page, step: str) -> Path | None:
        """Save the page (redacted) for a failure report: into the ``--save-pages`` dir, else
        ``<state dir>/pages/``. None when it could not be written (said with :meth:`warn`):
        the failure being reported stays what it is."""
        if self._saver is not None:
            return self._save_with(self._saver, page, step)
        if self._failure_saver is None:
            from nhicard.core.paths import state_dir

            base = self.settings.state_dir or state_dir()
            self._failure_saver = PageSaver(base / "pages", self.redactor)
        return self._save_with(self._failure_saver, page, step)

    def _save_with(self, saver: PageSaver, page: Page, step: str) -> Path | None:
        try:
            return saver.save(page, step)
        except PageUnparsable as err:  # too large to redact safely: not saved
            self.warn(
                T("頁面未保存:{zh}", "page not saved: {en}").format(
                    zh=err.message.zh, en=err.message.en
                )
            )
            return None
        except OSError as err:
            if saver in self._unwritable:
                return None  # said once is enough
            self._unwritable.append(saver)
            self.warn(
                T(
                    "無法保存頁面到 {dir}:{why}",
                    "could not save the page in {dir}: {why}",
                ).format(dir=str(saver.directory), why=err.strerror or type(err).__name__)
            )
            return None

    # -- judging pages -------------------------------------------------------------------
    def site_of(self, spec: PageSpec) -> SiteSpec:
        for site in (self.profile.nhi, self.profile.ecpa, self.profile.elearn):
            if any(p is spec for p in site.pages.values()):
                return site
        return self.profile.nhi

    def site_changed(self, page: Page, step: str, what: Text) -> SiteChanged:
        """Exit 11 for a page that is not what the profile describes; the page is saved."""
        path = self.keep_page(page, f"{step}-unexpected")
        return SiteChanged(
            T(
                "網站頁面與設定檔不符({step}):{zh}",
                "the site's page is not what the profile describes ({step}): {en}",
            ).format(step=step, zh=what.zh, en=what.en),
            hint=T(
                "網站可能已改版:請檢查保存的頁面並更新網站設定檔(--profile FILE)。",
                "The site may have changed: look at the saved page and update the site "
                "profile (--profile FILE).",
            ),
            reason="site-changed",
            saved_page=str(path) if path is not None else None,
        )

    def messages(self, page: Page, site: SiteSpec | None = None) -> list[str]:
        """The page's own system/error messages (the profile's selectors, alerts)."""
        return page_messages(page.soup, (site or self.profile.nhi).message_selectors)

    def check_session(self, page: Page, site: SiteSpec, step: str) -> None:
        """Raise :class:`SessionExpired` when the page is the site's 「逾時」 notice."""
        if site.markers.session_expired and page.find_marker(site.markers.session_expired):
            shown = self.messages(page, site)
            raise SessionExpired(
                T("網站的連線階段已逾時({step})", "the site's session expired ({step})").format(
                    step=step
                ),
                hint=T("請重新執行一次。", "Run the command again."),
                reason="session-expired",
                detail=shown[0] if shown else None,
            )

    def expect(
        self, page: Page, spec: PageSpec, step: str, *, site: SiteSpec | None = None
    ) -> Page:
        """``page`` when it shows ``spec``'s markers. Otherwise: the site's 「逾時」 page →
        :class:`SessionExpired`; a maintenance notice → NetworkError; the site's own
        messages → :class:`SiteRejected` (exit 8, verbatim); else exit 11 with the page
        saved."""
        site = site or self.site_of(spec)
        if not spec.markers or page.find_marker(spec.markers):
            return page
        self.check_session(page, site, step)
        if site.markers.maintenance and page.find_marker(site.markers.maintenance):
            raise NetworkError(
                T("網站正在維護", "the site is under maintenance"),
                hint=T("請於維護結束後再試。", "Try again after the maintenance."),
                reason="maintenance",
            )
        shown = self.messages(page, site)
        if shown:
            raise site_rejected(shown, step=step)
        raise self.site_changed(
            page,
            step,
            T("找不到「{markers}」", "none of '{markers}' is on the page").format(
                markers=" / ".join(spec.markers)
            ),
        )


def fill_agent_fields(
    form: Form, spec: PageSpec, agent: CardAgent, *, sign: bool = True
) -> BasicData:
    """Do what the page's 「讀取」 script does: ``GetBasic`` → hidBasic; stop when hidNextStep
    is ``END`` (or ``sign`` is False); else ``GetVersion`` → hidVersion, ``GetRandom`` →
    hidRandom, ``H_Sign?Random=<version><random>`` → hidSign (must be 256 characters)."""
    basic = agent.get_basic()
    form[spec.control("hid_basic")] = basic.to_wire()
    next_step = ""
    if "hid_next_step" in spec.controls and form.has(spec.control("hid_next_step")):
        value = form[spec.control("hid_next_step")]
        next_step = value if isinstance(value, str) else ""
    if not sign or next_step.strip().upper() == END_STEP:
        return basic
    version = agent.get_version()
    random = agent.get_random()
    signature = agent.h_sign(version + random)
    if len(signature) != SIGNATURE_LENGTH:
        raise component_error(
            T(
                "讀卡元件回傳的簽章長度不正確(應為 256 字元)",
                "the card agent's signature has the wrong length (256 characters expected)",
            ),
            detail=f"{len(signature)} characters",
        )
    form[spec.control("hid_version")] = version
    form[spec.control("hid_random")] = random
    form[spec.control("hid_sign")] = signature
    return basic


@contextlib.contextmanager
def open_flow(
    settings: FlowSettings,
    *,
    profile: SiteProfile | None = None,
    secrets: tuple[tuple[str, str], ...] = (),
) -> Iterator[FlowEnv]:
    """The environment of one flow run (see the module docstring)."""
    profile = profile or resolve_profile(settings.profile, sandbox_dir=settings.sandbox_dir)
    check_profile_hosts(profile, allowed=settings.allow_profile_hosts, warn=settings.warn)
    redactor = redactor_for(profile)
    for value, kind in secrets:
        redactor.add_secret(value, kind)
    policy = policy_for(profile)
    hosts = (*profile.site_hosts(), *(h.lower() for h in settings.extra_form_hosts))
    policy = dataclasses.replace(policy, form_hosts=tuple(dict.fromkeys(hosts)))
    if settings.read_timeout is not None:
        policy = dataclasses.replace(
            policy, read_timeout=settings.read_timeout, total_timeout=2 * settings.read_timeout
        )
    browser = Browser(
        policy,
        transport=settings.transport,
        trace=settings.trace,
        redactor=redactor,
        sleep=settings.sleep or time.sleep,
    )
    env = FlowEnv(settings, profile, browser, redactor)
    try:
        yield env
    except SiteChanged as err:
        if err.saved_page is None and browser.current is not None:
            kept = env.keep_page(browser.current, "site-changed")
            err.saved_page = str(kept) if kept is not None else None
        raise
    finally:
        env.close()


__all__ = [
    "FlowEnv",
    "FlowSettings",
    "SessionExpired",
    "fill_agent_fields",
    "open_flow",
    "site_message_text",
    "site_rejected",
]
