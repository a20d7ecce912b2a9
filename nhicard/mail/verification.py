"""Finding the verification mail (認證通知信) and its link 「健保卡註冊認證作業」.

:func:`find_verification_mail` looks once; :func:`wait_for_verification_mail` polls a
source until the mail arrives. Both pick the NEWEST matching mail at or after ``since``.
A mail matches when its subject contains one of the profile's subject markers, its sender
one of the sender markers (when given), and it carries a link: the anchor labelled with the
profile's link label in an HTML part, else the first URL the profile's pattern accepts in a
text part. A link whose host is not an allowed host is refused loudly (:class:`ForeignLink`,
exit 8): such a mail imitates the site and the link must not be opened.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from nhicard.core.errors import NetworkError, UsageError
from nhicard.core.i18n import T, Text
from nhicard.mail.body import message_bodies
from nhicard.mail.errors import ForeignLink, MailNotFound
from nhicard.mail.links import first_matching, html_hrefs, labelled_links, text_urls
from nhicard.mail.message import MailItem, header_text
from nhicard.mail.sources import MessageSource, SearchHint


@dataclass(frozen=True)
class MailMarkers:
    """How to recognise the verification mail (the profile's ``[mail]`` table).

    ``sender_contains``: substring(s) of the From header, any one suffices (``None`` or
    empty: any sender); ``subject_contains``: substrings of the subject, any one suffices;
    ``link_label``: the anchor text of the link; ``link_pattern``: a regex the link must
    match (searched); ``allowed_hosts``: the only hosts a link may point to."""

    sender_contains: str | tuple[str, ...] | None
    subject_contains: tuple[str, ...]
    link_label: str
    link_pattern: str
    allowed_hosts: tuple[str, ...]
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            pattern = re.compile(self.link_pattern)
        except re.error as exc:
            raise UsageError(
                T(
                    "認證連結的網址樣式不是有效的正規表示式:{error}",
                    "the verification link pattern is not a valid regex: {error}",
                ).format(error=str(exc)),
                hint=T(
                    "修正網站設定檔 [mail] 的 link_url_pattern。",
                    "Fix link_url_pattern in the site profile's [mail] table.",
                ),
                reason="bad-link-pattern",
            ) from None
        object.__setattr__(self, "_pattern", pattern)

    @classmethod
    def from_profile(cls, spec: Any) -> MailMarkers:
        """From a site profile's ``MailSpec`` (``nhicard.sites.model``)."""
        return cls(
            sender_contains=tuple(spec.sender_contains),
            subject_contains=tuple(spec.subject_contains),
            link_label=spec.link_label,
            link_pattern=spec.link_url_pattern,
            allowed_hosts=tuple(spec.allowed_link_hosts),
        )

    @property
    def senders(self) -> tuple[str, ...]:
        """``sender_contains`` as a tuple (empty: any sender)."""
        if self.sender_contains is None:
            return ()
        if isinstance(self.sender_contains, str):
            return (self.sender_contains,) if self.sender_contains else ()
        return tuple(s for s in self.sender_contains if s)

    def hint(self) -> SearchHint:
        """What a server may search for."""
        return SearchHint(
            subject_terms=tuple(s for s in self.subject_contains if s), sender_terms=self.senders
        )

    def headers_match(self, subject: str, sender: str) -> bool:
        """Whether subject and sender look like the verification mail's."""
        subjects = [s for s in self.subject_contains if s]
        if subjects and not any(s in subject for s in subjects):
            return False
        lowered = sender.lower()
        return not self.senders or any(s.lower() in lowered for s in self.senders)

    def host_allowed(self, url: str) -> bool:
        host = _host(url)
        return host is not None and host in {h.lower() for h in self.allowed_hosts}

    @property
    def pattern(self) -> re.Pattern[str]:
        return self._pattern


@dataclass(frozen=True)
class VerificationMail:
    """The chosen mail and its link. ``date`` is aware (or ``None`` if the mail had none)."""

    link: str
    subject: str
    sender: str
    date: datetime | None
    message_id: str | None
    skipped: tuple[Text, ...] = ()  # mails of the source passed over as unreadable

    def to_dict(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "subject": self.subject,
            "sender": self.sender,
            "date": self.date.isoformat() if self.date else None,
            "message_id": self.message_id,
        }


@dataclass(frozen=True)
class WaitTick:
    """Progress of :func:`wait_for_verification_mail` after a poll without result."""

    attempt: int
    elapsed: float
    remaining: float
    examined: int
    error: str | None = None


def _host(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    return host.lower() if host else None


def _normalise(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when if when.tzinfo is not None else when.astimezone()


def _link_of(item: MailItem, markers: MailMarkers) -> str | None:
    """The verification link of one mail; :class:`ForeignLink` if it leads elsewhere."""
    bodies = message_bodies(item.message)
    labelled = labelled_links(bodies.html, markers.link_label) if markers.link_label else []
    if labelled:
        link = labelled[0]
        if not markers.host_allowed(link) or not markers.pattern.search(link):
            raise _foreign(item, link, markers)
        return link
    return first_matching(text_urls(bodies.text), markers.pattern) or first_matching(
        html_hrefs(bodies.html), markers.pattern
    )


def _foreign(item: MailItem, link: str, markers: MailMarkers) -> ForeignLink:
    host = _host(link) or urlsplit(link).scheme or "?"
    return ForeignLink(
        T(
            "危險!認證通知信中的連結指向不允許的網站 {host},已拒絕開啟。"
            "這封信可能是偽冒的網路釣魚信。",
            "DANGER: the verification mail's link points to a host that is not allowed "
            "({host}); refusing to open it. The mail may be a phishing imitation.",
        ).format(host=host),
        hint=T(
            "不要點選這封信中的連結;允許的網站:{allowed}。請刪除這封信並向健保署確認。",
            "Do not click links in this mail; allowed hosts: {allowed}. Delete the mail and "
            "check with the NHI administration.",
        ).format(allowed=", ".join(markers.allowed_hosts)),
        host=host,
        reason="foreign-link",
        detail=item.ref,
        data={"link": link, "host": host, "subject": header_text(item.message, "Subject")},
    )


_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Candidate:
    when: datetime
    order: int
    item: MailItem
    link: str | None
    refusal: ForeignLink | None


def find_verification_mail(
    source: MessageSource, markers: MailMarkers, since: datetime | None = None
) -> VerificationMail:
    """The newest verification mail of ``source`` dated at or after ``since``.

    Naive ``since`` is local time; a mail without any date counts as older than every
    ``since``. Raises :class:`MailNotFound` (exit 8) telling how many mails were looked at,
    or :class:`ForeignLink` (exit 8) when the newest matching mail's link leads outside
    ``markers.allowed_hosts``."""
    cut = _normalise(since)
    examined = 0
    header_matches = 0
    older = 0
    candidates: list[_Candidate] = []
    for order, item in enumerate(source.messages(since=cut, hint=markers.hint())):
        examined += 1
        when = _normalise(item.date)
        if cut is not None and (when is None or when < cut):
            older += 1
            continue
        subject = header_text(item.message, "Subject")
        sender = header_text(item.message, "From")
        if not markers.headers_match(subject, sender):
            continue
        header_matches += 1
        try:
            link = _link_of(item, markers)
        except ForeignLink as refused:
            candidates.append(_Candidate(when or _OLDEST, order, item, None, refused))
            continue
        if link:
            candidates.append(_Candidate(when or _OLDEST, order, item, link, None))
    skipped = tuple(getattr(source, "skipped", ()))
    if not candidates:
        missing = _not_found(examined, older, header_matches, cut, source, markers)
        missing.data["skipped"] = list(skipped)
        raise missing
    best = max(candidates, key=lambda c: (c.when, c.order))
    if best.refusal is not None:
        raise best.refusal
    assert best.link is not None
    return VerificationMail(
        link=best.link,
        subject=header_text(best.item.message, "Subject"),
        sender=header_text(best.item.message, "From"),
        date=_normalise(best.item.date),
        message_id=header_text(best.item.message, "Message-ID") or None,
        skipped=skipped,
    )


def _searched_for(markers: MailMarkers, since: datetime | None) -> Text:
    """What was searched for, plainly: subject, sender and date of the mail."""
    subjects = [s for s in markers.subject_contains if s]
    zh, en = [], []
    if subjects:
        zh.append("主旨含" + "或".join(f"「{s}」" for s in subjects))
        en.append("a subject containing " + " or ".join(f"“{s}”" for s in subjects))
    if markers.senders:
        zh.append("寄件者含" + "或".join(f"「{s}」" for s in markers.senders))
        en.append("a sender containing " + " or ".join(f"“{s}”" for s in markers.senders))
    english = "a mail" + (" with " + " and ".join(en) if en else "")
    if since is not None:
        when = since.isoformat(timespec="seconds")
        zh.append(f"日期在 {when} 之後")
        english += f", dated at or after {when}"
    chinese = "、".join(zh) + ("且" if zh else "") + "帶有認證連結的信"
    return T(chinese, english + ", carrying a verification link")


def _why_none(examined: int, older: int, matched: int, since: datetime | None) -> Text:
    """Why none of the mails looked at is the verification mail, reason by reason."""
    if examined == 0:
        return T("那裡沒有任何可看的信", "there was no mail there to look at")
    other = examined - older - matched
    zh = [f"看過 {examined} 封信,其中 "]
    en = [f"looked at {examined} mail(s): "]
    parts_zh, parts_en = [], []
    when = since.isoformat(timespec="seconds") if since else ""
    if older:
        parts_zh.append(f"{older} 封早於 {when}")
        parts_en.append(f"{older} older than {when}")
    if other:
        parts_zh.append(f"{other} 封主旨或寄件者不符")
        parts_en.append(f"{other} with another subject or sender")
    if matched:
        parts_zh.append(f"{matched} 封主旨相符但沒有可用的認證連結")
        parts_en.append(f"{matched} with a matching subject but no usable link")
    return T(zh[0] + "、".join(parts_zh), en[0] + ", ".join(parts_en))


def _not_found(
    examined: int,
    older: int,
    matched: int,
    since: datetime | None,
    source: MessageSource,
    markers: MailMarkers,
) -> MailNotFound:
    searched = _searched_for(markers, since)
    why = _why_none(examined, older, matched, since)
    return MailNotFound(
        Text(  # not a template: the source's name may hold braces
            f"找不到認證通知信:在 {source.description} 找{searched.zh};{why.zh}",
            f"no verification mail found in {source.description}: searched for {searched.en}; "
            f"{why.en}",
        ),
        hint=T(
            "確認註冊時填寫的電子郵件信箱、垃圾郵件匣,或以 --wait 等待信件送達;"
            "--since 可放寬時間範圍。",
            "Check the e-mail address given when registering and the spam folder, or wait "
            "for the mail with --wait; --since widens the time range.",
        ),
        examined=examined,
        matched=matched,
        reason="mail-not-found",
        data={
            "older": older,
            "source": source.description,
            "since": since.isoformat() if since else None,
        },
    )


def wait_for_verification_mail(
    source_factory: Callable[[], MessageSource],
    markers: MailMarkers,
    since: datetime | None,
    timeout: float,
    poll_interval: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_tick: Callable[[WaitTick], None] | None = None,
) -> VerificationMail:
    """Poll until the verification mail arrives or ``timeout`` seconds pass.

    Each poll takes a fresh source from ``source_factory`` (for IMAP: a new connection, so
    server restarts and idle disconnects do not matter). ``on_tick`` is called after each
    poll without result. A network failure on the first poll is raised at once (wrong
    server, untrusted certificate); after one successful poll, network failures are
    reported through ``on_tick`` and retried until the deadline, where the last one is
    raised. Login refusals, foreign links and missing files are never retried."""
    start = clock()
    deadline = start + max(0.0, timeout)
    attempt = 0
    reached = False
    while True:
        attempt += 1
        error: NetworkError | None = None
        try:
            return find_verification_mail(source_factory(), markers, since)
        except MailNotFound as missing:
            reached = True
            last: MailNotFound | NetworkError = missing
            examined = missing.examined
        except NetworkError as failure:
            if not reached:
                raise
            last, error, examined = failure, failure, 0
        now = clock()
        if now >= deadline:
            last.data["waited_seconds"] = round(now - start, 1)
            raise last
        if on_tick is not None:
            on_tick(
                WaitTick(
                    attempt=attempt,
                    elapsed=now - start,
                    remaining=deadline - now,
                    examined=examined,
                    error=str(error.message) if error is not None else None,
                )
            )
        sleep(max(0.0, min(poll_interval, deadline - now)))
