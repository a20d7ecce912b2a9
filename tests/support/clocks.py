"""A fake "now" for whole process trees, through libfaketime (Debian ``faketime``).

``FakeClock(at, tz).run(*argv)`` runs a command under ``faketime -f +N``: N is fixed when the
clock is made, so every process started later (the CLI, the sandbox server it spawns, their
children) shares one timeline that starts near ``at`` and ticks like the real clock.

The monotonic clock is left real (``FAKETIME_DONT_FAKE_MONOTONIC=1``): faked, it makes
Python's lock and Event timeouts wait against a shifted deadline and hang. libfaketime 0.9.10
then answers Python's ``time.sleep`` (``clock_nanosleep`` on the monotonic clock with an
absolute deadline) with EINVAL, so a tiny preloaded shim, built here with the C compiler that
also builds pyscard, passes ``clock_nanosleep`` straight to the kernel. The shim comes first in
``LD_PRELOAD`` (the ``faketime`` wrapper appends its own library after it).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from tests.support.cli import ROOT

SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                    struct timespec *rem) {
    return syscall(SYS_clock_nanosleep, clock, flags, req, rem) == -1 ? errno : 0;
}
"""


def _unavailable(why: str) -> None:
    if __name__ == "__main__":
        raise SystemExit(why)
    if os.environ.get("CI"):
        pytest.fail(f"{why}: required in CI")
    pytest.skip(why)


@cache
def sleep_shim() -> str:
    """The path of the ``clock_nanosleep`` shim, compiled once per test session."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        _unavailable("no C compiler to build the faketime sleep shim (apt-get install gcc)")
    out = Path(tempfile.mkdtemp(prefix="nhicard-faketime-"))
    (out / "shim.c").write_text(SHIM_SOURCE)
    subprocess.run(
        [str(compiler), "-shared", "-fPIC", "-O2", "-o", str(out / "shim.so"), str(out / "shim.c")],
        check=True,
        capture_output=True,
    )
    return str(out / "shim.so")


class FakeClock:
    """``at``: ISO date and time in UTC (``2026-12-01T23:30:00``); ``tz``: the ``TZ`` of the
    processes (``UTC``, ``Asia/Taipei``)."""

    def __init__(self, at: str, tz: str) -> None:
        if not shutil.which("faketime"):
            _unavailable("faketime is not installed (apt-get install faketime)")
        target = datetime.fromisoformat(at).replace(tzinfo=UTC)
        self.offset = math.ceil((target - datetime.now(UTC)).total_seconds())  # at or just after
        self.tz = tz

    def env(self) -> dict[str, str]:
        preload = os.environ.get("LD_PRELOAD", "")
        return {
            "TZ": self.tz,
            "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "LD_PRELOAD": sleep_shim() + (f":{preload}" if preload else ""),
        }

    def run(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        timeout: float | None = 180,
        capture: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        full = dict(os.environ)
        full.pop("NHICARD_LANG", None)
        full.update(self.env())
        full.update(env or {})
        return subprocess.run(
            ["faketime", "-f", f"{self.offset:+d}", *argv],
            env=full,
            capture_output=capture,
            text=True,
            timeout=timeout,
            cwd=ROOT if capture else None,
        )

    def nhicard(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        from tests.support.cli import nhicard_executable

        return self.run(nhicard_executable(), *args, env=env)


def main(argv: list[str]) -> int:
    """``python -m tests.support.clocks AT [TZ] -- COMMAND…``: COMMAND and everything it starts run
    at the fake time AT (UTC, ISO) in time zone TZ (default UTC); ``make demo-at`` uses
    it."""
    if "--" not in argv or argv.index("--") not in (1, 2) or argv[-1] == "--":
        print(main.__doc__)
        return 2
    split = argv.index("--")
    at, tz = argv[0], (argv[1] if split == 2 else "UTC")
    clock = FakeClock(at.replace(" ", "T"), tz)
    print(f"+ faketime {clock.offset:+d} s (now {at} UTC, TZ={tz}): {' '.join(argv[split + 1 :])}")
    return clock.run(*argv[split + 1 :], timeout=None, capture=False).returncode


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
