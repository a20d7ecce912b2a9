"""The IMAP message source: TLS always (implicit on ``imaps://``, STARTTLS on ``imap://``),
the server searched for recent candidates, messages fetched with ``BODY.PEEK[]`` from a
read-only ``EXAMINE``, so nothing is marked as read.

The password is sent only over a verified TLS connection (``AUTHENTICATE PLAIN`` when the
server offers it, else ``LOGIN``) and never appears in errors, ``repr`` or logs.

A hostile or broken server cannot hang us or fill memory: ``imaplib`` is used as it is, with
its two reading methods (``read`` for literals, ``readline``) overridden in
:class:`_BoundedImap` to read through the socket a piece at a time against one total deadline
per command (the greeting, each tagged command with its whole answer), at most
:data:`MAX_LINE` bytes per line, :data:`MAX_COMMAND_LINES` lines and
:data:`MAX_COMMAND_BYTES` bytes per command, and no literal larger than the partial fetch
asked for. The host name is resolved within that deadline too
(:func:`nhicard.net.resolve.resolve`). Mails are fetched in batches sized by their
``RFC822.SIZE``, so no answer should come near the command cap.
"""

from __future__ import annotations

import contextlib
import imaplib
import io
import re
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from nhicard.core.errors import NhicardError
from nhicard.core.i18n import T, Text
from nhicard.mail.errors import (
    ImapLoginRefused,
    ImapMailboxMissing,
    ImapUnavailable,
    MailUnreadable,
)
from nhicard.mail.imapurl import ImapUrl, encode_mailbox_name, parse_imap_url, quote_astring
from nhicard.mail.message import (
    MAX_MAIL_BYTES,
    MailItem,
    header_date,
    parse_message,
    too_large,
)
from nhicard.mail.sources import SearchHint
from nhicard.net.netclass import BASE_MESSAGES, HINT_CLOCK, Kind, classify, word
from nhicard.net.resolve import connect_within
from nhicard.net.tlsclient import verifying_context

DEFAULT_TIMEOUT = 30.0  # one IMAP command: connect and greeting, or a command and its answer
DEFAULT_MAX_MESSAGES = 200
FETCH_BATCH = 50
FETCH_BATCH_BYTES = 32 * 1024 * 1024  # the mails of one FETCH, by their RFC822.SIZE
MAX_LINE = 1024 * 1024  # one response line (imaplib's own _MAXLINE is about the same)
MAX_COMMAND_LINES = 100_000  # untagged lines in the answer to one command
MAX_COMMAND_BYTES = FETCH_BATCH_BYTES + 2 * (MAX_MAIL_BYTES + 1) + MAX_LINE
MAX_LITERAL = MAX_MAIL_BYTES + 1  # what the partial fetch asks for, at most
_BODY_ITEM = f"BODY.PEEK[]<0.{MAX_LITERAL}>"
_READ_PIECE = 64 * 1024
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID = re.compile(rb"\bUID (\d+)")


def imap_date(when: datetime) -> str:
    """``when`` as an IMAP ``date`` (``5-Jan-2025``), month names independent of locale."""
    return f"{when.day}-{_MONTHS[when.month - 1]}-{when.year}"


def parse_internaldate(header: bytes) -> datetime | None:
    """The ``INTERNALDATE`` of a FETCH response line, as an aware datetime (UTC), read by
    :func:`imaplib.Internaldate2tuple`; None without one, or for a date that does not exist
    (``31-Feb``, which that function would roll over into March)."""
    item = header[max(header.find(b'INTERNALDATE "'), 0) :]
    try:
        stamp = imaplib.Internaldate2tuple(item)
        if stamp is None:
            return None
        when = datetime.fromtimestamp(time.mktime(stamp), UTC)
    except (KeyError, OverflowError, OSError, ValueError):  # KeyError: an unknown month
        return None
    # it matched imaplib's fixed layout: INTERNALDATE "DD-Mon-YYYY HH:MM:SS +HHMM"
    date_text, zone_text = item[14:25].decode("ascii"), item[35:40].decode("ascii")
    sign = -1 if zone_text[0] == "-" else 1
    zone = timezone(sign * timedelta(hours=int(zone_text[1:3]), minutes=int(zone_text[3:5])))
    written = (int(date_text[7:11]), _MONTHS.index(date_text[3:6]) + 1, int(date_text[0:2]))
    shown = when.astimezone(zone)
    return when if (shown.year, shown.month, shown.day) == written else None


def search_criteria(
    since: datetime | None, hint: SearchHint | None
) -> tuple[list[str], bytes | None]:
    """IMAP SEARCH keys (ASCII tokens) and at most one UTF-8 literal, which goes last.

    ``SINCE`` is a date without time zone on the server, so one day earlier is asked for
    and the exact cut is made by the caller. Non-ASCII terms need a literal and ``imaplib``
    sends only one per command, so only a single non-ASCII term is searched on the server;
    other filters are left to the caller."""
    keys: list[str] = []
    literal: bytes | None = None
    literal_field: str | None = None
    if since is not None:
        day = since.astimezone(UTC) - timedelta(days=1)
        keys += ["SINCE", imap_date(day)]
    if hint is not None:
        for field, raw_terms in (("FROM", hint.sender_terms), ("SUBJECT", hint.subject_terms)):
            terms = tuple(t for t in raw_terms if t)
            if terms and all(_plain(t) for t in terms):
                keys += _any_of(field, terms)
            elif len(terms) == 1 and literal is None:
                literal, literal_field = terms[0].encode("utf-8"), field
    if literal is not None and literal_field is not None:
        return ["CHARSET", "UTF-8", *keys, literal_field], literal
    return keys or ["ALL"], None


def _plain(term: str) -> bool:
    return term.isascii() and all(0x20 <= ord(c) < 0x7F for c in term)


def _any_of(field: str, terms: tuple[str, ...]) -> list[str]:
    if len(terms) == 1:
        return [field, quote_astring(terms[0])]
    return ["OR", field, quote_astring(terms[0]), *_any_of(field, terms[1:])]


def _unavailable(url: ImapUrl, reason: str, msg: Text, hint: Text, detail: str) -> ImapUnavailable:
    return ImapUnavailable(msg.format(server=url.server), hint=hint, reason=reason, detail=detail)


_HINT_NET = T(
    "檢查主機名稱、埠號與網路連線;執行 nhicard env check 檢查環境。",
    "Check the host name, port and network; run `nhicard env check`.",
)
_HINT_CA = T(
    "伺服器憑證不受信任:確認主機名稱正確;自架或測試伺服器請以 CA 憑證檔指定信任的簽發機構。",
    "The server's certificate is not trusted: check the host name; for a private or test "
    "server give its CA certificate as the CA bundle.",
)


_HINTS = {Kind.TLS_EXPIRED: HINT_CLOCK, Kind.TLS_HOSTNAME: _HINT_CA, Kind.TLS_UNKNOWN_CA: _HINT_CA}
_MESSAGES = {  # where the base wording of nhicard.net.netclass does not fit a server
    Kind.DNS: T("找不到 {peer}(DNS)", "cannot resolve {peer} (DNS)"),
    Kind.TIMEOUT: T("{peer} 沒有回應(逾時)", "{peer} timed out"),
    Kind.TLS_UNKNOWN_CA: T(
        "無法驗證 {peer} 的憑證:簽發機構不受信任",
        "cannot verify the certificate of {peer}: unknown authority",
    ),
}


def classify_os_error(url: ImapUrl, exc: BaseException) -> ImapUnavailable:
    """A typed, bilingual error for a socket or TLS failure talking to ``url``
    (:mod:`nhicard.net.netclass` decides the kind)."""
    kind = classify(exc).kind
    peer = T(f"IMAP 伺服器 {url.server}", f"the IMAP server {url.server}")
    template = _MESSAGES.get(kind) or BASE_MESSAGES[kind if kind.reason else Kind.OTHER]
    return ImapUnavailable(
        word(template, peer),
        hint=_HINTS.get(kind, _HINT_NET),
        reason=kind.reason or "imap-connection",
        detail=f"{type(exc).__name__}: {exc}",
    )


def imap_tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A verifying TLS context (TLS ≥ 1.2): ``ca_bundle`` when given, else the system store."""
    return verifying_context(
        ca_bundle,
        hint=T("確認 CA 憑證檔的路徑與內容(PEM)。", "Check the CA bundle's path and PEM content."),
        error=ImapUnavailable,
    )


class ImapTooSlow(imaplib.IMAP4.abort):
    """The server did not finish one command's answer (or its greeting) within the deadline."""


class ImapTooMuch(imaplib.IMAP4.abort):
    """The server sent more than one command's answer may hold (lines, bytes, a literal)."""


class _BoundedImap(imaplib.IMAP4):
    """``imaplib.IMAP4`` reading against one total deadline per command and bounded sizes.

    Only the overridable methods are replaced: ``_create_socket`` (the name resolved within
    the deadline), ``open``/``_connect`` (the greeting's deadline), ``_command`` (each
    command's deadline and counters), ``read`` and ``readline``. Reads take what the socket
    has (``peek``/``read1`` of the buffered file, one ``recv`` at most), with the socket's
    timeout set to what is left of the deadline, so a server trickling a byte at a time is
    given up at the deadline rather than at each byte."""

    command_timeout: float = DEFAULT_TIMEOUT

    def _arm(self) -> None:
        self._deadline = time.monotonic() + self.command_timeout
        self._lines = 0
        self._bytes = 0

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise ImapTooSlow(f"no complete answer within {self.command_timeout:g} s")
        return left

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return connect_within(self.host or "localhost", self.port, self._left)

    def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
        self.command_timeout = timeout or DEFAULT_TIMEOUT
        self._arm()  # connect, TLS and the greeting
        super().open(host, port, timeout)

    def _command(self, name: str, *args: Any) -> Any:
        self._arm()
        return super()._command(name, *args)  # type: ignore[misc]

    def _command_complete(self, name: str, tag: bytes) -> Any:
        """imaplib rewraps every abort of a command as a plain ``abort``; ours keep their
        class (the deadline and the caps are told apart from a protocol error)."""
        try:
            return super()._command_complete(name, tag)  # type: ignore[misc]
        except imaplib.IMAP4.abort as exc:
            cause = exc.__context__
            if isinstance(cause, ImapTooSlow | ImapTooMuch) and not isinstance(
                exc, ImapTooSlow | ImapTooMuch
            ):
                raise type(cause)(str(exc)) from None
            raise

    def _count(self, size: int) -> None:
        self._bytes += size
        if self._bytes > MAX_COMMAND_BYTES:
            raise ImapTooMuch(f"more than {MAX_COMMAND_BYTES // (1024 * 1024)} MB in one answer")

    def _buffered(self) -> io.BufferedReader:
        """imaplib's ``file``: ``sock.makefile("rb")``, a buffered reader."""
        return cast(io.BufferedReader, self.file)

    def _piece(self, size: int, *, peek: bool) -> bytes:
        self.sock.settimeout(self._left())
        try:
            data = self._buffered().peek(1) if peek else self._buffered().read1(size)
        except TimeoutError:
            raise ImapTooSlow(f"no complete answer within {self.command_timeout:g} s") from None
        return data[:size] if peek else data

    def read(self, size: int) -> bytes:
        if size > MAX_LITERAL:
            raise ImapTooMuch(f"a literal of {size} bytes, more than the {MAX_LITERAL} asked for")
        self._count(size)
        parts: list[bytes] = []
        left = size
        while left > 0:
            data = self._piece(min(left, _READ_PIECE), peek=False)
            if not data:
                break
            parts.append(data)
            left -= len(data)
        return b"".join(parts)

    def readline(self) -> bytes:
        self._lines += 1
        if self._lines > MAX_COMMAND_LINES:
            raise ImapTooMuch(f"more than {MAX_COMMAND_LINES} lines in one answer")
        parts: list[bytes] = []
        length = 0
        while True:
            data = self._piece(MAX_LINE + 1 - length, peek=True)
            if not data:
                break
            end = data.find(b"\n")
            take = len(data) if end < 0 else end + 1
            parts.append(self._buffered().read(take))  # already buffered: no waiting
            length += take
            self._count(take)
            if end >= 0:
                break
            if length > MAX_LINE:
                raise ImapTooMuch(f"a line of more than {MAX_LINE} bytes")
        return b"".join(parts)


class _BoundedImapSsl(_BoundedImap, imaplib.IMAP4_SSL):  # type: ignore[misc]
    """:class:`_BoundedImap` over implicit TLS (``imaps://``); the handshake is bounded as a
    whole by the socket's timeout, set to what is left of the deadline."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = _BoundedImap._create_socket(self, timeout)
        sock.settimeout(self._left())
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class ImapSource:
    """Mails of one IMAP mailbox; each :meth:`messages` call is one connection (connect,
    log in, ``EXAMINE``, ``UID SEARCH``, ``UID FETCH … BODY.PEEK[]``, log out), so a poll
    loop survives server restarts and idle timeouts.

    ``url``: ``imaps://user@host[:port]/MAILBOX`` (implicit TLS, port 993) or
    ``imap://user@host[:port]/MAILBOX`` (STARTTLS required, port 143); the user name may be
    percent-encoded (``%40`` for ``@``). ``ca_bundle``: PEM file of trusted CAs, else the
    system store. At most ``max_messages`` of the newest search hits are fetched."""

    def __init__(
        self,
        url: str,
        password: str,
        ca_bundle: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
    ) -> None:
        self.url = parse_imap_url(url)
        self._password = password
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.max_messages = max_messages
        scheme = "imaps" if self.url.implicit_tls else "imap"
        self.description = f"{scheme}://{self.url.server}/{self.url.mailbox}"
        self.skipped: list[Text] = []

    def __repr__(self) -> str:
        return f"ImapSource({self.description!r}, user={self.url.user!r})"

    def messages(
        self, *, since: datetime | None = None, hint: SearchHint | None = None
    ) -> Iterator[MailItem]:
        """Candidate mails from the server (searched by ``since`` and ``hint``)."""
        yield from self._fetch(since, hint)

    # -- one session ------------------------------------------------------------------
    def _fetch(self, since: datetime | None, hint: SearchHint | None) -> list[MailItem]:
        conn = self._connect()
        try:
            self._login(conn)
            self._examine(conn)
            uids = self._search(conn, since, hint)
            items = self._fetch_uids(conn, uids[-self.max_messages :] if uids else [])
            _quietly_logout(conn)
            return items
        except (imaplib.IMAP4.abort, OSError) as exc:
            raise self._protocol_failure(exc) from None
        finally:
            _quietly_close(conn)

    def _connect(self) -> imaplib.IMAP4:
        url = self.url
        ctx = imap_tls_context(self.ca_bundle)
        conn: imaplib.IMAP4 | None = None
        try:
            if url.implicit_tls:
                return _BoundedImapSsl(url.host, url.port, ssl_context=ctx, timeout=self.timeout)
            conn = _BoundedImap(url.host, url.port, timeout=self.timeout)
            if "STARTTLS" not in conn.capabilities:
                raise _unavailable(
                    url,
                    "imap-no-starttls",
                    T(
                        "IMAP 伺服器 {server} 不支援 STARTTLS,拒絕以明文傳送密碼",
                        "the IMAP server {server} does not offer STARTTLS; refusing to send "
                        "the password in clear",
                    ),
                    T(
                        "改用 imaps://(通常為埠 993),或請郵件管理者啟用 STARTTLS。",
                        "Use imaps:// (usually port 993), or ask the mail administrator to "
                        "enable STARTTLS.",
                    ),
                    "capabilities: " + " ".join(conn.capabilities),
                )
            conn.starttls(ctx)
            return conn
        except NhicardError:
            if conn is not None:
                _quietly_close(conn)
            raise
        except (imaplib.IMAP4.error, OSError) as exc:
            if conn is not None:
                _quietly_close(conn)
            if isinstance(exc, OSError):
                raise classify_os_error(url, exc) from None
            raise self._protocol_failure(exc) from None

    def _protocol_failure(self, exc: BaseException) -> ImapUnavailable:
        if isinstance(exc, OSError):
            return classify_os_error(self.url, exc)
        if isinstance(exc, ImapTooSlow):
            return _unavailable(
                self.url,
                "timeout",
                T(
                    "IMAP 伺服器 {server} 未在 {seconds:g} 秒內完成回應",
                    "the IMAP server {server} did not finish answering within {seconds:g} s",
                ).format(seconds=self.timeout, server="{server}"),
                T(
                    "伺服器過慢或異常;稍後再試,或洽郵件管理者。",
                    "The server is too slow or misbehaving; try again later, or ask the mail "
                    "administrator.",
                ),
                str(exc),
            )
        if isinstance(exc, ImapTooMuch):
            return _unavailable(
                self.url,
                "imap-too-large",
                T(
                    "IMAP 伺服器 {server} 的回應超過上限,已中止",
                    "the IMAP server {server} sent more than an answer may hold; stopped",
                ),
                T(
                    "伺服器異常或遭竄改;請洽郵件管理者,或改用 --maildir / --eml。",
                    "The server is misbehaving; ask the mail administrator, or use --maildir "
                    "or --eml.",
                ),
                str(exc),
            )
        return _unavailable(
            self.url,
            "imap-protocol",
            T("IMAP 伺服器 {server} 的回應無法處理", "the IMAP server {server} answered unusably"),
            _HINT_NET,
            f"{type(exc).__name__}: {exc}",
        )

    def _login(self, conn: imaplib.IMAP4) -> None:
        url = self.url
        caps = set(conn.capabilities)
        try:
            if "AUTH=PLAIN" in caps:
                token = f"\0{url.user}\0{self._password}".encode()
                conn.authenticate("PLAIN", lambda _challenge: token)
            elif "LOGINDISABLED" in caps:
                raise _unavailable(
                    url,
                    "imap-login-disabled",
                    T(
                        "IMAP 伺服器 {server} 不接受密碼登入",
                        "the IMAP server {server} does not accept password logins",
                    ),
                    T("請洽郵件管理者。", "Ask the mail administrator."),
                    "LOGINDISABLED",
                )
            else:
                conn.login(quote_astring(url.user), self._password)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            raise ImapLoginRefused(
                T(
                    "IMAP 伺服器 {server} 拒絕了信箱帳號 {user} 的登入",
                    "the IMAP server {server} refused the login of mailbox user {user}",
                ).format(server=url.server, user=url.user),
                hint=T(
                    "確認信箱的使用者名稱與密碼(--imap-password-file 或 NHICARD_IMAP_PASSWORD);"
                    "有些信箱需要「應用程式密碼」。",
                    "Check the mailbox user name and password (--imap-password-file or "
                    "NHICARD_IMAP_PASSWORD); some providers require an app password.",
                ),
                reason="imap-login-refused",
                detail=_server_text(exc),
            ) from None
        except UnicodeEncodeError:
            raise ImapLoginRefused(
                T(
                    "IMAP 伺服器 {server} 只接受 ASCII 的帳號與密碼",
                    "the IMAP server {server} accepts only ASCII user names and passwords",
                ).format(server=url.server),
                hint=T("請洽郵件管理者。", "Ask the mail administrator."),
                reason="imap-login-ascii",
            ) from None
        finally:
            _forget_command_log(conn)

    def _examine(self, conn: imaplib.IMAP4) -> None:
        name = quote_astring(encode_mailbox_name(self.url.mailbox))
        try:
            typ, data = conn.select(name, readonly=True)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            typ, data = "NO", [str(exc).encode()]
        if typ == "OK":
            return
        text = _server_text(data)
        if response_code(text) in TRANSIENT_CODES:  # a passing refusal, retried by --wait
            error: type[ImapUnavailable | ImapMailboxMissing] = ImapUnavailable
            reason = "imap-mailbox-busy"
            message = T(
                "IMAP 伺服器 {server} 暫時無法開啟信箱資料夾 {mailbox}",
                "the IMAP server {server} cannot open the mailbox {mailbox} for now",
            )
            hint = T(
                "稍後再試;使用 --wait 時 nhicard 會自動重試。",
                "Try again later; with --wait nhicard retries by itself.",
            )
        else:
            error, reason = ImapMailboxMissing, "imap-no-mailbox"
            message = T(
                "IMAP 伺服器 {server} 上沒有信箱資料夾 {mailbox}",
                "the IMAP server {server} has no mailbox {mailbox}",
            )
            hint = T(
                "在網址最後寫正確的資料夾名稱,例如 /INBOX。",
                "Put the right folder at the end of the URL, e.g. /INBOX.",
            )
        raise error(
            message.format(server=self.url.server, mailbox=self.url.mailbox),
            hint=hint,
            reason=reason,
            detail=text,
        )

    def _search(
        self, conn: imaplib.IMAP4, since: datetime | None, hint: SearchHint | None
    ) -> list[int]:
        attempts: list[tuple[list[str], bytes | None]] = [search_criteria(since, hint)]
        if hint is not None:
            attempts.append(search_criteria(since, None))
        attempts.append((["ALL"], None))
        for keys, literal in attempts:
            try:
                conn.literal = literal  # type: ignore[assignment]
                typ, data = conn.uid("SEARCH", *keys)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                continue
            finally:
                conn.literal = None
            if typ == "OK":
                return sorted(_uids(data))
        raise _unavailable(
            self.url,
            "imap-search",
            T("IMAP 伺服器 {server} 無法搜尋信件", "the IMAP server {server} cannot search"),
            _HINT_NET,
            "SEARCH failed",
        )

    def _sizes(self, conn: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
        """``RFC822.SIZE`` of each UID (a UID the server does not size is left out)."""
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), FETCH_BATCH * 4):
            batch = ",".join(str(u) for u in uids[start : start + FETCH_BATCH * 4])
            try:
                typ, data = conn.uid("FETCH", batch, "(UID RFC822.SIZE)")
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                continue
            for line in data if typ == "OK" else []:
                head = line[0] if isinstance(line, tuple) else line
                if not isinstance(head, bytes):
                    continue
                uid, size = _UID.search(head), _SIZE.search(head)
                if uid and size:
                    sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def _batches(self, conn: imaplib.IMAP4, uids: list[int]) -> list[list[int]]:
        """The UIDs to fetch, in batches of at most FETCH_BATCH mails and FETCH_BATCH_BYTES;
        a mail over MAX_MAIL_BYTES is skipped (and said so) without being fetched."""
        sizes = self._sizes(conn, uids)
        batches: list[list[int]] = []
        current: list[int] = []
        total = 0
        for uid in uids:
            size = sizes.get(uid, MAX_LITERAL)
            if size > MAX_MAIL_BYTES:
                self.skipped.append(too_large(f"{self.description} UID {uid}").message)
                continue
            if current and (len(current) >= FETCH_BATCH or total + size > FETCH_BATCH_BYTES):
                batches.append(current)
                current, total = [], 0
            current.append(uid)
            total += size
        if current:
            batches.append(current)
        return batches

    def _fetch_uids(self, conn: imaplib.IMAP4, uids: list[int]) -> list[MailItem]:
        items: list[MailItem] = []
        for chosen in self._batches(conn, uids) if uids else []:
            batch = ",".join(str(u) for u in chosen)
            try:
                # at most one byte over the cap of each mail: a larger one is known as such
                # (and skipped) without holding all of it in memory
                typ, data = conn.uid("FETCH", batch, f"(UID INTERNALDATE {_BODY_ITEM})")
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                continue
            if typ != "OK":
                continue
            for entry in data:
                if not isinstance(entry, tuple) or len(entry) < 2:
                    continue
                head, raw = entry[0], entry[1]
                if not isinstance(head, bytes) or not isinstance(raw, bytes):
                    continue
                uid = _UID.search(head)
                ref = f"{self.description} UID {uid.group(1).decode() if uid else '?'}"
                try:
                    msg = parse_message(raw, ref)
                except MailUnreadable as err:
                    self.skipped.append(err.message)
                    continue
                items.append(
                    MailItem(
                        message=msg, date=header_date(msg) or parse_internaldate(head), ref=ref
                    )
                )
        return items


def _uids(data: list[object]) -> list[int]:
    out: list[int] = []
    for line in data:
        if isinstance(line, bytes):
            out.extend(int(tok) for tok in line.split() if tok.isdigit())
    return out


# RFC 5530 response codes that say "not now" rather than "no such mailbox": a SELECT answered
# with one of them is a passing failure, retried by ``verify-email --wait``.
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "INUSE", "LIMIT", "SERVERBUG"})


def response_code(text: str) -> str | None:
    """The response code of a tagged reply's text (``"[INUSE] Mailbox locked"`` → ``INUSE``)."""
    text = text.lstrip()
    if not text.startswith("["):
        return None
    end = text.find("]")
    code = text[1:end].split(" ", 1)[0] if end > 1 else ""
    return code.upper() or None


def _server_text(value: object) -> str:
    if isinstance(value, imaplib.IMAP4.error):
        value = str(value)
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)[:200]


def _forget_command_log(conn: imaplib.IMAP4) -> None:
    """imaplib keeps the last commands in memory for ``print_log``; LOGIN carries the
    password, so that history is cleared after logging in."""
    log = getattr(conn, "_cmd_log", None)
    if isinstance(log, dict):
        log.clear()


def _quietly_logout(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        conn.logout()


def _quietly_close(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        conn.shutdown()
