"""``nhicard register``: steps 1–4 of the manual (apply for the card's online service)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nhicard.cli.context import AppContext, get_app
from nhicard.cli.flow_options import flow_settings, save_pages_option
from nhicard.cli.help_layout import HelpCommand
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.cli.params import Seconds
from nhicard.cli.secrets import password_options, read_password
from nhicard.core.errors import UsageError
from nhicard.core.i18n import T

PASSWORD_ENV = "NHICARD_PASSWORD"
PROMPT = T("註冊密碼(6 至 12 個字元)", "Registration password (6 to 12 characters)")


def _confirm_on_terminal(app: AppContext):  # type: ignore[no-untyped-def]
    from nhicard.flows.register import Summary

    def confirm(summary: Summary) -> bool:
        req = summary.request
        lines = [
            app.tr(T("即將送出健保卡網路服務註冊申請:", "About to submit the registration:")),
            f"  {app.tr(T('姓名', 'Name'))}: {summary.name_masked}",
            f"  {app.tr(T('戶號', 'Household ID'))}: {req.household_id}",
            f"  {app.tr(T('戶籍地址', 'Address'))}: {summary.address}",
            f"  {app.tr(T('電子郵件', 'E-mail'))}: {req.email}",
            f"  {app.tr(T('聯絡電話', 'Phone'))}: {req.phone}",
            f"  {app.tr(T('手機', 'Mobile'))}: {req.mobile}",
        ]
        click.echo("\n".join(lines), err=True)
        return click.confirm(app.tr(T("確定送出?", "Submit?")), default=False, err=True)

    return confirm


@click.command(cls=HelpCommand)
@click.option("--household-id", required=True, metavar="ID", help="戶號: 8 letters/digits.")
@click.option("--city", required=True, metavar="C", help="縣市, e.g. 台北市 or 臺北.")
@click.option("--district", required=True, metavar="D", help="鄉鎮市區, e.g. 大安區.")
@click.option("--village", required=True, metavar="V", help="村里, e.g. 龍門里.")
@click.option("--neighborhood", required=True, metavar="N", help="鄰 (a number).")
@click.option("--email", required=True, metavar="E", help="Where the verification mail goes.")
@click.option("--phone", required=True, metavar="P", help="聯絡電話, e.g. 02-23456789#123.")
@click.option("--mobile", required=True, metavar="M", help="手機, e.g. 0912345678.")
@click.option("--dry-run", is_flag=True, help="Walk every page but do not send the final submit.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before the final submit.")
@click.option(
    "--resend",
    is_flag=True,
    help="Apply again although an earlier run submitted, or may have (mail lost, link "
    "expired); the newest mail's link is then the one that works.",
)
@save_pages_option
@click.option(
    "--timeout",
    type=Seconds(min=0.1, min_open=False),
    default=None,
    metavar="SECONDS",
    help="HTTP read timeout; a whole request may take twice this [default: 30].",
)
@password_options(PASSWORD_ENV)
@output_options
def register(
    household_id: str,
    city: str,
    district: str,
    village: str,
    neighborhood: str,
    email: str,
    phone: str,
    mobile: str,
    dry_run: bool,
    yes: bool,
    resend: bool,
    save_pages: Path | None,
    timeout: float | None,
    password_file: Path | None,
    password_stdin: bool,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Register the NHI card for the online service (steps 1–4 of the manual).

    Opens the registration site, accepts the terms, reads the card through the card agent,
    enters 戶號 and the household address, then the password and contact data, and submits.
    The site then mails a verification link (see `nhicard verify-email`).

    The password comes from --password-file, --password-stdin, $NHICARD_PASSWORD, or a
    hidden prompt (asked twice). Without --yes the final submit is confirmed on the
    terminal; when stdin is not a terminal, --yes is required.

    A rerun never applies twice on its own: an earlier submit that was confirmed, or whose
    answer was lost (network, Ctrl-C, SIGTERM/SIGHUP), is not sent again without --resend;
    check the mailbox for the verification mail first. One run at a time per card: a second
    one waits briefly, then refuses. The final submit is made only once the run journal
    (under NHICARD_STATE_DIR) has recorded it on disk.

    """
    from nhicard.flows.base import open_flow
    from nhicard.flows.register import register as run_register
    from nhicard.flows.register_input import check_password, parse_request

    app = get_app()
    request = parse_request(
        household_id=household_id,
        city=city,
        district=district,
        village=village,
        neighborhood=neighborhood,
        email=email,
        phone=phone,
        mobile=mobile,
    )
    password = read_password(
        app,
        password_file=password_file,
        password_stdin=password_stdin,
        envvar=PASSWORD_ENV,
        confirm=True,
        prompt=PROMPT,
    )
    check_password(password)
    confirm = None
    if not dry_run and not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                T(
                    "送出前需要確認,但標準輸入不是終端機",
                    "the final submit needs a confirmation, but stdin is not a terminal",
                ),
                hint=T(
                    "在指令稿中請加上 --yes(或先用 --dry-run 試跑)。",
                    "In scripts add --yes (or try --dry-run first).",
                ),
                reason="confirmation-needed",
            )
        confirm = _confirm_on_terminal(app)
    settings = flow_settings(app, save_pages, read_timeout=timeout)
    with open_flow(settings) as env:
        outcome = run_register(
            env, request, password, dry_run=dry_run, resend=resend, confirm=confirm
        )
    app.debug(T("HTTP 請求數:{n}", "HTTP requests: {n}"), n=outcome.requests)
    emit(outcome.to_record(), pick_format(fmt, as_json))
