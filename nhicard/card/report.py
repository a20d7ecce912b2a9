"""The ``card verify --report`` file.

:class:`ReportFile` appends one record per card to a CSV or JSON Lines file, flushed and
fsynced at once, so an interruption loses nothing already verified; :func:`read_report` and
:func:`verified_ok_numbers` read an earlier report back (a rerun skips the cards already ok).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
from pathlib import Path
from typing import IO, Any

from nhicard.card.verification import OK, REPORT_FIELDS, Verification
from nhicard.core.atomicfile import make_private
from nhicard.core.closing import ClosesOnExit
from nhicard.core.errors import UsageError
from nhicard.core.i18n import T, Text

REPORT_FORMATS = {".csv": "csv", ".jsonl": "jsonl"}


def report_format(path: str | Path) -> str:
    """``"csv"`` or ``"jsonl"`` from the file name's extension; UsageError otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise UsageError(
            T(
                "報告檔「{path}」的副檔名須為 .csv 或 .jsonl",
                "the report file “{path}” must end in .csv or .jsonl",
            ).format(path=str(path)),
            hint=T(
                "例如 --report verified.csv 或 --report verified.jsonl",
                "For example --report verified.csv or --report verified.jsonl.",
            ),
            reason="report-format",
        )
    return REPORT_FORMATS[suffix]


def _not_a_report(path: Path, what: str) -> UsageError:
    return UsageError(
        T(
            "「{path}」不是 card verify 的報告檔({what})",
            "“{path}” is not a card verify report ({what})",
        ).format(path=str(path), what=what),
        hint=T("請指定另一個報告檔。", "Choose another report file."),
        reason="report-foreign",
    )


def read_report(path: str | Path) -> list[dict[str, Any]]:
    """The records already in a report (none when the file does not exist). A last line
    cut short by a crash is skipped; a file with other columns is a UsageError."""
    p = Path(path)
    fmt = report_format(p)
    if not p.exists():
        return []
    if not p.is_file():  # a FIFO or device would block or never end
        raise _not_a_report(p, "not a regular file")
    text = p.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return []
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        if tuple(rows[0]) != REPORT_FIELDS:
            raise _not_a_report(p, "header " + ",".join(rows[0]))
        return [
            dict(zip(REPORT_FIELDS, row, strict=True))
            for row in rows[1:]
            if len(row) == len(REPORT_FIELDS)
        ]
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short
        if not isinstance(record, dict) or set(record) != set(REPORT_FIELDS):
            raise _not_a_report(p, "keys " + ",".join(sorted(record)))
        records.append(record)
    return records


def verified_ok_numbers(records: list[dict[str, Any]]) -> dict[str, str]:
    """Card numbers that a report lists as verified ok → when (``verified_at``)."""
    return {
        str(r["card_number"]): str(r.get("verified_at") or "")
        for r in records
        if r.get("result") == OK and r.get("card_number")
    }


class ReportFile(ClosesOnExit):
    """A report opened for appending: one record per :meth:`append`, flushed and fsynced.

    A report that does not exist yet is created with its first record (a command that
    fails before verifying any card leaves no file behind); its folder is checked at once.
    The CSV header is written only into a new (or empty) file."""

    def __init__(self, path: str | Path, *, show_pii: bool = False) -> None:
        self.path = Path(path)
        self.format = report_format(self.path)
        self.show_pii = show_pii
        self.existing = read_report(self.path)
        # a write that failed (disk full, I/O error): later records are not written, and
        # the command says so at the end, keeping its own result and exit code
        self.write_error: OSError | None = None
        self.lost = 0  # records not written because of write_error
        self._file: IO[str] | None = None
        if self.path.exists():
            try:
                self._open(create=False)
            except OSError as err:
                raise self._unwritable(err.strerror or type(err).__name__) from None
        else:
            self._check_folder()

    def _unwritable(self, why: str) -> UsageError:
        return UsageError(
            T("無法寫入報告檔「{path}」", "cannot write the report file “{path}”").format(
                path=str(self.path)
            ),
            hint=T("請確認資料夾存在且可寫入。", "Check that the folder exists and is writable."),
            reason="report-unwritable",
            detail=why,
        )

    def _check_folder(self) -> None:
        """The new report's folder exists and is writable (the file is made later)."""
        folder = self.path.parent
        if not folder.is_dir():
            raise self._unwritable(os.strerror(errno.ENOENT))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise self._unwritable(os.strerror(errno.EACCES))

    def _open(self, *, create: bool) -> None:
        """Open (with ``create``: make) the file for appending; OSError when it cannot."""
        # full ID numbers (--show-pii) make the report personal data: 0600 whatever the
        # umask, also for a report that existed before
        mode = 0o600 if self.show_pii else 0o666  # masked reports: as the umask says
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0), mode)
        try:
            if self.show_pii:
                make_private(fd, self.path)
        except OSError:
            os.close(fd)
            raise
        self._file = open(fd, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if create:
            _fsync_dir(self.path.parent)
        if self._file.tell() == 0:
            if self.format == "csv":
                self._write_line(csv_line(list(REPORT_FIELDS)))
        elif not self.path.read_bytes().endswith(b"\n"):
            self._write_line("")  # finish a line cut short by an earlier crash

    def _write_line(self, line: str) -> bool:
        if self.write_error is not None:
            return False
        try:
            if self._file is None:  # the first record of a new report
                self._open(create=True)  # writes the CSV header first
                if self.write_error is not None:
                    return False
            assert self._file is not None
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as err:
            self.write_error = err
            return False
        return True

    def append(self, verification: Verification) -> None:
        """Write one card's record and make sure it is on disk before returning. A failed
        write does not raise: it is kept in ``write_error`` and counted in ``lost``."""
        record = verification.to_record(show_pii=self.show_pii)
        if self.format == "csv":
            written = self._write_line(
                csv_line(["" if v is None else str(v) for v in record.values()])
            )
        else:
            written = self._write_line(json.dumps(record, ensure_ascii=False))
        if not written:
            self.lost += 1

    def failure(self) -> Text | None:
        """What to tell the user when records could not be written, else None."""
        if self.write_error is None:
            return None
        return T(
            "無法寫入報告檔「{path}」:{why};{n} 筆結果未寫入(結果仍顯示於畫面)",
            "could not write the report file “{path}”: {why}; {n} result(s) are not in it "
            "(they were still printed)",
        ).format(
            path=str(self.path),
            why=self.write_error.strerror or type(self.write_error).__name__,
            n=self.lost,
        )

    def close(self) -> None:
        if self._file is None:
            return
        try:
            self._file.close()
        except OSError as err:  # the last buffered bytes could not be written
            self.write_error = self.write_error or err


def csv_line(values: list[str]) -> str:
    """One CSV row (quoted where needed), without the line end."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
