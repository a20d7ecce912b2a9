"""The verification mail in every shape mail systems send it, from .eml, mbox and Maildir."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T
from nhicard.mail import (
    EmlSource,
    ForeignLink,
    MaildirSource,
    MailMarkers,
    MailNotFound,
    MailSourceMissing,
    MboxSource,
    VerificationMail,
    WaitTick,
    find_verification_mail,
    wait_for_verification_mail,
)
from nhicard.mail.body import message_bodies
from nhicard.mail.message import parse_message
from nhicard.sandbox.mailer import build_verification_mail
from tests.support.mail_samples import (
    BASE_TIME,
    LABEL,
    LINK,
    REAL_MARKERS,
    SANDBOX_MARKERS,
    ListSource,
    sample_mail,
    write_maildir,
    write_mbox,
)


def find(*mails: EmailMessage | bytes, markers: MailMarkers = SANDBOX_MARKERS, since=None):  # noqa: ANN001, ANN201
    raws = [m if isinstance(m, bytes) else bytes(m) for m in mails]
    return find_verification_mail(ListSource(raws), markers, since)


# -- the sandbox's own mail, end to end through a file --------------------------------------
def test_sandbox_mail_from_eml_file(tmp_path: Path) -> None:
    now = datetime(2025, 3, 1, 9, 0, 5, tzinfo=UTC)
    msg = build_verification_mail(
        to="tester@example.test",
        name="王小明",
        link=LINK,
        sender="noreply@cloudic.sandbox",
        now=now,
        expires_at=now + timedelta(days=1),
    )
    del msg["Message-ID"]
    msg["Message-ID"] = "<fixed@cloudic.sandbox>"
    path = tmp_path / "mail.eml"
    path.write_bytes(bytes(msg))
    got = find_verification_mail(EmlSource(path), SANDBOX_MARKERS, now - timedelta(minutes=1))
    assert got == VerificationMail(
        link=LINK,
        subject="健保卡網路服務註冊認證通知信",
        sender="衛生福利部中央健康保險署 <noreply@cloudic.sandbox>",
        date=now,
        message_id="<fixed@cloudic.sandbox>",
    )
    assert got.to_dict() == {
        "link": LINK,
        "subject": "健保卡網路服務註冊認證通知信",
        "sender": "衛生福利部中央健康保險署 <noreply@cloudic.sandbox>",
        "date": "2025-03-01T17:00:05+08:00",
        "message_id": "<fixed@cloudic.sandbox>",
    }


# -- charsets, transfer encodings and part layouts -------------------------------------------
@pytest.mark.parametrize("charset", ["utf-8", "big5", "cp950", "big5hkscs"])
@pytest.mark.parametrize("cte", ["quoted-printable", "base64", "8bit"])
@pytest.mark.parametrize("parts", [("text", "html"), ("html",), ("text",), ("html", "text")])
def test_link_found_in_every_encoding(charset: str, cte: str, parts: tuple[str, ...]) -> None:
    got = find(sample_mail(charset=charset, cte=cte, parts=parts))
    assert got.link == LINK
    assert got.subject == "健保卡網路服務註冊認證通知信"


def test_big5_label_read_as_cp950_with_euro_sign() -> None:
    # "big5" mails from Windows are really cp950: € (A3E1) is not in plain Big5.
    msg = sample_mail(charset="cp950", cte="base64", parts=("html",), name="陳€明")
    raw = bytes(msg).replace(b'charset="cp950"', b'charset="big5"')
    assert b'charset="cp950"' not in raw
    bodies = message_bodies(parse_message(raw))
    assert "陳€明 您好" in bodies.html[0]
    assert find(raw).link == LINK


def test_big5_label_read_as_hkscs_for_hong_kong_characters() -> None:
    msg = sample_mail(charset="big5hkscs", cte="quoted-printable", name="何㗎明")
    raw = bytes(msg).replace(b'charset="big5hkscs"', b'charset="Big5"')
    bodies = message_bodies(parse_message(raw))
    assert "何㗎明 您好" in bodies.text[0]
    assert "何㗎明 您好" in bodies.html[0]
    assert find(raw).link == LINK


def test_undecodable_bytes_do_not_hide_the_link() -> None:
    raw = bytes(sample_mail(charset="big5", cte="8bit", parts=("html",)))
    raw = raw.replace("您好".encode("big5"), b"\xff\xfe\x81\x00")
    bodies = message_bodies(parse_message(raw))
    assert "\ufffd" in bodies.html[0]
    assert find(raw).link == LINK


def test_html_without_charset_parameter_uses_meta_charset() -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=big5">'
        f'</head><body><a href="{LINK}">{LABEL}</a></body></html>'
    ).encode("big5")
    raw = (
        "Subject: =?big5?B?"
        + __import__("base64").b64encode("認證通知".encode("big5")).decode()
        + "?=\r\nFrom: noreply@nhi.sandbox\r\nDate: Sat, 01 Mar 2025 09:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + html
    got = find(raw)
    assert (got.link, got.subject) == (LINK, "認證通知")


def test_quoted_printable_soft_breaks_inside_a_long_link() -> None:
    long_link = LINK + "&" + "x" * 150
    raw = bytes(sample_mail(long_link, cte="quoted-printable", parts=("text",)))
    assert long_link.encode() not in raw  # the encoder folded it
    assert find(raw).link == long_link


def test_text_link_followed_by_chinese_punctuation() -> None:
    msg = sample_mail(parts=("text",), text_link=LINK + "。請於24小時內點選")
    assert find(msg).link == LINK


def test_html_entities_in_href_are_decoded() -> None:
    assert "&amp;lang=zh" in bytes(sample_mail(parts=("html",), cte="8bit")).decode()
    assert find(sample_mail(parts=("html",), cte="8bit")).link == LINK


def test_rfc2047_subjects_in_big5_and_q_encoding() -> None:
    for header, subject in (
        ("=?Big5?B?sLerT6VktfmlVbt7w9Kzcaq+q0g=?=", "健保卡註冊認證通知信"),
        (
            "=?UTF-8?Q?=E5=81=A5=E4=BF=9D=E5=8D=A1=E8=A8=BB=E5=86=8A=E8=AA=8D=E8=AD=89?=",
            "健保卡註冊認證",
        ),
    ):
        msg = sample_mail()
        del msg["Subject"]
        raw = bytes(msg).replace(b"To: ", f"Subject: {header}\nTo: ".encode(), 1)
        assert find(raw).subject == subject


def test_label_wins_over_other_links_and_text() -> None:
    msg = sample_mail(
        text_link="https://127.0.0.1:8440/other",
        html_link=LINK,
        extra_text="參考 https://127.0.0.1:8440/faq ",
    )
    assert find(msg).link == LINK


def test_text_part_used_when_html_has_no_labelled_anchor() -> None:
    msg = sample_mail(parts=("text",), cte="base64")
    msg.add_alternative('<p><a href="https://127.0.0.1:8440/x">點此</a></p>', subtype="html")
    assert find(msg).link == LINK


# -- choosing among several mails ------------------------------------------------------------
def _at(minutes: int, link_suffix: str) -> EmailMessage:
    return sample_mail(LINK + link_suffix, date=BASE_TIME + timedelta(minutes=minutes))


def test_newest_matching_mail_wins_regardless_of_order() -> None:
    mails = [_at(5, "&n=5"), _at(20, "&n=20"), _at(10, "&n=10")]
    got = find(*mails)
    assert got.link == LINK + "&n=20"
    assert got.date == BASE_TIME + timedelta(minutes=20)


def test_since_excludes_older_mails() -> None:
    mails = [_at(5, "&n=5"), _at(20, "&n=20")]
    got = find(*mails, since=BASE_TIME + timedelta(minutes=6))
    assert got.link == LINK + "&n=20"
    with pytest.raises(MailNotFound) as info:
        find(*mails, since=BASE_TIME + timedelta(minutes=21))
    err = info.value
    assert (exit_code_for(err), err.examined, err.matched, err.data["older"]) == (8, 2, 0, 2)
    assert "2" in err.message.en and "older than 2025-03-01T09:21:00+00:00" in err.message.en


def test_naive_since_is_local_time() -> None:
    mails = [_at(5, "&n=5")]
    local_cut = (BASE_TIME + timedelta(minutes=6)).astimezone().replace(tzinfo=None)
    with pytest.raises(MailNotFound):
        find(*mails, since=local_cut)


def test_mail_without_date_is_not_after_since() -> None:
    msg = sample_mail(date=None)
    assert find(msg).link == LINK
    with pytest.raises(MailNotFound):
        find(msg, since=BASE_TIME)


def test_other_mails_are_ignored() -> None:
    other = sample_mail(subject="您的訂單已出貨", html_link="https://127.0.0.1:8440/order")
    no_link = sample_mail(subject="健保卡註冊認證完成", parts=("text",), text_link="(無)")
    with pytest.raises(MailNotFound) as info:
        find(other, no_link)
    assert (info.value.examined, info.value.matched) == (2, 1)
    assert info.value.reason == "mail-not-found"
    assert "1 with a matching subject but no usable link" in info.value.message.en


def test_sender_marker() -> None:
    real_link = "https://cloudicweb.nhi.gov.tw/cloudic/system/verify.aspx?t=1"
    good = sample_mail(real_link, sender="cloudic@nhi.gov.tw")
    spoof = sample_mail(
        real_link, sender="cloudic@nhi-gov.tw.example", date=BASE_TIME + timedelta(1)
    )
    assert find(good, spoof, markers=REAL_MARKERS).sender.endswith("<cloudic@nhi.gov.tw>")
    single = MailMarkers(
        "NHI.GOV.TW",
        ("認證",),
        LABEL,
        r"^https://cloudicweb\.nhi\.gov\.tw/",
        ("cloudicweb.nhi.gov.tw",),
    )
    assert find(good, markers=single).link == real_link


def test_no_mail_at_all(tmp_path: Path) -> None:
    write_maildir(tmp_path / "Maildir", [])
    with pytest.raises(MailNotFound) as info:
        find_verification_mail(MaildirSource(tmp_path / "Maildir"), SANDBOX_MARKERS)
    assert (info.value.examined, info.value.matched, exit_code_for(info.value)) == (0, 0, 8)
    assert f"maildir:{tmp_path / 'Maildir'}" in info.value.message.en


# -- foreign links: a security refusal -------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        "https://evil.example/cloudic/verify?t=1",
        "https://127.0.0.1.evil.example:8440/verify",
        "https://127.0.0.1@evil.example/verify",
        "javascript:alert(1)",
        "http://127.0.0.1:8440/verify",  # allowed host, but not the https pattern
    ],
)
def test_labelled_link_to_a_foreign_host_is_refused(bad: str) -> None:
    msg = sample_mail(html_link=bad)  # the text part still has the good link
    with pytest.raises(ForeignLink) as info:
        find(msg)
    err = info.value
    assert exit_code_for(err) == 8 and err.reason == "foreign-link"
    assert err.data["link"] == bad
    assert err.message.en.startswith("DANGER:")
    assert "127.0.0.1, localhost" in err.hint.en


def test_foreign_host_reported_by_name() -> None:
    with pytest.raises(ForeignLink) as info:
        find(sample_mail(html_link="https://Evil.Example:443/x"))
    assert info.value.host == "evil.example"
    assert "(evil.example)" in info.value.message.en


def test_newer_good_mail_wins_over_older_foreign_one() -> None:
    phish = sample_mail(html_link="https://evil.example/x", date=BASE_TIME)
    good = sample_mail(date=BASE_TIME + timedelta(minutes=1))
    assert find(phish, good).link == LINK
    with pytest.raises(ForeignLink):
        find(good, sample_mail(html_link="https://evil.example/x", date=BASE_TIME + timedelta(2)))


def test_foreign_text_links_are_not_taken() -> None:
    msg = sample_mail(parts=("text",), text_link="https://evil.example/verify")
    with pytest.raises(MailNotFound) as info:
        find(msg)
    assert info.value.matched == 1


# -- sources ---------------------------------------------------------------------------------
def test_mbox_source_newest_and_from_line_dates(tmp_path: Path) -> None:
    dated = [_at(1, "&n=1"), _at(30, "&n=30"), _at(2, "&n=2")]
    undated = sample_mail(LINK + "&n=undated", date=None)
    path = write_mbox(tmp_path / "box.mbox", [*dated, undated])
    items = list(MboxSource(path).messages())
    assert [i.ref for i in items] == [f"{path}#{n}" for n in (1, 2, 3, 4)]
    assert [i.date for i in items[:3]] == [BASE_TIME + timedelta(minutes=m) for m in (1, 30, 2)]
    # the undated mail has the time it was added to the mbox (its From_ line): the newest
    assert items[3].date is not None and items[3].date > datetime.now(UTC) - timedelta(hours=1)
    got = find_verification_mail(MboxSource(path), SANDBOX_MARKERS, BASE_TIME)
    assert got.link == LINK + "&n=undated"
    assert got.date == items[3].date
    older = write_mbox(tmp_path / "dated.mbox", dated)
    assert find_verification_mail(MboxSource(older), SANDBOX_MARKERS).link == LINK + "&n=30"


def test_mbox_from_line_date_parsed(tmp_path: Path) -> None:
    raw = bytes(sample_mail(date=None))
    path = tmp_path / "one.mbox"
    path.write_bytes(b"From noreply@nhi.sandbox Sat Mar  1 10:30:00 2025\n" + raw + b"\n")
    (item,) = MboxSource(path).messages()
    assert item.date == datetime(2025, 3, 1, 10, 30, tzinfo=UTC)


def test_maildir_reads_new_and_cur_not_tmp(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    write_maildir(root, [bytes(_at(1, "&n=new"))], sub="new")
    write_maildir(root, [bytes(_at(2, "&n=cur"))], sub="cur")
    (root / "tmp" / "123.partial").write_bytes(bytes(_at(3, "&n=tmp")))
    items = list(MaildirSource(root).messages())
    assert sorted(Path(i.ref).parent.name for i in items) == ["cur", "new"]
    assert find_verification_mail(MaildirSource(root), SANDBOX_MARKERS).link == LINK + "&n=cur"


def test_maildir_delivery_time_when_date_header_missing(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    (path,) = write_maildir(root, [bytes(sample_mail(date=None))])
    (item,) = MaildirSource(root).messages()
    assert item.date == datetime.fromtimestamp(1700000000, UTC)
    assert item.ref == str(path)


def test_eml_with_mbox_from_line(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(b"From someone Sat Mar  1 10:30:00 2025\n" + bytes(sample_mail()))
    assert find_verification_mail(EmlSource(path), SANDBOX_MARKERS).link == LINK


@pytest.mark.parametrize(
    ("make", "what"),
    [(EmlSource, "mail file"), (MboxSource, "mbox file"), (MaildirSource, "Maildir directory")],
)
def test_missing_source_is_a_usage_error(tmp_path: Path, make: type, what: str) -> None:
    with pytest.raises(MailSourceMissing) as info:
        find_verification_mail(make(tmp_path / "nope"), SANDBOX_MARKERS)
    assert exit_code_for(info.value) == 2
    assert info.value.message.en == f"{what} {tmp_path / 'nope'} not found"


def test_directory_without_maildir_layout(tmp_path: Path) -> None:
    with pytest.raises(MailSourceMissing) as info:
        list(MaildirSource(tmp_path).messages())
    assert info.value.reason == "not-a-maildir"


# -- waiting ---------------------------------------------------------------------------------
def test_wait_until_a_mail_is_dropped_into_the_maildir(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    write_maildir(root, [bytes(sample_mail(subject="其他通知", date=datetime.now(UTC)))])
    since = datetime.now(UTC) - timedelta(seconds=5)
    ticks: list[WaitTick] = []

    def deliver() -> None:
        raw = bytes(sample_mail(LINK + "&late=1", date=datetime.now(UTC)))
        tmp = root / "tmp" / "late.mail"
        tmp.write_bytes(raw)
        tmp.rename(root / "new" / "1800000000.Mlate.test")

    timer = threading.Timer(0.4, deliver)
    timer.start()
    try:
        got = wait_for_verification_mail(
            lambda: MaildirSource(root),
            SANDBOX_MARKERS,
            since,
            timeout=10,
            poll_interval=0.05,
            on_tick=ticks.append,
        )
    finally:
        timer.cancel()
    assert got.link == LINK + "&late=1"
    assert ticks and ticks[0].attempt == 1 and ticks[0].examined == 1
    assert all(t.error is None for t in ticks)
    assert [t.attempt for t in ticks] == list(range(1, len(ticks) + 1))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_times_out_with_the_last_count() -> None:
    clock = FakeClock()
    ticks: list[WaitTick] = []
    with pytest.raises(MailNotFound) as info:
        wait_for_verification_mail(
            lambda: ListSource([bytes(sample_mail(subject="無關"))]),
            SANDBOX_MARKERS,
            None,
            timeout=12,
            poll_interval=5,
            clock=clock,
            sleep=clock.sleep,
            on_tick=ticks.append,
        )
    assert clock.sleeps == [5, 5, 2]
    assert [(t.attempt, t.elapsed, t.remaining) for t in ticks] == [
        (1, 0, 12),
        (2, 5, 7),
        (3, 10, 2),
    ]
    assert info.value.data["waited_seconds"] == 12
    assert info.value.examined == 1


class FlakySource:
    """Fails with a network error on the polls listed, else serves ``raws``."""

    def __init__(self, failing: set[int], raws_by_poll: dict[int, list[bytes]]) -> None:
        self.poll = 0
        self.failing = failing
        self.raws_by_poll = raws_by_poll

    def factory(self) -> ListSource:
        self.poll += 1
        if self.poll in self.failing:
            raise NetworkError(T("斷線", "connection lost"), reason="test")
        return ListSource(self.raws_by_poll.get(self.poll, []))


def test_wait_network_error_on_first_poll_is_raised_at_once() -> None:
    clock = FakeClock()
    flaky = FlakySource({1}, {})
    with pytest.raises(NetworkError):
        wait_for_verification_mail(
            flaky.factory, SANDBOX_MARKERS, None, timeout=60, clock=clock, sleep=clock.sleep
        )
    assert clock.sleeps == []


def test_wait_rides_out_network_errors_after_a_good_poll() -> None:
    clock = FakeClock()
    flaky = FlakySource({2, 3}, {4: [bytes(sample_mail())]})
    ticks: list[WaitTick] = []
    got = wait_for_verification_mail(
        flaky.factory,
        SANDBOX_MARKERS,
        None,
        timeout=60,
        poll_interval=1,
        clock=clock,
        sleep=clock.sleep,
        on_tick=ticks.append,
    )
    assert got.link == LINK
    assert [t.error for t in ticks] == [None, "斷線 / connection lost", "斷線 / connection lost"]


def test_wait_never_retries_a_foreign_link() -> None:
    clock = FakeClock()
    bad = bytes(sample_mail(html_link="https://evil.example/"))
    with pytest.raises(ForeignLink):
        wait_for_verification_mail(
            lambda: ListSource([bad]),
            SANDBOX_MARKERS,
            None,
            timeout=60,
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps == []


def test_wait_with_zero_timeout_polls_once() -> None:
    clock = FakeClock()
    with pytest.raises(MailNotFound):
        wait_for_verification_mail(
            lambda: ListSource([]), SANDBOX_MARKERS, None, timeout=0, clock=clock, sleep=clock.sleep
        )
    assert clock.sleeps == []


# -- markers from the site profiles ----------------------------------------------------------
def test_markers_from_the_real_profile() -> None:
    from nhicard.sites.loader import resolve_profile

    markers = MailMarkers.from_profile(resolve_profile("real").mail)
    assert markers == REAL_MARKERS
    real_link = "https://cloudicweb.nhi.gov.tw/cloudic/system/Verify.aspx?id=9"
    got = find(sample_mail(real_link, sender="cloudic@nhi.gov.tw"), markers=markers)
    assert got.link == real_link
    with pytest.raises(ForeignLink):  # a sandbox link in a "real" mail
        find(sample_mail(sender="cloudic@nhi.gov.tw"), markers=markers)


def test_bad_link_pattern_is_a_usage_error() -> None:
    from nhicard.core.errors import UsageError

    with pytest.raises(UsageError) as info:
        MailMarkers(None, ("認證",), LABEL, "^https://(", ("x",))
    assert info.value.reason == "bad-link-pattern"
