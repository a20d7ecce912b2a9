"""The sandbox eCPA (人事服務網): the civil service's sign-on hub, NHI-card column included.

Pages
    ``GET /`` and the old ``/uIAM/clogin.asp`` redirect to the login page.
    ``GET /webform/clogin.aspx?returnUrl=…`` — the login page with the four columns of the real
    one: 帳號/密碼 (account), 自然人憑證 (citizen certificate, PIN box ``#pinCode``), 機關憑證
    (agency certificate), 健保卡 + 密碼 (NHI card, password box ``#nhiPassword``). When the
    visitor is already signed in and a registered ``returnUrl`` is given, the page carries the
    hidden ``#ssoForm`` and posts it at once (single sign-on without a second login).
    ``POST /webform/clogin.aspx`` — a postback without JavaScript: answers with a message.
    The page carries ASP.NET state (``__VIEWSTATE``, ``__VIEWSTATEGENERATOR``,
    ``__EVENTVALIDATION``, signed and bound to the session); a postback with forged or foreign
    state gets ASP.NET's error page (HTTP 500).
    ``GET /webform/home.aspx`` — eCPA's home page: ``<span id="lblUserName">王小明</span> 您好``.
    ``GET /webform/logout.aspx`` — ends the eCPA session.

The NHI-card login chain (the real one is not public; this is the sandbox's design). The page
script (``static/ecpa_login.js``) drives it; a client without a browser makes the same calls,
all JSON over ``POST`` with the session cookie ``ECPA_SessionId``:

1. ``POST /webform/api/GetNHIChallenge`` ``{}`` →
   ``{"result": "0000", "random": "<16 digits>", "expires_in": 300}``. The random is bound to
   the session and can be used once.
2. The page asks the card agent (nhi-agent.md): ``GetBasic``, ``GetVersion``,
   ``H_Sign?Random=<version><random>`` and ``EnCrypt?Pwd=<password>``.
3. ``POST /webform/api/NHICardLogin``
   ``{"basic": "card_no,id_no,name,birthROC7,sex,card_termination", "version": "0001",
   "random": "<the random of step 1>", "sign": "<256 hex>", "password": "<EnCrypt hex>",
   "returnUrl": "<optional>"}``. The server checks the random, verifies the signature over
   card number ‖ version+random with the SAM's public key, checks the card is registered and
   belongs to the ID on the card, decrypts the password with the card number and today's date
   in Asia/Taipei, and asks the registration store (3 wrong passwords lock the card's online
   service for 10 minutes; 3 locks revoke it). Success:
   ``{"result": "0000", "name": "王小明", "next": "/webform/home.aspx", "returnUrl": <url or
   null>}`` and a new session cookie.
4. With a ``returnUrl``: ``POST /webform/api/GetApTicket`` ``{"returnUrl": url}`` →
   ``{"result": "0000", "action": url, "APReqEncodedData": "<token>"}``; the page then posts a
   hidden form with ``APReqEncodedData`` to ``action`` (nhicard.sandbox.sso describes the
   token). Without one, the page goes to ``next``.

``POST /webform/api/GetUID`` ``{"method": "account"|"citizen"|"agency"}`` (first call of the
other columns) answers that the sandbox does not offer them.

Every refusal is ``{"result": "<code>", "reason": …, "message": "中文 / English",
"message_zh": …, "message_en": …}`` with HTTP 200 (as the real page methods do), plus
``attempts_left`` and ``locked_until`` (ISO 8601, Asia/Taipei) where they apply. Result codes:
``1001`` bad request, ``1002`` challenge missing/expired/used, ``1003`` signature invalid,
``1004`` card not registered, ``1005`` password could not be decrypted (computer date?),
``1006`` wrong password, ``1007`` locked, ``1008`` revoked, ``1009`` card data does not match
the registration, ``1010`` returnUrl not a registered relying party, ``9901`` login method not
offered by the sandbox, ``9902`` not signed in. A request whose ``Origin`` is not eCPA's own is
refused with HTTP 403; a body that is not JSON with HTTP 400.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from nhicard.i18n import T, Text
from nhicard.sandbox.cookie_session import MemorySessions, Session
from nhicard.sandbox.sso import SsoSigner
from nhicard.sandbox.templating import compile_templates
from nhicard.sandbox.webforms import (
    EVENT_ARGUMENT,
    EVENT_TARGET,
    EventValidationCodec,
    ViewStateCodec,
    WebFormsStateError,
    server_error_page,
    viewstate_generator,
)

TAIPEI = timezone(timedelta(hours=8), "Asia/Taipei")
CHALLENGE_TTL = timedelta(minutes=5)
COOKIE_NAME = "ECPA_SessionId"
HOME_PATH = "/webform/home.aspx"
LOGIN_PATH = "/webform/clogin.aspx"
DEFAULT_AGENT_URL = "wss://iccert.nhi.gov.tw:7777/echo"
HERE = Path(__file__).resolve().parent
STATIC_JS = HERE / "static" / "ecpa_login.js"

LOGIN_BUTTONS = ("btnAccountLogin", "btnCitizenLogin", "btnAgencyLogin", "btnNhiLogin")
LOGIN_CAPTION = "登入"
_DIGITS12 = re.compile(r"\d{12}")
_DIGITS16 = re.compile(r"\d{16}")
_VERSION = re.compile(r"[0-9A-Za-z]{4}")
_SIGN = re.compile(r"[0-9A-Fa-f]{256}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){8,256}")

MSG_BAD_REQUEST = T("登入資料不完整或格式錯誤。", "The login request is incomplete or malformed.")
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
MSG_WRONG_PASSWORD = T(
    "健保卡密碼錯誤,您還可以再嘗試 {attempts} 次;連續錯誤 3 次將鎖定 10 分鐘。",
    "Wrong NHI card password; {attempts} attempt(s) left. Three wrong passwords lock the "
    "card's online service for 10 minutes.",
)
MSG_LOCKED = T(
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
MSG_NOT_AVAILABLE = T(
    "沙盒不提供此登入方式。", "This login method is not available in the sandbox."
)
MSG_NEEDS_SCRIPT = T(
    "健保卡登入需要瀏覽器執行 JavaScript 並安裝健保卡元件。",
    "The NHI card login needs JavaScript and the NHI card component.",
)
MSG_NOT_SIGNED_IN = T("尚未登入或登入已逾時。", "Not signed in, or the session has expired.")
MSG_FOREIGN_ORIGIN = T("拒絕來自其他網站的請求。", "Requests from other sites are refused.")


@dataclass(frozen=True)
class EcpaSettings:
    """What the eCPA app needs to know besides the shared sandbox state."""

    origin: str  # e.g. https://127.0.0.1:8441
    relying_parties: tuple[str, ...]  # allowed returnUrl origins
    agent_url: str = DEFAULT_AGENT_URL


@dataclass(frozen=True)
class Person:
    card_number: str
    id_number: str
    name: str


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


def _body(code: str, reason: str, message: Text, **extra: Any) -> dict[str, Any]:
    """A refusal of the login API (see the module docstring)."""
    return {
        "result": code,
        "reason": reason,
        "message": message.both(),
        "message_zh": message.zh,
        "message_en": message.en,
        **extra,
    }


def _refusal(code: str, reason: str, message: Text, **extra: Any) -> JSONResponse:
    return JSONResponse(_body(code, reason, message, **extra))


def _parse_basic(basic: str) -> tuple[str, str] | None:
    """(card number, ID number) from ``card_no,id_no,name,birthROC7,sex,card_termination``."""
    fields = basic.split(",")
    if len(fields) != 6 or not _DIGITS12.fullmatch(fields[0]) or not fields[1]:
        return None
    return fields[0], fields[1].strip().upper()


class EcpaSite:
    """The request handlers; ``ctx`` is the shared :class:`SandboxContext`."""

    def __init__(self, ctx: Any, settings: EcpaSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        idle = ctx.settings.session_timeout.total_seconds()
        self.sessions = MemorySessions(COOKIE_NAME, idle_seconds=idle)
        self.signer = SsoSigner.from_secret(ctx.state_secret)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        compile_templates(self.templates.env, "ecpa_")
        self.viewstate = ViewStateCodec(ctx.state_secret)
        self.validation = EventValidationCodec(ctx.state_secret)

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

    def foreign_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is not None and origin != self.settings.origin

    def page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    # -- pages ---------------------------------------------------------------------------
    async def root(self, request: Request) -> Response:
        return RedirectResponse(LOGIN_PATH, status_code=302)

    async def legacy_login(self, request: Request) -> Response:
        return RedirectResponse(LOGIN_PATH, status_code=302)

    async def login_page(self, request: Request) -> Response:
        session = self.sessions.load_or_create(request)
        raw_return = request.query_params.get("returnUrl", "")
        return_url = self.allowed_return_url(raw_return)
        message = MSG_RETURN_URL if raw_return and return_url is None else None
        sso = None
        user = session.data.get("user")
        if user and return_url:
            sso = {"action": return_url, "token": self.issue_ticket(user, return_url)}
        return self.render_login(request, session, return_url, message, sso=sso)

    async def login_postback(self, request: Request) -> Response:
        session = self.sessions.load_or_create(request)
        form = await request.form()
        posted = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        try:
            self.viewstate.check(
                posted.get("__VIEWSTATE", ""), page=LOGIN_PATH, session_id=session.sid
            )
            self.validation.check(
                posted.get("__EVENTVALIDATION", ""),
                posted,
                session_id=session.sid,
                validated=LOGIN_BUTTONS,
            )
        except WebFormsStateError as refused:
            page = server_error_page(refused.message, path=LOGIN_PATH)
            return self.sessions.attach(HTMLResponse(page, status_code=500), session)
        raw_return = str(form.get("hidReturnUrl") or request.query_params.get("returnUrl", ""))
        return_url = self.allowed_return_url(raw_return)
        message = MSG_NEEDS_SCRIPT if "btnNhiLogin" in form else MSG_NOT_AVAILABLE
        return self.render_login(request, session, return_url, message)

    def render_login(
        self,
        request: Request,
        session: Session,
        return_url: str | None,
        message: Text | None,
        *,
        sso: dict[str, str] | None = None,
    ) -> Response:
        action = LOGIN_PATH + (f"?returnUrl={quote(return_url, safe='')}" if return_url else "")
        context: dict[str, Any] = {
            "form_action": action,
            "agent_url": self.settings.agent_url,
            "return_url": return_url or "",
            "hidden_fields": self.webforms_state(session),
            "message": message,
            "message_class": "error" if message else "",
            "sso": sso,
        }
        return self.sessions.attach(self.page(request, "ecpa_login.html", context), session)

    def webforms_state(self, session: Session) -> list[tuple[str, str]]:
        """The hidden ASP.NET state fields of the login page, bound to the session."""
        viewstate = self.viewstate.issue(
            page=LOGIN_PATH, step="login", session_id=session.sid, now=self.now()
        )
        allowed = {button: [LOGIN_CAPTION] for button in LOGIN_BUTTONS}
        return [
            (EVENT_TARGET, ""),
            (EVENT_ARGUMENT, ""),
            ("__VIEWSTATE", viewstate),
            ("__VIEWSTATEGENERATOR", viewstate_generator(LOGIN_PATH)),
            ("__EVENTVALIDATION", self.validation.issue(allowed, session_id=session.sid)),
        ]

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

    # -- the API of the login chain ------------------------------------------------------
    async def read_json(self, request: Request) -> dict[str, Any] | Response:
        if self.foreign_origin(request):
            return JSONResponse(_body("403", "foreign-origin", MSG_FOREIGN_ORIGIN), 403)
        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return JSONResponse(_body("1001", "bad-request", MSG_BAD_REQUEST), 400)
        return body

    async def get_challenge(self, request: Request) -> Response:
        body = await self.read_json(request)
        if isinstance(body, Response):
            return body
        session = self.sessions.load_or_create(request)
        random = "".join(secrets.choice("0123456789") for _ in range(16))
        expires = self.now() + CHALLENGE_TTL
        session.data["nhi_challenge"] = {"random": random, "expires": expires.timestamp()}
        reply = {"result": "0000", "random": random, "expires_in": int(CHALLENGE_TTL.seconds)}
        return self.sessions.attach(JSONResponse(reply), session)

    async def nhi_card_login(self, request: Request) -> Response:
        body = await self.read_json(request)
        if isinstance(body, Response):
            return body
        session = self.sessions.load_or_create(request)
        reply = self.check_nhi_login(session, body)
        if reply.get("result") == "0000":
            session = self.sessions.rotate(session)
            session.data["user"] = reply.pop("_user")
        return self.sessions.attach(JSONResponse(reply), session)

    def check_nhi_login(self, session: Session, body: dict[str, Any]) -> dict[str, Any]:
        fields = {k: body.get(k) for k in ("basic", "version", "random", "sign", "password")}
        if not all(isinstance(v, str) for v in fields.values()):
            return _body("1001", "bad-request", MSG_BAD_REQUEST)
        basic = _parse_basic(fields["basic"] or "")
        if (
            basic is None
            or not _VERSION.fullmatch(fields["version"] or "")
            or not _DIGITS16.fullmatch(fields["random"] or "")
            or not _SIGN.fullmatch(fields["sign"] or "")
            or not _HEX.fullmatch(fields["password"] or "")
        ):
            return _body("1001", "bad-request", MSG_BAD_REQUEST)
        card_number, id_number = basic
        now = self.now()
        issued = session.data.pop("nhi_challenge", None)
        if (
            not issued
            or issued["expires"] < now.timestamp()
            or not secrets.compare_digest(issued["random"], fields["random"] or "")
        ):
            return _body("1002", "bad-challenge", MSG_CHALLENGE)
        signed = (fields["version"] or "") + (fields["random"] or "")
        if not self.verify_sign(card_number, signed, fields["sign"] or ""):
            return _body("1003", "bad-signature", MSG_SIGNATURE)
        person = self.person(card_number)
        if person is None:
            return _body("1004", "not-registered", MSG_NOT_REGISTERED)
        if person.id_number != id_number:
            return _body("1009", "card-mismatch", MSG_MISMATCH)
        password = self.decrypt(card_number, fields["password"] or "", now)
        if password is None:
            return _body("1005", "undecryptable-password", MSG_DECRYPT)
        result = self.ctx.store.authenticate(card_number, password, now)
        if not result.ok:
            return self.auth_refusal(result)
        return_url = self.allowed_return_url(body.get("returnUrl") or None)
        return {
            "result": "0000",
            "name": person.name,
            "next": HOME_PATH,
            "returnUrl": return_url,
            "_user": {
                "card_number": person.card_number,
                "id_number": person.id_number,
                "name": person.name,
            },
        }

    def auth_refusal(self, result: Any) -> dict[str, Any]:
        if result.revoked:
            return _body("1008", "revoked", MSG_REVOKED, attempts_left=0, locked_until=None)
        if result.locked_until is not None:
            until = result.locked_until.astimezone(TAIPEI)
            return _body(
                "1007",
                "locked",
                MSG_LOCKED.format(until=taipei_text(until)),
                attempts_left=0,
                locked_until=until.isoformat(timespec="seconds"),
            )
        return _body(
            "1006",
            "wrong-password",
            MSG_WRONG_PASSWORD.format(attempts=result.attempts_left),
            attempts_left=result.attempts_left,
            locked_until=None,
        )

    def verify_sign(self, card_number: str, version_plus_random: str, sign: str) -> bool:
        from nhicard.sandbox.keys import verify_h_sign

        return bool(
            verify_h_sign(self.ctx.keys.sam_public_key, card_number, version_plus_random, sign)
        )

    def decrypt(self, card_number: str, hexstr: str, now: datetime) -> str | None:
        from nhicard.agent.encrypt import decrypt_password
        from nhicard.errors import NhicardError

        try:
            return decrypt_password(card_number, hexstr, now.astimezone(TAIPEI).date())
        except (NhicardError, ValueError):
            return None

    def issue_ticket(self, user: dict[str, str], return_url: str) -> str:
        audience = origin_of(return_url) or ""
        return self.signer.issue(
            audience=audience, uid=user["id_number"], name=user["name"], now=self.now()
        )

    async def get_ap_ticket(self, request: Request) -> Response:
        body = await self.read_json(request)
        if isinstance(body, Response):
            return body
        session = self.sessions.load(request)
        user = session.data.get("user") if session else None
        if not user:
            return _refusal("9902", "not-signed-in", MSG_NOT_SIGNED_IN)
        raw = body.get("returnUrl")
        return_url = self.allowed_return_url(raw if isinstance(raw, str) else None)
        if return_url is None:
            return _refusal("1010", "return-url-not-allowed", MSG_RETURN_URL)
        token = self.issue_ticket(user, return_url)
        return JSONResponse({"result": "0000", "action": return_url, "APReqEncodedData": token})

    async def get_uid(self, request: Request) -> Response:
        body = await self.read_json(request)
        if isinstance(body, Response):
            return body
        method = body.get("method") if isinstance(body.get("method"), str) else "account"
        return _refusal("9901", "not-available", MSG_NOT_AVAILABLE, method=method)


def create_ecpa_app(ctx: Any, settings: EcpaSettings) -> Starlette:
    """The eCPA app for explicit settings (tests use this with their own origins)."""
    site = EcpaSite(ctx, settings)
    routes = [
        Route("/", site.root),
        Route("/uIAM/clogin.asp", site.legacy_login),
        Route(LOGIN_PATH, site.login_page, methods=["GET"]),
        Route(LOGIN_PATH, site.login_postback, methods=["POST"]),
        Route(HOME_PATH, site.home),
        Route("/webform/logout.aspx", site.logout),
        Route("/webform/js/ecpa_login.js", site.script),
        Route("/webform/api/GetNHIChallenge", site.get_challenge, methods=["POST"]),
        Route("/webform/api/NHICardLogin", site.nhi_card_login, methods=["POST"]),
        Route("/webform/api/GetApTicket", site.get_ap_ticket, methods=["POST"]),
        Route("/webform/api/GetUID", site.get_uid, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.site = site
    return app


def build_ecpa_app(ctx: Any) -> Starlette:
    """The eCPA app of a running sandbox: its origin and the relying parties it may post to
    come from ``ctx.endpoints`` (the e-learning site, plus any ``[ecpa] relying_parties``
    origins of the sandbox data); the agent address from ``ctx.settings.agent_url``."""
    endpoints = ctx.endpoints
    extra = ctx.data.extra.get("ecpa", {}) if isinstance(ctx.data.extra, dict) else {}
    parties = [origin_of(endpoints["elearn_url"])]
    parties += [origin_of(str(u)) for u in extra.get("relying_parties", [])]
    settings = EcpaSettings(
        origin=origin_of(endpoints["ecpa_url"]) or endpoints["ecpa_url"],
        relying_parties=tuple(p for p in parties if p),
        agent_url=ctx.settings.agent_url,
    )
    return create_ecpa_app(ctx, settings)
