"""Writing a browser's cookies as a Netscape cookie file (``curl --cookie FILE``, wget, …).

The file holds live sessions, so it is written like a secret: created with mode 0600 through
``os.open`` (never readable by others, not even for a moment), then renamed over the target
atomically. One line per cookie, tab-separated:
``domain  include-subdomains  path  secure  expires  name  value``; an HttpOnly cookie's domain
is prefixed with ``#HttpOnly_`` (as curl writes and reads it); a session cookie has expiry 0.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from http.cookiejar import Cookie
from pathlib import Path

from nhicard.core.atomicfile import PRIVATE, replace_file
from nhicard.core.errors import UsageError
from nhicard.core.files import cannot_write
from nhicard.core.i18n import T

HEADER = (
    "# Netscape HTTP Cookie File\n"
    "# Written by nhicard. It holds live sessions: keep it private (mode 0600).\n\n"
)
HTTPONLY_PREFIX = "#HttpOnly_"


def _is_httponly(cookie: Cookie) -> bool:
    return any(key.lower() == "httponly" for key in getattr(cookie, "_rest", {}))


def _clean(value: str) -> str:
    return value.replace("\t", " ").replace("\r", "").replace("\n", "")


def cookie_line(cookie: Cookie) -> str:
    """One cookie in Netscape format (without the newline)."""
    domain = cookie.domain
    subdomains = "TRUE" if cookie.domain_specified and domain.startswith(".") else "FALSE"
    if _is_httponly(cookie):
        domain = HTTPONLY_PREFIX + domain
    expires = str(int(cookie.expires)) if cookie.expires is not None else "0"
    return "\t".join(
        (
            _clean(domain),
            subdomains,
            _clean(cookie.path or "/"),
            "TRUE" if cookie.secure else "FALSE",
            expires,
            _clean(cookie.name),
            _clean(cookie.value or ""),
        )
    )


def netscape_text(cookies: Iterable[Cookie]) -> str:
    """The whole cookie file's text."""
    lines = [cookie_line(c) for c in cookies]
    return HEADER + "".join(line + "\n" for line in lines)


def target_problem(target: Path) -> UsageError | None:
    """A :class:`UsageError` when ``target`` exists and is not a regular file (a device such
    as /dev/full, a FIFO, a directory, a symbolic link): the atomic rename would replace it."""
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        info_error = getattr(exc, "strerror", None) or type(exc).__name__
        return UsageError(
            T("無法使用 cookie 檔 {path}:{why}", "cannot use the cookie file {path}: {why}")
            .format(path=str(target), why=info_error),
            reason="cookie-jar",
        )  # fmt: skip
    if stat.S_ISREG(info.st_mode):
        return None
    return UsageError(
        T(
            "cookie 檔 {path} 已存在且不是一般檔案,不會取代它",
            "the cookie file {path} exists and is not a regular file; not replacing it",
        ).format(path=str(target)),
        hint=T("請指定一般檔案的路徑。", "Name the path of a regular file."),
        reason="cookie-jar",
    )


def write_cookie_jar(path: Path, cookies: Iterable[Cookie]) -> int:
    """Write ``cookies`` to ``path`` (mode 0600, atomic replace); returns how many.

    An unwritable place is a :class:`~nhicard.core.errors.LocalIOError` (exit 2) naming the
    path and the system's reason; no partial file is left."""
    items = list(cookies)
    data = netscape_text(items).encode("utf-8")
    target = Path(path)
    problem = target_problem(target)
    if problem is not None:
        raise problem
    try:
        replace_file(target, data, mode=PRIVATE, make_parent=False)
    except OSError as exc:
        raise cannot_write(target, exc, T("cookie 檔", "the cookie file")) from None
    return len(items)
