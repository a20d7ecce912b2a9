"""A resumable run journal: which steps of a flow already happened for one card.

One JSON file per (flow, card) under ``<state dir>/journal/``, named by a hash of the card
number (the number itself is not in the file name). It holds the completed steps with their
times and a few non-secret facts (e.g. the e-mail address the verification mail went to).
Passwords never enter it: :meth:`Journal.record` refuses fact names that look like secrets.
Every write is atomic (temp file + rename) with mode 0600, so a crash leaves either the old
or the new journal, never a torn one. A write that must not be lost (``durable=True``: the
step that guards a submit that cannot be repeated) is fsync'd, its directory too, and
raises :class:`JournalUnwritable` when it cannot be made; other writes only warn.

:func:`flow_lock` keeps two runs of one flow for one card from working at once.

A journal belongs to the site instance it was made against (:class:`SiteIdentity`): the
site's origin, and the instance id a site may serve (the sandbox does: a new one for every
new sandbox). Opened for another site, or for a site that names another instance, the
journal starts empty (:attr:`Journal.superseded` tells what was set aside): steps done
against that other site say nothing about this one. A journal written before identities
were recorded (none in the file) is taken as it is — not sending twice comes first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SiteIdentity:
    """Which site instance a journal's steps were done against: the site's ``origin``
    (``https://host:port``) and, where the site serves one, its ``instance`` id."""

    origin: str
    instance: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"origin": self.origin, "instance": self.instance}

    @classmethod
    def from_json(cls, doc: object) -> SiteIdentity | None:
        if not isinstance(doc, dict) or not isinstance(doc.get("origin"), str):
            return None
        instance = doc.get("instance")
        return cls(str(doc["origin"]), instance if isinstance(instance, str) else None)

    def same_site(self, other: SiteIdentity) -> bool:
        """Two identities name the same instance: the same instance id where either names
        one (a sandbox restarted on other ports is the same site), else the same origin."""
        if self.instance is not None or other.instance is not None:
            return self.instance == other.instance
        return self.origin.lower() == other.origin.lower()

    def describe(self) -> str:
        return f"{self.origin} ({self.instance})" if self.instance else self.origin


@dataclass(frozen=True)
class Superseded:
    """A journal set aside because it was made against another site instance."""

    site: SiteIdentity
    steps: Mapping[str, str]


class JournalUnwritable(UsageError):
    """A step that must be on disk before the flow goes on could not be written (exit 2, as
    every local file that cannot be written)."""


class FlowBusy(UsageError):
    """Another run of the same flow for the same card and site holds the lock (a usage
    error: the same job was started twice)."""


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; Windows has no directory handles)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        site: SiteIdentity | None = None,
    ) -> None:
        self.path = path
        self.flow = flow
        self.card_number = card_number
        self._clock = clock or (lambda: datetime.now(UTC))
        self.site = site
        self.steps: dict[str, str] = {}
        self.facts: dict[str, Any] = {}
        self.superseded: Superseded | None = None  # set aside: made against another site
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
        site: SiteIdentity | None = None,
    ) -> Journal:
        """The journal of ``flow`` for the card (empty if none was written yet). With
        ``site``, a journal made against another site instance is set aside (see the
        module docstring) and the site is recorded with every write."""
        path = journal_dir(state_dir) / _key(flow, card_number)
        return cls(path, flow=flow, card_number=card_number, clock=clock, site=site)

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
        steps = {str(k): str(v) for k, v in steps.items()} if isinstance(steps, dict) else {}
        made_on = SiteIdentity.from_json(raw.get("site"))
        if self.site is not None and made_on is not None and not made_on.same_site(self.site):
            self.superseded = Superseded(made_on, steps)
            return
        if self.site is None:
            self.site = made_on
        self.steps = steps
        self.facts = dict(facts) if isinstance(facts, dict) else {}

    def done(self, step: str) -> bool:
        return step in self.steps

    def when(self, step: str) -> str | None:
        """The ISO time the step was recorded, or None."""
        return self.steps.get(step)

    def record(self, step: str, *, durable: bool = False, **facts: str | int | bool | None) -> None:
        """Mark ``step`` done now, with non-secret ``facts``; written to disk at once. With
        ``durable`` the write is fsync'd (file and directory) and a failure raises
        :class:`JournalUnwritable` (the step is then not recorded in memory either)."""
        bad = [name for name in facts if any(w in name.lower() for w in _SECRET_WORDS)]
        if bad:
            raise ValueError(f"secrets never go into the journal: {', '.join(bad)}")
        before = (dict(self.steps), dict(self.facts))
        self.steps[step] = self._clock().astimezone(UTC).isoformat(timespec="seconds")
        self.facts.update(facts)
        if not durable:
            self._write()
            return
        try:
            self._write_file()
            _fsync_dir(self.path.parent)
        except OSError as err:
            self.steps, self.facts = before
            self.write_error = err
            raise JournalUnwritable(
                T(
                    "無法把「{step}」可靠地寫入執行紀錄 {path}:{why}",
                    "cannot record “{step}” durably in the run journal {path}: {why}",
                ).format(step=step, path=str(self.path), why=err.strerror or type(err).__name__),
                hint=T(
                    "請先釋出磁碟空間或改用可寫入的 NHICARD_STATE_DIR,再執行一次。",
                    "Free some disk space (or point NHICARD_STATE_DIR at a writable place) "
                    "and run again.",
                ),
                reason="journal-unwritable",
                detail=str(err),
            ) from None

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
        doc: dict[str, Any] = {
            "format": FORMAT,
            "flow": self.flow,
            "card": mask_id(self.card_number),
        }
        if self.site is not None:
            doc["site"] = self.site.to_json()
        doc["steps"] = dict(self.steps)
        doc["facts"] = dict(self.facts)
        return doc

    def _write_file(self) -> None:
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"
        write_private(self.path, text.encode("utf-8"))  # temp file, fsync, rename

    def _write(self) -> None:
        try:
            self._write_file()
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


LOCK_WAIT = 10.0  # seconds a second run waits for the first before it refuses
_LOCK_POLL = 0.2


def _try_lock(fd: int) -> bool:
    """Take the lock on the open file ``fd`` without waiting; False when another process
    holds it. Released by the kernel when the file is closed (or the process dies)."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def flow_lock(
    flow: str,
    card_number: str,
    site: str,
    *,
    state_dir: Path | None = None,
    wait: float = LOCK_WAIT,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold the lock of ``flow`` for this card on this ``site`` (a lock file beside the
    journals, named by a hash). A second holder waits up to ``wait`` seconds (``on_wait`` is
    called once when it starts waiting), then :class:`FlowBusy`."""
    digest = hashlib.sha256(f"{flow}\0{card_number}\0{site}".encode()).hexdigest()[:20]
    path = journal_dir(state_dir) / f"{flow}-{digest}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise JournalUnwritable(
            T("無法建立鎖定檔 {path}:{why}", "cannot create the lock file {path}: {why}").format(
                path=str(path), why=err.strerror or type(err).__name__
            ),
            hint=T(
                "請確認 NHICARD_STATE_DIR 可寫入後再執行一次。",
                "Check that NHICARD_STATE_DIR is writable and run again.",
            ),
            reason="journal-unwritable",
        ) from None
    try:
        waited = 0.0
        while not _try_lock(fd):
            if waited >= wait:
                raise FlowBusy(
                    T(
                        "此健保卡的 {flow} 正在另一個 nhicard 中執行;為避免重複送出,本次不執行",
                        "{flow} is already running for this NHI card in another nhicard; "
                        "not running it twice at once",
                    ).format(flow=flow),
                    hint=T(
                        "等另一個執行結束後再試一次(它的結果會記在執行紀錄中)。",
                        "Wait for the other run to end, then try again (its result is in the "
                        "run journal).",
                    ),
                    reason="flow-busy",
                )
            if waited == 0.0 and on_wait is not None:
                on_wait()
            sleep(_LOCK_POLL)
            waited += _LOCK_POLL
        yield
    finally:
        os.close(fd)  # releases the lock
