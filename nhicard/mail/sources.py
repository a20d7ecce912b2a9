"""Local message sources: one ``.eml`` file, an mbox file, a Maildir directory.

Every source has ``messages(since=None, hint=None)`` yielding :class:`MailItem` values;
local sources read everything and leave ``since``/``hint`` filtering to the caller (the
IMAP source uses them to search on the server). Missing files raise
:class:`MailSourceMissing` (exit 2).
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import mailbox
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from nhicard.core.errors import UsageError
from nhicard.core.files import cannot_read
from nhicard.core.i18n import T, Text
from nhicard.mail.errors import MailSourceMissing, MailUnreadable
from nhicard.mail.message import (
    MAX_MAIL_BYTES,
    MailItem,
    aware,
    header_date,
    parse_message,
    too_large,
    unreadable,
)


@dataclass(frozen=True)
class SearchHint:
    """What the caller looks for, so a server can filter: any of ``subject_terms`` in the
    subject, any of ``sender_terms`` in From (empty = no filter)."""

    subject_terms: tuple[str, ...] = ()
    sender_terms: tuple[str, ...] = ()


class MessageSource(Protocol):
    """Where mails come from. ``description`` names it for messages (no secrets)."""

    description: str
    # mails passed over as unreadable (``ref: reason``), for ``-v`` (sources of one mail
    # raise :class:`MailUnreadable` instead)
    skipped: list[Text]

    def messages(
        self, *, since: datetime | None = None, hint: SearchHint | None = None
    ) -> Iterator[MailItem]:
        """Every candidate mail (a server may pre-filter by ``since`` and ``hint``)."""
        ...


def _missing(path: Path, kind_zh: str, kind_en: str, exc: Exception | None = None) -> UsageError:
    """The source is not there (:class:`MailSourceMissing`), or the system does not let us
    read it (a directory given as a file, no permission: :func:`cannot_read`, with its
    reason)."""
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return cannot_read(path, exc, T(kind_zh, f"the {kind_en}"))
    return MailSourceMissing(
        T("找不到{kind_zh} {path}", "{kind_en} {path} not found").format(
            kind_zh=kind_zh, kind_en=kind_en, path=str(path)
        ),
        hint=T("請確認路徑是否正確。", "Check the path."),
        reason="mail-source-missing",
        detail=type(exc).__name__ if exc else None,
    )


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except (OSError, OverflowError, ValueError):
        return None


def _item(raw: bytes, delivered: datetime | None, ref: str) -> MailItem:
    msg = parse_message(raw, ref)
    return MailItem(message=msg, date=header_date(msg) or delivered, ref=ref)


def read_mail_file(path: Path) -> bytes:
    """The bytes of one mail file, at most :data:`MAX_MAIL_BYTES`.

    Opened without blocking, so a FIFO or device never hangs us: anything but a regular
    file is :class:`MailUnreadable`, as is a file over the cap. ``OSError`` passes."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise unreadable(str(path), "不是一般檔案", "not a regular file")
        data = fh.read(MAX_MAIL_BYTES + 1)
    if len(data) > MAX_MAIL_BYTES:
        raise too_large(str(path))
    return data


class EmlSource:
    """One message saved as a file (``.eml``, RFC 5322 bytes)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"eml:{self.path}"
        self.skipped: list[Text] = []

    def messages(
        self, *, since: datetime | None = None, hint: SearchHint | None = None
    ) -> Iterator[MailItem]:
        try:
            raw = read_mail_file(self.path)
        except OSError as exc:
            raise _missing(self.path, "郵件檔", "mail file", exc) from None
        yield _item(raw, _mtime(self.path), str(self.path))


def _from_line_date(from_line: str) -> datetime | None:
    _, _, when = from_line.partition(" ")
    try:
        parsed = email.utils.parsedate_to_datetime(when.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return aware(parsed)


class MboxSource:
    """An mbox file (as Thunderbird and ``mail`` keep them); read-only, no locking."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"mbox:{self.path}"
        self.skipped: list[Text] = []

    def messages(
        self, *, since: datetime | None = None, hint: SearchHint | None = None
    ) -> Iterator[MailItem]:
        if self.path.is_dir():
            raise _missing(
                self.path,
                "mbox 檔",
                "mbox file",
                IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)),
            )
        if not self.path.is_file():
            raise _missing(self.path, "mbox 檔", "mbox file")
        try:
            box = mailbox.mbox(str(self.path), factory=None, create=False)
            keys = list(box.iterkeys())
        except (OSError, mailbox.Error) as exc:
            raise _missing(self.path, "mbox 檔", "mbox file", exc) from None
        # the table of contents (start, stop) of every message, to skip an oversized one
        # without reading it; a private attribute of mailbox.mbox, hence the guard
        toc = getattr(box, "_toc", None)
        with contextlib.closing(box):
            for number, key in enumerate(keys, 1):
                span = toc.get(key) if isinstance(toc, dict) else None
                if span is not None and span[1] - span[0] > MAX_MAIL_BYTES:
                    self.skipped.append(too_large(f"{self.path}#{number}").message)
                    continue
                try:
                    raw = box.get_bytes(key)
                    from_line = box.get_message(key).get_from()
                except (OSError, KeyError, mailbox.Error):
                    continue
                ref = f"{self.path}#{number}"
                try:
                    item = _item(raw, _from_line_date(from_line), ref)
                except MailUnreadable as err:
                    self.skipped.append(err.message)
                    continue
                yield item


_MAILDIR_TIME = re.compile(r"^(\d{9,11})\.")


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


class MaildirSource:
    """A Maildir directory: messages in ``new/`` and ``cur/`` (``tmp/`` is ignored).

    Read-only: flags are not changed and nothing is moved. A file another program moves
    from ``new/`` to ``cur/`` while we read is looked up again under ``cur/``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"maildir:{self.path}"
        self.skipped: list[Text] = []

    def _files(self) -> list[Path]:
        if not self.path.is_dir():
            raise _missing(self.path, "Maildir 目錄", "Maildir directory")
        subdirs = [self.path / "new", self.path / "cur"]
        if not any(d.is_dir() for d in subdirs):
            raise MailSourceMissing(
                T(
                    "{path} 不是 Maildir(沒有 new/ 與 cur/)",
                    "{path} is not a Maildir (no new/ and cur/)",
                ).format(path=str(self.path)),
                hint=T("請指定 Maildir 的根目錄。", "Name the Maildir's top directory."),
                reason="not-a-maildir",
            )
        files: list[Path] = []
        for d in subdirs:
            try:
                names = sorted(os.listdir(d))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _missing(d, "Maildir 目錄", "Maildir directory", exc) from None
            files.extend(d / n for n in names if not n.startswith("."))
        # delivery order (a mail's Date has whole seconds only: two mails of one second are
        # told apart by when they were written), then the name
        return sorted(files, key=lambda f: (_mtime_ns(f), f.name))

    def _read(self, path: Path) -> tuple[bytes, Path] | None:
        try:
            return read_mail_file(path), path
        except MailUnreadable as err:
            self.skipped.append(err.message)
            return None
        except FileNotFoundError:
            pass
        except OSError:
            return None
        unique = path.name.split(":", 1)[0]
        try:
            moved = [p for p in (self.path / "cur").iterdir() if p.name.split(":", 1)[0] == unique]
        except OSError:
            return None
        for candidate in moved:
            try:
                return read_mail_file(candidate), candidate
            except MailUnreadable as err:
                self.skipped.append(err.message)
                return None
            except OSError:
                continue
        return None

    def messages(
        self, *, since: datetime | None = None, hint: SearchHint | None = None
    ) -> Iterator[MailItem]:
        for path in self._files():
            got = self._read(path)
            if got is None:
                continue
            raw, real = got
            stamp = _MAILDIR_TIME.match(real.name)
            delivered = datetime.fromtimestamp(int(stamp.group(1)), UTC) if stamp else _mtime(real)
            try:
                item = _item(raw, delivered, str(real))
            except MailUnreadable as err:
                self.skipped.append(err.message)
                continue
            yield item
