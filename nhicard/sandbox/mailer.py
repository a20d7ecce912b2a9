"""The verification mail (認證通知信) of the sandbox NHI site, and sending it over SMTP.

The mail is MIME ``multipart/alternative``: a text part with the raw link and an HTML part
where the link is labelled 「健保卡註冊認證作業」; the Chinese subject is RFC 2047 encoded.
"""

from __future__ import annotations

import html
import smtplib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from nhicard.core.clock import TAIPEI
from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T

SUBJECT = "健保卡網路服務註冊認證通知信"
SENDER_NAME = "衛生福利部中央健康保險署"
LINK_LABEL = "健保卡註冊認證作業"


def build_verification_mail(
    *,
    to: str,
    name: str,
    link: str,
    sender: str,
    now: datetime,
    expires_at: datetime,
) -> EmailMessage:
    """The 認證通知信 for ``to``, whose link ``link`` is valid until ``expires_at``."""
    local, _, domain = sender.partition("@")
    msg = EmailMessage()
    msg["Subject"] = SUBJECT
    msg["From"] = Address(SENDER_NAME, local, domain or "localhost")
    msg["To"] = to
    msg["Date"] = format_datetime(now.astimezone(TAIPEI))
    msg["Message-ID"] = make_msgid("cloudic", domain=domain or "localhost")
    sent = now.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M")
    until = expires_at.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M")
    msg.set_content(
        f"{name} 您好:\n\n"
        f"您於 {sent} 申請健保卡網路服務註冊,請於 {until} 前點選下列連結"
        f"進行「{LINK_LABEL}」,以完成註冊:\n\n{link}\n\n"
        "此連結僅能使用一次。若您未申請本服務,請忽略本信。\n"
        "本信件由系統自動發送,請勿直接回覆。\n\n"
        "Please open the link above before the time given to complete the NHI card online "
        "services registration. The link can be used once.\n",
        charset="utf-8",
    )
    safe_link = html.escape(link, quote=True)
    msg.add_alternative(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f"{SUBJECT}</title></head><body>"
        f"<p>{html.escape(name)} 您好:</p>"
        f"<p>您於 {sent} 申請健保卡網路服務註冊,請於 {until} 前點選下列連結,以完成註冊:</p>"
        f'<p><a href="{safe_link}">{LINK_LABEL}</a></p>'
        "<p>此連結僅能使用一次。若您未申請本服務,請忽略本信。<br>"
        "本信件由系統自動發送,請勿直接回覆。</p>"
        '<p lang="en">Click the link above to complete the NHI card online services '
        "registration. The link can be used once.</p>"
        "</body></html>",
        subtype="html",
        charset="utf-8",
    )
    return msg


def send_mail(msg: EmailMessage, host: str, port: int, *, timeout: float = 10.0) -> None:
    """Deliver ``msg`` over SMTP; :class:`NetworkError` when the server cannot be used."""
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise NetworkError(
            T("無法寄出認證通知信", "could not send the verification mail"),
            detail=f"{host}:{port}: {type(exc).__name__}",
        ) from None
