"""Environment diagnostics (``nhicard env check``): small checks run in order.

A :class:`Check` names a function that inspects one thing and returns a :class:`Finding`.
:func:`run_checks` runs a list of checks and returns one :class:`CheckResult` per check, in
the order given:

- a check runs only when every check it ``needs`` (among those in the list) has finished
  without blocking; otherwise it is ``skip`` ("needs X"), never ``fail``;
- independent checks run at the same time, each in its own thread with its own deadline, so
  one hanging network check never hangs the whole run; a check past its deadline is a
  ``fail`` ("timed out");
- an overall budget bounds the whole run.

The core never prints; texts are bilingual :class:`~nhicard.core.i18n.Text`, rendered by the CLI.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nhicard.agent import DEFAULT_AGENT_URL
from nhicard.core.i18n import T, Text
from nhicard.envcheck.settings import AgentSettings, NetworkTargets, PublishedInstaller
from nhicard.platform import Platform, current

if TYPE_CHECKING:
    import httpx

    from nhicard.agent.serve.install import Machine
    from nhicard.core.errors import NhicardError
    from nhicard.pcsc.readers import ReaderInfo
    from nhicard.platform.base import PolicyPlace, Runner
    from nhicard.platform.browsers import BrowserInstall
    from nhicard.sites.sam_endpoint import SamEndpoint

DEFAULT_TIMEOUT = 5.0  # seconds for each check that waits on the network


class Status(StrEnum):
    """A check's outcome; the value is what the JSON report carries."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


# the statuses by their short names: most check modules and their tests use these
PASS, WARN, FAIL, SKIP = Status.PASS, Status.WARN, Status.FAIL, Status.SKIP
STATUSES = tuple(Status)

GROUPS = ("system", "pcsc", "card", "agent", "network", "clock", "installer")


@dataclass(frozen=True)
class Finding:
    """What one check found. ``blocking`` decides whether checks that need this one run:
    by default a ``fail`` or ``skip`` blocks and a ``pass`` or ``warn`` does not."""

    status: Status
    summary: Text
    detail: str = ""
    fix: Text | None = None
    blocking: bool | None = None

    @property
    def blocks(self) -> bool:
        if self.blocking is not None:
            return self.blocking
        return self.status in (FAIL, SKIP)


def passed(summary: Text, detail: str = "") -> Finding:
    return Finding(PASS, summary, detail)


def warned(summary: Text, fix: Text | None, detail: str = "", *, blocking: bool = False) -> Finding:
    return Finding(WARN, summary, detail, fix, blocking)


def failed(summary: Text, fix: Text | None, detail: str = "") -> Finding:
    return Finding(FAIL, summary, detail, fix)


def skipped(summary: Text, detail: str = "") -> Finding:
    return Finding(SKIP, summary, detail)


@dataclass(frozen=True)
class CheckResult:
    """One line of the report (cli-contract.md: ``id, group, status, summary, detail, fix``;
    printed by ``nhicard.cli.records``)."""

    id: str
    group: str
    status: Status
    summary: Text
    detail: str = ""
    fix: Text | None = None


@dataclass(frozen=True)
class Check:
    """One diagnostic: ``run(env)`` returns a :class:`Finding`.

    ``needs`` are ids of earlier checks; ``timeout`` (seconds) overrides the run's default
    deadline for this check."""

    id: str
    group: str
    run: Callable[[CheckEnv], Finding]
    needs: tuple[str, ...] = ()
    timeout: float | None = None


@dataclass(frozen=True, eq=False)
class CheckEnv:
    """What the checks of one run share: typed settings, and memoised facts.

    The settings are built in one place (:func:`nhicard.envcheck.plan.make_env`); tests
    construct one with keywords and derive variants with :func:`dataclasses.replace` (which
    starts with empty memos). The fields after ``timeout`` stand in for this computer in
    tests; ``None`` means the real thing. :meth:`memo` computes a fact once even when several
    checks in different threads ask for it at the same time (a site probed once serves the
    network and clock checks)."""

    # -- what the run is about
    platform: Platform = field(default_factory=current)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    targets: NetworkTargets = NetworkTargets("real", ())
    agent: AgentSettings = AgentSettings(DEFAULT_AGENT_URL)
    reader: str | None = None  # --reader
    profile_name: str = "real"
    # the profile's SAM as the plan loaded it, or the error that kept the profile from
    # loading; None: agent.backend loads the profile itself
    profile_sam: SamEndpoint | NhicardError | None = None
    offline: bool = False  # --offline: no name lookups, no connections beyond this computer
    timeout: float = DEFAULT_TIMEOUT  # seconds for each check that waits on the network
    now: Callable[[], datetime] | None = None  # the clock (UTC); None: the system's
    # -- stand-ins for this computer (tests); None: the real one
    sys_platform: str | None = None
    os_description: str | None = None
    python_version: tuple[int, int, int] | None = None
    pyscard_version: Callable[[], str | None] | None = None
    pcsc_library: Callable[[], tuple[str | None, str]] | None = None
    list_reader_names: Callable[[], list[str]] | None = None
    list_readers: Callable[[], list[ReaderInfo]] | None = None
    establish_context: Callable[[], None] | None = None
    choose_card_reader: Callable[[str | None], str] | None = None
    connect_card: Callable[[str], Any] | None = None
    sysfs_root: Path | None = None
    proc_root: Path | None = None
    pcsc_driver_dirs: tuple[Path, ...] | None = None
    hosts_file: Path | None = None
    agent_machine: Machine | None = None
    proc_net: Path | None = None
    component_answers: Callable[[], bool] | None = None  # stands for the GetVersion probe
    local_tz: tzinfo | None = None
    http_transport: httpx.BaseTransport | None = None
    published_installers: tuple[PublishedInstaller, ...] | None = None
    browsers: Callable[[], Sequence[BrowserInstall]] | None = None  # installed Chromium family
    browser_policy_places: tuple[PolicyPlace, ...] | None = None  # where their policies live
    run_tool: Runner | None = None  # runs the OS's tools (--version, reg query)
    official_ca_file: Path | None = None  # the official component's NHIRootCA.crt
    # -- the run's state (not settings)
    results: dict[str, CheckResult] = field(default_factory=dict, init=False, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _memo_locks: dict[str, threading.Lock] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key; an exception is remembered and re-raised too."""
        with self._lock:
            lock = self._memo_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._memo:
                try:
                    self._memo[key] = (True, compute())
                except Exception as exc:  # noqa: BLE001 - re-raised to every asker below
                    self._memo[key] = (False, exc)
            ok, value = self._memo[key]
        if not ok:
            raise value
        return value

    def ran(self, check_id: str) -> CheckResult | None:
        """The result of an earlier check of this run, if it ran."""
        return self.results.get(check_id)


NEEDS_SKIPPED = T("略過:先決檢查「{need}」未通過", "skipped: prerequisite '{need}' did not pass")
TIMED_OUT = T("逾時:{seconds:g} 秒內沒有結果", "timed out: no result within {seconds:g} s")
TIMED_OUT_FIX = T(
    "網路項目:檢查網路連線、防火牆或 Proxy;本機項目:重新啟動 PC/SC 服務並重新插拔讀卡機。"
    "然後再試一次。",
    "For network items check the connection, firewall or proxy; for local items restart the "
    "PC/SC service and replug the reader. Then try again.",
)
BUDGET_SKIPPED = T(
    "略過:整體檢查時間已用完", "skipped: the overall time limit of the check was reached"
)
CRASHED = T("檢查本身發生錯誤(這是程式的問題)", "the check itself failed (this is a bug)")
CRASHED_FIX = T("請回報這個問題,並附上 -v 的輸出。", "Please report this, with the output of -v.")


@dataclass
class _Running:
    check: Check
    deadline: float
    timeout: float
    outcome: list[Finding] = field(default_factory=list)


def _crash_finding(exc: BaseException) -> Finding:
    from nhicard.core.errors import NhicardError

    if isinstance(exc, NhicardError):
        return failed(exc.message, exc.hint, exc.detail or "")
    return failed(CRASHED, CRASHED_FIX, f"{type(exc).__name__}: {exc}")


def run_checks(
    checks: Sequence[Check],
    env: CheckEnv,
    *,
    budget: float | None = None,
    grace: float = 1.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[CheckResult]:
    """Run ``checks`` and return their results in the same order.

    Each check gets ``check.timeout or env.timeout`` seconds plus ``grace`` (so the check's
    own, more precise timeout message wins when it has one); ``budget`` bounds the whole run.
    """
    ids = [c.id for c in checks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate check ids: {ids}")
    known = set(ids)
    for position, c in enumerate(checks):
        later = [n for n in c.needs if n in known and n not in ids[:position]]
        if later:
            raise ValueError(f"check {c.id} needs checks that come after it: {later}")
    results = env.results
    pending = list(checks)
    running: dict[str, _Running] = {}
    done = threading.Condition()
    start = monotonic()
    stop_at = start + budget if budget is not None else None

    def body(r: _Running) -> None:
        try:
            finding = r.check.run(env)
        except Exception as exc:  # noqa: BLE001 - a broken check becomes a failed line
            finding = _crash_finding(exc)
        with done:
            r.outcome.append(finding)
            done.notify_all()

    def record(check: Check, finding: Finding) -> None:
        results[check.id] = CheckResult(
            check.id, check.group, finding.status, finding.summary, finding.detail, finding.fix
        )
        blocked[check.id] = finding.blocks

    blocked: dict[str, bool] = {}
    with done:
        while pending or running:
            now = monotonic()
            # finished or overdue checks
            for cid, r in list(running.items()):
                if r.outcome:
                    record(r.check, r.outcome[0])
                    del running[cid]
                elif now >= r.deadline:
                    record(
                        r.check,
                        failed(TIMED_OUT.format(seconds=r.timeout), TIMED_OUT_FIX, "timeout"),
                    )
                    del running[cid]
            if stop_at is not None and now >= stop_at:
                for r in running.values():
                    record(
                        r.check,
                        failed(TIMED_OUT.format(seconds=r.timeout), TIMED_OUT_FIX, "timeout"),
                    )
                running.clear()
                for c in pending:
                    record(c, skipped(BUDGET_SKIPPED, "budget"))
                pending.clear()
                break
            # start every check whose prerequisites are all settled
            for c in list(pending):
                needs = [n for n in c.needs if n in known]
                if any(n not in blocked for n in needs):
                    continue
                pending.remove(c)
                bad = next((n for n in needs if blocked[n]), None)
                if bad is not None:
                    record(c, skipped(NEEDS_SKIPPED.format(need=bad), f"needs {bad}"))
                    continue
                timeout = c.timeout if c.timeout is not None else env.timeout
                r = _Running(c, monotonic() + timeout + grace, timeout)
                running[c.id] = r
                threading.Thread(
                    target=body, args=(r,), daemon=True, name=f"envcheck:{c.id}"
                ).start()
            if not running:
                continue
            wake = min(r.deadline for r in running.values())
            if stop_at is not None:
                wake = min(wake, stop_at)
            if not any(r.outcome for r in running.values()):
                done.wait(max(0.0, wake - monotonic()))
    return [results[c.id] for c in checks]


def summarize(results: Sequence[CheckResult]) -> dict[str, int]:
    """``{"pass": n, "warn": n, "fail": n, "skip": n}``."""
    counts: dict[str, int] = {s.value: 0 for s in Status}
    for r in results:
        counts[r.status] += 1
    return counts
