"""Reading a user-named file with a size limit; the errors for files that cannot be read or
written.

A path on the command line or in a profile can name ``/dev/zero``, a FIFO that never ends or
a huge file; reading it whole would run until memory runs out. :func:`read_limited` reads at
most ``limit + 1`` bytes and refuses the file (a usage error naming it and the limit) when
there are more. Errors opening or reading the file (``OSError``) are left to the caller, who
knows how to word them.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from nhicard.core.errors import LocalIOError, UsageError
from nhicard.core.i18n import T, Text

KIB = 1024
MIB = 1024 * KIB


def size_text(size: int) -> str:
    """``1 MiB``, ``64 KiB``, ``100 bytes``."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} bytes"


def too_large(path: str | Path, limit: int, what: Text) -> UsageError:
    """The usage error for a file over its limit (``what`` names the kind of file)."""
    return UsageError(
        T(
            "{what_zh} {path} 太大:超過 {limit} 的上限",
            "{what_en} {path} is too large: over the limit of {limit}",
        ).format(what_zh=what.zh, what_en=what.en, path=str(path), limit=size_text(limit)),
        hint=T(
            "請確認路徑指向正確的檔案(不是裝置或不斷寫入的管線)。",
            "Check that the path names the right file (not a device or a never-ending pipe).",
        ),
        reason="file-too-large",
    )


def read_limited(path: str | Path, limit: int, what: Text) -> bytes:
    """The bytes of ``path``, at most ``limit`` of them; :func:`too_large` beyond it."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise too_large(path, limit, what)
    return data


def read_text_limited(path: str | Path, limit: int, what: Text, encoding: str = "utf-8") -> str:
    """:func:`read_limited` decoded (``UnicodeDecodeError`` is left to the caller)."""
    return read_limited(path, limit, what).decode(encoding)


def os_reason(exc: BaseException) -> str:
    """The system's words for an ``OSError`` (``No space left on device``), else its type."""
    return getattr(exc, "strerror", None) or type(exc).__name__


_HINTS: dict[int, Text] = {
    errno.ENOSPC: T(
        "請清出磁碟空間,或改用其他位置。", "Free some space on that disk, or choose another place."
    ),
    errno.EACCES: T(
        "請檢查該檔案與其資料夾的權限。", "Check the permissions of the file and of its folder."
    ),
    errno.EROFS: T(
        "該檔案系統為唯讀,請改用其他位置。",
        "That file system is read-only: choose another place.",
    ),
    errno.ENOENT: T(
        "請確認資料夾存在、路徑正確。", "Check that the folder exists and the path is right."
    ),
    errno.EISDIR: T("這個路徑是資料夾,請給檔案。", "The path names a folder: give a file."),
    errno.ENOTDIR: T(
        "路徑中有一段不是資料夾,請檢查路徑。", "A part of the path is not a folder: check the path."
    ),
}
_HINTS[errno.EDQUOT] = _HINTS[errno.ENOSPC]
_HINTS[errno.EFBIG] = _HINTS[errno.ENOSPC]
_HINTS[errno.EPERM] = _HINTS[errno.EACCES]


def io_hint(exc: BaseException) -> Text | None:
    """What to do about ``exc`` (by its errno), or None when there is nothing specific."""
    number = getattr(exc, "errno", None)
    return _HINTS.get(number) if isinstance(number, int) else None


def cannot_write(path: str | Path, exc: BaseException, what: Text) -> LocalIOError:
    """The error for ``what`` (e.g. ``T("報告檔", "the report file")``) at ``path`` that could
    not be written: its path, the system's reason and what to do."""
    return LocalIOError(
        T("無法寫入{what_zh}「{path}」:{why}", "cannot write {what_en} “{path}”: {why}").format(
            what_zh=what.zh, what_en=what.en, path=str(path), why=os_reason(exc)
        ),
        hint=io_hint(exc),
        reason="io-error",
    )


def cannot_read(path: str | Path, exc: BaseException, what: Text) -> LocalIOError:
    """The error for ``what`` at ``path`` that could not be read (its path and reason)."""
    return LocalIOError(
        T("無法讀取{what_zh}「{path}」:{why}", "cannot read {what_en} “{path}”: {why}").format(
            what_zh=what.zh, what_en=what.en, path=str(path), why=os_reason(exc)
        ),
        hint=io_hint(exc),
        reason="io-error",
    )


# Nesting deeper than any real file needs; deeper input would exhaust Python's recursion
# in the parser or in the code that walks the result.
MAX_NESTING = 64


def nesting_depth(value: object) -> int:
    """How deeply ``value``'s dicts and lists nest (iteratively: any depth is safe)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = list(item)
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads`` for a user's file: nesting over :data:`MAX_NESTING` levels is a
    ``TOMLDecodeError`` like any other malformed TOML (never a ``RecursionError``)."""
    import tomllib

    try:
        doc = tomllib.loads(text)
    except RecursionError:
        raise tomllib.TOMLDecodeError(f"nested more than {MAX_NESTING} levels deep") from None
    if nesting_depth(doc) > MAX_NESTING:
        raise tomllib.TOMLDecodeError(f"nested more than {MAX_NESTING} levels deep")
    return doc
