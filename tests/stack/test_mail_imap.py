"""The IMAP source against a real Dovecot (imaps and STARTTLS), plus its URL and search
helpers. Dovecot runs from ``tests/support/dovecot.py`` on free loopback ports."""

from __future__ import annotations

import imaplib
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.mail import (
    ImapLoginRefused,
    ImapMailboxMissing,
    ImapSource,
    ImapUnavailable,
    ImapUrlInvalid,
    SearchHint,
    find_verification_mail,
    wait_for_verification_mail,
)
from nhicard.mail.imap import imap_date, parse_internaldate, response_code, search_criteria
from nhicard.mail.imapurl import ImapUrl, encode_mailbox_name, parse_imap_url
from nhicard.mail.message import header_text
from tests.support.dovecot import DovecotServer, write_test_ca
from tests.support.mail_samples import BASE_TIME, LINK, SANDBOX_MARKERS, sample_mail
from tests.support.ports import free_port

USER = "nhi.tester@example.test"


# -- URL, mailbox names, search keys (no server) -------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "imaps://nhi.tester%40example.test@imap.example.test/INBOX",
            ImapUrl(USER, "imap.example.test", 993, "INBOX", True),
        ),
        ("imap://bob@127.0.0.1:1143/", ImapUrl("bob", "127.0.0.1", 1143, "INBOX", False)),
        ("IMAPS://bob@[::1]:9993", ImapUrl("bob", "::1", 9993, "INBOX", True)),
        (
            "imaps://bob@mail.example/%E6%94%B6%E4%BB%B6%E5%8C%A3/%E5%81%A5%E4%BF%9D",
            ImapUrl("bob", "mail.example", 993, "收件匣/健保", True),
        ),
    ],
)
def test_parse_imap_url(url: str, expected: ImapUrl) -> None:
    assert parse_imap_url(url) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://bob@mail.example/INBOX", "only imaps:// and imap://"),
        ("imaps://bob:secret@mail.example/INBOX", "contains a password"),
        ("imaps://mail.example/INBOX", "no user name"),
        ("imaps://bob@:993/INBOX", "no host"),
        ("imaps://bob@mail.example:99999/INBOX", "bad host or port"),
        ("imaps://bob@mail.example/INBOX?x=1", "? and # parts"),
        ("imaps://b%FFob@mail.example/INBOX", "not UTF-8"),
        ("imaps://b%0Aob@mail.example/INBOX", "control characters"),
    ],
)
def test_bad_imap_urls(url: str, why: str) -> None:
    with pytest.raises(ImapUrlInvalid) as info:
        parse_imap_url(url)
    assert exit_code_for(info.value) == 2
    assert why in info.value.message.en
    assert "secret" not in str(info.value)


def test_imap_source_repr_has_no_password() -> None:
    source = ImapSource("imaps://bob@mail.example/INBOX", "s3cret-pw")
    assert "s3cret" not in repr(source) and "s3cret" not in source.description
    assert source.description == "imaps://mail.example:993/INBOX"


def test_modified_utf7_mailbox_names() -> None:
    assert encode_mailbox_name("INBOX") == "INBOX"
    assert encode_mailbox_name("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert encode_mailbox_name("A&B") == "A&-B"


def test_search_criteria() -> None:
    since = datetime(2025, 3, 1, 0, 30, tzinfo=UTC)
    assert search_criteria(None, None) == (["ALL"], None)
    assert search_criteria(since, None) == (["SINCE", "28-Feb-2025"], None)
    hint = SearchHint(subject_terms=("認證",), sender_terms=("nhi.gov.tw",))
    assert search_criteria(since, hint) == (
        ["CHARSET", "UTF-8", "SINCE", "28-Feb-2025", "FROM", '"nhi.gov.tw"', "SUBJECT"],
        "認證".encode(),
    )
    two = SearchHint(subject_terms=("a", 'b"c'), sender_terms=())
    assert search_criteria(None, two) == (["OR", "SUBJECT", '"a"', "SUBJECT", '"b\\"c"'], None)
    many = SearchHint(subject_terms=("認證", "驗證"), sender_terms=("甲",))
    assert search_criteria(None, many) == (["CHARSET", "UTF-8", "FROM"], "甲".encode())


def test_imap_dates() -> None:
    assert imap_date(datetime(2025, 1, 5)) == "5-Jan-2025"
    assert parse_internaldate(b'1 (UID 7 INTERNALDATE "17-Jul-1996 02:44:25 -0700")') == (
        datetime(1996, 7, 17, 9, 44, 25, tzinfo=UTC)
    )
    assert parse_internaldate(b'INTERNALDATE " 1-Foo-2020 00:00:00 +0000"') is None
    assert parse_internaldate(b'INTERNALDATE "31-Feb-2020 00:00:00 +0000"') is None
    assert parse_internaldate(b"no date") is None


# -- against Dovecot --------------------------------------------------------------------------


def _source(server: DovecotServer, **kw: object) -> ImapSource:
    url = kw.pop("url", None) or server.url()
    password = kw.pop("password", server.password)
    ca = kw.pop("ca_bundle", str(server.ca_pem))
    return ImapSource(str(url), str(password), ca_bundle=ca, timeout=10, **kw)  # type: ignore[arg-type]


def _flags(server: DovecotServer) -> list[bytes]:
    ctx = ssl.create_default_context(cafile=str(server.ca_pem))
    with imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=ctx) as conn:
        conn.login("checker", server.password)
        conn.select("INBOX", readonly=True)
        typ, data = conn.fetch("1:*", "(FLAGS)")
        assert typ == "OK"
        return [d for d in data if isinstance(d, bytes)]


@pytest.mark.imap
def test_imaps_newest_mail_and_nothing_marked_read(dovecot: DovecotServer) -> None:
    dovecot.deliver(bytes(sample_mail(LINK + "&n=1", date=BASE_TIME)))
    dovecot.deliver(bytes(sample_mail(LINK + "&n=3", date=BASE_TIME + timedelta(minutes=3))))
    dovecot.deliver(bytes(sample_mail(subject="電子報", date=BASE_TIME + timedelta(minutes=9))))
    dovecot.deliver(bytes(sample_mail(LINK + "&n=2", date=BASE_TIME + timedelta(minutes=2))))
    got = find_verification_mail(_source(dovecot), SANDBOX_MARKERS, BASE_TIME)
    assert got.link == LINK + "&n=3"
    assert got.subject == "健保卡網路服務註冊認證通知信"
    flags = _flags(dovecot)
    assert len(flags) == 4 and not any(b"\\Seen" in f for f in flags), flags
    assert f"user=<{USER}>, method=PLAIN" in dovecot.wait_log(
        f"user=<{USER}>, method=PLAIN"
    )  # %40 decoded, SASL PLAIN


@pytest.mark.imap
def test_starttls_url(dovecot: DovecotServer) -> None:
    dovecot.deliver(bytes(sample_mail()))
    got = find_verification_mail(
        _source(dovecot, url=dovecot.url(starttls=True)), SANDBOX_MARKERS, None
    )
    assert got.link == LINK
    login = dovecot.login_logged
    assert "TLS" in dovecot.wait_log(login).split(login)[-1].split("\n")[0]


@pytest.mark.imap
def test_server_side_search_by_chinese_subject_and_date(dovecot: DovecotServer) -> None:
    now = datetime.now(UTC)
    dovecot.deliver(bytes(sample_mail(LINK + "&n=match", date=now)))
    dovecot.deliver(bytes(sample_mail(subject="電子報 第 12 期", date=now)))
    old = sample_mail(LINK + "&n=old", date=now - timedelta(days=30))
    dovecot.deliver(bytes(old))
    source = _source(dovecot)
    everything = list(source.messages())
    assert len(everything) == 3
    hits = list(source.messages(since=now - timedelta(minutes=5), hint=SANDBOX_MARKERS.hint()))
    # SINCE is by arrival date on the server: the old mail (delivered today) stays; the
    # subject filter on the server dropped the newsletter.
    subjects = sorted(header_text(i.message, "Subject") for i in hits)
    assert subjects == ["健保卡網路服務註冊認證通知信", "健保卡網路服務註冊認證通知信"]
    assert all(i.ref.startswith(f"{source.description} UID ") for i in hits)


@pytest.mark.imap
def test_max_messages_fetches_the_newest_uids(dovecot: DovecotServer) -> None:
    for n in range(5):
        dovecot.deliver(bytes(sample_mail(LINK + f"&n={n}", date=BASE_TIME)))
    items = list(_source(dovecot, max_messages=2).messages())
    assert [i.ref.rsplit(" ", 1)[1] for i in items] == ["4", "5"]


@pytest.mark.imap
def test_wrong_password_is_exit_9_naming_the_server(dovecot: DovecotServer) -> None:
    with pytest.raises(ImapLoginRefused) as info:
        list(_source(dovecot, password="wrong-Secret-42").messages())
    err = info.value
    server = f"127.0.0.1:{dovecot.imaps_port}"
    assert exit_code_for(err) == 9 and err.reason == "imap-login-refused"
    assert err.message.en == f"the IMAP server {server} refused the login of mailbox user {USER}"
    assert err.message.zh == f"IMAP 伺服器 {server} 拒絕了信箱帳號 {USER} 的登入"
    assert "AUTHENTICATIONFAILED" in (err.detail or "")
    for text in (str(err), err.detail or "", str(err.hint), repr(err.data)):
        assert "wrong-Secret-42" not in text


@pytest.mark.imap
def test_non_ascii_password_over_sasl_plain(dovecot_factory) -> None:  # noqa: ANN001
    server = dovecot_factory(password="健保-pass-密碼")
    server.deliver(bytes(sample_mail()))
    assert find_verification_mail(_source(server), SANDBOX_MARKERS).link == LINK


@pytest.mark.imap
def test_untrusted_certificate_is_a_network_error(dovecot: DovecotServer, tmp_path: Path) -> None:
    other_ca, _cert, _key = write_test_ca(tmp_path / "other")
    for bundle in (str(other_ca), None):  # another CA, and the system store
        with pytest.raises(ImapUnavailable) as info:
            list(_source(dovecot, ca_bundle=bundle).messages())
        assert exit_code_for(info.value) == 7
        assert info.value.reason == "tls-unknown-ca"
        assert f"127.0.0.1:{dovecot.imaps_port}" in info.value.message.en
    with pytest.raises(ImapUnavailable) as info:
        list(_source(dovecot, url=dovecot.url(starttls=True), ca_bundle=str(other_ca)).messages())
    assert info.value.reason == "tls-unknown-ca"
    assert dovecot.login_logged not in dovecot.log_text()


@pytest.mark.imap
def test_hostname_mismatch(dovecot_factory, tmp_path: Path) -> None:  # noqa: ANN001
    ca, cert, key = write_test_ca(tmp_path / "tls", names=("mail.example.test",))
    # the certificate names 127.0.0.1 too; connect as "localhost", which it does not name
    server = dovecot_factory(cert=cert, key=key, ca_pem=ca)
    url = f"imaps://bob@localhost:{server.imaps_port}/INBOX"
    with pytest.raises(ImapUnavailable) as info:
        list(ImapSource(url, server.password, ca_bundle=str(ca), timeout=10).messages())
    assert info.value.reason == "tls-hostname"


@pytest.mark.imap
def test_server_without_starttls_gets_no_password(dovecot_factory) -> None:  # noqa: ANN001
    server = dovecot_factory(tls=False)
    with pytest.raises(ImapUnavailable) as info:
        list(ImapSource(server.url(), server.password, timeout=10).messages())
    err = info.value
    assert exit_code_for(err) == 7 and err.reason == "imap-no-starttls"
    assert err.message.en == (
        f"the IMAP server 127.0.0.1:{server.imap_port} does not offer STARTTLS; refusing to "
        "send the password in clear"
    )
    assert "AUTH=PLAIN" in (err.detail or "")  # the server would have taken it
    log = server.wait_log("no auth attempts")
    assert "no auth attempts" in log and server.login_logged not in log


@pytest.mark.imap
def test_missing_mailbox_is_a_usage_error(dovecot: DovecotServer) -> None:
    with pytest.raises(ImapMailboxMissing) as info:
        list(_source(dovecot, url=dovecot.url(mailbox="%E5%81%A5%E4%BF%9D")).messages())
    assert exit_code_for(info.value) == 2
    assert "has no mailbox 健保" in info.value.message.en
    # Dovecot 2.3's answer carries no RFC 5530 code (no code is taken as "no such mailbox"),
    # 2.4's says NONEXISTENT
    assert "doesn't exist" in (info.value.detail or "")
    assert response_code(info.value.detail or "") in (None, "NONEXISTENT")


class _SelectAnswer:
    """An IMAP connection whose SELECT answers ``NO`` with the given text."""

    def __init__(self, text: bytes) -> None:
        self.text = text

    def select(self, mailbox: str, readonly: bool = False) -> tuple[str, list[bytes]]:
        return "NO", [self.text]


@pytest.mark.parametrize(
    ("text", "passing"),
    [
        (b"[INUSE] Mailbox is locked by another session", True),
        (b"[UNAVAILABLE] Temporary failure, try again", True),
        (b"[SERVERBUG] Internal error occurred. Refer to server log", True),
        (b"[LIMIT] Too many open mailboxes", True),
        (b"[NONEXISTENT] Mailbox doesn't exist: Archive", False),
        (b"Mailbox doesn't exist: Archive", False),
        (b"[ALERT] no", False),
    ],
)
def test_select_refusals_not_now_or_never(text: bytes, passing: bool) -> None:
    source = ImapSource("imaps://bob@127.0.0.1:993/Archive", "pw")
    with pytest.raises((ImapUnavailable, ImapMailboxMissing)) as info:
        source._examine(_SelectAnswer(text))  # type: ignore[arg-type]  # noqa: SLF001
    err = info.value
    if passing:  # a network-class failure: `verify-email --wait` retries it
        assert isinstance(err, ImapUnavailable) and err.reason == "imap-mailbox-busy"
        assert exit_code_for(err) == 7
        assert err.message.en == (
            "the IMAP server 127.0.0.1:993 cannot open the mailbox Archive for now"
        )
        assert err.message.zh == "IMAP 伺服器 127.0.0.1:993 暫時無法開啟信箱資料夾 Archive"
    else:
        assert isinstance(err, ImapMailboxMissing) and exit_code_for(err) == 2
    assert err.detail == text.decode()


def test_response_code() -> None:
    assert response_code("[INUSE] locked") == "INUSE"
    assert response_code(" [uidvalidity 3] ok") == "UIDVALIDITY"
    assert response_code("no code") is None
    assert response_code("[] empty") is None


def test_connection_refused_is_a_network_error() -> None:
    port = free_port()
    with pytest.raises(ImapUnavailable) as info:
        list(ImapSource(f"imaps://bob@127.0.0.1:{port}/INBOX", "pw", timeout=5).messages())
    assert (exit_code_for(info.value), info.value.reason) == (7, "connection-refused")


def test_unreadable_ca_bundle(tmp_path: Path) -> None:
    with pytest.raises(ImapUnavailable) as info:
        list(
            ImapSource(
                "imaps://bob@127.0.0.1:1/INBOX", "pw", ca_bundle=str(tmp_path / "none.pem")
            ).messages()
        )
    assert info.value.reason == "ca-bundle"


@pytest.mark.imap
def test_wait_over_imap_until_the_mail_arrives(dovecot: DovecotServer) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    timer = threading.Timer(
        0.5, lambda: dovecot.deliver(bytes(sample_mail(date=datetime.now(UTC))))
    )
    ticks = []
    timer.start()
    try:
        got = wait_for_verification_mail(
            lambda: _source(dovecot),
            SANDBOX_MARKERS,
            since,
            timeout=15,
            poll_interval=0.1,
            on_tick=ticks.append,
        )
    finally:
        timer.cancel()
    assert got.link == LINK
    assert ticks and ticks[0].examined == 0


@pytest.mark.imap
def test_serves_an_existing_maildir_with_given_certificate(
    dovecot_factory,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    maildir = tmp_path / "sandbox" / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1700000000.M1P1.sink").write_bytes(bytes(sample_mail()))
    ca, cert, key = write_test_ca(tmp_path / "sandbox-tls")
    server = dovecot_factory(maildir, cert=cert, key=key, ca_pem=ca)
    assert find_verification_mail(_source(server), SANDBOX_MARKERS).link == LINK
    assert not (maildir / "dovecot-uidlist").exists()  # indexes live in the server's dir


class OneShotServer:
    """A loopback TCP server that answers each connection with ``greeting`` (or nothing)."""

    def __init__(self, greeting: bytes | None) -> None:
        import socket

        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.conns: list[object] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while True:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
                if self.greeting is not None:
                    conn.sendall(self.greeting)
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("scheme", ["imaps", "imap"])
def test_silent_server_times_out(scheme: str) -> None:
    server = OneShotServer(None)
    try:
        with pytest.raises(ImapUnavailable) as info:
            list(
                ImapSource(f"{scheme}://bob@127.0.0.1:{server.port}/", "pw", timeout=0.3).messages()
            )
    finally:
        server.close()
    assert (exit_code_for(info.value), info.value.reason) == (7, "timeout")
    said = {  # imaps: the TLS handshake's own timeout; imap: the greeting's deadline
        "imaps": f"the IMAP server 127.0.0.1:{server.port} timed out",
        "imap": f"the IMAP server 127.0.0.1:{server.port} did not finish answering within 0.3 s",
    }
    assert info.value.message.en == said[scheme]


def test_server_speaking_something_else() -> None:
    server = OneShotServer(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    try:
        with pytest.raises(ImapUnavailable) as info:
            list(ImapSource(f"imap://bob@127.0.0.1:{server.port}/", "pw", timeout=2).messages())
    finally:
        server.close()
    assert (exit_code_for(info.value), info.value.reason) == (7, "imap-protocol")


def test_dns_failure() -> None:
    with pytest.raises(ImapUnavailable) as info:
        list(ImapSource("imaps://bob@no-such-host.invalid/INBOX", "pw", timeout=5).messages())
    assert (exit_code_for(info.value), info.value.reason) == (7, "dns")


@pytest.mark.imap
def test_adopt_files_another_program_delivered(dovecot: DovecotServer) -> None:
    # a root-owned 0600 file, as a sink with umask 077 writes it: Dovecot cannot read it
    path = dovecot.maildir / "new" / "1700000001.M9P9.sink"
    path.write_bytes(bytes(sample_mail()))
    path.chmod(0o600)
    with pytest.raises(ImapUnavailable) as info:
        list(_source(dovecot).messages())
    assert info.value.reason == "imap-protocol"  # Dovecot: FETCH failed, connection closed
    assert "missing +r perm" in dovecot.wait_log("missing +r perm")  # written asynchronously
    dovecot.adopt_maildir()
    assert find_verification_mail(_source(dovecot), SANDBOX_MARKERS).link == LINK


@pytest.mark.imap
def test_sandbox_mail_over_smtp_then_maildir_and_imap(dovecot_factory, tmp_path: Path) -> None:  # noqa: ANN001
    """The sandbox's own path: mailer → SMTP sink → Maildir, read directly and over IMAP."""
    from nhicard.mail import MaildirSource
    from nhicard.sandbox.mailer import build_verification_mail, send_mail
    from nhicard.sandbox.smtp_sink import SmtpSink

    maildir = tmp_path / "sandbox" / "Maildir"
    maildir.parent.mkdir()
    now = datetime.now(UTC).replace(microsecond=0)
    msg = build_verification_mail(
        to=USER,
        name="王小明",
        link=LINK,
        sender="noreply@cloudic.sandbox",
        now=now,
        expires_at=now + timedelta(days=1),
    )
    with SmtpSink(maildir).serve_in_thread() as sink:
        send_mail(msg, sink.host, sink.port)
    direct = find_verification_mail(MaildirSource(maildir), SANDBOX_MARKERS, now)
    server = dovecot_factory(maildir)
    over_imap = find_verification_mail(_source(server), SANDBOX_MARKERS, now)
    assert direct == over_imap
    assert (direct.link, direct.date, direct.subject) == (LINK, now, "健保卡網路服務註冊認證通知信")
