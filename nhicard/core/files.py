"""Reading a user-named file with a size limit.

A path on the command line or in a profile can name ``/dev/zero``, a FIFO that never ends or
a huge file; reading it whole would run until memory runs out. :func:`read_limited` reads at
most ``limit + 1`` bytes and refuses the file (a usage error naming it and the limit) when
there are more. Errors opening or reading the file (``OSError``) are left to the caller, who
knows how to word them.
"""

from __future__ import annotations

from pathlib import Path

from nhicard.core.errors import UsageError
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
