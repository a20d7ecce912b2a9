"""The sandbox eCPA (人事服務網): the civil service's sign-on hub, shaped like the real one.

The real login page is not a WebForms postback (sites.md, from a recorded browser session):
its script runs a chain of jQuery XHR calls against ``/Home/*``, form-urlencoded with
``X-Requested-With: XMLHttpRequest``, each answering plain text (``text/html``), then posts
``loginType`` and an uppercase-hex ``APReqEncodedData`` to the relying party's returnUrl.

Pages
    ``GET /`` (and ``/uIAM/clogin.asp`` without ``destid``) redirect to the login page.
    ``GET|POST /uIAM/clogin.asp?destid=CrossHRD`` — the old login page: a plain form
    (``#username``, ``#password``, button ``submit``, sites.md) posted to itself; a login
    shows ``#ssoForm`` posting the ticket to the application's ``sso_verify.php``, sent with
    ``Referrer-Policy: no-referrer-when-downgrade`` so its full address is the Referer there —
    and relying parties refuse tickets that came through this page (sites.md).
    ``GET /webform/clogin.aspx?returnUrl=…&Naminglogo=…&showecpa=Y`` — title 「人事服務網eCPA」,
    the five columns of the real page: 帳號/密碼 (``#txtAccount``, ``#txtPassword``), 自然人憑證
    (PIN box ``#pinCode``), 機關憑證, 行動自然人憑證 (mobile citizen certificate; its controls
    ``#mobileIdNumber``, ``#btnMobileCertLogin`` are ours, the sandbox does not run it),
    健保卡 + 密碼 (``#nhiPassword``). An accepted returnUrl (a
    registered relying party) is kept in the session and in the hidden ``#hidReturnUrl``; a
    refused one leaves that field empty and shows a message. A visitor already signed in,
    with an accepted returnUrl, gets the hidden ``#ssoForm`` posted at once.
    ``GET /webform/home.aspx`` — eCPA's home page: ``<span id="lblUserName">王小明</span> 您好``.
    ``GET /webform/logout.aspx`` — ends the eCPA session.

The account/password column — exactly the recorded chain:
    1. ``POST /Home/GetUID`` ``account=<alias>`` → the ID number;
    2. ``POST /Home/GetApTicketV2`` ``account=…&password=…&ApID=CrossHRD`` → the ticket, long
       uppercase hex (the sandbox's own signed token, nhicard.sandbox.sso); the session is
       signed in from here on (a new session id). A refused password gets what the record
       shows, no words: an empty body or ``0`` (which one when is not recorded: here an empty
       body for a wrong password, ``0`` while the account is locked);
    3. ``POST /Home/EnterTwoWayLog`` ``account=…&loginType=0&sn=&ticket=&appId=CrossHRD`` → ``0``;
    4. ``POST /Home/EnterApplicationTwoWay`` ``appId=CrossHRD`` → ``0``;
    5. the page posts ``loginType=0&APReqEncodedData=<ticket>`` to the returnUrl, or without
       one goes to ``/webform/home.aspx``.
    Accounts are sandbox data (``[[ecpa.account]]``: ``account``, ``id_number``, ``name``,
    ``password``; held only as scrypt hashes in memory); three wrong passwords lock the
    account for 10 minutes (the rule sites.md says to assume everywhere).

The NHI-card column — THE SAME CHAIN WITH THE CARD'S DATA; ITS ENDPOINTS AND FIELD NAMES ARE
OUR GUESS (the real ones are not public):
    1. ``POST /Home/GetNHIRandom`` (no fields) → 16 digits, bound to the session, single use,
       valid 5 minutes;
    2. the page asks the card agent: ``GetBasic``, ``GetVersion``,
       ``H_Sign?Random=<version><random>``, ``EnCrypt?Pwd=<password>``;
    3. ``POST /Home/GetApTicketNHI``
       ``basic=…&version=…&random=…&sign=…&password=<EnCrypt hex>&ApID=CrossHRD&loginType=3``
       → the ticket. The server checks the random, the signature (SAM public key) over card
       number ‖ version+random, the registration, that the card's ID matches it, decrypts
       the password with the card number and today's date in Asia/Taipei and asks the
       registration store (3 wrong → locked 10 minutes; 3 locks → revoked);
    4. ``EnterTwoWayLog`` (``account=<ID number>&loginType=3&sn=<card number>``…) and
       ``EnterApplicationTwoWay`` as above; 5. as above.

Every other refusal is HTTP 200 with a plain-text message, ``中文 / English`` (the real error
replies are not public). The NHI-card column's wrong-password text says how many attempts are left
(「還可以再嘗試 N 次」); the lock says until when (``YYYY-MM-DD HH:MM:SS``, Taipei time).
A ``/Home/*`` request without ``X-Requested-With: XMLHttpRequest`` or not form-urlencoded gets
HTTP 400; one whose ``Origin`` is not eCPA's own HTTP 403.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from nhicard.agent import DEFAULT_AGENT_URL
from nhicard.core.clock import TAIPEI
from nhicard.core.i18n import T, Text
from nhicard.sandbox.cookie_session import MemorySessions, Session
from nhicard.sandbox.sso import SsoSigner
from nhicard.sandbox.store import check_password, hash_password
from nhicard.sandbox.templating import compile_templates

CHALLENGE_TTL = timedelta(minutes=5)
LOCK_TIME = timedelta(minutes=10)
MAX_FAILURES = 3
COOKIE_NAME = "ECPA_SessionId"
HOME_PATH = "/webform/home.aspx"
LEGACY_VERIFY_PATH = "/sso_verify.php"  # where the old page posts an application's ticket
LOGIN_PATH = "/webform/clogin.aspx"
DEFAULT_APP_ID = "CrossHRD"
LOGIN_TYPE_ACCOUNT = "0"
LOGIN_TYPE_NHI = "3"  # our guess
WRONG_PASSWORD_REPLY = ""  # GetApTicketV2's answer to a wrong password (recorded: "" or "0")
LOCKED_REPLY = "0"
FORM_TYPE = "application/x-www-form-urlencoded"
HERE = Path(__file__).resolve().parent
STATIC_JS = HERE / "static" / "ecpa_login.js"

_DIGITS12 = re.compile(r"\d{12}")
_DIGITS16 = re.compile(r"\d{16}")
_VERSION = re.compile(r"[0-9A-Za-z]{4}")
_SIGN = re.compile(r"[0-9A-Fa-f]{256}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){8,256}")

MSG_BAD_REQUEST = T("登入資料不完整或格式錯誤。", "The login request is incomplete or malformed.")
MSG_NOT_XHR = T("請使用登入頁面登入。", "Please sign in through the login page.")
MSG_NO_ACCOUNT = T("帳號不存在。", "No such account.")
MSG_CHALLENGE = T(
    "登入驗證碼不存在、已使用或已逾時,請重新登入。",
    "The login challenge is missing, used or expired; please sign in again.",
)
MSG_SIGNATURE = T("健保卡簽章驗證失敗(驗簽失敗)。", "The NHI card signature could not be verified.")
MSG_NOT_REGISTERED = T(
    "此健保卡尚未完成健保卡網路服務註冊,請先至健保署網站註冊並設定密碼。",
    "This NHI card is not registered for online services; register and set its password "
    "on the NHI site first.",
)
MSG_DECRYPT = T(
    "無法解開加密的密碼,請確認電腦的日期、時間與時區(臺北時間)正確。",
    "The encrypted password could not be decrypted; check the computer's date, time and "
    "time zone (Taipei time).",
)
MSG_LEGACY_REFUSED = T(
    "帳號或密碼錯誤,或帳號已鎖定。", "Wrong account or password, or the account is locked."
)
MSG_WRONG_CARD_PASSWORD = T(
    "健保卡密碼錯誤,您還可以再嘗試 {attempts} 次;連續錯誤 3 次將鎖定 10 分鐘。",
    "Wrong NHI card password; {attempts} attempt(s) left. Three wrong passwords lock the "
    "card's online service for 10 minutes.",
)
MSG_CARD_LOCKED = T(
    "密碼錯誤次數過多,健保卡網路服務已鎖定至 {until}(臺北時間),請稍後再試。",
    "Too many wrong passwords: the card's online service is locked until {until} (Taipei "
    "time). Try again later.",
)
MSG_REVOKED = T(
    "健保卡網路服務已因多次鎖定而失效,請重新申請註冊。",
    "The card's online service has been revoked after repeated locks; register again.",
)
MSG_MISMATCH = T("健保卡資料與註冊資料不符。", "The card's data does not match its registration.")
MSG_RETURN_URL = T(
    "returnUrl 不是已登記的應用系統,登入後將進入人事服務網首頁。",
    "The returnUrl is not a registered application; after signing in you will land on the "
    "eCPA home page.",
)
MSG_UNKNOWN_APP = T("應用系統代碼錯誤。", "Unknown application id.")
MSG_NOT_SIGNED_IN = T("尚未登入或登入已逾時。", "Not signed in, or the session has expired.")
MSG_FOREIGN_ORIGIN = T("拒絕來自其他網站的請求。", "Requests from other sites are refused.")


@dataclass(frozen=True)
class EcpaSettings:
    """What the eCPA app needs to know besides the shared sandbox state."""

    origin: str  # e.g. https://127.0.0.1:8441
    relying_parties: tuple[str, ...]  # allowed returnUrl origins
    agent_url: str = DEFAULT_AGENT_URL
    applications: Mapping[str, str] = field(default_factory=dict)  # ApID → relying origin


@dataclass(frozen=True)
class Person:
    card_number: str
    id_number: str
    name: str


@dataclass
class Account:
    """One account of the account/password column (sandbox data)."""

    account: str
    id_number: str
    name: str
    password_hash: str
    failures: int = 0
    locked_until: datetime | None = None


class Refusal(Exception):
    """One refused call: its plain-text answer."""

    def __init__(self, message: Text) -> None:
        super().__init__(message.en)
        self.message = message


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def taipei_text(moment: datetime) -> str:
    return moment.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M:%S")


def _text(message: Text) -> Response:
    """A refusal as the plain-text reply of a ``/Home/*`` call."""
    return PlainTextResponse(f"{message.zh} / {message.en}", media_type="text/html")


def _parse_basic(basic: str) -> tuple[str, str] | None:
    """(card number, ID number) from ``card_no,id_no,name,birthROC7,sex,card_termination``."""
    fields = basic.split(",")
    if len(fields) != 6 or not _DIGITS12.fullmatch(fields[0]) or not fields[1]:
        return None
    return fields[0], fields[1].strip().upper()


def load_accounts(extra: Mapping[str, Any]) -> dict[str, Account]:
    """The ``[[ecpa.account]]`` entries of the sandbox data, passwords hashed."""
    accounts: dict[str, Account] = {}
    for entry in extra.get("account", []) if isinstance(extra, Mapping) else []:
        if not isinstance(entry, Mapping):
            continue
        alias = str(entry.get("account", "")).strip()
        password = str(entry.get("password", ""))
        if alias and password:
            accounts[alias.lower()] = Account(
                account=alias,
                id_number=str(entry.get("id_number", "")).strip().upper(),
                name=str(entry.get("name", "")),
                password_hash=hash_password(password),
            )
    return accounts


class EcpaSite:
    """The request handlers; ``ctx`` is the shared :class:`SandboxContext`."""

    def __init__(
        self, ctx: Any, settings: EcpaSettings, accounts: Mapping[str, Account] | None = None
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        idle = ctx.settings.session_timeout.total_seconds()
        self.sessions = MemorySessions(COOKIE_NAME, idle_seconds=idle)
        self.signer = SsoSigner.from_secret(ctx.state_secret)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.accounts: dict[str, Account] = dict(accounts or {})
        self._accounts_lock = threading.Lock()
        self._dummy_hash = hash_password(secrets.token_hex(8))
        compile_templates(self.templates.env, "ecpa_")

    # -- helpers -------------------------------------------------------------------------
    def now(self) -> datetime:
        moment: datetime = self.ctx.now()
        return moment

    def allowed_return_url(self, url: str | None) -> str | None:
        if not url:
            return None
        origin = origin_of(url)
        return url if origin and origin in self.settings.relying_parties else None

    def person(self, card_number: str) -> Person | None:
        record = self.ctx.store.get_registration(card_number)
        if record is None:
            return None
        return Person(record.card_number, record.id_number.upper(), record.name)

    def page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    # -- pages ---------------------------------------------------------------------------
    async def root(self, request: Request) -> Response:
        return RedirectResponse(LOGIN_PATH, status_code=302)

    async def legacy_login(self, request: Request) -> Response:
        """The old login page ``/uIAM/clogin.asp?destid=<ApID>``: a plain form (``#username``,
        ``#password``, a button named ``submit``) posted to itself; a login posts the ticket
        on to the application's ``sso_verify.php`` — whose Referer is then this page, which
        relying parties refuse (sites.md). Without a ``destid`` it leads to the new page."""
        destid = request.query_params.get("destid", "")
        if not destid:
            return RedirectResponse(LOGIN_PATH, status_code=302)
        session = self.sessions.load_or_create(request)
        context: dict[str, Any] = {"destid": destid, "message": None, "sso": None}
        if destid not in self.settings.applications:
            context["message"] = MSG_UNKNOWN_APP
        elif request.method == "POST":
            form = await request.form()
            fields = {
                "account": str(form.get("username") or ""),
                "password": str(form.get("password") or ""),
                "ApID": destid,
            }
            session.data["return_url"] = None
            try:
                answer, session = self.get_ap_ticket_v2(session, fields)
            except Refusal as refused:
                context["message"] = refused.message
            else:
                if answer in (WRONG_PASSWORD_REPLY, LOCKED_REPLY):
                    context["message"] = MSG_LEGACY_REFUSED
                else:
                    target = self.settings.applications[destid].rstrip("/") + LEGACY_VERIFY_PATH
                    context["sso"] = {
                        "action": target,
                        "token": answer,
                        "login_type": LOGIN_TYPE_ACCOUNT,
                    }
        reply = self.page(request, "ecpa_legacy_login.html", context)
        # the full address travels as Referer, also to another site (https → https)
        reply.headers["Referrer-Policy"] = "no-referrer-when-downgrade"
        return self.sessions.attach(reply, session)

    async def login_page(self, request: Request) -> Response:
        session = self.sessions.load_or_create(request)
        raw_return = request.query_params.get("returnUrl", "")
        return_url = self.allowed_return_url(raw_return)
        session.data["return_url"] = return_url
        message = MSG_RETURN_URL if raw_return and return_url is None else None
        sso = None
        user = session.data.get("user")
        if user and return_url:
            ticket = self.issue_ticket(user, return_url)
            sso = {"action": return_url, "token": ticket, "login_type": user["login_type"]}
        context: dict[str, Any] = {
            "agent_url": self.settings.agent_url,
            "return_url": return_url or "",
            "app_id": DEFAULT_APP_ID,
            "naming_logo": request.query_params.get("Naminglogo", ""),
            "message": message,
            "message_class": "error" if message else "",
            "sso": sso,
        }
        return self.sessions.attach(self.page(request, "ecpa_login.html", context), session)

    async def home(self, request: Request) -> Response:
        session = self.sessions.load(request)
        user = session.data.get("user") if session else None
        if not session or not user:
            return RedirectResponse(LOGIN_PATH, status_code=302)
        return self.page(request, "ecpa_home.html", {"name": user["name"]})

    async def logout(self, request: Request) -> Response:
        session = self.sessions.load(request)
        if session:
            self.sessions.drop(session)
        return self.sessions.clear_cookie(RedirectResponse(LOGIN_PATH, status_code=302))

    async def script(self, request: Request) -> Response:
        return FileResponse(STATIC_JS, media_type="application/javascript; charset=utf-8")

    # -- the /Home/* calls ---------------------------------------------------------------
    async def read_form(self, request: Request) -> dict[str, str] | Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != self.settings.origin:
            return PlainTextResponse(MSG_FOREIGN_ORIGIN.both(), status_code=403)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = bool(await request.body())
        if request.headers.get("x-requested-with") != "XMLHttpRequest" or (
            has_body and kind != FORM_TYPE
        ):
            return PlainTextResponse(MSG_NOT_XHR.both(), status_code=400)
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def call(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            fields = await self.read_form(request)
            if isinstance(fields, Response):
                return fields
            session = self.sessions.load_or_create(request)
            try:
                answer, session = handler(session, fields)
            except Refusal as refused:
                return self.sessions.attach(_text(refused.message), session)
            reply = PlainTextResponse(answer, media_type="text/html")
            return self.sessions.attach(reply, session)

        return endpoint

    def get_uid(self, session: Session, fields: dict[str, str]) -> tuple[str, Session]:
        account = self.accounts.get(fields.get("account", "").strip().lower())
        if account is None:
            raise Refusal(MSG_NO_ACCOUNT)
        return account.id_number, session

    def get_ap_ticket_v2(self, session: Session, fields: dict[str, str]) -> tuple[str, Session]:
        alias = fields.get("account", "").strip().lower()
        password = fields.get("password", "")
        app_origin = self.application(fields.get("ApID", ""), session)
        with self._accounts_lock:
            account = self.accounts.get(alias)
            now = self.now()
            if account is None:
                check_password(password, self._dummy_hash)
                raise Refusal(MSG_NO_ACCOUNT)
            # as recorded, a refused password gets no words: an empty body or "0" (which one
            # when is not recorded; here "" for a wrong password, "0" while locked)
            if account.locked_until is not None and now < account.locked_until:
                return LOCKED_REPLY, session
            if not check_password(password, account.password_hash):
                account.failures += 1
                if account.failures >= MAX_FAILURES:
                    account.failures = 0
                    account.locked_until = now + LOCK_TIME
                    return LOCKED_REPLY, session
                return WRONG_PASSWORD_REPLY, session
            account.failures, account.locked_until = 0, None
        user = {
            "account": account.account,
            "id_number": account.id_number,
            "name": account.name,
            "login_type": LOGIN_TYPE_ACCOUNT,
            "sn": "",
        }
        return self.sign_in(session, user, app_origin)

    def get_nhi_random(self, session: Session, fields: dict[str, str]) -> tuple[str, Session]:
        random = "".join(secrets.choice("0123456789") for _ in range(16))
        expires = self.now() + CHALLENGE_TTL
        session.data["nhi_challenge"] = {"random": random, "expires": expires.timestamp()}
        return random, session

    def get_ap_ticket_nhi(self, session: Session, fields: dict[str, str]) -> tuple[str, Session]:
        names = ("basic", "version", "random", "sign", "password")
        values = {k: fields.get(k, "") for k in names}
        basic = _parse_basic(values["basic"])
        if (
            basic is None
            or not _VERSION.fullmatch(values["version"])
            or not _DIGITS16.fullmatch(values["random"])
            or not _SIGN.fullmatch(values["sign"])
            or not _HEX.fullmatch(values["password"])
        ):
            raise Refusal(MSG_BAD_REQUEST)
        app_origin = self.application(fields.get("ApID", ""), session)
        card_number, id_number = basic
        now = self.now()
        issued = session.data.pop("nhi_challenge", None)
        if (
            not issued
            or issued["expires"] < now.timestamp()
            or not secrets.compare_digest(issued["random"], values["random"])
        ):
            raise Refusal(MSG_CHALLENGE)
        if not self.verify_sign(card_number, values["version"] + values["random"], values["sign"]):
            raise Refusal(MSG_SIGNATURE)
        person = self.person(card_number)
        if person is None:
            raise Refusal(MSG_NOT_REGISTERED)
        if person.id_number != id_number:
            raise Refusal(MSG_MISMATCH)
        password = self.decrypt(card_number, values["password"], now)
        if password is None:
            raise Refusal(MSG_DECRYPT)
        result = self.ctx.store.authenticate(card_number, password, now)
        if not result.ok:
            raise Refusal(self.auth_refusal(result))
        user = {
            "account": person.id_number,
            "id_number": person.id_number,
            "name": person.name,
            "login_type": LOGIN_TYPE_NHI,
            "sn": person.card_number,
        }
        return self.sign_in(session, user, app_origin)

    def enter_two_way_log(self, session: Session, fields: dict[str, str]) -> tuple[str, Session]:
        user = session.data.get("user")
        if not user:
            raise Refusal(MSG_NOT_SIGNED_IN)
        account = fields.get("account", "").strip().lower()
        if (
            account not in (user["account"].lower(), user["id_number"].lower())
            or fields.get("loginType") != user["login_type"]
            or fields.get("appId") not in self.settings.applications
        ):
            raise Refusal(MSG_BAD_REQUEST)
        return "0", session

    def enter_application_two_way(
        self, session: Session, fields: dict[str, str]
    ) -> tuple[str, Session]:
        if not session.data.get("user"):
            raise Refusal(MSG_NOT_SIGNED_IN)
        if fields.get("appId") not in self.settings.applications:
            raise Refusal(MSG_UNKNOWN_APP)
        return "0", session

    # -- shared steps --------------------------------------------------------------------
    def application(self, app_id: str, session: Session) -> str:
        """The audience of a ticket: the session's accepted returnUrl, else the ApID's
        registered relying party."""
        if app_id not in self.settings.applications:
            raise Refusal(MSG_UNKNOWN_APP)
        return_url = session.data.get("return_url")
        audience = origin_of(return_url) if return_url else None
        return audience or self.settings.applications[app_id]

    def sign_in(self, session: Session, user: dict[str, str], audience: str) -> tuple[str, Session]:
        return_url = session.data.get("return_url")
        session = self.sessions.rotate(session)
        session.data["user"] = user
        session.data["return_url"] = return_url
        token = self.signer.issue(
            audience=audience, uid=user["id_number"], name=user["name"], now=self.now()
        )
        return token, session

    def auth_refusal(self, result: Any) -> Text:
        if result.revoked:
            return MSG_REVOKED
        if result.locked_until is not None:
            return MSG_CARD_LOCKED.format(until=taipei_text(result.locked_until))
        return MSG_WRONG_CARD_PASSWORD.format(attempts=result.attempts_left)

    def verify_sign(self, card_number: str, version_plus_random: str, sign: str) -> bool:
        from nhicard.sandbox.keys import verify_h_sign

        return bool(
            verify_h_sign(self.ctx.keys.sam_public_key, card_number, version_plus_random, sign)
        )

    def decrypt(self, card_number: str, hexstr: str, now: datetime) -> str | None:
        from nhicard.agent.sam.encrypt import decrypt_password
        from nhicard.core.errors import NhicardError

        try:
            return decrypt_password(card_number, hexstr, now.astimezone(TAIPEI).date())
        except (NhicardError, ValueError):
            return None

    def issue_ticket(self, user: dict[str, str], return_url: str) -> str:
        audience = origin_of(return_url) or ""
        return self.signer.issue(
            audience=audience, uid=user["id_number"], name=user["name"], now=self.now()
        )


def create_ecpa_app(
    ctx: Any, settings: EcpaSettings, accounts: Mapping[str, Account] | None = None
) -> Starlette:
    """The eCPA app for explicit settings (tests use this with their own origins)."""
    site = EcpaSite(ctx, settings, accounts)
    post = ["POST"]
    routes = [
        Route("/", site.root),
        Route("/uIAM/clogin.asp", site.legacy_login, methods=["GET", "POST"]),
        Route(LOGIN_PATH, site.login_page, methods=["GET"]),
        Route(HOME_PATH, site.home),
        Route("/webform/logout.aspx", site.logout),
        Route("/webform/js/ecpa_login.js", site.script),
        Route("/Home/GetUID", site.call(site.get_uid), methods=post),
        Route("/Home/GetApTicketV2", site.call(site.get_ap_ticket_v2), methods=post),
        Route("/Home/EnterTwoWayLog", site.call(site.enter_two_way_log), methods=post),
        Route(
            "/Home/EnterApplicationTwoWay", site.call(site.enter_application_two_way), methods=post
        ),
        Route("/Home/GetNHIRandom", site.call(site.get_nhi_random), methods=post),
        Route("/Home/GetApTicketNHI", site.call(site.get_ap_ticket_nhi), methods=post),
    ]
    app = Starlette(routes=routes)
    app.state.site = site
    return app


def build_ecpa_app(ctx: Any) -> Starlette:
    """The eCPA app of a running sandbox: its origin and the relying parties it may post to
    come from ``ctx.endpoints`` (the e-learning site, application id ``CrossHRD``, plus any
    ``[ecpa] relying_parties`` origins of the sandbox data); the accounts of the
    account/password column from ``[[ecpa.account]]``; the agent address from
    ``ctx.settings.agent_url``."""
    endpoints = ctx.endpoints
    extra = ctx.data.extra.get("ecpa", {}) if isinstance(ctx.data.extra, dict) else {}
    elearn = origin_of(endpoints["elearn_url"])
    parties = [elearn]
    parties += [origin_of(str(u)) for u in extra.get("relying_parties", [])]
    settings = EcpaSettings(
        origin=origin_of(endpoints["ecpa_url"]) or endpoints["ecpa_url"],
        relying_parties=tuple(p for p in parties if p),
        agent_url=ctx.settings.agent_url,
        applications={DEFAULT_APP_ID: elearn or ""},
    )
    return create_ecpa_app(ctx, settings, load_accounts(extra))
