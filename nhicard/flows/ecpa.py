"""Step 7 of the manual: sign in to eCPA (人事服務網), and optionally on into a relying party.

eCPA's login page runs each login column as a chain of XHR calls (form-urlencoded, with
``X-Requested-With``, each answering plain text; sites.md). The profile describes a column's
chain as data (``[ecpa.chains.<column>]``, nhicard.sites.loader.LoginChain); this flow makes
the same calls a browser makes, in the same order, with the same cookies:

1. open the login page (``clogin.aspx``, with ``returnUrl`` when a relying party is named)
   and check it shows the column and its controls;
2. each call of the chain in turn; a field's ``{placeholder}`` is the user's input
   (``{account}``, ``{password}``), a var of the chain, an earlier reply (``save``), or a
   value of the card agent, asked when first needed (``GetBasic``, ``GetVersion``,
   ``H_Sign?Random=<version><random>``, ``EnCrypt?Pwd=<password>``). Every call is made
   exactly once: a refused password is never retried (three wrong ones lock);
3. without a return URL: open eCPA's home (when the profile names one) and read the name
   shown there; with one: post the chain's ``sso_fields`` (``loginType``,
   ``APReqEncodedData``) to the return URL as the page's hidden form does, follow its
   redirects (``sso_home.php?ssoid=`` → ``/mooc/index.php``) and read the name that site
   shows.

``account`` given: the account/password column (chain ``account``: recorded, public);
otherwise the NHI-card column (chain ``nhi_card``), which the real profile lacks because
that chain is not public: exit 11, saying so.

A refusal's plain-text answer is quoted; the profile's markers say whether it was a wrong
password (with the attempts left), a lock (until when), a revocation or an unregistered card.
A call's ``wrong_password_replies`` are answers that say nothing but mean a refused password
(the real ``GetApTicketV2``: an empty body or ``0``): exit 9, never retried. Every refused
password's hint states the lockout rule (sites.md).

Cookies: every run starts from an empty cookie jar (``--cookie-jar`` is only written, never
read), so eCPA cookies left by an earlier login — which make the real site redirect — never
reach a new login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from nhicard.agent.base import SIGNATURE_LENGTH, check_password_length
from nhicard.core.errors import AuthRefused, NhicardError, SiteChanged, SiteRejected, UsageError
from nhicard.core.i18n import T, Text
from nhicard.flows.base import FlowEnv, site_message_text
from nhicard.sites.model import ChainCall, LoginChain, SiteSpec
from nhicard.web.aspnet import page_messages
from nhicard.web.formdata import Submission
from nhicard.web.page import Page

ACCOUNT_CHAIN = "account"
NHI_CHAIN = "nhi_card"
_HTML_START = re.compile(r"\s*<(?:!doctype|html|head|body)\b", re.I)


# The lockout rule (sites.md, from the NHI tax-filing page), said wherever a card password
# was refused: never retried; 3 wrong → locked 10 minutes; a successful login clears the
# wrong count, not the lock count; 3 locks revoke 「健保卡網路服務報稅資格」.
LOCKOUT_RULE = T(
    "nhicard 不會自動重試密碼。連續輸錯 3 次會鎖定 10 分鐘;登入成功會清除輸錯次數,"
    "但不會清除鎖定次數;累計鎖定 3 次會失去「健保卡網路服務報稅資格」,須重新註冊。",
    "nhicard never retries a password. Three wrong passwords lock it for 10 minutes; a "
    "successful login clears the count of wrong passwords but not the count of locks; three "
    "locks revoke 「健保卡網路服務報稅資格」 (the card's online service, tax filing included) "
    "and the card must be registered again.",
)
HINT_WRONG_PASSWORD = T(
    "請確認密碼後自行再執行一次。" + LOCKOUT_RULE.zh,
    "Check the password and run again yourself. " + LOCKOUT_RULE.en,
)
HINT_WRONG_ACCOUNT_PASSWORD = T(
    "請確認帳號密碼後自行再執行一次;nhicard 不會自動重試(連續錯誤 3 次將鎖定 10 分鐘)。",
    "Check the account and password and run again yourself; nhicard never retries (three "
    "wrong passwords lock the login for 10 minutes).",
)
HINT_LOCKED = T(
    "請等到鎖定解除後再試。" + LOCKOUT_RULE.zh, "Wait until the lock ends. " + LOCKOUT_RULE.en
)
HINT_ACCOUNT_LOCKED = T(
    "請等到鎖定解除(10 分鐘)後再試;nhicard 不會自動重試。",
    "Wait until the lock ends (10 minutes); nhicard never retries.",
)
MSG_SILENT_REFUSAL = T(
    "密碼錯誤或登入已鎖定(網站的回應為{shown})",
    "wrong password, or the login is locked (the site answered {shown})",
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


def refused_return_hint(env: FlowEnv, refused: str) -> Text:
    """What to try after eCPA refused ``refused``: the profile's own relying party (the
    sandbox's e-learning site, or the real one), never the address just refused."""
    try:
        known = env.profile.elearn.url("sso_verify")
    except NhicardError:
        known = ""
    if known and known.rstrip("/").lower() != refused.rstrip("/").lower():
        return T(
            "請確認應用系統的登入網址;此網站設定檔中 eCPA 接受的是 {url}。",
            "Check the application's sign-on address; the one this site profile's eCPA "
            "accepts is {url}.",
        ).format(url=known)
    return T(
        "請確認應用系統的登入網址(必須是 eCPA 已登記的應用系統)。",
        "Check the application's sign-on address (it must be an application registered with eCPA).",
    )


def chain_for(ecpa: SiteSpec, account: str | None) -> LoginChain:
    """The profile's chain of the chosen column; a column whose chain the profile lacks →
    exit 11 (on the real profile: the NHI-card column, whose chain is not public)."""
    key = ACCOUNT_CHAIN if account else NHI_CHAIN
    chain = ecpa.chains.get(key)
    if chain is not None:
        return chain
    column = T("帳號/密碼", "account/password") if account else T("健保卡", "NHI card")
    raise SiteChanged(
        T(
            "網站設定檔沒有描述 eCPA {zh}登入欄的呼叫流程([ecpa.chains.{key}]);"
            "正式網站健保卡登入的流程並未公開",
            "the site profile does not describe the calls of eCPA's {en} column "
            "([ecpa.chains.{key}]); the real site's NHI-card chain is not public",
        ).format(zh=column.zh, en=column.en, key=key),
        hint=T(
            "以帳號密碼登入:nhicard ecpa login --account 帳號;或使用 --profile sandbox,"
            "或以 --profile FILE 提供含 [ecpa.chains.nhi_card] 的設定檔。",
            "Sign in with the account column: `nhicard ecpa login --account ALIAS`; or use "
            "--profile sandbox, or a profile file (--profile FILE) with an "
            "[ecpa.chains.nhi_card] table.",
        ),
        reason="ecpa-chain-unknown",
    )


def _matches(patterns: tuple[str, ...], text: str) -> bool:
    return any(p and p in text for p in patterns)


def refusal_error(
    reply: str, ecpa: SiteSpec, call: ChainCall, *, card_password: bool = True
) -> NhicardError:
    """The typed error for one refused call (its plain-text answer quoted verbatim).
    ``card_password``: the password was the NHI card's (the lockout rule is stated in full),
    else an eCPA account's."""
    if reply in call.wrong_password_replies:
        said = T("空白", "an empty body") if not reply else T("「{r}」", "'{r}'").format(r=reply)
        why = T(
            MSG_SILENT_REFUSAL.zh.format(shown=said.zh), MSG_SILENT_REFUSAL.en.format(shown=said.en)
        )
        return AuthRefused(
            T("eCPA 拒絕登入({step}):{zh}", "eCPA refused the login ({step}): {en}").format(
                step=call.name, zh=why.zh, en=why.en
            ),
            hint=HINT_WRONG_PASSWORD if card_password else HINT_WRONG_ACCOUNT_PASSWORD,
            reason="wrong-password",
            data={"step": call.name, "reply": reply},
        )
    message = site_message_text(reply) if reply else T("(空白回應)", "(empty reply)")
    shown = message.zh + " " + message.en
    markers = ecpa.markers
    data: dict[str, Any] = {"step": call.name, "reply": reply[:500]}
    attempts = None
    if markers.attempts_left_pattern:
        found = re.search(markers.attempts_left_pattern, shown)
        attempts = int(found.group(1)) if found and found.group(1).isdigit() else None
    locked_until = None
    if markers.locked_until_pattern:
        found = re.search(markers.locked_until_pattern, shown)
        locked_until = found.group(1) if found else None
    if _matches(markers.revoked, shown):
        reason = "revoked"
    elif _matches(markers.locked, shown):
        reason = "locked"
    elif _matches(markers.wrong_password, shown):
        reason = "wrong-password"
    elif _matches(markers.not_registered, shown):
        reason = "not-registered"
    else:
        reason = "refused" if call.refusal == "auth" else "site-message"
    text = T("eCPA 拒絕登入({step}):{zh}", "eCPA refused the login ({step}): {en}").format(
        step=call.name, zh=message.zh, en=message.en
    )
    if reason == "not-registered" or (reason == "site-message"):
        hint = HINT_NOT_REGISTERED if reason == "not-registered" else HINT_AGAIN
        return SiteRejected(text, hint=hint, reason=reason, data=data)
    if attempts is not None:
        data["attempts_left"] = attempts
    if locked_until:
        data["locked_until"] = locked_until
    hints = {
        "wrong-password": HINT_WRONG_PASSWORD if card_password else HINT_WRONG_ACCOUNT_PASSWORD,
        "locked": HINT_LOCKED if card_password else HINT_ACCOUNT_LOCKED,
        "revoked": HINT_REVOKED,
    }
    hint = hints.get(reason, hints["wrong-password"])
    if "EnCrypt" in shown or "時區" in shown or "time zone" in shown:
        hint = HINT_CLOCK
    return AuthRefused(text, hint=hint, reason=reason, data=data)


class EcpaLogin:
    """One run of the eCPA login (see the module docstring)."""

    def __init__(
        self,
        env: FlowEnv,
        password: str,
        return_url: str | None = None,
        *,
        account: str | None = None,
    ) -> None:
        self.env = env
        self.password = password
        self.return_url = return_url or None
        self.account = account.strip() if account else None
        self.ecpa = env.profile.ecpa
        self.values: dict[str, str] = {}

    def run(self) -> EcpaLoginResult:
        env, ecpa = self.env, self.ecpa
        chain = chain_for(ecpa, self.account)
        if self.account is None or chain.needs("encrypted_password"):
            check_password_length(self.password)
        elif not self.password:
            raise UsageError(T("密碼不可為空", "the password must not be empty"))
        env.add_secret(self.password, "password")
        if self.return_url:
            check_return_url(env, self.return_url)
        page = self.open_login_page(chain)
        origin = origin_of(page.url)
        self.values = {
            **chain.variables,
            "account": self.account or "",
            "password": self.password,
        }
        env.log(T("登入 eCPA…", "Signing in to eCPA…"))
        # -vv traces show the signature as NHI forms show hidSign: only its length
        env.redactor.add_hidden_fields(
            name for call in chain.calls for name, value in call.fields if "{sign}" in value
        )
        for call in chain.calls:
            fields = [(name, self.fill(value)) for name, value in call.fields]
            secret = [n for n, v in call.fields if "{password}" in v or "{encrypted_password}" in v]
            reply = self.call(call, fields, origin, secret)
            if call.save:
                self.values[call.save] = reply
                env.add_secret(reply, "id" if call.save == "uid" else "other")
        if self.return_url:
            return self.single_sign_on(chain)
        return self.land_on_home(page)

    # -- values ----------------------------------------------------------------------------
    def fill(self, template: str) -> str:
        """A field's value: each ``{name}`` replaced (card values asked when first needed)."""

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.values:
                self.values[name] = self.card_value(name)
            return self.values[name]

        return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, template)

    def card_value(self, name: str) -> str:
        env = self.env
        agent = env.agent
        if name in ("basic", "card_number", "id_number"):
            env.log(T("讀取健保卡…", "Reading the NHI card…"))
            basic = agent.get_basic()
            for value, kind in (
                (basic.name, "name"),
                (basic.id_number, "id"),
                (basic.card_number, "card"),
                (basic.birth_date_roc, "date"),
            ):
                env.add_secret(value, kind)  # masked in -vv traces (the XHR form lines)
            self.values.update(
                basic=basic.to_wire(), card_number=basic.card_number, id_number=basic.id_number
            )
            return self.values[name]
        if name == "version":
            return agent.get_version()
        if name == "sign":
            env.log(T("健保卡簽章…", "Signing with the NHI card…"))
            version = self.values.get("version") or self.fill("{version}")
            sign = agent.h_sign(version + self.values.get("random", ""))
            if len(sign) != SIGNATURE_LENGTH:
                raise AuthRefused(
                    T(
                        "讀卡元件回傳的簽章長度不正確",
                        "the card agent's signature has the wrong length",
                    ),
                    detail=f"{len(sign)} characters",
                    reason="bad-signature",
                )
            return sign
        if name == "encrypted_password":
            encrypted = agent.encrypt_password(self.password)
            env.add_secret(encrypted, "password")
            return encrypted
        raise AssertionError(f"unknown chain value {name}")  # the profile loader checks

    # -- steps -----------------------------------------------------------------------------
    def open_login_page(self, chain: LoginChain) -> Page:
        env, ecpa = self.env, self.ecpa
        spec = ecpa.page("login")
        env.log(T("開啟 eCPA 登入頁…", "Opening the eCPA login page…"))
        page = env.open(login_url(ecpa, self.return_url), "ecpa-login")
        env.expect(page, spec, "ecpa-login", site=ecpa)
        if chain.column:
            try:
                column = page.region(spec.control(chain.column))
                form = page.form().scoped(column)
                for key in chain.controls:
                    form.find(spec.control(key), buttons=key == "login")
            except SiteChanged:
                raise
            except NhicardError as missing:
                raise env.site_changed(page, "ecpa-login", missing.message) from None
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
            hint=refused_return_hint(self.env, self.return_url or ""),
            reason="return-url-refused",
        )

    def call(
        self,
        call: ChainCall,
        fields: list[tuple[str, str]],
        origin: str,
        secret_names: list[str],
    ) -> str:
        """One XHR call of the page's script; its reply read as the profile says; a reply
        that does not match ``ok`` becomes a typed refusal."""
        env = self.env
        reply_page = env.browser.fetch(
            "POST",
            call.url,
            pairs=fields,
            headers={"Origin": origin, "Accept": "*/*"},
            secret_names=secret_names,
        )
        step = f"ecpa-{call.name}"
        if reply_page.status != 200 or _HTML_START.match(reply_page.text):
            raise env.site_changed(
                reply_page,
                step,
                T(
                    "{name} 的回應不是純文字答覆(HTTP {status})",
                    "the answer of {name} is not a plain-text reply (HTTP {status})",
                ).format(name=call.name, status=reply_page.status),
            )
        reply = reply_page.text.strip()
        if call.reply == "json":
            try:
                decoded = reply_page.json()
            except NhicardError:
                raise env.site_changed(
                    reply_page,
                    step,
                    T("{name} 的回應不是 JSON", "the answer of {name} is not JSON").format(
                        name=call.name
                    ),
                ) from None
            value = decoded.get(call.reply_key) if isinstance(decoded, dict) else None
            reply = str(value).strip() if isinstance(value, str | int) else ""
        if re.fullmatch(call.ok, reply):
            return reply
        raise refusal_error(reply, self.ecpa, call, card_password=self.account is None)

    def land_on_home(self, login_page: Page) -> EcpaLoginResult:
        """Without a return URL: eCPA's home, when the profile names it."""
        env, ecpa = self.env, self.ecpa
        if "home" not in ecpa.pages or not ecpa.pages["home"].url:
            # the profile names no page that shows the name (the real one: not recorded)
            return EcpaLoginResult(name="", url=login_page.url)
        page = env.open(ecpa.url("home"), "ecpa-home")
        env.expect(page, ecpa.page("home"), "ecpa-home", site=ecpa)
        name = self.shown_name(page, ecpa, "ecpa-home")
        return EcpaLoginResult(name=name, url=page.url)

    def single_sign_on(self, chain: LoginChain) -> EcpaLoginResult:
        """Post the chain's hidden form (``loginType``, ``APReqEncodedData``) to the return
        URL and follow the relying party's redirects."""
        env = self.env
        assert self.return_url is not None
        pairs = tuple((name, self.fill(value)) for name, value in chain.sso_fields)
        relying = origin_of(self.return_url)
        env.log(T("前往 {site}…", "Continuing to {site}…").format(site=relying))
        page = env.submit(Submission("POST", self.return_url, pairs), "relying-party")
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
        fallback = ""  # never the ID number GetUID answered: a name is shown, or nothing
        if site is None:
            return EcpaLoginResult(name=fallback, url=page.url, relying_party=relying)
        if site.markers.success and not page.find_marker(site.markers.success):
            raise env.site_changed(
                page,
                "relying-party",
                T("找不到「{m}」", "none of '{m}' is on the page").format(
                    m=" / ".join(site.markers.success)
                ),
            )
        shown_name = (
            self.shown_name(page, site, "relying-party") if site.name_selectors else fallback
        )
        return EcpaLoginResult(name=shown_name, url=page.url, relying_party=relying)

    def relying_site(self, origin: str) -> SiteSpec | None:
        """The profile's description of the relying party at ``origin``, if it has one."""
        for site in (self.env.profile.elearn,):
            if origin_of(site.base_url) == origin:
                return site
        return None

    def shown_name(self, page: Page, site: SiteSpec, step: str) -> str:
        for selector in site.name_selectors:
            for el in page.soup.select(selector):
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


def ecpa_login(
    env: FlowEnv, password: str, return_url: str | None = None, *, account: str | None = None
) -> EcpaLoginResult:
    """Sign in to eCPA: with ``account`` its account/password column, else the NHI-card
    column with the card and ``password`` (see the module docstring)."""
    return EcpaLogin(env, password, return_url, account=account).run()
