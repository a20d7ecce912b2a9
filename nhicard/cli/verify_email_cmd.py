"""``nhicard verify-email``: steps 5–6 of the manual — the verification mail's link, 讀取, 確定."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nhicard.cli.context import AppContext, get_app
from nhicard.cli.flow_options import flow_settings, save_pages_option
from nhicard.cli.help_layout import HelpCommand
from nhicard.cli.output import ProgressLine, emit, output_options, pick_format
from nhicard.cli.params import Seconds
from nhicard.cli.secrets import read_password
from nhicard.core.errors import UsageError
from nhicard.core.i18n import T, Text

if TYPE_CHECKING:
    from nhicard.mail import WaitTick

IMAP_PASSWORD_ENV = "NHICARD_IMAP_PASSWORD"
SOURCE_OPTIONS = ("eml", "mbox", "maildir", "imap", "link")

EPILOG = """\
Give exactly one of --eml, --mbox, --maildir, --imap or --link. From a mailbox the newest
verification mail (認證通知信) at or after --since is taken and its link 「健保卡註冊認證作業」
is followed; a link that does not lead to the profile's NHI site is refused (it may be a
phishing imitation). --wait polls the mailbox until the mail comes (progress on a terminal).
--imap imaps://user@host[:port]/INBOX (or imap:// with STARTTLS); the mailbox password comes
from --imap-password-file, $NHICARD_IMAP_PASSWORD or a hidden prompt; never from the URL.
--since takes 10m, 2h, 1d (how long ago) or an ISO date/time.

"""


def _source_choice(values: dict[str, str | None]) -> tuple[str, str]:
    given = [(k, v) for k, v in values.items() if v]
    if len(given) != 1:
        names = ", ".join(f"--{k}" for k in SOURCE_OPTIONS)
        raise UsageError(
            T(
                "請指定一個(且只有一個)郵件來源:{names}",
                "give exactly one mail source: {names}",
            ).format(names=names),
            hint=T(
                "例如 --maildir ~/Maildir,或直接以 --link URL 給認證連結。",
                "For example --maildir ~/Maildir, or the link itself with --link URL.",
            ),
            reason="mail-source",
        )
    kind, value = given[0]
    return kind, str(value)


WAITING_LINE = T(
    "尚未收到認證通知信(已看過 {n} 封),繼續等待,剩餘 {left} 秒…",
    "No verification mail yet ({n} mail(s) looked at); waiting, {left} s left…",
)


def _on_tick(app: AppContext, line: ProgressLine) -> Callable[[WaitTick], None]:
    """Each poll without result: the one progress line on a terminal is updated; in a pipe
    nothing is shown (a failed check only with -v)."""

    def tick(state: WaitTick) -> None:
        if state.error and app.verbose >= 1:
            line.clear()  # a message of its own, not over the progress line
            app.debug(T("(上次檢查失敗:{err})", "(last check failed: {err})"), err=state.error)
        if app.quiet:
            return
        text = app.tr(WAITING_LINE, n=state.examined, left=f"{state.remaining:.0f}")
        if state.error:
            text += " " + app.tr(T("(上次檢查失敗)", "(last check failed)"))
        line.show(text)

    return tick


@click.command("verify-email", cls=HelpCommand, epilog=EPILOG)
@click.option("--eml", metavar="FILE", default=None, help="The verification mail saved as .eml.")
@click.option("--mbox", metavar="FILE", default=None, help="An mbox file holding the mail.")
@click.option("--maildir", metavar="DIR", default=None, help="A Maildir holding the mail.")
@click.option(
    "--imap", metavar="URL", default=None, help="An IMAP mailbox: imaps://user@host[:port]/INBOX."
)
@click.option("--link", metavar="URL", default=None, help="The verification link itself.")
@click.option(
    "--wait",
    type=Seconds(),
    metavar="SECONDS",
    default=None,
    help="Poll the mailbox up to SECONDS for the mail to arrive.",
)
@click.option(
    "--since",
    metavar="WHEN",
    default=None,
    help="Only mails at or after WHEN (10m, 2h, 1d, or an ISO date/time).",
)
@click.option(
    "--imap-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    default=None,
    help=f"Read the IMAP password from FILE's first line (else ${IMAP_PASSWORD_ENV}, else a "
    "hidden prompt).",
)
@click.option(
    "--imap-ca-bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    default=None,
    help="PEM file of CAs to trust for the IMAP server [default: the system's].",
)
@save_pages_option
@output_options
def verify_email(
    eml: str | None,
    mbox: str | None,
    maildir: str | None,
    imap: str | None,
    link: str | None,
    wait: float | None,
    since: str | None,
    imap_password_file: Path | None,
    imap_ca_bundle: Path | None,
    save_pages: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Verify the registration: follow the mail's link, read the card, confirm (steps 5-6)."""
    from nhicard.flows.base import open_flow
    from nhicard.flows.verify_email import MailSourceSpec, find_link, verify_link
    from nhicard.mail import MailNotFound, parse_since
    from nhicard.sites.loader import resolve_profile

    app = get_app()
    chosen = pick_format(fmt, as_json)
    kind, value = _source_choice(
        {"eml": eml, "mbox": mbox, "maildir": maildir, "imap": imap, "link": link}
    )
    if kind == "link" and (wait or since):
        raise UsageError(
            T("--wait 與 --since 只用於郵件來源", "--wait and --since apply to mail sources only"),
            reason="mail-source",
        )
    if kind != "imap" and (imap_password_file or imap_ca_bundle):
        raise UsageError(
            T(
                "--imap-password-file 與 --imap-ca-bundle 只用於 --imap",
                "--imap-password-file and --imap-ca-bundle apply to --imap only",
            ),
            reason="mail-source",
        )
    when = parse_since(since) if since else None
    settings = flow_settings(app, save_pages)
    profile = resolve_profile(settings.profile, sandbox_dir=settings.sandbox_dir)
    if kind != "link":
        password = None
        if kind == "imap":
            password = read_password(
                app,
                password_file=imap_password_file,
                password_stdin=False,
                envvar=IMAP_PASSWORD_ENV,
                confirm=False,
                prompt=T("郵件信箱密碼", "Mailbox password"),
            )
        source = MailSourceSpec(
            kind,
            value,
            imap_password=password,
            imap_ca_bundle=str(imap_ca_bundle) if imap_ca_bundle else None,
        )
        if wait and app.stderr_is_tty:
            app.info(
                T("等待認證通知信(最多 {s} 秒)…", "Waiting up to {s} s for the verification mail…"),
                s=f"{wait:g}",
            )
        try:
            with ProgressLine(app.stderr_is_tty) as line:
                mail = find_link(
                    source, profile, since=when, wait=wait, on_tick=_on_tick(app, line)
                )
        except MailNotFound as missing:
            _show_skipped(app, missing.data.get("skipped") or ())
            raise
        _show_skipped(app, mail.skipped)
        app.debug(
            T("認證通知信:{subject}({date})", "verification mail: {subject} ({date})"),
            subject=mail.subject,
            date=mail.date.isoformat() if mail.date else "-",
        )
        value = mail.link
    with open_flow(settings, profile=profile) as env:
        result = verify_link(env, value)
        app.debug(T("HTTP 請求數:{n}", "HTTP requests: {n}"), n=env.browser.requests_made)
    emit(result.to_dict(), chosen)


def _show_skipped(app: AppContext, skipped: Iterable[Text]) -> None:
    for what in skipped:
        app.debug(T("略過:{what}", "skipped: {what}"), what=app.tr(what))
