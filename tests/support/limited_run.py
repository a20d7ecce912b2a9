"""Running the installed nhicard under an address-space limit (``prlimit --as``, util-linux),
so that a test shows a command's memory stays bounded: past the limit Python raises
``MemoryError``, which the CLI reports as an internal error (exit 1)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping

from tests.support.cli import nhicard_executable, user_environment


def prlimit_path() -> str | None:
    return shutil.which("prlimit")


def run_nhicard_limited(
    *args: str,
    address_space: int,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``nhicard ARGS`` with at most ``address_space`` bytes of virtual memory."""
    prlimit = prlimit_path()
    if prlimit is None:
        raise RuntimeError("prlimit (util-linux) is not installed")
    full_env = user_environment(env)
    return subprocess.run(
        [prlimit, f"--as={address_space}", "--", nhicard_executable(), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
