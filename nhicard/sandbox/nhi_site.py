"""The sandbox NHI card online-service registration site (健保卡網路服務註冊).

Pages (paths like the real site's): ``/cloudic/system/mlogin.aspx`` (login with card +
password, where the page has only the 16-digit random signed, as the official
``InnerAuthHC`` does; and the link 「首次登入請先申請 Register for New Account」),
``UserAction.aspx`` (terms → apply → password/contact → mail sent, one WebForms page driven
by the session's step),
``Verify.aspx?token=…`` (the mail's link: 讀取 + 確定 → 「密碼設定完成」) and ``Main.aspx``.
Every form is ``<form method="post" id="form1">`` with signed ``__VIEWSTATE`` /
``__EVENTVALIDATION`` (:mod:`nhicard.sandbox.webforms`) and the ``ASP.NET_SessionId`` cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from nhicard.core.clock import TAIPEI
from nhicard.core.errors import NetworkError, NhicardError
from nhicard.core.i18n import Text
from nhicard.sandbox import nhi_messages as msg
from nhicard.sandbox import nhi_rules as rules
from nhicard.sandbox.context import SandboxContext
from nhicard.sandbox.mailer import build_verification_mail, send_mail
from nhicard.sandbox.nhi_address import AddressOptions
from nhicard.sandbox.nhi_session import NhiSession, NhiSessions
from nhicard.sandbox.registry import HouseholdAddress, HouseholdMatch, canonical_household_id
from nhicard.sandbox.store import AlreadyRegistered, LinkState
from nhicard.sandbox.templating import compile_templates
from nhicard.sandbox.webforms import (
    EVENT_TARGET,
    EventValidationCodec,
    ViewStateCodec,
    ViewStateError,
    WebFormsStateError,
    server_error_page,
    viewstate_generator,
)

HERE = Path(__file__).resolve().parent
BASE = "/cloudic/system/"
LOGIN_PATH = BASE + "mlogin.aspx"
USER_ACTION_PATH = BASE + "UserAction.aspx"
VERIFY_PATH = BASE + "Verify.aspx"
MAIN_PATH = BASE + "Main.aspx"
SCRIPT_PATH = BASE + "js/nhi_agent.js"
AGENT_FIELDS = ("hidBasic", "hidVersion", "hidRandom", "hidSign")
HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                504: "Gateway Timeout"}  # fmt: skip
# (page id, template, hidStep, hidNextStep) of each step
STEPS: dict[str, tuple[str, str, str, str]] = {
    "login": ("mlogin", "nhi_login.html", "LOGIN", "MAIN"),
    "terms": ("UserAction", "nhi_terms.html", "TERMS", "APPLY"),
    "apply": ("UserAction", "nhi_apply.html", "APPLY", "CONTACT"),
    "contact": ("UserAction", "nhi_contact.html", "CONTACT", "SENT"),
    "sent": ("UserAction", "nhi_sent.html", "SENT", "END"),
    "verify": ("Verify", "nhi_verify.html", "VERIFY", "DONE"),
}
PAGE_PATHS = {"mlogin": LOGIN_PATH, "UserAction": USER_ACTION_PATH, "Verify": VERIFY_PATH}


def mask_email(address: str) -> str:
    """``wang@example.com`` → ``wa**@example.com`` (shown on the mail-sent page)."""
    local, at, domain = address.partition("@")
    return local[:2] + "*" * max(1, len(local) - 2) + at + domain


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, b"nhi-site:" + purpose, hashlib.sha256).digest()


class PostbackRefused(Exception):
    """A postback to answer with a page instead of going on (expired session, …)."""

    def __init__(self, response: Response) -> None:
        super().__init__("postback refused")
        self.response = response


class NhiSite:
    """The request handlers; ``ctx`` is the shared :class:`SandboxContext`."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.faults = ctx.faults.nhi
        self.sessions = NhiSessions(ctx.now, ctx.settings.session_timeout)
        self.viewstate = ViewStateCodec(_derive(ctx.state_secret, b"viewstate"))
        self.events = EventValidationCodec(_derive(ctx.state_secret, b"eventvalidation"))
        self.address = AddressOptions(ctx.registry)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(HERE / "templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        compile_templates(self.env, "nhi_")

    # -- small helpers ---------------------------------------------------------------------
    def c(self, name: str) -> str:
        """A control's name on the pages (a fault may rename it)."""
        return self.faults.control(name)

    def label(self, caption: str) -> str:
        return self.faults.label(caption)

    def pressed(self, form: Mapping[str, str], button: str) -> bool:
        name = self.c(button)
        return name in form or form.get(EVENT_TARGET) == name

    @staticmethod
    async def read_form(request: Request) -> dict[str, str]:
        form = await request.form()
        values: dict[str, str] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                values.setdefault(key, value)
        return values

    def html(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(
            c=self.c, L=self.label, agent_url=self.ctx.settings.agent_url, **values
        )
        return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-cache"})

    def notice(
        self, title: str, message: Text, *, status: int = 200, restart: str = USER_ACTION_PATH
    ) -> HTMLResponse:
        label = "重新申請 Start Again" if restart == USER_ACTION_PATH else "回登入頁 Back to Home"
        return self.html(
            "nhi_notice.html",
            status,
            title=title,
            message=message,
            restart_url=restart,
            restart_label=label,
        )

    def maintenance(self) -> Response | None:
        if not self.faults.maintenance:
            return None
        return self.notice("系統維護中 System Maintenance", msg.MAINTENANCE, status=503,
                           restart=LOGIN_PATH)  # fmt: skip

    def expired(self) -> HTMLResponse:
        return self.notice("連線逾時 Session Timeout", msg.SESSION_EXPIRED)

    def state_error(self, request: Request, exc: WebFormsStateError) -> HTMLResponse:
        return HTMLResponse(server_error_page(exc.message, path=request.url.path), 500)

    async def faulted(self, step: str) -> Response | None:
        """The 5xx answer a fault puts in place of ``step``'s page; waits a slow fault."""
        status = self.faults.error_for(step)
        if status is not None:
            reason = HTTP_REASONS.get(status, "Server Error")
            return HTMLResponse(
                f"<!DOCTYPE html><html><head><title>{reason}</title></head><body>"
                f"<h1>{reason}</h1><p>HTTP Error {status}. The service is unavailable.</p>"
                "</body></html>",
                status,
            )
        delay = self.faults.delay_for(step)
        if delay:
            await asyncio.sleep(delay)
        return None

    def now(self) -> datetime:
        return self.ctx.now()

    # -- rendering a WebForms step ---------------------------------------------------------
    async def render(
        self,
        session: NhiSession,
        step: str,
        *,
        validate: Mapping[str, list[str]],
        **values: Any,
    ) -> Response:
        failed = await self.faulted(step)
        if failed is not None:
            return failed
        page, template, hid_step, hid_next = STEPS[step]
        session.data.setdefault("steps", {})[page] = step
        viewstate = self.viewstate.issue(
            page=page, step=step, session_id=session.sid, now=self.now()
        )
        ev = self.events.issue(validate, session_id=session.sid)
        values.setdefault("message", None)
        response = self.html(
            template,
            viewstate=viewstate,
            eventvalidation=ev,
            generator=viewstate_generator(PAGE_PATHS[page]),
            hid_step=hid_step,
            hid_next_step=hid_next,
            **values,
        )
        return self.sessions.attach(response, session)

    def buttons(self, *pairs: tuple[str, str]) -> dict[str, list[str]]:
        return {self.c(name): [self.label(caption)] for name, caption in pairs}

    async def postback(
        self, request: Request, page: str, step_now: str | None = None
    ) -> tuple[NhiSession, dict[str, str], str]:
        """The session, form and step of a postback to ``page``; raises
        :class:`PostbackRefused` with the page to answer when it cannot go on."""
        lookup = self.sessions.lookup(request)
        session = lookup.session
        if session is None:
            raise PostbackRefused(self.expired())
        step = step_now or session.data.get("steps", {}).get(page)
        if step is None:
            raise PostbackRefused(self.expired())
        if self.faults.expires_at(step):
            self.sessions.drop(session)
            raise PostbackRefused(self.expired())
        form = await self.read_form(request)
        try:
            if self.faults.rejects_state(step):
                raise ViewStateError("fault: reject_state_at")
            self.viewstate.check(
                form.get("__VIEWSTATE", ""), page=page, session_id=session.sid, step=step
            )
            self.events.check(
                form.get("__EVENTVALIDATION", ""),
                form,
                session_id=session.sid,
                validated=[self.c(n) for n in self.VALIDATED],
            )
        except WebFormsStateError as exc:
            raise PostbackRefused(self.state_error(request, exc)) from None
        return session, form, step

    VALIDATED = ("ddlCity", "ddlDistrict", "ddlVillage", "btnReadCard", "btnSubmit", "btnBack",
                 "btnAgree", "btnLogin")  # fmt: skip

    def agent_values(self, form: Mapping[str, str]) -> dict[str, str]:
        keys = {"hidBasic": "basic", "hidVersion": "version", "hidRandom": "random",
                "hidSign": "sign"}  # fmt: skip
        return {short: form.get(name, "") for name, short in keys.items()}

    def check_card(
        self, form: Mapping[str, str], *, random_alone: bool = False
    ) -> rules.CardIdentity | Text:
        """The agent fields of a post; ``random_alone``: the card + password login, where the
        page has only the 16-digit random signed (see :func:`rules.check_agent_fields`)."""
        return rules.check_agent_fields(
            **self.agent_values(form),
            public_key=self.ctx.keys.sam_public_key,
            data=self.ctx.data,
            store=self.ctx.store,
            now=self.now(),
            random_alone=random_alone,
        )

    # -- / and the script ------------------------------------------------------------------
    async def root(self, request: Request) -> Response:
        return RedirectResponse(LOGIN_PATH, status_code=302)

    async def script(self, request: Request) -> Response:
        return FileResponse(
            HERE / "static" / "nhi_agent.js", media_type="application/javascript; charset=utf-8"
        )

    # -- login -----------------------------------------------------------------------------
    def login_validation(self) -> dict[str, list[str]]:
        allowed = self.buttons(("btnLogin", "登入 Login"))
        allowed[EVENT_TARGET] = [self.c("btnLogin")]
        return allowed

    async def login_page(self, request: Request) -> Response:
        if (down := self.maintenance()) is not None:
            return down
        session = self.sessions.lookup(request).session or self.sessions.create()
        if request.query_params.get("logout"):
            session.data.pop("user", None)
        return await self.render(
            session, "login", validate=self.login_validation(), agent=self.agent_blank()
        )

    @staticmethod
    def agent_blank() -> dict[str, str]:
        return {"basic": "", "version": "", "random": "", "sign": ""}

    async def login_post(self, request: Request) -> Response:
        if (down := self.maintenance()) is not None:
            return down
        try:
            session, form, _ = await self.postback(request, "mlogin", "login")
        except PostbackRefused as refused:
            return refused.response
        message: Text | None = None
        if self.pressed(form, "btnLogin"):
            outcome = self.login(form)
            if isinstance(outcome, rules.CardIdentity):
                session.data["user"] = {"card_number": outcome.card_number, "name": outcome.name}
                return self.sessions.attach(RedirectResponse(MAIN_PATH, 302), session)
            message = outcome
        return await self.render(
            session,
            "login",
            validate=self.login_validation(),
            agent=self.agent_blank(),
            message=message,
        )

    def login(self, form: Mapping[str, str]) -> rules.CardIdentity | Text:
        # the card + password path: the page signs the random alone (InnerAuthHC)
        card = self.check_card(form, random_alone=True)
        if not isinstance(card, rules.CardIdentity):
            return card
        if not self.ctx.store.is_registered(card.card_number):
            return msg.NOT_REGISTERED
        encrypted = form.get(self.c("hidEncPwd"), "")
        if not encrypted:
            return msg.PASSWORD_REQUIRED
        now = self.now()
        password = self.decrypt(card.card_number, encrypted, now)
        if password is None:
            return msg.CARD_NOT_VERIFIED
        result = self.ctx.store.authenticate(card.card_number, password, now)
        if result.ok:
            return card
        if result.revoked:
            return msg.REVOKED
        if result.locked_until is not None:
            until = result.locked_until.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")
            return msg.LOCKED.format(until=until)
        return msg.WRONG_PASSWORD.format(attempts=result.attempts_left)

    @staticmethod
    def decrypt(card_number: str, hexstr: str, now: datetime) -> str | None:
        from nhicard.agent.sam.encrypt import decrypt_password

        try:
            return decrypt_password(card_number, hexstr, now.astimezone(TAIPEI).date())
        except (NhicardError, ValueError):
            return None

    async def main_page(self, request: Request) -> Response:
        if (down := self.maintenance()) is not None:
            return down
        session = self.sessions.lookup(request).session
        user = session.data.get("user") if session else None
        if not user:
            return RedirectResponse(LOGIN_PATH, 302)
        return self.html("nhi_main.html", done=msg.LOGGED_IN, name=user["name"])

    # -- UserAction.aspx: terms → apply → contact → sent -----------------------------------
    async def user_action_page(self, request: Request) -> Response:
        if (down := self.maintenance()) is not None:
            return down
        session = self.sessions.lookup(request).session or self.sessions.create()
        session.data.pop("apply", None)
        return await self.render_terms(session)

    async def render_terms(self, session: NhiSession) -> Response:
        return await self.render(
            session,
            "terms",
            validate=self.buttons(("btnAgree", "我已閱讀完畢,並瞭解相關規定 I Understand")),
        )

    async def user_action_post(self, request: Request) -> Response:
        if (down := self.maintenance()) is not None:
            return down
        try:
            session, form, step = await self.postback(request, "UserAction")
        except PostbackRefused as refused:
            return refused.response
        if self.pressed(form, "btnBack"):
            session.data.pop("apply", None)
            session.data.get("steps", {}).pop("UserAction", None)
            return self.sessions.attach(RedirectResponse(LOGIN_PATH, 302), session)
        if step == "terms":
            if self.pressed(form, "btnAgree"):
                session.data["apply"] = {}
                return await self.render_apply(session, {})
            return await self.render_terms(session)
        if step == "apply":
            return await self.apply_post(session, form)
        if step == "contact":
            return await self.contact_post(session, form)
        return await self.render_sent(session, None)

    # apply ------------------------------------------------------------------------------
    def apply_values(self, form: Mapping[str, str]) -> dict[str, str]:
        return {
            "household_id": form.get(self.c("txtHouseholdId"), "").strip(),
            "city": form.get(self.c("ddlCity"), ""),
            "district": form.get(self.c("ddlDistrict"), ""),
            "village": form.get(self.c("ddlVillage"), ""),
            "neighborhood": form.get(self.c("txtNeighborhood"), "").strip(),
            **self.agent_values(form),
        }

    async def render_apply(
        self, session: NhiSession, values: Mapping[str, str], message: Text | None = None
    ) -> Response:
        city, district = values.get("city", ""), values.get("district", "")
        cities = self.address.cities()
        districts = self.address.districts(city)
        villages = self.address.villages(district)
        validate = self.buttons(
            ("btnReadCard", "讀取 Read"), ("btnSubmit", "下一步 Next"),
            ("btnBack", "回登入頁 Back to Home"),
        )  # fmt: skip
        validate[self.c("ddlCity")] = ["", *(code for code, _ in cities)]
        validate[self.c("ddlDistrict")] = ["", *(code for code, _ in districts)]
        validate[self.c("ddlVillage")] = ["", *(code for code, _ in villages)]
        validate[EVENT_TARGET] = [self.c(n) for n in ("ddlCity", "ddlDistrict", "ddlVillage",
                                                      "btnReadCard")]  # fmt: skip
        card = session.data.get("apply", {}).get("card")
        return await self.render(
            session,
            "apply",
            validate=validate,
            message=message,
            # the name the page script put there from GetBasic, until the server has read it
            name=card["name"] if card else _basic_name(values.get("basic", "")),
            household_id=values.get("household_id", ""),
            cities=cities,
            districts=districts,
            villages=villages,
            city=city,
            district=district,
            village=values.get("village", ""),
            neighborhood=values.get("neighborhood", ""),
            agent={k: values.get(k, "") for k in ("basic", "version", "random", "sign")},
            read_hint=msg.READ_HINT,
            apply_hint=msg.APPLY_HINT,
        )

    async def apply_post(self, session: NhiSession, form: Mapping[str, str]) -> Response:
        values = self.apply_values(form)
        state = session.data.setdefault("apply", {})
        target = form.get(EVENT_TARGET, "")
        if target == self.c("ddlCity"):
            values.update(district="", village="")
            return await self.render_apply(session, values)
        if target == self.c("ddlDistrict"):
            values.update(village="")
            return await self.render_apply(session, values)
        if target == self.c("ddlVillage"):
            return await self.render_apply(session, values)
        if self.pressed(form, "btnReadCard"):
            read = self.read_apply_card(form, state)
            return await self.render_apply(session, values, read or msg.READ_OK)
        if self.pressed(form, "btnSubmit"):
            # As the real page script: after 讀取 the script only fills the hidden fields (its
            # automatic btnSubmit.click() is commented out); the person's own click on 下一步
            # posts them with the form.
            if self.unjudged_fields(form, state):
                problem = self.read_apply_card(form, state)
                if problem is not None:
                    return await self.render_apply(session, values, problem)
            problem = self.apply_problem(state.get("card"), values)
            if problem is not None:
                return await self.render_apply(session, values, problem)
            state["household_id"] = canonical_household_id(values["household_id"])
            return await self.render_contact(session, {})
        return await self.render_apply(session, values)

    @staticmethod
    def unjudged_fields(form: Mapping[str, str], state: Mapping[str, Any]) -> bool:
        """Agent fields the page script filled that no earlier post has been judged on."""
        sign = form.get("hidSign", "")
        return bool(sign) and not state.get("card") and sign != state.get("judged_sign")

    def read_apply_card(self, form: Mapping[str, str], state: dict[str, Any]) -> Text | None:
        """Check the agent fields of a post; on success remember the card (None), else the
        problem."""
        state["judged_sign"] = form.get("hidSign", "")
        card = self.check_card(form)
        if not isinstance(card, rules.CardIdentity):
            return card
        if self.ctx.store.is_registered(card.card_number):
            state.pop("card", None)
            return msg.ALREADY_REGISTERED
        state["card"] = {"card_number": card.card_number, "id_number": card.id_number,
                         "name": card.name}  # fmt: skip
        return None

    def apply_problem(self, card: dict[str, str] | None, values: Mapping[str, str]) -> Text | None:
        if not card:
            return msg.NOT_READ
        problem = rules.household_id_problem(values["household_id"])
        if problem is not None:
            return problem
        place = self.address.resolve(values["city"], values["district"], values["village"])
        if place is None or not values["neighborhood"]:
            return msg.ADDRESS_REQUIRED
        problem = rules.neighborhood_problem(values["neighborhood"])
        if problem is not None:
            return problem
        address = HouseholdAddress(*place, neighborhood=int(values["neighborhood"]))
        match = self.ctx.registry.check(card["id_number"], values["household_id"], address)
        if match is not HouseholdMatch.OK:
            return msg.HOUSEHOLD_MISMATCH
        if self.ctx.store.is_registered(card["card_number"]):
            return msg.ALREADY_REGISTERED
        return None

    # contact ----------------------------------------------------------------------------
    async def render_contact(
        self, session: NhiSession, values: Mapping[str, str], message: Text | None = None
    ) -> Response:
        card = session.data.get("apply", {}).get("card") or {}
        return await self.render(
            session,
            "contact",
            validate=self.buttons(("btnSubmit", "確認申請"), ("btnBack", "回登入頁 Back to Home")),
            message=message,
            name=card.get("name", ""),
            email=values.get("email", ""),
            phone=values.get("phone", ""),
            mobile=values.get("mobile", ""),
        )

    async def contact_post(self, session: NhiSession, form: Mapping[str, str]) -> Response:
        values = {
            "email": form.get(self.c("txtEmail"), "").strip(),
            "phone": form.get(self.c("txtPhone"), "").strip(),
            "mobile": form.get(self.c("txtMobile"), "").strip(),
        }
        if not self.pressed(form, "btnSubmit"):
            return await self.render_contact(session, values)
        password = form.get(self.c("txtPassword"), "")
        confirm = form.get(self.c("txtPasswordConfirm"), "")
        problem = (
            rules.password_problem(password, confirm)
            or rules.email_problem(values["email"])
            or rules.phone_problem(values["phone"])
            or rules.mobile_problem(values["mobile"])
        )
        if problem is not None:
            return await self.render_contact(session, values, problem)
        card = session.data.get("apply", {}).get("card")
        if not card:
            return self.expired()
        now = self.now()
        try:
            self.ctx.store.apply(
                card_number=card["card_number"],
                id_number=card["id_number"],
                name=card["name"],
                password=password,
                email=values["email"],
                phone=rules.normalize_phone(values["phone"]),
                mobile=values["mobile"].replace("-", "").replace(" ", ""),
                now=now,
            )
        except AlreadyRegistered:
            return await self.render_contact(session, values, msg.ALREADY_REGISTERED)
        ttl = self.ctx.settings.link_ttl
        token = self.ctx.store.issue_link(card["card_number"], now, ttl)
        mail = build_verification_mail(
            to=values["email"],
            name=card["name"],
            link=self.link_url(token),
            sender=self.ctx.settings.mail_sender,
            now=now,
            expires_at=now + ttl,
        )
        try:
            host, port = self.smtp_endpoint()
            await asyncio.to_thread(send_mail, mail, host, port)
        except NetworkError:
            return await self.render_contact(session, values, msg.MAIL_FAILED)
        session.data["apply"] = {"email": values["email"]}
        return await self.render_sent(session, values["email"])

    def smtp_endpoint(self) -> tuple[str, int]:
        smtp = str(self.ctx.endpoints.get("smtp") or "")
        host, _, port = smtp.rpartition(":")
        if not host or not port.isdigit():
            raise NetworkError(msg.MAIL_FAILED, detail="no SMTP endpoint configured")
        return host, int(port)

    def link_url(self, token: str) -> str:
        base = str(self.ctx.endpoints.get("nhi_url") or "https://127.0.0.1").rstrip("/")
        return f"{base}{VERIFY_PATH}?token={quote(token, safe='')}"

    async def render_sent(self, session: NhiSession, email: str | None) -> Response:
        email = email or session.data.get("apply", {}).get("email", "")
        hours = round(self.ctx.settings.link_ttl.total_seconds() / 3600, 1)
        return await self.render(
            session,
            "sent",
            validate=self.buttons(("btnBack", "回登入頁 Back to Home")),
            message=msg.MAIL_SENT.format(hours=f"{hours:g}"),
            email=mask_email(email) if email else "",
        )

    # -- Verify.aspx: the mail's link -------------------------------------------------------
    def link_refusal(self, state: LinkState) -> Response:
        text = {LinkState.USED: msg.LINK_USED, LinkState.EXPIRED: msg.LINK_EXPIRED}.get(
            state, msg.LINK_UNKNOWN
        )
        return self.notice("健保卡註冊認證作業", text)

    def verify_validation(self) -> dict[str, list[str]]:
        allowed = self.buttons(("btnReadCard", "讀取 Read"), ("btnSubmit", "確定 OK"))
        allowed[EVENT_TARGET] = [self.c("btnReadCard")]
        return allowed

    async def render_verify(
        self, session: NhiSession, token: str, values: Mapping[str, str], message: Text | None
    ) -> Response:
        card = session.data.get("verify", {}).get("card")
        return await self.render(
            session,
            "verify",
            validate=self.verify_validation(),
            message=message,
            token=token,
            name=card["name"] if card else "",
            agent={k: values.get(k, "") for k in ("basic", "version", "random", "sign")},
        )

    async def verify_page(self, request: Request) -> Response:
        if (down := self.maintenance()) is not None:
            return down
        token = request.query_params.get("token", "")
        check = self.ctx.store.check_link(token, self.now())
        if check.state is not LinkState.VALID:
            return self.link_refusal(check.state)
        session = self.sessions.lookup(request).session or self.sessions.create()
        session.data["verify"] = {"token": token, "card_number": check.card_number}
        return await self.render_verify(session, token, {}, None)

    def read_verify_card(
        self, form: Mapping[str, str], state: dict[str, Any], expected: str | None
    ) -> Text | None:
        state["judged_sign"] = form.get("hidSign", "")
        card = self.check_card(form)
        if not isinstance(card, rules.CardIdentity):
            return card
        if card.card_number != expected:
            state.pop("card", None)
            return msg.WRONG_CARD
        state["card"] = {"card_number": card.card_number, "name": card.name}
        return None

    async def verify_post(self, request: Request) -> Response:
        if (down := self.maintenance()) is not None:
            return down
        token = request.query_params.get("token", "")
        try:
            session, form, _ = await self.postback(request, "Verify")
        except PostbackRefused as refused:
            return refused.response
        state = session.data.get("verify") or {}
        if state.get("token") != token:
            return self.expired()
        now = self.now()
        check = self.ctx.store.check_link(token, now)
        if check.state is not LinkState.VALID:
            return self.link_refusal(check.state)
        values = self.agent_values(form)
        if self.pressed(form, "btnReadCard"):
            problem = self.read_verify_card(form, state, check.card_number)
            return await self.render_verify(session, token, values, problem or msg.VERIFY_READ_OK)
        if self.pressed(form, "btnSubmit"):
            if self.unjudged_fields(form, state):  # read by the page script only
                problem = self.read_verify_card(form, state, check.card_number)
                if problem is not None:
                    return await self.render_verify(session, token, values, problem)
            read = state.get("card")
            if not read or read["card_number"] != check.card_number:
                return await self.render_verify(session, token, values, msg.NOT_READ)
            failed = await self.faulted("done")
            if failed is not None:
                return failed
            done = self.ctx.store.complete_verification(token, now)
            if done.state is not LinkState.VALID:
                return self.link_refusal(done.state)
            session.data.pop("verify", None)
            return self.html("nhi_done.html", message=msg.DONE, detail=msg.DONE_DETAIL)
        return await self.render_verify(session, token, values, None)


def _basic_name(basic: str) -> str:
    """The name field of a GetBasic string (``card_no,id_no,name,…``), or ""."""
    fields = basic.split(",")
    return fields[2][:40] if len(fields) == 6 else ""


def build_nhi_app(ctx: SandboxContext) -> Starlette:
    """The NHI registration site as a Starlette app."""
    site = NhiSite(ctx)
    routes = [
        Route("/", site.root),
        Route(BASE, site.root),
        Route(LOGIN_PATH, site.login_page, methods=["GET"]),
        Route(LOGIN_PATH, site.login_post, methods=["POST"]),
        Route(MAIN_PATH, site.main_page, methods=["GET"]),
        Route(USER_ACTION_PATH, site.user_action_page, methods=["GET"]),
        Route(USER_ACTION_PATH, site.user_action_post, methods=["POST"]),
        Route(VERIFY_PATH, site.verify_page, methods=["GET"]),
        Route(VERIFY_PATH, site.verify_post, methods=["POST"]),
        Route(SCRIPT_PATH, site.script, methods=["GET"]),
    ]
    instance = Middleware(InstanceHeader, instance=ctx.store.instance_id)
    app = Starlette(routes=routes, middleware=[instance])
    app.state.nhi_site = site
    return app


INSTANCE_HEADER = "X-Nhicard-Sandbox-Instance"  # sandbox.toml's [nhi.options] instance_header


class InstanceHeader:
    """Every response names this instance of the site (the store's
    :attr:`~nhicard.sandbox.store.RegistrationStore.instance_id`): a run journal made against
    a sandbox that was deleted since is then told apart from this one's."""

    def __init__(self, app: Any, *, instance: str) -> None:
        self.app = app
        self.header = (INSTANCE_HEADER.lower().encode("ascii"), instance.encode("ascii"))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_named(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        await self.app(scope, receive, send_named)
