"""Property tests: arbitrary and mangled mail bytes, charsets, URLs and ``--since`` values
give results or our typed errors, never anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NhicardError, UsageError
from nhicard.mail import (
    ForeignLink,
    ImapUrlInvalid,
    MailNotFound,
    VerificationMail,
    find_verification_mail,
    parse_since,
)
from nhicard.mail.body import message_bodies
from nhicard.mail.imap import parse_internaldate
from nhicard.mail.imapurl import ImapUrl, encode_mailbox_name, parse_imap_url
from nhicard.mail.message import decode_bytes, header_date, header_text, parse_message
from tests.support.mail_samples import LINK, SANDBOX_MARKERS, ListSource, sample_mail

SETTINGS = settings(max_examples=150)
VALID = [
    bytes(sample_mail(charset=cs, cte=cte, parts=parts))
    for cs, cte, parts in [
        ("utf-8", "quoted-printable", ("text", "html")),
        ("big5", "base64", ("html",)),
        ("cp950", "8bit", ("text",)),
    ]
]


def _outcome(raws: list[bytes]) -> object:
    try:
        got = find_verification_mail(ListSource(raws), SANDBOX_MARKERS, None)
    except (MailNotFound, ForeignLink) as exc:
        return exc
    assert isinstance(got, VerificationMail)
    assert SANDBOX_MARKERS.host_allowed(got.link)
    return got


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw: bytes) -> None:
    _outcome([raw])
    msg = parse_message(raw)
    for name in ("Subject", "From", "Date", "Message-ID", "Content-Type"):
        assert isinstance(header_text(msg, name), str)
    when = header_date(msg)
    assert when is None or when.tzinfo is not None
    message_bodies(msg)


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 12))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del raw[pos:]
        elif op == "insert":
            raw[pos:pos] = draw(
                st.sampled_from(
                    [
                        b"=?big5?B?\xff\xfe?=",
                        b"=?x-unknown?Q?=E5?=",
                        b"\r\n\r\n",
                        b"--",
                        b"=",
                        b"Content-Type: multipart/mixed; boundary=",
                        b'charset="base64"',
                        b"Content-Transfer-Encoding: base64\n",
                        b"\x00",
                        "認證".encode("big5"),
                    ]
                )
            )
        elif raw:
            del raw[pos : pos + draw(st.integers(1, 40))]
    return bytes(raw)


@SETTINGS
@given(st.lists(mangled(), min_size=1, max_size=3))
def test_mangled_verification_mails(raws: list[bytes]) -> None:
    _outcome(raws)


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "Subject",
                    "From",
                    "Date",
                    "Content-Type",
                    "Content-Transfer-Encoding",
                    "Content-Disposition",
                    "MIME-Version",
                ]
            ),
            st.text(max_size=80),
        ),
        max_size=8,
    ),
    st.text(max_size=400),
)
def test_arbitrary_headers_and_text_body(headers: list[tuple[str, str]], body: str) -> None:
    head = "".join(f"{k}: {v.replace(chr(13), ' ').replace(chr(10), ' ')}\n" for k, v in headers)
    raw = (head + "\n" + body).encode("utf-8", "surrogatepass")
    _outcome([raw])


def test_valid_samples_still_found() -> None:
    for raw in VALID:
        got = _outcome([raw])
        assert isinstance(got, VerificationMail) and got.link == LINK


@SETTINGS
@given(
    st.binary(max_size=200),
    st.sampled_from(
        [
            None,
            "",
            "utf-8",
            "big5",
            "BIG5",
            "x-big5",
            "cp950",
            "big5-hkscs",
            "gb2312",
            "utf-16",
            "iso-2022-jp",
            "base64",
            "rot13",
            "idna",
            "punycode",
            "no-such-charset",
            "unicode-escape",
            '"utf-8"',
            "us-ascii",
        ]
    ),
)
def test_decode_bytes_never_raises(data: bytes, charset: str | None) -> None:
    assert isinstance(decode_bytes(data, charset), str)


@SETTINGS
@given(st.text(max_size=120))
def test_imap_url_parser(text: str) -> None:
    for candidate in (text, "imaps://" + text, "imap://u@" + text):
        try:
            url = parse_imap_url(candidate)
        except ImapUrlInvalid as exc:
            assert exit_code_for(exc) == 2
        else:
            assert isinstance(url, ImapUrl) and url.user and url.host and 0 < url.port < 65536


@SETTINGS
@given(st.text(max_size=40))
def test_mailbox_names_encode_to_ascii(name: str) -> None:
    encoded = encode_mailbox_name(name)
    assert encoded.isascii()
    if name.isascii() and "&" not in name and all(0x20 <= ord(c) < 0x7F for c in name):
        assert encoded == name


@SETTINGS
@given(st.binary(max_size=120))
def test_internaldate_parser(data: bytes) -> None:
    got = parse_internaldate(b'INTERNALDATE "' + data + b'"')
    assert got is None or got.tzinfo is not None


@SETTINGS
@given(st.text(max_size=40))
def test_since_parser(text: str) -> None:
    try:
        got = parse_since(text, now=lambda: datetime(2025, 3, 1, tzinfo=UTC))
    except UsageError as exc:
        assert isinstance(exc, NhicardError) and exc.reason == "bad-since"
    else:
        assert got.tzinfo is not None


@SETTINGS
@given(st.integers(0, 999999), st.sampled_from("smhdwSMHDW"))
def test_since_relative_spans(amount: int, unit: str) -> None:
    now = datetime(2025, 3, 1, tzinfo=UTC)
    try:
        got = parse_since(f" {amount}{unit} ", now=lambda: now)
    except UsageError:
        return  # too far back for datetime
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit.lower()]
    assert now - got == timedelta(seconds=amount * seconds)
