"""Where a command's password comes from (cli-contract.md: never from argv).

Sources, first match wins: ``--password-file FILE`` (its first line), ``--password-stdin``
(one line of standard input), the environment variable the command names (e.g.
``NHICARD_PASSWORD``), else a hidden prompt when standard input is a terminal (with a
confirmation where the password is being set). Anything else is a usage error (exit 2).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nhicard.cli.context import AppContext
from nhicard.core.errors import UsageError
from nhicard.core.files import KIB, cannot_read, read_text_limited
from nhicard.core.i18n import T, Text

F = TypeVar("F", bound=Callable[..., Any])

REPEAT_PROMPT = T("請再輸入一次確認", "Repeat for confirmation")
# only the first line is used; a bigger file is not a password file (/dev/zero, a log)
MAX_PASSWORD_FILE_BYTES = 64 * KIB


def password_options(envvar: str = "NHICARD_PASSWORD") -> Callable[[F], F]:
    """Add ``--password-file FILE`` and ``--password-stdin`` to a command; the command
    receives ``password_file`` (Path | None) and ``password_stdin`` (bool)."""

    def decorate(func: F) -> F:
        func = click.option(
            "--password-stdin",
            is_flag=True,
            default=False,
            help="Read the password from the first line of standard input.",
        )(func)
        func = click.option(
            "--password-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            metavar="FILE",
            help=f"Read the password from the first line of FILE (else ${envvar}, "
            "else a hidden prompt on a terminal).",
        )(func)
        return func

    return decorate


def _strip_line(text: str) -> str:
    line = text.split("\n", 1)[0]
    return line[:-1] if line.endswith("\r") else line


def _empty(source: str) -> UsageError:
    return UsageError(
        T("{source} 提供的密碼是空的", "the password from {source} is empty").format(source=source)
    )


def _not_text(source: str) -> UsageError:
    return UsageError(
        T(
            "{source} 提供的密碼不是 UTF-8 文字",
            "the password from {source} is not UTF-8 text",
        ).format(source=source),
        hint=T(
            "請以 UTF-8 編碼提供密碼(密碼為 6 至 12 個英數字元)。",
            "Give the password in UTF-8 (it is 6 to 12 letters and digits).",
        ),
        reason="password-not-text",
    )


def _as_text(password: str, source: str) -> str:
    """``password`` when it is text; bytes that were not UTF-8 (kept by Python as lone
    surrogates, from the environment or a terminal in another encoding) are refused."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise _not_text(source) from None
    return password


def read_password(
    app: AppContext,
    *,
    password_file: Path | None,
    password_stdin: bool,
    envvar: str,
    confirm: bool,
    prompt: Text,
) -> str:
    """The password from the first source given (see the module docstring)."""
    if password_file is not None and password_stdin:
        raise UsageError(
            T(
                "--password-file 與 --password-stdin 只能擇一",
                "--password-file and --password-stdin exclude each other",
            )
        )
    if password_file is not None:
        try:
            text = read_text_limited(
                password_file, MAX_PASSWORD_FILE_BYTES, T("密碼檔", "password file")
            )
        except OSError as exc:
            raise cannot_read(password_file, exc, T("密碼檔", "the password file")) from None
        except UnicodeDecodeError:
            raise _not_text(str(password_file)) from None
        password = _strip_line(text)
        if not password:
            raise _empty(str(password_file))
        return _as_text(password, str(password_file))
    if password_stdin:
        # one line, and no more than a password file may hold (stdin can be /dev/zero)
        try:
            password = _strip_line(sys.stdin.readline(MAX_PASSWORD_FILE_BYTES))
        except UnicodeDecodeError:  # stdin decoded strictly (PYTHONIOENCODING=utf-8)
            raise _not_text("stdin") from None
        if not password:
            raise _empty("stdin")
        return _as_text(password, "stdin")
    from_env = os.environ.get(envvar)
    if from_env:
        return _as_text(from_env, envvar)
    if not sys.stdin.isatty():
        raise UsageError(
            T("需要密碼,但標準輸入不是終端機", "a password is needed but stdin is not a terminal"),
            hint=T(
                "請用 --password-file FILE、--password-stdin 或環境變數 {envvar} 提供密碼。",
                "Give it with --password-file FILE, --password-stdin or the {envvar} "
                "environment variable.",
            ).format(envvar=envvar),
            reason="no-password",
        )
    value = click.prompt(
        app.tr(prompt),
        hide_input=True,
        confirmation_prompt=app.tr(REPEAT_PROMPT) if confirm else False,
        err=True,
    )
    password = str(value)
    if not password:
        raise _empty("prompt")
    return password
