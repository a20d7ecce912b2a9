"""Steps 5–6 of the manual: follow the verification mail's link 「健保卡註冊認證作業」, read the
card there (讀取) and confirm (確定) — the registration password is then set.

Getting the link: :func:`open_mail_source` opens one of the sources (``.eml``, mbox, Maildir,
IMAP); :func:`find_link` picks the newest verification mail after ``since`` by the profile's
mail markers (polling with ``wait``); :func:`check_link` refuses a link that does not lead to
the profile's own NHI site (a phishing imitation must never be opened).

Following it (:func:`verify_link`): the link's page → 讀取 (the card agent fills the hidden
fields as the page's script does, then ``__doPostBack``) → 確定 → the done page. Outcomes
that are not success, each with the site's own message:

=====================================  ====  ==================================
what                                   exit  reason
=====================================  ====  ==================================
link expired                           8     ``link-expired``
link already used                      8     ``link-used``
link unknown / refused otherwise       8     ``link-invalid``
another card than the registered one   9     ``wrong-card`` (the identity presented was refused)
no card in the reader                  5     (from the card agent)
any other refusal by the site          8     ``site-message``
=====================================  ====  ==================================

The verification page's wording (expired, used, wrong card, read OK) comes from the
profile's ``[nhi.options]`` ``*_markers`` (``|``-separated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from nhicard.core.errors import AuthRefused, SiteRejected
from nhicard.core.i18n import T, Text
from nhicard.flows.base import FlowEnv, fill_agent_fields, site_message_text, site_rejected
from nhicard.mail import (
    EmlSource,
    ForeignLink,
    MaildirSource,
    MailMarkers,
    MboxSource,
    MessageSource,
    VerificationMail,
    WaitTick,
    find_verification_mail,
    wait_for_verification_mail,
)
from nhicard.sites.model import SiteProfile
from nhicard.web.aspnet import postback
from nhicard.web.page import Page

SOURCE_KINDS = ("eml", "mbox", "maildir", "imap")
LOCAL_POLL_SECONDS = 2.0
IMAP_POLL_SECONDS = 10.0


@dataclass(frozen=True)
class VerifyResult:
    """The registration was verified: the card's password is set."""

    url: str
    status: str = "verified"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status}


@dataclass(frozen=True)
class MailSourceSpec:
    """Which mail source the user named: ``kind`` one of :data:`SOURCE_KINDS`, ``location``
    a path or an IMAP URL."""

    kind: str
    location: str
    imap_password: str | None = None
    imap_ca_bundle: str | None = None

    def open(self) -> MessageSource:
        return open_mail_source(self)

    @property
    def poll_interval(self) -> float:
        return IMAP_POLL_SECONDS if self.kind == "imap" else LOCAL_POLL_SECONDS


def open_mail_source(spec: MailSourceSpec) -> MessageSource:
    """The :class:`~nhicard.mail.MessageSource` for ``spec`` (nothing is read yet)."""
    if spec.kind == "eml":
        return EmlSource(Path(spec.location))
    if spec.kind == "mbox":
        return MboxSource(Path(spec.location))
    if spec.kind == "maildir":
        return MaildirSource(Path(spec.location))
    if spec.kind == "imap":
        from nhicard.mail.imap import ImapSource

        return ImapSource(spec.location, spec.imap_password or "", ca_bundle=spec.imap_ca_bundle)
    raise ValueError(f"unknown mail source kind {spec.kind!r}")


def mail_markers(profile: SiteProfile) -> MailMarkers:
    """How the profile recognises the verification mail and its link."""
    return MailMarkers.from_profile(profile.mail)


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``; an unparsable URL gives empty parts and port -1."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "", "", -1
    scheme = parts.scheme.lower()
    default = {"https": 443, "http": 80}.get(scheme)
    return scheme, host, port if port is not None else default


MAX_LINK_CHARS = 4096  # the site's links are ~150 characters; browsers refuse far less


def _refuse_malformed(link: str) -> None:
    """:class:`ForeignLink` (exit 8) for a link no browser would open: too long, or with
    control characters, spaces or other characters that are not printable ASCII."""
    if len(link) > MAX_LINK_CHARS:
        why = T("長度 {n} 個字元,超過 {max}", "it is {n} characters long, more than {max}").format(
            n=len(link), max=MAX_LINK_CHARS
        )
    elif any(not ("\x21" <= ch <= "\x7e") for ch in link):
        bad = next(ch for ch in link if not ("\x21" <= ch <= "\x7e"))
        why = T(
            "含有不允許的字元 {ch}", "it contains the character {ch}, which is not allowed"
        ).format(ch=ascii(bad))
    else:
        return
    raise ForeignLink(
        T(f"認證連結無效:{why.zh}", f"the verification link is not valid: {why.en}"),
        host="?",
        hint=T(
            "請使用健保署寄來的認證通知信中的「健保卡註冊認證作業」連結。",
            "Use the 「健保卡註冊認證作業」 link of the NHI's own verification mail.",
        ),
        reason="link-invalid",
    )


def check_link(profile: SiteProfile, link: str) -> str:
    """``link`` when it leads to the profile's NHI site (same scheme and port, a host the
    profile allows, the profile's link pattern, well-formed); else :class:`ForeignLink`
    (exit 8)."""
    _refuse_malformed(link)
    scheme, host, port = _origin(link)
    site_scheme, site_host, site_port = _origin(profile.nhi.base_url)
    allowed_hosts = {h.lower() for h in profile.mail.allowed_link_hosts} | {site_host}
    if (
        scheme == site_scheme
        and port == site_port
        and host in allowed_hosts
        and profile.mail.link_allowed(link)
    ):
        return link
    shown = f"{host}:{port}" if host else (scheme or "?")
    raise ForeignLink(
        T(
            "危險!認證連結 {link} 不是 {site} 的網址,已拒絕開啟;這可能是偽冒的網路釣魚信",
            "DANGER: the verification link {link} does not lead to {site}; refusing to open "
            "it. It may come from a phishing imitation",
        ).format(link=_short(link), site=profile.nhi.base_url),
        hint=T(
            "不要開啟這個連結;請使用健保署寄來的認證通知信中的「健保卡註冊認證作業」連結。",
            "Do not open this link; use the 「健保卡註冊認證作業」 link of the NHI's own "
            "verification mail.",
        ),
        host=shown,
        reason="foreign-link",
        data={"host": shown},
    )


def _short(link: str) -> str:
    """The link without its query (the token is a secret of the user's)."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return "(?)"
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def find_link(
    source: MailSourceSpec,
    profile: SiteProfile,
    *,
    since: datetime | None = None,
    wait: float | None = None,
    on_tick: Callable[[WaitTick], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> VerificationMail:
    """The newest verification mail of ``source`` after ``since`` whose link leads to the
    profile's site; with ``wait`` (seconds) the source is polled until the mail comes."""
    markers = mail_markers(profile)
    if wait:
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        mail = wait_for_verification_mail(
            source.open,
            markers,
            since,
            wait,
            poll_interval=source.poll_interval,
            on_tick=on_tick,
            **extra,
        )
    else:
        mail = find_verification_mail(source.open(), markers, since)
    check_link(profile, mail.link)
    return mail


def _markers(env: FlowEnv, key: str) -> tuple[str, ...]:
    value = env.profile.nhi.options.get(key, "")
    return tuple(m.strip() for m in value.split("|") if m.strip())


def _matches(messages: list[str], markers: tuple[str, ...]) -> bool:
    text = " ".join(messages).lower()
    return any(m.lower() in text for m in markers)


def _joined(messages: list[str]) -> Text:
    texts = [site_message_text(m) for m in messages]
    return Text(" / ".join(t.zh for t in texts), " / ".join(t.en for t in texts))


def link_refused(env: FlowEnv, page: Page, messages: list[str]) -> SiteRejected:
    """Exit 8 for a link the site no longer honours (expired, used, unknown)."""
    if _matches(messages, _markers(env, "link_expired_markers")):
        reason = "link-expired"
        hint = T(
            "認證連結已過期:請重新執行 nhicard register 申請,並在期限內完成認證。",
            "The link has expired: apply again with `nhicard register` and verify in time.",
        )
    elif _matches(messages, _markers(env, "link_used_markers")):
        reason = "link-used"
        hint = T(
            "此連結已使用過:若密碼已設定,可直接登入(nhicard ecpa login);"
            "否則請使用最新一封認證通知信。",
            "The link was used already: if the password is set, just log in (`nhicard ecpa "
            "login`); otherwise use the newest verification mail.",
        )
    else:
        reason = "link-invalid"
        hint = T(
            "請使用最新一封認證通知信中的連結,或重新申請註冊。",
            "Use the link of the newest verification mail, or apply again.",
        )
    text = _joined(messages) if messages else T("(沒有訊息)", "(no message)")
    return SiteRejected(
        T("認證連結無法使用:{zh}", "the verification link cannot be used: {en}").format(
            zh=text.zh, en=text.en
        ),
        hint=hint,
        reason=reason,
        data={"messages": messages, "step": "verify"},
    )


def wrong_card(messages: list[str]) -> AuthRefused:
    text = _joined(messages)
    return AuthRefused(
        T("網站拒絕這張健保卡:{zh}", "the site refused this card: {en}").format(
            zh=text.zh, en=text.en
        ),
        hint=T(
            "請插入申請註冊時使用的那張健保卡,再執行一次。",
            "Insert the card the registration was made with and run again.",
        ),
        reason="wrong-card",
        data={"messages": messages, "step": "verify-read"},
    )


def verify_link(env: FlowEnv, link: str) -> VerifyResult:
    """Open the verification link, read the card there (讀取) and confirm (確定)."""
    profile = env.profile
    nhi = profile.nhi
    spec = nhi.page("verify")
    check_link(profile, link)
    for _name, value in parse_qsl(urlsplit(link).query):
        env.add_secret(value, "other")  # the link's token: not in traces or saved pages
    env.log(T("開啟認證連結…", "Opening the verification link…"))
    page = env.open(link, "verify")
    env.check_session(page, nhi, "verify")
    form_page = page.forms() and page.form().has(spec.control("read_card"))
    if not form_page:
        messages = env.messages(page, nhi)
        if messages:
            raise link_refused(env, page, messages)
        env.expect(page, spec, "verify", site=nhi)
        raise env.site_changed(
            page, "verify", T("找不到「讀取」按鈕", "no 「讀取」 (Read) button on the page")
        )
    env.expect(page, spec, "verify", site=nhi)
    env.log(T("讀取健保卡…", "Reading the NHI card…"))
    form = page.form()
    basic = fill_agent_fields(form, spec, env.agent)
    env.add_secret(basic.name, "name")
    env.add_secret(basic.id_number, "id")
    button = form.find(spec.control("read_card"), buttons=True)[0]
    target = str(button.get("name") or button.get("id") or "")
    page = env.submit(postback(form, target), "verify-read")
    env.check_session(page, nhi, "verify-read")
    messages = env.messages(page, nhi)
    if _matches(messages, _markers(env, "wrong_card_markers")):
        raise wrong_card(messages)
    if not (page.forms() and page.form().has(spec.control("confirm"))):
        if messages:
            raise link_refused(env, page, messages)
        raise env.site_changed(
            page, "verify-read", T("找不到「確定」按鈕", "no 「確定」 (OK) button on the page")
        )
    read_ok = _markers(env, "read_ok_markers")
    if messages and read_ok and not _matches(messages, read_ok):
        raise site_rejected(messages, step="verify-read")
    if messages and _matches(messages, nhi.markers.error) and not _matches(messages, read_ok):
        raise site_rejected(messages, step="verify-read")
    env.log(T("確定…", "Confirming…"))
    form = page.form()
    page = env.submit(form.submission(spec.control("confirm")), "verify-confirm")
    env.check_session(page, nhi, "verify-confirm")
    done = nhi.page("done")
    still_verify = bool(page.forms()) and page.form().has(spec.control("confirm"))
    if done.markers and page.find_marker(done.markers) and not still_verify:
        return VerifyResult(url=page.url)
    messages = env.messages(page, nhi)
    if _matches(messages, _markers(env, "wrong_card_markers")):
        raise wrong_card(messages)
    if not still_verify and messages:
        raise link_refused(env, page, messages)
    if messages:
        raise site_rejected(messages, step="verify-confirm")
    raise env.site_changed(
        page,
        "verify-confirm",
        T("找不到「{m}」", "none of '{m}' is on the page").format(m=" / ".join(done.markers)),
    )
