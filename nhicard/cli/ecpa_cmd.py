"""``nhicard ecpa login``: step 7 of the manual — sign in to eCPA with the card + password."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from nhicard.cli.context import get_app
from nhicard.cli.flow_options import flow_settings, save_pages_option
from nhicard.cli.help_layout import HelpGroup
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.cli.params import cookie_jar_target, return_url_callback
from nhicard.cli.secrets import password_options, read_password
from nhicard.core.errors import LocalIOError, UsageError
from nhicard.core.i18n import T, shown

if TYPE_CHECKING:
    pass

PASSWORD_ENV = "NHICARD_PASSWORD"

LOGIN_EPILOG = """\
Without --account: the NHI-card column (card + its registration password). With --account
ALIAS: the account/password column (eCPA account + eCPA password; no card needed). The real
profile describes only the account column's chain (it is public); the NHI-card column's is
not, so there it exits 11 saying so.

The password is sent once: a refused password is never retried (three wrong passwords lock
the login for 10 minutes; on the card, three locks revoke its online service).

"""


@click.group(cls=HelpGroup)
def ecpa() -> None:
    """eCPA 人事服務網: the civil service's sign-on hub (step 7)."""


def _account_alias(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--account: an eCPA account alias, never empty (an empty one would silently mean the
    NHI-card column on some pages and an unknown account on others)."""
    if value is None or ctx.resilient_parsing:
        return value
    alias = value.strip()
    if not alias or not alias.isprintable() or len(alias) > 64:
        raise UsageError(
            T(
                "--account:帳號「{alias}」無法使用(不可為空白、不可含控制字元、最多 64 個字元)",
                "--account: the account '{alias}' cannot be used (not empty, no control "
                "characters, at most 64 characters)",
            ).format(alias=shown(value, 64)),
            reason="bad-account",
        )
    return alias


@ecpa.command("login", epilog=LOGIN_EPILOG)
@click.option(
    "--return-url",
    metavar="URL",
    default=None,
    callback=return_url_callback,
    help="Continue the single sign-on into this application (its sign-on address, e.g. "
    "https://elearn.hrd.gov.tw/sso_verify.php).",
)
@click.option(
    "--account",
    metavar="ALIAS",
    default=None,
    callback=_account_alias,
    help="Sign in with eCPA's account/password column as ALIAS (the password from the "
    "standard sources) instead of the NHI-card column.",
)
@click.option(
    "--cookie-jar",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=cookie_jar_target,
    metavar="FILE",
    help="Write all sites' cookies to FILE (Netscape format, mode 0600; curl --cookie FILE).",
)
@save_pages_option
@password_options(PASSWORD_ENV)
@output_options
def login(
    return_url: str | None,
    account: str | None,
    cookie_jar: Path | None,
    save_pages: Path | None,
    password_file: Path | None,
    password_stdin: bool,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Sign in to eCPA: the NHI-card column (card + password), or with --account the
    account/password column.

    The password comes from --password-file, --password-stdin, $NHICARD_PASSWORD or a hidden
    prompt."""
    from nhicard.flows.base import open_flow
    from nhicard.flows.cookie_jar import write_cookie_jar
    from nhicard.flows.ecpa import ecpa_login

    app = get_app()
    chosen = pick_format(fmt, as_json)
    password = read_password(
        app,
        password_file=password_file,
        password_stdin=password_stdin,
        envvar=PASSWORD_ENV,
        confirm=False,
        prompt=(
            T("eCPA 密碼", "eCPA password")
            if account
            else T("健保卡註冊密碼", "NHI card registration password")
        ),
    )
    settings = flow_settings(app, save_pages, form_hosts_of=return_url)
    with open_flow(settings, secrets=((password, "password"),)) as env:
        result = ecpa_login(env, password, return_url, account=account)
        if cookie_jar is not None:
            try:
                count = write_cookie_jar(cookie_jar, env.browser.cookies.jar)
            except LocalIOError as err:  # the login stands: show it, then what was not saved
                emit(result.to_dict(), chosen)
                raise LocalIOError(
                    T("已登入,但{what_zh}", "logged in, but {what_en}").format(
                        what_zh=err.message.zh, what_en=err.message.en
                    ),
                    hint=err.hint,
                    reason=err.reason,
                ) from None
            app.debug(
                T("已寫入 {n} 個 cookie 到 {path}", "wrote {n} cookie(s) to {path}"),
                n=count,
                path=str(cookie_jar),
            )
        app.debug(T("HTTP 請求數:{n}", "HTTP requests: {n}"), n=env.browser.requests_made)
    emit(result.to_dict(), chosen)
