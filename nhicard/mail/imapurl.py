"""``imaps://user@host[:port]/MAILBOX`` and ``imap://…`` (STARTTLS) URLs, and IMAP's
modified UTF-7 for mailbox names (RFC 3501 §5.1.3)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from nhicard.core.i18n import T
from nhicard.mail.errors import ImapUrlInvalid
from nhicard.net.urlcheck import host_problem

IMAPS_PORT = 993
IMAP_PORT = 143

_EXAMPLE = "imaps://user%40example.com@imap.example.com/INBOX"


@dataclass(frozen=True)
class ImapUrl:
    """A parsed IMAP URL. ``implicit_tls`` for ``imaps``; ``imap`` means STARTTLS."""

    user: str
    host: str
    port: int
    mailbox: str
    implicit_tls: bool

    @property
    def server(self) -> str:
        """``host:port`` as shown in messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _bad(url: str, zh: str, en: str) -> ImapUrlInvalid:
    return ImapUrlInvalid(
        T("IMAP 網址無法使用:" + zh, "unusable IMAP URL: " + en),
        hint=T(
            f"格式為 imaps://使用者@主機[:埠]/信箱,例如 {_EXAMPLE};"
            "使用者名稱中的 @ 寫成 %40;密碼不可寫在網址中。",
            f"Use imaps://user@host[:port]/MAILBOX, e.g. {_EXAMPLE}; write @ in the user "
            "name as %40; never put the password in the URL.",
        ),
        reason="imap-url",
    )


def parse_imap_url(url: str) -> ImapUrl:
    """Parse an IMAP URL; the user and mailbox may be percent-encoded. Raises
    :class:`ImapUrlInvalid` (exit 2) for other schemes, missing parts, or a password."""
    try:
        parts = urlsplit(url.strip())
        port_value = parts.port
    except ValueError:
        raise _bad(url, "主機或埠號格式錯誤", "bad host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("imaps", "imap"):
        raise _bad(url, "只支援 imaps:// 與 imap://", "only imaps:// and imap:// are supported")
    if parts.password is not None:
        raise _bad(url, "網址中含有密碼", "the URL contains a password")
    if not parts.username:
        raise _bad(url, "缺少使用者名稱", "no user name")
    host = parts.hostname
    if not host:
        raise _bad(url, "缺少主機", "no host")
    if host_problem(host):
        raise _bad(url, "主機名稱格式錯誤", "the host name is not valid")
    if parts.query or parts.fragment:
        raise _bad(url, "不支援 ? 或 # 部分", "? and # parts are not supported")
    try:
        mailbox = unquote(parts.path.lstrip("/"), errors="strict")
        user = unquote(parts.username, errors="strict")
    except UnicodeDecodeError:
        raise _bad(url, "百分比編碼不是 UTF-8", "percent-encoding is not UTF-8") from None
    if any(ord(c) < 0x20 or c == "\x7f" for c in user + mailbox):
        raise _bad(url, "含控制字元", "control characters")
    implicit = scheme == "imaps"
    port = port_value if port_value is not None else (IMAPS_PORT if implicit else IMAP_PORT)
    if port == 0:
        raise _bad(url, "埠號不可為 0", "port 0")
    return ImapUrl(
        user=user, host=host, port=port, mailbox=mailbox or "INBOX", implicit_tls=implicit
    )


def encode_mailbox_name(name: str) -> str:
    """A mailbox name in IMAP's modified UTF-7 (``&`` → ``&-``, non-ASCII as ``&…-``)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            b64 = base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{b64}-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def quote_astring(value: str) -> str:
    """``value`` as an IMAP quoted string (ASCII only)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
