"""The hosts file as bytes: the one model for env check (where does a name point) and for
``agent install`` (add one line, take it out again).

Addresses and names are ASCII, but comments can be in any encoding: Notepad's "ANSI" save on
a zh-TW Windows writes Big5 with CRLF line endings. So each line is kept as its own bytes with
its own ending, fields are split on ASCII blanks only (no Big5 byte is a blank, ``#`` or a line
ending), a line is added with the file's own line ending, and removing a line takes out exactly
that line. Adding a line and removing it again gives back the same bytes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_BOM = b"\xef\xbb\xbf"  # Notepad's "UTF-8 with BOM"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(name: str) -> str:
    """A host name in lower case (ASCII letters only, as resolvers compare them)."""
    return name.translate(_ASCII_LOWER)


def _ending(line: bytes) -> bytes:
    return line[len(line.rstrip(b"\r\n")) :]


@dataclass(frozen=True)
class HostsFile:
    """A hosts file's lines, each with its line ending (the last one may have none)."""

    lines: tuple[bytes, ...] = ()

    @classmethod
    def parse(cls, data: bytes) -> HostsFile:
        return cls(tuple(data.splitlines(keepends=True)))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> HostsFile:
        """The file at ``path`` (OSError when it cannot be read)."""
        return cls.parse(Path(path).read_bytes())

    def to_bytes(self) -> bytes:
        return b"".join(self.lines)

    def entries(self) -> Iterator[tuple[str, list[str]]]:
        """``(address, [names in lower case])`` of each line that maps names."""
        for index, line in enumerate(self.lines):
            if index == 0:
                line = line.removeprefix(_BOM)
            fields = line.split(b"#", 1)[0].split()  # bytes.split: ASCII blanks only
            if len(fields) >= 2:
                yield fields[0].decode("latin-1"), [_fold(f.decode("latin-1")) for f in fields[1:]]

    def mapping(self) -> dict[str, list[str]]:
        """``{name (lower case): [addresses, in file order]}``."""
        out: dict[str, list[str]] = {}
        for address, names in self.entries():
            for name in names:
                out.setdefault(name, []).append(address)
        return out

    def addresses(self, host: str) -> list[str]:
        """The addresses ``host`` is mapped to, in file order (the first one counts)."""
        wanted = _fold(host)
        return [address for address, names in self.entries() if wanted in names]

    def newline(self, default: bytes = b"\n") -> bytes:
        """The file's own line ending: the one most of its lines end with (a tie: the one
        used last); ``default`` for a file without any."""
        endings = [e for e in map(_ending, self.lines) if e]
        if not endings:
            return default
        counts = Counter(endings)
        return max(reversed(endings), key=counts.__getitem__)

    def has_line_with(self, mark: str) -> bool:
        needle = mark.encode("ascii")
        return any(needle in line for line in self.lines)

    def with_line(self, line: str, *, default_newline: bytes = b"\n") -> HostsFile:
        """``line`` (ASCII) added as the last complete line, with the file's own line ending.
        A last line without an ending stays last and unended, so that taking ``line`` out
        again gives back the same bytes."""
        new = line.encode("ascii") + self.newline(default_newline)
        if self.lines and not _ending(self.lines[-1]):
            return HostsFile((*self.lines[:-1], new, self.lines[-1]))
        return HostsFile((*self.lines, new))

    def without_lines_with(self, mark: str) -> HostsFile:
        """Every line carrying ``mark`` taken out, with its line ending; nothing else."""
        needle = mark.encode("ascii")
        return HostsFile(tuple(line for line in self.lines if needle not in line))


def write_in_place(path: str | os.PathLike[str], hosts: HostsFile) -> None:
    """Rewrite the file at ``path`` keeping its inode (``/etc/hosts`` is often a bind mount,
    which a rename would not replace)."""
    with open(path, "r+b") as fh:
        fh.write(hosts.to_bytes())
        fh.truncate()
        fh.flush()
        os.fsync(fh.fileno())
