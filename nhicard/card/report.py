"""The ``card verify --report`` file.

:class:`ReportFile` appends one record per card to a CSV or JSON Lines file, flushed and
fsynced at once, so an interruption loses nothing already verified; :func:`read_report` and
:func:`verified_ok_numbers` read an earlier report back (a rerun skips the cards already ok).

Whatever an existing report holds (another program's file, junk, a file too large or too
deeply nested to parse), reading it raises only a :class:`UsageError`: "not a card verify
report" with the reason, or a :class:`LocalIOError` when the system refuses to read it.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import stat
from pathlib import Path
from typing import IO, Any

from nhicard.card.verification import OK, REPORT_FIELDS, Verification
from nhicard.core.atomicfile import make_private
from nhicard.core.closing import ClosesOnExit
from nhicard.core.errors import LocalIOError, UsageError
from nhicard.core.files import MIB, cannot_read, cannot_write, io_hint, os_reason, read_limited
from nhicard.core.i18n import T, Text, shown

REPORT_FORMATS = {".csv": "csv", ".jsonl": "jsonl"}
# a report holds ~200 bytes a card: 64 MiB is some 300,000 cards, and bounds what is read
REPORT_LIMIT = 64 * MIB
REPORT_FILE = T("報告檔", "the report file")
SHOWN_CHARS = 60  # of a foreign header or key list in the message


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
    cut short by a crash is skipped; a file with other columns, or one that cannot be
    parsed, is a UsageError; a file the system does not let us read is a LocalIOError."""
    p = Path(path)
    fmt = report_format(p)
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise _not_a_report(p, "not a regular file")
        data = read_limited(p, REPORT_LIMIT, REPORT_FILE)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as err:
        raise cannot_read(p, err, REPORT_FILE) from None
    text = _decoded(p, data)
    if not text.strip():
        return []
    if fmt == "csv":
        return _csv_records(p, text)
    return _jsonl_records(p, text)


def _decoded(path: Path, data: bytes) -> str:
    """The report's text. A line cut short by a crash in the middle of a character (later
    finished with a line end) loses that character's bytes; any other byte that is not
    UTF-8 makes the file not a report."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lines = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as err:
            if err.reason != "unexpected end of data":
                raise _not_a_report(path, f"line {number} is not UTF-8 text") from None
            lines.append(line[: err.start].decode("utf-8"))
    return "\n".join(lines)


def _csv_records(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:  # a field over the csv module's limit, …
        raise _not_a_report(path, f"CSV: {shown(str(err), SHOWN_CHARS)}") from None
    if not rows or tuple(rows[0]) != REPORT_FIELDS:
        raise _not_a_report(path, "header " + shown(",".join(rows[0] if rows else []), SHOWN_CHARS))
    return [
        dict(zip(REPORT_FIELDS, row, strict=True))
        for row in rows[1:]
        if len(row) == len(REPORT_FIELDS)
    ]


def _jsonl_records(path: Path, text: str) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if line.startswith("{"):
                continue  # a line cut short by a crash (each record is one write)
            raise _not_a_report(path, f"line {number} is not JSON") from None
        except RecursionError:
            raise _not_a_report(path, f"line {number} is nested too deeply") from None
        except ValueError as err:  # e.g. an integer of more digits than Python converts
            raise _not_a_report(path, f"line {number}: {shown(str(err), SHOWN_CHARS)}") from None
        if not isinstance(record, dict):
            raise _not_a_report(path, f"line {number} is not a JSON object")
        if set(record) != set(REPORT_FIELDS):
            raise _not_a_report(path, "keys " + shown(",".join(sorted(record)), SHOWN_CHARS))
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
        # the command says so at the end (lost_error), after the cards' results: exit 2
        self.write_error: OSError | None = None
        self.lost = 0  # records not written because of write_error
        self._file: IO[str] | None = None
        if self.path.exists():
            try:
                self._open(create=False)
            except OSError as err:
                raise cannot_write(self.path, err, REPORT_FILE) from None
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
        elif _last_byte(self.path) != b"\n":
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
        ).format(path=str(self.path), why=os_reason(self.write_error), n=self.lost)

    def lost_error(self) -> LocalIOError | None:
        """The error that ends the command when records could not be written (after its
        results are shown), else None: a report missing records is not a success."""
        message = self.failure()
        if message is None or self.write_error is None:
            return None
        return LocalIOError(message, hint=io_hint(self.write_error), reason="report-not-written")

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


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
