"""Step 7 of the manual: sign in to eCPA (人事服務網) with the NHI card and its password.

The login page's NHI-card column runs as a chain of calls driven by the page's script; this
flow makes the same calls a browser makes, in the same order, with the same cookies:

1. open the login page (``clogin.aspx``, with ``returnUrl`` when a relying party is named)
   and check it has the NHI-card column with its password box and 「登入」 button;
2. ``get_challenge`` (the profile's ``[ecpa.api]``) → a one-time random;
3. the card agent: ``GetBasic``, ``GetVersion``, ``H_Sign?Random=<version><random>``,
   ``EnCrypt?Pwd=<password>``;
4. ``nhi_card_login`` with those values — exactly once: a refused password is never retried
   (three wrong ones lock the card's online service);
5. without a return URL: open the page the site names (eCPA's home) and read the name shown
   there; with one: ``get_ap_ticket``, then post the hidden ``APReqEncodedData`` form to the
   relying party as the page's script does, and read the name that site shows.

Refusals carry the site's own message; the wrong-password refusal says how many attempts are
left, the lock says until when.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from nhicard.agent.base import check_password_length
from nhicard.errors import AuthRefused, NhicardError, NotAvailable, SiteRejected
from nhicard.flows.base import FlowEnv, site_message_text
from nhicard.i18n import T, Text
from nhicard.web.aspnet import page_messages
from nhicard.web.form import Submission
from nhicard.web.page import Page
from nhicard.web.profile import SiteSpec
from nhicard.web.selectors import select

OK = "0000"
SIGNATURE_LENGTH = 256
REQUIRED_CALLS = ("get_challenge", "nhi_card_login")

# The chain's refusal reasons (the JSON ``reason`` field) and what they mean for the user.
AUTH_REASONS = frozenset(
    {"wrong-password", "locked", "revoked", "bad-signature", "card-mismatch",
     "undecryptable-password"}
)  # fmt: skip

HINT_WRONG_PASSWORD = T(
    "請確認密碼後再執行一次;nhicard 不會自動重試(連續錯誤 3 次將鎖定 10 分鐘)。",
    "Check the password and run again yourself; nhicard never retries (three wrong passwords "
    "lock the card's online service for 10 minutes).",
)
HINT_LOCKED = T(
    "請等到鎖定解除後再試;鎖定 3 次後網路服務會失效,須重新註冊。",
    "Wait until the lock ends; after three locks the online service is revoked and the card "
    "must be registered again.",
)
HINT_REVOKED = T(
    "請重新執行 nhicard register 申請註冊。", "Register again with `nhicard register`."
)
HINT_CLOCK = T(
    "EnCrypt 以本機日期加密密碼:請確認電腦的日期、時間與時區(臺北時間),執行 nhicard env check。",
    "EnCrypt keys the password with the local date: check this computer's date, time and "
    "time zone (Taipei time); run `nhicard env check`.",
)
HINT_NOT_REGISTERED = T(
    "請先執行 nhicard register 與 nhicard verify-email 完成註冊。",
    "Register first with `nhicard register` and `nhicard verify-email`.",
)
HINT_AGAIN = T("請重新執行一次。", "Run the command again.")


@dataclass(frozen=True)
class EcpaLoginResult:
    """Where the login landed: ``name`` as the landing page shows it, ``url`` of that page;
    ``relying_party`` is the return URL's origin when the sign-on went on to another site."""

    name: str
    url: str
    relying_party: str | None = None
    status: str = "logged-in"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "name": self.name, "url": self.url}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (lower-cased scheme and host; default ports
    dropped); "" for text that is not a URL."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (hostname or "").lower()
    if not scheme or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def login_url(ecpa: SiteSpec, return_url: str | None) -> str:
    """The login page's address, with the return URL in the profile's parameter."""
    url = ecpa.url("login")
    if not return_url:
        return url
    param = ecpa.options.get("return_url_param", "returnUrl")
    return url + ("&" if "?" in url else "?") + urlencode({param: return_url})


def check_return_url(env: FlowEnv, return_url: str) -> None:
    """A return URL must be an absolute https address (http only where the profile allows
    it): the sign-on token is posted there."""
    parts = urlsplit(return_url)
    schemes = ("https", "http") if env.profile.allow_http else ("https",)
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise SiteRejected(
            T(
                "--return-url 必須是完整的 https:// 網址:{url}",
                "--return-url must be an absolute https:// URL: {url}",
            ).format(url=return_url),
            hint=T(
                "例如 https://elearn.hrd.gov.tw/sso_verify.php",
                "For example https://elearn.hrd.gov.tw/sso_verify.php",
            ),
            reason="bad-return-url",
        )


def _chain_available(ecpa: SiteSpec) -> None:
    missing = [name for name in REQUIRED_CALLS if name not in ecpa.api]
    if missing:
        raise NotAvailable(
            T(
                "網站設定檔沒有描述 eCPA 健保卡登入的呼叫流程([ecpa.api] 缺少 {names});"
                "正式網站的流程並未公開",
                "the site profile does not describe eCPA's NHI-card login calls ([ecpa.api] "
                "lacks {names}); the real site's chain is not public",
            ).format(names=", ".join(missing)),
            hint=T(
                "使用 --profile sandbox,或以 --profile FILE 提供描述 [ecpa.api] 的設定檔。",
                "Use --profile sandbox, or a profile file (--profile FILE) with an [ecpa.api] "
                "table.",
            ),
            reason="ecpa-chain-unknown",
        )


def _reply_text(reply: Mapping[str, Any]) -> Text:
    zh, en = reply.get("message_zh"), reply.get("message_en")
    if isinstance(zh, str) and isinstance(en, str) and zh and en:
        return Text(zh, en)
    message = reply.get("message")
    if isinstance(message, str) and message:
        if " / " in message:
            first, _, second = message.partition(" / ")
            return Text(first, second)
        return site_message_text(message)
    code = str(reply.get("result", "?"))
    return T("網站拒絕登入(代碼 {code})", "the site refused the login (code {code})").format(
        code=code
    )


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def refusal_error(reply: Mapping[str, Any], ecpa: SiteSpec, step: str) -> NhicardError:
    """The typed error for one refusal of the login chain (the site's message kept)."""
    message = _reply_text(reply)
    reason = str(reply.get("reason") or "")
    code = str(reply.get("result") or "")
    attempts = _int_or_none(reply.get("attempts_left"))
    if attempts is None and ecpa.markers.attempts_left_pattern:
        found = re.search(ecpa.markers.attempts_left_pattern, message.zh + " " + message.en)
        attempts = int(found.group(1)) if found and found.group(1).isdigit() else None
    locked_until = reply.get("locked_until") if isinstance(reply.get("locked_until"), str) else None
    data: dict[str, Any] = {"result": code, "step": step}
    if not reason:
        shown = message.zh + message.en
        if ecpa.markers.locked and any(m in shown for m in ecpa.markers.locked) and locked_until:
            reason = "locked"
        elif ecpa.markers.wrong_password and any(m in shown for m in ecpa.markers.wrong_password):
            reason = "wrong-password"
    if reason in AUTH_REASONS:
        hints = {
            "wrong-password": HINT_WRONG_PASSWORD,
            "locked": HINT_LOCKED,
            "revoked": HINT_REVOKED,
            "undecryptable-password": HINT_CLOCK,
        }
        if attempts is not None:
            data["attempts_left"] = attempts
        if locked_until:
            data["locked_until"] = locked_until
        return AuthRefused(
            T("eCPA 拒絕登入:{zh}", "eCPA refused the login: {en}").format(
                zh=message.zh, en=message.en
            ),
            hint=hints.get(reason),
            reason=reason,
            data=data,
        )
    hint = HINT_NOT_REGISTERED if reason == "not-registered" else HINT_AGAIN
    return SiteRejected(
        T("eCPA 拒絕登入:{zh}", "eCPA refused the login: {en}").format(
            zh=message.zh, en=message.en
        ),
        hint=hint,
        reason=reason or "site-message",
        data=data,
    )


class EcpaLogin:
    """One run of the eCPA NHI-card login (see the module docstring)."""

    def __init__(self, env: FlowEnv, password: str, return_url: str | None = None) -> None:
        self.env = env
        self.password = password
        self.return_url = return_url or None
        self.ecpa = env.profile.ecpa

    def run(self) -> EcpaLoginResult:
        env, ecpa = self.env, self.ecpa
        _chain_available(ecpa)
        check_password_length(self.password)
        env.add_secret(self.password, "password")
        if self.return_url:
            check_return_url(env, self.return_url)
        page = self.open_login_page()
        origin = origin_of(page.url)
        env.log(T("向 eCPA 取得登入驗證碼…", "Asking eCPA for a login challenge…"))
        challenge = self.call("get_challenge", {}, origin, step="challenge")
        random = str(challenge.get("random") or "")
        if not (len(random) == 16 and random.isdigit()):
            raise env.site_changed(
                page,
                "ecpa-challenge",
                T("登入驗證碼不是 16 位數字", "the login challenge is not 16 digits"),
            )
        env.log(T("讀取健保卡並簽章…", "Reading the NHI card and signing…"))
        agent = env.agent
        basic = agent.get_basic()
        env.add_secret(basic.name, "name")
        env.add_secret(basic.id_number, "id")
        version = agent.get_version()
        sign = agent.h_sign(version + random)
        if len(sign) != SIGNATURE_LENGTH:
            raise AuthRefused(
                T(
                    "讀卡元件回傳的簽章長度不正確",
                    "the card agent's signature has the wrong length",
                ),
                detail=f"{len(sign)} characters",
                reason="bad-signature",
            )
        encrypted = agent.encrypt_password(self.password)
        env.log(T("登入 eCPA…", "Signing in to eCPA…"))
        body = {
            "basic": basic.to_wire(),
            "version": version,
            "random": random,
            "sign": sign,
            "password": encrypted,
            "returnUrl": self.return_url or "",
        }
        reply = self.call("nhi_card_login", body, origin, step="login")
        name = str(reply.get("name") or basic.name)
        if self.return_url:
            return self.single_sign_on(reply, origin, name)
        return self.land_on_home(reply, page)

    # -- steps -----------------------------------------------------------------------------
    def open_login_page(self) -> Page:
        env, ecpa = self.env, self.ecpa
        spec = ecpa.page("login")
        env.log(T("開啟 eCPA 登入頁…", "Opening the eCPA login page…"))
        page = env.open(login_url(ecpa, self.return_url), "ecpa-login")
        env.expect(page, spec, "ecpa-login", site=ecpa)
        column = page.region(spec.control("nhi_column"))
        form = page.form().scoped(column)
        form.find(spec.control("password"))
        form.find(spec.control("login"), buttons=True)
        if self.return_url:
            self.check_return_accepted(page)
        return page

    def check_return_accepted(self, page: Page) -> None:
        """A login page that dropped the return URL (not a registered relying party) shows
        a message: stop before the card and password are used."""
        field = self.ecpa.options.get("return_url_field")
        if not field:
            return
        kept = page.soup.find("input", attrs={"name": field})
        value = str(kept.get("value") or "") if kept is not None else None
        if value is None or value:
            return
        shown = page_messages(page.soup, self.ecpa.message_selectors)
        text = site_message_text(shown[0]) if shown else T("(沒有訊息)", "(no message)")
        raise SiteRejected(
            T(
                "eCPA 不接受這個返回網址 {url}:{zh}",
                "eCPA does not accept the return URL {url}: {en}",
            ).format(url=self.return_url, zh=text.zh, en=text.en),
            hint=T(
                "請確認應用系統的登入網址(例如 https://elearn.hrd.gov.tw/sso_verify.php)。",
                "Check the application's sign-on address (e.g. "
                "https://elearn.hrd.gov.tw/sso_verify.php).",
            ),
            reason="return-url-refused",
        )

    def call(self, name: str, body: Mapping[str, Any], origin: str, *, step: str) -> dict[str, Any]:
        """One JSON call of the page's script; a refusal becomes a typed error."""
        env = self.env
        reply_page = env.browser.fetch(
            "POST",
            self.ecpa.api_url(name),
            json=dict(body),
            headers={"Origin": origin, "Accept": "application/json"},
        )
        try:
            reply = reply_page.json()
        except NhicardError:
            raise env.site_changed(
                reply_page,
                f"ecpa-{step}",
                T(
                    "{name} 的回應不是 JSON(HTTP {status})",
                    "the answer of {name} is not JSON (HTTP {status})",
                ).format(name=name, status=reply_page.status),
            ) from None
        if not isinstance(reply, dict) or "result" not in reply:
            raise env.site_changed(
                reply_page,
                f"ecpa-{step}",
                T("{name} 的回應格式不符", "the answer of {name} has an unknown shape").format(
                    name=name
                ),
            )
        if str(reply["result"]) != OK:
            raise refusal_error(reply, self.ecpa, step)
        return reply

    def land_on_home(self, reply: Mapping[str, Any], login_page: Page) -> EcpaLoginResult:
        env, ecpa = self.env, self.ecpa
        target = str(reply.get("next") or "")
        url = urljoin(login_page.url, target) if target else ecpa.url("home")
        page = env.open(url, "ecpa-home")
        if "home" in ecpa.pages:
            env.expect(page, ecpa.page("home"), "ecpa-home", site=ecpa)
        name = self.shown_name(page, ecpa, "ecpa-home")
        return EcpaLoginResult(name=name, url=page.url)

    def single_sign_on(self, reply: Mapping[str, Any], origin: str, name: str) -> EcpaLoginResult:
        env, ecpa = self.env, self.ecpa
        assert self.return_url is not None
        granted = reply.get("returnUrl")
        if not granted:
            raise SiteRejected(
                T(
                    "已登入 eCPA,但 eCPA 不接受返回網址 {url}",
                    "signed in to eCPA, but eCPA does not accept the return URL {url}",
                ).format(url=self.return_url),
                hint=HINT_AGAIN,
                reason="return-url-refused",
            )
        env.log(T("取得單一登入票證…", "Getting the single sign-on ticket…"))
        ticket = self.call("get_ap_ticket", {"returnUrl": str(granted)}, origin, step="ticket")
        field = ecpa.options.get("sso_token_field", "APReqEncodedData")
        action = str(ticket.get("action") or "")
        token = ticket.get(field)
        if not isinstance(token, str) or not token or not action:
            raise env.site_changed(
                env.browser.current or Page("about:blank", 0, ""),
                "ecpa-ticket",
                T("單一登入票證缺少 {field}", "the sign-on ticket lacks {field}").format(
                    field=field
                ),
            )
        if origin_of(action) != origin_of(self.return_url):
            raise SiteRejected(
                T(
                    "eCPA 要把登入票證送往 {action},與要求的 {url} 不同網站,已拒絕",
                    "eCPA would post the sign-on ticket to {action}, not to the site asked "
                    "for ({url}); refused",
                ).format(action=action, url=self.return_url),
                hint=HINT_AGAIN,
                reason="return-url-mismatch",
            )
        env.add_secret(token, "other")
        env.log(T("前往 {site}…", "Continuing to {site}…").format(site=origin_of(action)))
        submission = Submission("POST", urljoin(origin + "/", action), ((field, token),))
        page = env.submit(submission, "relying-party")
        relying = origin_of(action)
        site = self.relying_site(relying)
        if page.status >= 400:
            shown = page_messages(page.soup, site.message_selectors if site else ())
            text = (
                site_message_text(shown[0])
                if shown
                else T("HTTP {status}", "HTTP {status}").format(status=page.status)
            )
            raise AuthRefused(
                T(
                    "應用系統 {site} 拒絕單一登入:{zh}",
                    "the application {site} refused the sign-on: {en}",
                ).format(site=relying, zh=text.zh, en=text.en),
                hint=HINT_AGAIN,
                reason="sso-refused",
                data={"status": page.status},
            )
        if site is None:
            return EcpaLoginResult(name=name, url=page.url, relying_party=relying)
        if site.markers.success and not page.find_marker(site.markers.success):
            raise env.site_changed(
                page,
                "relying-party",
                T("找不到「{m}」", "none of '{m}' is on the page").format(
                    m=" / ".join(site.markers.success)
                ),
            )
        shown_name = self.shown_name(page, site, "relying-party") if site.name_selectors else name
        return EcpaLoginResult(name=shown_name, url=page.url, relying_party=relying)

    def relying_site(self, origin: str) -> SiteSpec | None:
        """The profile's description of the relying party at ``origin``, if it has one."""
        for site in (self.env.profile.elearn,):
            if origin_of(site.base_url) == origin:
                return site
        return None

    def shown_name(self, page: Page, site: SiteSpec, step: str) -> str:
        for selector in site.name_selectors:
            for el in select(page.soup, selector):
                text = " ".join(el.get_text(" ", strip=True).split())
                if text:
                    return text
        raise self.env.site_changed(
            page,
            step,
            T("頁面上找不到登入者姓名({sel})", "no signed-in name on the page ({sel})").format(
                sel=", ".join(site.name_selectors) or "name_selectors"
            ),
        )


def ecpa_login(env: FlowEnv, password: str, return_url: str | None = None) -> EcpaLoginResult:
    """Sign in to eCPA with the card and ``password`` (see the module docstring)."""
    return EcpaLogin(env, password, return_url).run()
