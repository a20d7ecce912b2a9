"""Writing small files atomically: a temp file in the same directory, given its mode before
any byte is written, then moved into place. A reader never sees half a file, and a secret
never exists with a wider mode than it ends with. Also: making a file opened for appending
private (:func:`make_private`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

PRIVATE = 0o600
PUBLIC = 0o644


@contextlib.contextmanager
def _staged(path: Path, data: bytes, mode: int, make_parent: bool = True) -> Iterator[str]:
    if make_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # on the disk before it takes the name (a full disk says so)
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def replace_file(path: Path, data: bytes, *, mode: int = PRIVATE, make_parent: bool = True) -> None:
    """Write ``data`` to ``path`` (mode ``mode``), replacing any file that is there; its
    folder is made when missing unless ``make_parent`` is false (then ``FileNotFoundError``)."""
    with _staged(path, data, mode, make_parent) as tmp:
        os.replace(tmp, path)


def create_file_once(path: Path, data: bytes, *, mode: int = PRIVATE) -> None:
    """Create ``path`` with ``data`` (mode ``mode``) unless it already exists.

    The file appears by a hard link, so when several processes create it at once exactly one
    of them wins and all of them then read the same content."""
    with _staged(path, data, mode) as tmp, contextlib.suppress(FileExistsError):
        os.link(tmp, path)


def make_private(fd: int, path: str | os.PathLike[str]) -> None:
    """Give the open file ``fd`` (at ``path``) mode 0600, whatever the umask or the mode it
    had. Windows has ``os.fchmod`` only from Python 3.13: there ``os.chmod`` on the path does
    what Windows can (it only sets or clears read-only); the file is private by the ACL of
    the user's profile it lives in."""
    fchmod = getattr(os, "fchmod", None)
    if fchmod is not None:
        fchmod(fd, PRIVATE)
    else:
        os.chmod(path, PRIVATE)
