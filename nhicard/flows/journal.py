"""A resumable run journal: which steps of a flow already happened for one card.

One JSON file per (flow, card) under ``<state dir>/journal/``, named by a hash of the card
number (the number itself is not in the file name). It holds the completed steps with their
times and a few non-secret facts (e.g. the e-mail address the verification mail went to).
Passwords never enter it: :meth:`Journal.record` refuses fact names that look like secrets.
Every write is atomic (temp file + rename) with mode 0600, so a crash leaves either the old
or the new journal, never a torn one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nhicard.core.errors import UsageError
from nhicard.core.i18n import T, Text
from nhicard.core.masking import mask_id
from nhicard.web.pages import write_private

FORMAT = 1
_SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token", "sign")


def journal_dir(state_dir: Path | None = None) -> Path:
    """``<state dir>/journal`` (``NHICARD_STATE_DIR`` honoured)."""
    if state_dir is None:
        from nhicard.core.paths import state_dir as default_state_dir

        state_dir = default_state_dir()
    return Path(state_dir) / "journal"


def _key(flow: str, card_number: str) -> str:
    digest = hashlib.sha256(f"{flow}\0{card_number}".encode()).hexdigest()[:20]
    return f"{flow}-{digest}.json"


class Journal:
    """The journal of one flow for one card. ``steps`` maps step → ISO time; ``facts`` holds
    non-secret values recorded with the steps."""

    def __init__(
        self,
        path: Path,
        *,
        flow: str,
        card_number: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = path
        self.flow = flow
        self.card_number = card_number
        self._clock = clock or (lambda: datetime.now(UTC))
        self.steps: dict[str, str] = {}
        self.facts: dict[str, Any] = {}
        self.write_error: OSError | None = None
        self.warn: Callable[[Text], None] | None = None  # told when the file cannot be written
        self._load()

    @classmethod
    def open(
        cls,
        flow: str,
        card_number: str,
        *,
        state_dir: Path | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Journal:
        """The journal of ``flow`` for the card (empty if none was written yet)."""
        path = journal_dir(state_dir) / _key(flow, card_number)
        return cls(path, flow=flow, card_number=card_number, clock=clock)

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise UsageError(
                T("無法讀取執行紀錄 {path}", "cannot read the run journal {path}").format(
                    path=str(self.path)
                ),
                hint=T(
                    "刪除該檔案後重新執行(已完成的步驟將無法得知)。",
                    "Delete the file and run again (completed steps will not be known).",
                ),
                detail=str(exc),
                reason="journal-unreadable",
            ) from None
        if not isinstance(raw, dict) or raw.get("flow") != self.flow:
            return
        steps = raw.get("steps")
        facts = raw.get("facts")
        self.steps = {str(k): str(v) for k, v in steps.items()} if isinstance(steps, dict) else {}
        self.facts = dict(facts) if isinstance(facts, dict) else {}

    def done(self, step: str) -> bool:
        return step in self.steps

    def when(self, step: str) -> str | None:
        """The ISO time the step was recorded, or None."""
        return self.steps.get(step)

    def record(self, step: str, **facts: str | int | bool | None) -> None:
        """Mark ``step`` done now, with non-secret ``facts``; written to disk at once."""
        bad = [name for name in facts if any(w in name.lower() for w in _SECRET_WORDS)]
        if bad:
            raise ValueError(f"secrets never go into the journal: {', '.join(bad)}")
        self.steps[step] = self._clock().astimezone(UTC).isoformat(timespec="seconds")
        self.facts.update(facts)
        self._write()

    def forget(self, *steps: str) -> None:
        """Drop steps (e.g. to start over after ``--resend``)."""
        for step in steps:
            self.steps.pop(step, None)
        self._write()

    def clear(self) -> None:
        """Remove the journal file."""
        self.steps.clear()
        self.facts.clear()
        self.path.unlink(missing_ok=True)

    def to_dict(self) -> Mapping[str, Any]:
        return {
            "format": FORMAT,
            "flow": self.flow,
            "card": mask_id(self.card_number),
            "steps": dict(self.steps),
            "facts": dict(self.facts),
        }

    def _write(self) -> None:
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"
        try:
            write_private(self.path, text.encode("utf-8"))
        except OSError as err:
            # the run goes on (its result is what counts); a rerun just knows less
            self.write_error = err
            if self.warn is not None:
                self.warn(
                    T(
                        "無法寫入執行紀錄 {path}:{why}(重新執行時將無法得知已完成的步驟)",
                        "could not write the run journal {path}: {why} (a rerun will not "
                        "know which steps were done)",
                    ).format(path=str(self.path), why=err.strerror or type(err).__name__)
                )
