"""The standard streams as the CLI contract needs them, when they are full or closed.

Results go to stdout and messages to stderr (cli-contract.md). Each can fail under a command:
``> /dev/full``, a full disk behind a redirection, a stream closed by the caller (``>&-``).

- **stdout** carries the results: when they cannot be written they are lost, and the command
  ends with an I/O error naming standard output and the system's reason (exit 2), never
  exit 0 and never "internal error".
- **stderr** carries messages: when it cannot be written the command goes on and keeps its
  own exit status; later messages go nowhere.
- A reader that went away (``| head``, ``EPIPE``) is not an error: exit 0, quietly.
- **stdin** closed: reading it is an I/O error (exit 2), as for a file that cannot be read.

After a failure the stream's descriptor is pointed at the null device, so the interpreter's
last flush finds nothing to complain about (no "Exception ignored", no exit 120).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from typing import Any, TextIO

from nhicard.core.errors import LocalIOError, NhicardError
from nhicard.core.files import io_hint, os_reason
from nhicard.core.i18n import T, Text

STDOUT = T("標準輸出", "standard output")
STDIN = T("標準輸入", "standard input")


def stream_failed(stream: Text, exc: BaseException, *, reading: bool = False) -> LocalIOError:
    """The error for a standard stream that could not be written (or read)."""
    text = (
        T("無法讀取{stream_zh}:{why}", "cannot read {stream_en}: {why}")
        if reading
        else T(
            "無法寫入{stream_zh},結果已遺失:{why}",
            "cannot write to {stream_en}, the results are lost: {why}",
        )
    )
    hint = (
        T(
            "請由管線或檔案(<)提供輸入,或改用其他來源。",
            "Give it through a pipe or a file (<), or use another source.",
        )
        if reading
        else T(
            "請確認輸出導向的檔案或管線可以寫入,且沒有被關閉。",
            "Check that the file or pipe it is redirected to can be written and is not closed.",
        )
    )
    return LocalIOError(
        text.format(stream_zh=stream.zh, stream_en=stream.en, why=os_reason(exc)),
        hint=io_hint(exc) or hint,
        reason="io-error",
    )


def _to_null(fd: int) -> None:
    """Point descriptor ``fd`` at the null device (what is still buffered then goes there)."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)


class ReaderGone(NhicardError):
    """The reader of the pipe on stdout went away (``| head``): not an error, the command
    ends quietly with exit 0 (``cli.main``). Not Python's ``BrokenPipeError``, which Click
    turns into exit 1 before ``cli.main`` sees it."""


class GuardedStream(io.TextIOWrapper):
    """A standard stream over the same buffer as Python's. On the first failed write its
    descriptor goes to the null device; then, for ``results`` (stdout), every write raises
    :func:`stream_failed` (the results are lost) or :class:`ReaderGone`; for messages
    (stderr) writes are passed over."""

    def __init__(self, original: io.TextIOWrapper, *, results: bool) -> None:
        super().__init__(
            original.buffer,
            encoding=original.encoding,
            errors=original.errors,
            line_buffering=original.line_buffering,
            write_through=original.write_through,
        )
        self._fd = original.fileno()
        self._results = results
        self._lost: OSError | None = None  # the failure, once there was one

    def _failed(self, exc: OSError) -> None:
        if self._lost is None:
            self._lost = exc
            _to_null(self._fd)
        if not self._results:
            return
        if isinstance(exc, BrokenPipeError):
            raise ReaderGone(T("管線的讀取端已關閉", "the pipe's reader went away")) from None
        raise stream_failed(STDOUT, exc) from None

    def write(self, s: str) -> int:
        if isinstance(s, str) and not s:
            return 0  # nothing to write (/dev/full refuses even that)
        if self._lost is not None:
            self._failed(self._lost)
            return len(s)
        try:
            return super().write(s)
        except OSError as exc:
            self._failed(exc)
            return len(s)

    def flush(self) -> None:
        if self._lost is not None:
            return  # said when it happened; the descriptor is the null device now
        try:
            super().flush()
        except OSError as exc:
            self._failed(exc)


class ClosedStream(io.TextIOBase):
    """A standard stream the caller closed (Python leaves ``None`` there): writing results to
    it, or reading from it, is an I/O error instead of silence or ``AttributeError``."""

    def __init__(self, stream: Text) -> None:
        super().__init__()
        self._stream = stream

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def _closed(self, reading: bool) -> Any:
        raise stream_failed(
            self._stream, OSError(errno.EBADF, os.strerror(errno.EBADF)), reading=reading
        )

    def write(self, s: str) -> int:
        return int(self._closed(reading=False))

    def read(self, size: int | None = -1) -> str:
        return str(self._closed(reading=True))

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return str(self._closed(reading=True))

    def isatty(self) -> bool:
        return False


def guard_standard_streams() -> None:
    """Install the behaviour above on ``sys.stdin``, ``sys.stdout`` and ``sys.stderr`` (once,
    at the start of the command line; streams that are not Python's own are left as they
    are, e.g. a test's captured output)."""
    if sys.stdin is None:
        sys.stdin = ClosedStream(STDIN)  # type: ignore[assignment]
    for name, results in (("stdout", True), ("stderr", False)):
        stream: TextIO | None = getattr(sys, name)
        if stream is None:
            if results:
                sys.stdout = ClosedStream(STDOUT)  # type: ignore[assignment]
            continue
        if type(stream) is io.TextIOWrapper and stream is getattr(sys, f"__{name}__"):
            stream.flush()
            setattr(sys, name, GuardedStream(stream, results=results))
