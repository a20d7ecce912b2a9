"""The sandbox e-learning platform: one relying party of the eCPA single sign-on.

Pages
    ``GET /`` — the login state: 「已登入:王小明 / Logged in as 王小明」 (``#loginState`` with
    ``data-state="logged-in"`` and ``#userName``) or 「尚未登入 / Not signed in」 with a link to
    eCPA's ``clogin.aspx?returnUrl=<this site>/sso_verify.php``.
    ``POST /sso_verify.php`` — form fields ``loginType`` and ``APReqEncodedData`` (uppercase
    hex), as eCPA's page posts them (sites.md, recorded session): the token is verified
    (signature, audience = this site's origin, expiry, single use; nhicard.sandbox.sso). On
    success the site starts its own session (cookie ``ELEARN_PHPSESSID``) and answers, as the
    real one, ``302 sso_home.php?ssoid=<n>``, which answers ``302 /mooc/index.php`` (the
    page that shows who is logged in). On failure HTTP 403 with the reason (``#ssoError``
    with ``data-reason``).
    A post whose Referer is eCPA's old ``uIAM/clogin.asp`` is refused (403, ``legacy-login``),
    as the real relying parties do (sites.md).
    ``GET /sso_verify.php`` — without a token: HTTP 400 with the same page.
    ``GET /sso_home.php?ssoid=<n>`` — the sign-on's second hop (the ``ssoid`` must be the
    session's own); ``GET /mooc/index.php`` — the platform's home (same as ``/``).
    ``POST /logout.php`` — ends the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from nhicard.core.errors import AuthRefused
from nhicard.core.i18n import T
from nhicard.sandbox.cookie_session import MemorySessions
from nhicard.sandbox.sso import ReplayGuard, SsoSigner, SsoVerifier
from nhicard.sandbox.templating import compile_templates

COOKIE_NAME = "ELEARN_PHPSESSID"
VERIFY_PATH = "/sso_verify.php"
SSO_HOME_PATH = "/sso_home.php"
HOME_PATH = "/mooc/index.php"
HERE = Path(__file__).resolve().parent

MSG_NO_TOKEN = T(
    "缺少單一登入資料(APReqEncodedData)。", "The single sign-on data (APReqEncodedData) is missing."
)

MSG_NO_SSO = T(
    "沒有進行中的單一登入,請重新從人事服務網 eCPA 登入。",
    "No single sign-on in progress; sign in again through eCPA.",
)


MSG_LEGACY = T(
    "不接受經由舊版登入頁(uIAM/clogin.asp)取得的單一登入,請從人事服務網 eCPA 新版登入頁登入。",
    "Sign-ons that came through the old login page (uIAM/clogin.asp) are refused; sign in "
    "through eCPA's current login page.",
)
LEGACY_LOGIN_PATH = "/uiam/clogin.asp"


def came_through_legacy_login(referer: str) -> bool:
    """True when the Referer is eCPA's old login page: the real relying parties'
    ``sso_verify.php`` check the Referer and refuse those tickets (sites.md)."""
    try:
        path = urlsplit(referer).path
    except ValueError:
        return False
    return path.lower().rstrip("/").endswith(LEGACY_LOGIN_PATH)


@dataclass(frozen=True)
class ElearnSettings:
    origin: str  # this site, e.g. https://127.0.0.1:8442
    ecpa_url: str  # the hub, e.g. https://127.0.0.1:8441


class ElearnSite:
    def __init__(self, ctx: Any, settings: ElearnSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        idle = ctx.settings.session_timeout.total_seconds()
        self.sessions = MemorySessions(COOKIE_NAME, idle_seconds=idle)
        public_key = SsoSigner.from_secret(ctx.state_secret).public_key
        self.verifier = SsoVerifier(
            public_key, audience=settings.origin, replay_guard=ReplayGuard()
        )
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self._ssoid = 0
        compile_templates(self.templates.env, "elearn_")

    def now(self) -> datetime:
        moment: datetime = self.ctx.now()
        return moment

    @property
    def login_url(self) -> str:
        back = quote(self.settings.origin + VERIFY_PATH, safe="")
        return f"{self.settings.ecpa_url.rstrip('/')}/webform/clogin.aspx?returnUrl={back}"

    def render(
        self,
        request: Request,
        user: dict[str, str] | None,
        error: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        context = {"user": user, "error": error, "login_url": self.login_url}
        return self.templates.TemplateResponse(
            request, "elearn_page.html", context, status_code=status
        )

    async def index(self, request: Request) -> Response:
        session = self.sessions.load(request)
        return self.render(request, session.data.get("user") if session else None)

    async def verify(self, request: Request) -> Response:
        token = ""
        if request.method == "POST":
            form = await request.form()
            token = str(form.get("APReqEncodedData") or "")
        if not token:
            error = {"reason": "missing", "zh": MSG_NO_TOKEN.zh, "en": MSG_NO_TOKEN.en}
            return self.render(request, None, error, status=400)
        if came_through_legacy_login(request.headers.get("referer", "")):
            error = {"reason": "legacy-login", "zh": MSG_LEGACY.zh, "en": MSG_LEGACY.en}
            return self.render(request, None, error, status=403)
        try:
            claims = self.verifier.verify(token, self.now())
        except AuthRefused as refused:
            error = {
                "reason": refused.reason or "refused",
                "zh": refused.message.zh,
                "en": refused.message.en,
            }
            return self.render(request, None, error, status=403)
        session = self.sessions.create()
        self._ssoid += 1
        user = {"name": claims.name, "uid": claims.uid}
        session.data["sso"] = {"ssoid": str(self._ssoid), "user": user}
        return self.sessions.attach(
            RedirectResponse(f"sso_home.php?ssoid={self._ssoid}", status_code=302), session
        )

    async def sso_home(self, request: Request) -> Response:
        """The second hop: the session's pending sign-on becomes its user."""
        session = self.sessions.load(request)
        pending = session.data.get("sso") if session else None
        ssoid = request.query_params.get("ssoid", "")
        if session is None or not pending or pending.get("ssoid") != ssoid:
            error = {"reason": "no-sso", "zh": MSG_NO_SSO.zh, "en": MSG_NO_SSO.en}
            return self.render(request, None, error, status=403)
        session.data.pop("sso", None)
        session.data["user"] = pending["user"]
        return RedirectResponse(HOME_PATH, status_code=302)

    async def logout(self, request: Request) -> Response:
        session = self.sessions.load(request)
        if session:
            self.sessions.drop(session)
        return self.sessions.clear_cookie(RedirectResponse("/", status_code=303))


def create_elearn_app(ctx: Any, settings: ElearnSettings) -> Starlette:
    """The e-learning app for explicit settings."""
    site = ElearnSite(ctx, settings)
    app = Starlette(
        routes=[
            Route("/", site.index),
            Route(VERIFY_PATH, site.verify, methods=["GET", "POST"]),
            Route(SSO_HOME_PATH, site.sso_home),
            Route(HOME_PATH, site.index),
            Route("/logout.php", site.logout, methods=["POST"]),
        ]
    )
    app.state.site = site
    return app


def build_elearn_app(ctx: Any) -> Starlette:
    """The e-learning app of a running sandbox (its own and eCPA's URL from ctx.endpoints)."""
    endpoints = ctx.endpoints
    settings = ElearnSettings(
        origin=endpoints["elearn_url"].rstrip("/"), ecpa_url=endpoints["ecpa_url"].rstrip("/")
    )
    return create_elearn_app(ctx, settings)
