"""Running the installed ``nhicard`` in a private mount namespace with some of the machine's
directories replaced by a test's copies (bind mounts that only that process tree sees): the
machine's own files are never touched. Needs root and ``unshare``; skipped without them on a
developer machine, failed under ``CI``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.cli import nhicard_executable, user_environment

# bind every SOURCE TARGET pair given before "--", then run what follows it
_BIND_THEN_RUN = (
    'while [ "$1" != "--" ]; do mount --bind "$1" "$2" || exit 97; shift 2; done; shift; exec "$@"'
)


def require_private_mounts(*programs: str) -> None:
    """Root, ``unshare`` and ``mount``, and each of ``programs`` (absolute paths)."""
    missing = [p for p in ("unshare", "mount") if shutil.which(p) is None]
    missing += [p for p in programs if not os.path.exists(p)]
    if os.geteuid() != 0:
        missing.append("root (private mount namespaces)")
    if missing:
        why = "needs " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def copy_of(directory: str, into: Path) -> Path:
    """A copy of ``directory`` (symlinks kept) in ``into``, to bind over it (a bind needs
    the target to exist on this machine)."""
    target = into / directory.strip("/").replace("/", "-")
    shutil.copytree(directory, target, symlinks=True)
    return target


def run_nhicard_with_binds(
    binds: Mapping[str, Path],
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    """``nhicard ARGS`` with each ``binds`` target (an existing directory of this machine)
    replaced by the given directory, seen only by that process."""
    full_env = user_environment(env)
    pairs = [str(p) for target, source in binds.items() for p in (source, target)]
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _BIND_THEN_RUN, "sh",
            *pairs, "--", nhicard_executable(), *args]  # fmt: skip
    return subprocess.run(
        argv, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
