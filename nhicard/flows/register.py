"""Steps 1–4 of the manual: apply for the NHI card online service (健保卡網路服務註冊).

The walk, page by page (every detail from the site profile's ``nhi`` pages):

1. the login page → 「首次登入請先申請」;
2. the terms page → 「我已閱讀完畢,並瞭解相關規定」;
3. the apply page: 讀取 (the card agent fills hidBasic/hidVersion/hidRandom/hidSign exactly as
   the page's script does, then posts back), the 姓名 shown is checked against the card,
   戶號 typed, 縣市 → 鄉鎮市區 → 村里 chosen by posting back in turn (the user's words matched
   to the options: 台/臺, with or without 市/區/里), 鄰 typed, 下一步;
4. the password/contact page: password twice, e-mail, phone, mobile, 確認申請 → the site
   says the verification mail (認證通知信) was sent.

Inputs are checked locally before any request (:func:`~nhicard.flows.register_input.parse_request`). ``dry_run`` walks
every page up to the final submit and stops there. A page that is not what the profile
describes ends the run with exit 11 and the page saved (see :mod:`nhicard.flows.base`).

Resuming and never applying twice
---------------------------------
Every page before the final 確認申請 only reads or prepares: walking them again is harmless,
and ASP.NET state cannot be reused across runs anyway, so a rerun always walks from the
login page. What must not repeat blindly is the final POST, which makes the site store the
application and send a mail; the site replaces a pending application by a new one, and the
older mail's link stops working. The run journal (:mod:`nhicard.flows.journal`, keyed by the
card number, known once the card was read) guards it:

- once the card is read, the run holds a lock for this card and site
  (:func:`~nhicard.flows.journal.flow_lock`): a second run at the same time waits briefly,
  then refuses; it reads the journal only once it holds the lock.
- ``submitting`` is recorded *before* the final POST, durably (fsync'd): when it cannot be,
  nothing is submitted (:class:`~nhicard.flows.journal.JournalUnwritable`, exit 2).
  ``submitted`` (with the e-mail) is recorded when the site confirmed that the mail was sent;
  a site refusal of the final POST removes ``submitting`` again. Ctrl-C, SIGTERM or SIGHUP
  during the POST (the CLI turns the latter two into the same interrupt) marks it
  ``interrupted``.
- On a rerun, after the card was read, the site is asked first: it reports an already
  *completed* (verified) registration at that point → ``already-registered``. Then: if the
  journal says ``submitted``, nothing is sent again and the result is ``submitted``
  (``resumed``: true) with the journal's e-mail.
- ``submitting`` without ``submitted`` means the last run lost the answer of the final POST
  (interrupted, network failure, timeout, crash): whether the site stored it is unknown, and
  the site does not show a pending (unverified) application. Nothing is sent again: the
  person is told to look for the verification mail and run ``verify-email``; the result is
  ``submitted`` (``resumed``: true).
- ``resend`` (``--resend``) applies again on purpose in both cases (mail lost, link expired).
- The journal belongs to the site instance it was made against
  (:class:`~nhicard.flows.journal.SiteIdentity`: the site's origin, and the instance id the
  profile's ``instance_header`` names, which the sandbox serves). A journal made against
  another instance (a sandbox deleted and started again, another site) decides nothing: the
  run says so and starts afresh, so ``submitted`` is never reported for an application that
  this site instance never got.

A session that expires mid-walk (the site's 「逾時」 page) restarts the walk from the login
page once; a second expiry fails with :class:`~nhicard.flows.errors.SessionExpired` (exit 7).
"""

from __future__ import annotations

import contextlib
import html
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from nhicard.agent.base import BasicData
from nhicard.card.idnumber import site_page_accepts
from nhicard.core.errors import NhicardError, SiteRejected
from nhicard.core.i18n import T, Text
from nhicard.core.masking import mask_id, mask_name
from nhicard.flows.base import FlowEnv, fill_agent_fields, site_rejected
from nhicard.flows.errors import SessionExpired
from nhicard.flows.journal import Journal, SiteIdentity, flow_lock
from nhicard.flows.register_input import (
    CITY,
    DISTRICT,
    VILLAGE,
    RegistrationRequest,
    check_password,
    household_address,
)
from nhicard.sites.model import PageSpec
from nhicard.web.aspnet import change_postback, postback
from nhicard.web.errors import PageStateRejected
from nhicard.web.form import Form
from nhicard.web.matching import match_option
from nhicard.web.page import Page

FLOW = "register"
STATUS_SUBMITTED = "submitted"
STATUS_ALREADY = "already-registered"
STATUS_DRY_RUN = "dry-run"


# -- the result ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RegisterOutcome:
    """What ``register`` did: ``status`` is ``submitted``, ``already-registered`` or
    ``dry-run``; ``resumed`` when an earlier run's journal decided it."""

    status: str
    email: str
    resumed: bool = False
    requests: int = 0

    def to_record(self) -> dict[str, object]:
        return {"status": self.status, "email": self.email, "resumed": self.resumed}


@dataclass(frozen=True)
class Summary:
    """What is about to be submitted (shown before the final confirmation)."""

    name_masked: str
    request: RegistrationRequest
    address: str


Confirm = Callable[[Summary], bool]


class _AlreadyRegistered(Exception):
    def __init__(self, card_number: str) -> None:
        super().__init__("already registered")
        self.card_number = card_number


# -- the walk ------------------------------------------------------------------------------
class _Walk:
    def __init__(
        self,
        env: FlowEnv,
        request: RegistrationRequest,
        password: str,
        *,
        dry_run: bool,
        resend: bool,
        confirm: Confirm | None,
    ) -> None:
        self.env = env
        self.request = request
        self.password = password
        self.dry_run = dry_run
        self.resend = resend
        self.confirm = confirm
        self.nhi = env.profile.nhi
        self.journal: Journal | None = None
        self.site: SiteIdentity | None = None  # known once the login page answered
        self.resumed = False
        self.locks = contextlib.ExitStack()  # held from the card's reading to the end
        self.chosen: dict[str, str] = {}  # city/district/village: the site's option text

    # pages ---------------------------------------------------------------------------------
    def spec(self, name: str) -> PageSpec:
        return self.nhi.page(name)

    def to_apply(self) -> Page:
        env, login, terms = self.env, self.spec("login"), self.spec("terms")
        env.log(T("開啟登入頁", "opening the login page"))
        page = env.expect(env.open(self.nhi.url("login"), "login"), login, "login")
        self.site = self.identity(page)
        env.log(T("點選「首次登入請先申請」", "following 「首次登入請先申請」 (register)"))
        page = env.click(page, login.control("register_link"), "terms")
        page = env.expect(page, terms, "terms")
        env.log(T("同意註冊管理作業要點", "accepting the terms"))
        apply = self.spec("apply")
        page = env.click(page, terms.control("agree"), "apply")
        return env.expect(page, apply, "apply")

    def identity(self, page: Page) -> SiteIdentity:
        """This site instance: its origin, and the instance id it serves in the header the
        profile names (``[nhi.options] instance_header``; the sandbox has one)."""
        parts = urlsplit(self.nhi.url("login"))
        header = self.nhi.options.get("instance_header", "")
        instance = page.headers.get(header.lower()) if header else None
        return SiteIdentity(f"{parts.scheme}://{parts.netloc}".lower(), instance or None)

    def read_card(self, page: Page) -> tuple[Page, BasicData]:
        env, apply = self.env, self.spec("apply")
        env.log(T("讀取健保卡", "reading the NHI card"))
        form = page.form()
        basic = fill_agent_fields(form, apply, env.agent)
        for value, kind in (
            (basic.name, "name"),
            (basic.id_number, "id"),
            (basic.card_number, "card"),
            (basic.birth_date_roc, "date"),
        ):
            env.add_secret(value, kind)
        button = form.find(apply.control("read_card"), buttons=True)[0]
        target = str(button.get("name") or button.get("id") or "")
        page = env.submit(postback(form, target), "apply-read")
        page = env.expect(page, apply, "apply-read")
        if self.already_registered(page):
            raise _AlreadyRegistered(basic.card_number)
        self.check_name(page, basic)
        return page, basic

    def already_registered(self, page: Page) -> bool:
        markers = self.nhi.markers.already_registered
        if not markers:
            return False
        shown = " ".join(self.env.messages(page))
        probe = Page(page.url, page.status, f"<p>{html.escape(shown, quote=False)}</p>")
        return probe.find_marker(markers) is not None

    def check_name(self, page: Page, basic: BasicData) -> None:
        apply = self.spec("apply")
        form = page.form()
        shown = ""
        if "name" in apply.controls and form.has(apply.control("name")):
            value = form[apply.control("name")]
            shown = value if isinstance(value, str) else ""
        elif _norm(basic.name) in _norm(page.visible_text):
            shown = basic.name
        if _norm(shown) == _norm(basic.name) and shown:
            self.env.log(T("姓名:{name}", "name: {name}").format(name=mask_name(basic.name) or ""))
            return
        messages = self.env.messages(page)
        if messages and not shown:
            raise site_rejected(messages, step="apply-read")
        if not shown:
            raise self.env.site_changed(
                page,
                "apply-read",
                T("讀卡後頁面沒有顯示姓名", "the page shows no name after reading the card"),
            )
        # the site put a name other than the card's into 姓名: not the page the flow knows
        raise self.env.site_changed(
            page,
            "apply-read",
            T(
                "網站顯示的姓名({shown})與健保卡上的姓名({card})不同",
                "the name the site shows ({shown}) is not the name on the card ({card})",
            ).format(shown=mask_name(shown) or "", card=mask_name(basic.name) or ""),
        )

    def choose(self, page: Page, key: str, words: str, what: Text, step: str) -> Page:
        apply = self.spec("apply")
        form = page.form()
        control = apply.control(key)
        option = match_option(words, form.options(control), what=what)
        self.env.log(T("選擇{zh}:{opt}", "choosing the {en}: {opt}").format(
            zh=what.zh, en=what.en, opt=option.text))  # fmt: skip
        form[control] = option.value
        self.chosen[key] = option.text
        page = self.env.submit(change_postback(form, control), step)
        return self.env.expect(page, apply, step)

    def fill_apply(self, page: Page) -> Page:
        env, apply, req = self.env, self.spec("apply"), self.request
        form = page.form()
        form[apply.control("household_id")] = req.household_id
        page = self.choose(page, "city", req.city, CITY, "apply-city")
        page = self.choose(page, "district", req.district, DISTRICT, "apply-district")
        page = self.choose(page, "village", req.village, VILLAGE, "apply-village")
        form = page.form()
        form[apply.control("household_id")] = req.household_id
        form[apply.control("neighborhood")] = str(req.neighborhood)
        env.log(T("送出戶號與戶籍地址(下一步)", "sending the household ID and address (Next)"))
        page = env.submit(form.submission(apply.control("next")), "contact")
        return env.expect(page, self.spec("contact"), "contact")

    def fill_contact(self, page: Page) -> Form:
        contact, req = self.spec("contact"), self.request
        form = page.form()
        form[contact.control("password")] = self.password
        if "password_confirm" in contact.controls and form.has(contact.control("password_confirm")):
            form[contact.control("password_confirm")] = self.password
        form[contact.control("email")] = req.email
        form[contact.control("phone")] = req.phone
        form[contact.control("mobile")] = req.mobile
        return form

    def submit(self, form: Form, basic: BasicData) -> RegisterOutcome:
        env, contact = self.env, self.spec("contact")
        assert self.journal is not None
        # on disk (fsync'd) before the POST, or no POST: a rerun must know it may have happened
        self.journal.record("submitting", durable=True, email=self.request.email)
        env.log(T("確認申請(送出)", "submitting the application (確認申請)"))
        try:
            page = env.submit(form.submission(contact.control("submit")), "sent")
        except PageStateRejected:
            self.journal.forget("submitting")  # refused before it was processed: not stored
            raise
        except KeyboardInterrupt:
            # Ctrl-C (or SIGTERM/SIGHUP, raised as the same by the CLI) while the site had the
            # application: it most likely stored it and sent the mail; the rerun must not send
            # a second one on its own (from_journal)
            self.journal.record("submitting", interrupted=True, email=self.request.email)
            raise
        if page.find_marker(self.nhi.markers.success):
            self.journal.record(STATUS_SUBMITTED, email=self.request.email)
            env.log(
                T("認證通知信已寄到 {email}", "the verification mail was sent to {email}").format(
                    email=self.request.email
                )
            )
            return RegisterOutcome(STATUS_SUBMITTED, self.request.email, self.resumed)
        try:
            env.check_session(page, self.nhi, "sent")
            if self.already_registered(page):
                self.journal.record(STATUS_ALREADY)
                return RegisterOutcome(STATUS_ALREADY, self.request.email, self.resumed)
            messages = env.messages(page)
            if messages:
                raise site_rejected(messages, step="sent")
        except (SessionExpired, SiteRejected):
            self.journal.forget("submitting")  # the site answered: it did not store it
            raise
        raise env.site_changed(
            page,
            "sent",
            T("找不到「{m}」", "none of '{m}' is on the page").format(
                m=" / ".join(self.nhi.markers.success)
            ),
        )

    # the whole walk -------------------------------------------------------------------------

    def run(self) -> RegisterOutcome:
        env, req = self.env, self.request
        page = self.to_apply()
        try:
            page, basic = self.read_card(page)
        except _AlreadyRegistered as found:
            env.log(T("此健保卡已完成註冊", "this NHI card is already registered"))
            if not self.dry_run:
                journal = self.open_journal(found.card_number)
                if journal.done("submitting") and not journal.done(STATUS_SUBMITTED):
                    env.warn(
                        T(
                            "上次在 {when} 中斷的申請已送達網站,且已完成認證;不再送出",
                            "the application interrupted at {when} had reached the site and "
                            "has been verified since; nothing is sent again",
                        ).format(when=journal.when("submitting"))
                    )
                journal.record(STATUS_ALREADY)
            return RegisterOutcome(STATUS_ALREADY, req.email, False)
        if not site_page_accepts(basic.id_number):
            env.warn(page_id_check_warning(basic.id_number))
        if not self.dry_run:
            self.lock(basic.card_number)
        self.journal = self.open_journal(basic.card_number)  # read once the lock is held
        if not self.dry_run:
            self.announce_superseded(self.journal)
            early = self.from_journal()
            if early is not None:
                return early
        page = self.fill_apply(page)
        form = self.fill_contact(page)
        summary = Summary(
            name_masked=mask_name(basic.name) or "",
            request=req,
            address=household_address(req, self.chosen),
        )
        if self.dry_run:
            env.log(T("試跑:不送出最後的申請", "dry run: the final submit is not sent"))
            return RegisterOutcome(STATUS_DRY_RUN, req.email, False)
        if self.confirm is not None and not self.confirm(summary):
            raise NhicardError(
                T("已取消,未送出申請", "cancelled; nothing was submitted"), reason="cancelled"
            )
        return self.submit(form, basic)

    def open_journal(self, card_number: str) -> Journal:
        settings = self.env.settings
        journal = Journal.open(
            FLOW, card_number, state_dir=settings.state_dir, clock=settings.clock, site=self.site
        )
        journal.warn = self.env.warn
        return journal

    def announce_superseded(self, journal: Journal) -> None:
        """Say so when the card's journal was set aside as another site instance's."""
        old = journal.superseded
        if old is not None and old.steps:
            step, when = max(old.steps.items(), key=lambda item: item[1])
            self.env.warn(
                T(
                    "此卡的執行紀錄({step},{when})是對另一個網站實例 {old} 做的,與現在的網站 "
                    "{new} 無關(例如沙盒已刪除後重建);那邊的申請不算數,重新開始",
                    "this card's run journal ({step} at {when}) was made against another "
                    "instance of the site, {old}; it says nothing about this one, {new} (e.g. a "
                    "sandbox deleted and started again): starting afresh",
                ).format(
                    step=step,
                    when=when,
                    old=old.site.describe(),
                    new=self.site.describe() if self.site else "?",
                )
            )

    def lock(self, card_number: str) -> None:
        """Hold this card's register lock for this site until the walk ends."""
        settings = self.env.settings
        self.locks.enter_context(
            flow_lock(
                FLOW,
                card_number,
                urlsplit(self.nhi.url("login")).netloc.lower(),
                state_dir=settings.state_dir,
                sleep=settings.sleep or time.sleep,
                on_wait=lambda: self.env.warn(
                    T(
                        "此健保卡的註冊正在另一個 nhicard 中執行,等待它結束…",
                        "register is running for this NHI card in another nhicard; waiting "
                        "for it to end…",
                    )
                ),
            )
        )

    def from_journal(self) -> RegisterOutcome | None:
        journal = self.journal
        assert journal is not None
        confirmed = journal.done(STATUS_SUBMITTED)
        uncertain = journal.done("submitting") and not confirmed
        email = str(journal.facts.get("email") or self.request.email)
        if self.resend:
            if confirmed or uncertain:
                journal.facts.pop("interrupted", None)
                journal.forget(STATUS_SUBMITTED, "submitting")
                self.env.log(
                    T(
                        "依 --resend 重新申請(若收到兩封認證通知信,請使用最新的一封)",
                        "applying again as asked (--resend); if two verification mails "
                        "arrive, use the newest",
                    )
                )
            return None
        if confirmed:
            self.env.log(
                T(
                    "此卡的申請已於 {when} 送出,認證通知信寄到 {email};不再重複送出"
                    "(要重新送出請加 --resend)",
                    "this card's application was already submitted at {when} and the "
                    "verification mail went to {email}; not sending it again (add --resend "
                    "to apply again)",
                ).format(when=journal.when(STATUS_SUBMITTED), email=email)
            )
            return RegisterOutcome(STATUS_SUBMITTED, email, True)
        if uncertain:
            # the site shows only *completed* registrations (checked when the card was read):
            # whether it holds an unverified application from that run, it does not say.
            # A second application would void the first mail's link: do not send one on a guess
            self.env.warn(uncertain_submit_text(journal, email))
            return RegisterOutcome(STATUS_SUBMITTED, email, True)
        return None


def page_id_check_warning(id_number: str) -> Text:
    """Said before anything is submitted when the registration page's own script would
    refuse the card's ID number (new-style resident permits; sites.md)."""
    return T(
        "此卡的證號 {id} 通不過註冊網頁本身的證號檢查(^[A-Z][12ABCD]\\d{{8}}$;"
        "新式居留證號第二碼為 8 或 9):用瀏覽器申請時網頁會拒絕它。nhicard 仍照常送出,"
        "但網站也可能拒絕;若被拒,請洽健保署。",
        "the card's ID number {id} does not pass the registration page's own ID check "
        "(^[A-Z][12ABCD]\\d{{8}}$; new-style resident permit numbers have 8 or 9 as second "
        "character): in a browser the page refuses it. nhicard submits as usual, but the "
        "site may refuse it too; if it does, ask the NHIA.",
    ).format(id=mask_id(id_number))


def uncertain_submit_text(journal: Journal, email: str) -> Text:
    """What the person is told when the last run's final submit has no known outcome."""
    if journal.facts.get("interrupted"):
        what = T(
            "上次在 {when} 最後送出申請時被中斷(Ctrl-C 或停止訊號 SIGTERM/SIGHUP)",
            "the last run was interrupted (Ctrl-C, or a SIGTERM/SIGHUP stop) during its final "
            "submit at {when}",
        )
    else:
        what = T(
            "上次在 {when} 最後送出申請後沒有收到網站的回應(連線中斷、逾時或程式被終止)",
            "the last run got no answer to its final submit at {when} (connection lost, "
            "timeout or the program was ended)",
        )
    what = what.format(when=journal.when("submitting") or "?")
    return T(
        "{zh};網站不是「已完成註冊」,但可能已收到申請並寄出認證通知信到 {email}。"
        "不再重複送出(會使第一封信的連結失效):請先到信箱找「認證通知信」並執行 "
        "nhicard verify-email;若確定沒有收到,再加上 --resend 重新申請",
        "{en}; the site does not show the card as registered, but it may have got the "
        "application and mailed the verification link to {email}. Not sending it again (that "
        "would void the first mail's link): look for the verification mail (認證通知信) and "
        "run nhicard verify-email; if none came, add --resend",
    ).format(zh=what.zh, en=what.en, email=email)


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def register(
    env: FlowEnv,
    request: RegistrationRequest,
    password: str,
    *,
    dry_run: bool = False,
    resend: bool = False,
    confirm: Confirm | None = None,
) -> RegisterOutcome:
    """Run steps 1–4 (see the module docstring). Restarts once after a session expiry."""
    check_password(password)
    env.add_secret(password, "password")
    for value, kind in (
        (request.email, "email"),
        (request.phone, "phone"),
        (request.mobile, "phone"),
        (request.household_id, "other"),
    ):
        env.add_secret(value, kind)
    for attempt in (1, 2):
        walk = _Walk(env, request, password, dry_run=dry_run, resend=resend, confirm=confirm)
        try:
            with walk.locks:
                outcome = walk.run()
        except SessionExpired:
            if attempt == 2:
                raise
            env.log(
                T(
                    "網站的連線階段逾時,從登入頁重新開始",
                    "the site's session expired; starting again from the login page",
                )
            )
            continue
        return RegisterOutcome(
            outcome.status, outcome.email, outcome.resumed, env.browser.requests_made
        )
    raise AssertionError("unreachable")
