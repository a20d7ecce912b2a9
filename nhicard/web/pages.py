"""Saving pages for ``--save-pages DIR`` and for the exit-11 report, with redaction.

Before a page touches the disk: password inputs lose their values; the agent's hidden fields
(``hidBasic`` …) and the ASP.NET state (which can carry typed-in data) are replaced by a
length note; every known secret (name, birth date, e-mail, phones, ID and card numbers) and
every ID number is masked. Files are written atomically with mode 0600 as ``NN-<step>.html``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from bs4 import Tag

from nhicard.web.aspnet import STATE_FIELDS
from nhicard.web.formdata import control_type
from nhicard.web.page import Page, parse_html
from nhicard.web.redact import Redactor

_STEP_RE = re.compile(r"[^A-Za-z0-9_-]+")


def redact_html(text: str, redactor: Redactor) -> str:
    """The page's HTML with secrets removed (see the module docstring)."""
    soup = parse_html(text)
    state = {name.lower() for name in STATE_FIELDS}
    for el in soup.find_all(["input", "textarea"]):
        name = str(el.get("name") or el.get("id") or "")
        if el.name == "input" and control_type(el) == "password":
            if el.has_attr("value"):
                el["value"] = ""
        elif name.lower() in state or redactor.is_hidden_field(name):
            if el.name == "textarea":
                el.clear()
            elif el.get("value"):
                el["value"] = f"[redacted {len(str(el['value']))} chars]"
        elif isinstance(el, Tag) and el.get("value"):
            el["value"] = redactor.text(str(el["value"]))
    return redactor.text(str(soup))


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PageSaver:
    """Saves redacted pages into one directory, numbered in the order they were saved."""

    def __init__(self, directory: Path, redactor: Redactor) -> None:
        self.directory = Path(directory)
        self.redactor = redactor
        self._count = (
            len(list(self.directory.glob("[0-9][0-9]-*.html"))) if self.directory.is_dir() else 0
        )

    def save(self, page: Page | str, step: str) -> Path:
        """Save a page (or raw HTML) as ``NN-<step>.html``; returns its path."""
        text = page.text if isinstance(page, Page) else page
        self._count += 1
        slug = _STEP_RE.sub("-", step).strip("-") or "page"
        path = self.directory / f"{self._count:02d}-{slug}.html"
        write_private(path, redact_html(text, self.redactor).encode("utf-8"))
        return path
