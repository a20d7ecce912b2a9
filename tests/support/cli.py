"""Running the installed nhicard as a user would, and where the repository is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def nhicard_executable() -> str:
    exe = Path(sys.executable).parent / "nhicard"
    if exe.exists():
        return str(exe)
    found = shutil.which("nhicard")
    if not found:
        raise RuntimeError("nhicard is not installed in this environment (pip install -e .)")
    return found


def user_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment as a user's shell would give nhicard: no inherited
    ``NHICARD_LANG``, a UTF-8 locale, then ``env`` on top."""
    full_env = dict(os.environ)
    full_env.pop("NHICARD_LANG", None)
    full_env.setdefault("LANG", "C.UTF-8")
    full_env["PYTHONIOENCODING"] = "utf-8"
    if env:
        full_env.update(env)
    return full_env


def run_nhicard(
    *args: str,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``nhicard`` as a user would; stdout/stderr captured as text."""
    full_env = user_environment(env)
    return subprocess.run(
        [nhicard_executable(), *args],
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
