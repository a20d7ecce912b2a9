"""Sample verification mails for the mail tests, built with the ``email`` package.

``sample_mail(...)`` builds a 認證通知信 the way different mail systems send it: any charset
(UTF-8, Big5/cp950, Big5-HKSCS), any transfer encoding (quoted-printable, base64, 8bit),
HTML and text parts, HTML only or text only, Chinese subjects encoded per RFC 2047.
"""

from __future__ import annotations

import email.policy
import html
import mailbox
import os
import time
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from nhicard.mail import (
    MailMarkers,
)
from nhicard.mail.message import MailItem, parse_message

SUBJECT = "健保卡網路服務註冊認證通知信"
LABEL = "健保卡註冊認證作業"
LINK = "https://127.0.0.1:8440/cloudic/system/verify.aspx?token=AbC123_-xyz&lang=zh"
BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

SANDBOX_MARKERS = MailMarkers(
    sender_contains=None,
    subject_contains=("認證",),
    link_label=LABEL,
    link_pattern=r"^https://127\.0\.0\.1:\d+/",
    allowed_hosts=("127.0.0.1", "localhost"),
)
REAL_MARKERS = MailMarkers(
    sender_contains=("nhi.gov.tw",),
    subject_contains=("認證",),
    link_label=LABEL,
    link_pattern=r"^https://cloudicweb\.nhi\.gov\.tw/",
    allowed_hosts=("cloudicweb.nhi.gov.tw",),
)


def sample_mail(
    link: str = LINK,
    *,
    date: datetime | None = BASE_TIME,
    subject: str = SUBJECT,
    sender: str = "noreply@nhi.sandbox",
    parts: tuple[str, ...] = ("text", "html"),
    charset: str = "utf-8",
    cte: str | None = None,
    name: str = "王小明",
    html_link: str | None = None,
    text_link: str | None = None,
    extra_text: str = "",
    message_id: str | None = None,
) -> EmailMessage:
    """A verification mail. ``html_link``/``text_link`` override the link of one part."""
    msg = EmailMessage(policy=email.policy.default)
    msg["Subject"] = subject
    local, _, domain = sender.partition("@")
    msg["From"] = Address("衛生福利部中央健康保險署", local, domain)
    msg["To"] = "tester@example.test"
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id or f"<{time.time_ns()}.{os.getpid()}@nhi.sandbox>"
    text = (
        f"{name} 您好:\n\n請點選下列連結進行「{LABEL}」,以完成註冊:\n\n"
        f"{text_link if text_link is not None else link}\n\n{extra_text}"
        "此連結僅能使用一次。本信件由系統自動發送,請勿直接回覆。\n"
    )
    href = html.escape(html_link if html_link is not None else link, quote=True)
    body_html = (
        f'<html><head><meta charset="{charset}"></head><body>'
        f"<p>{html.escape(name)} 您好:</p><p>{extra_text}請點選下列連結,以完成註冊:</p>"
        f'<p><a href="{href}">\n  {LABEL}\n</a></p>'
        f'<p><a href="https://127.0.0.1:8440/help">說明</a></p></body></html>'
    )
    kw = {"charset": charset} | ({"cte": cte} if cte else {})
    first = True
    for kind in parts:
        content, subtype = (text, "plain") if kind == "text" else (body_html, "html")
        if first:
            msg.set_content(
                content.encode(charset), maintype="text", subtype=subtype, cte=cte or "base64"
            )
            msg.set_param("charset", charset)
            first = False
        else:
            msg.add_alternative(content, subtype=subtype, **kw)
    return msg


def write_maildir(root: Path, messages: list[bytes], *, sub: str = "new") -> list[Path]:
    """A Maildir at ``root`` holding ``messages`` (in ``new/`` or ``cur/``)."""
    for d in ("new", "cur", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    paths = []
    for i, raw in enumerate(messages):
        name = f"{1700000000 + i}.M{i}P{os.getpid()}.test" + (":2," if sub == "cur" else "")
        path = root / sub / name
        path.write_bytes(raw)
        paths.append(path)
    return paths


def write_mbox(path: Path, messages: list[EmailMessage]) -> Path:
    box = mailbox.mbox(str(path), create=True)
    try:
        for m in messages:
            box.add(m)
    finally:
        box.close()
    return path


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class ListSource:
    """An in-memory source of raw mails (unit tests of the finder)."""

    def __init__(self, raws: list[bytes], description: str = "test") -> None:
        self.raws = raws
        self.description = description

    def messages(self, *, since=None, hint=None):  # noqa: ANN001, ANN201 - test double
        from nhicard.mail.message import header_date

        for i, raw in enumerate(self.raws):
            msg = parse_message(raw)
            yield MailItem(message=msg, date=header_date(msg), ref=f"#{i}")
