"""Running the installed ``nhicard`` where the machine's files fight back, in a private mount
namespace that only that process tree sees: a directory on a tiny tmpfs that is already full
(ENOSPC), a file bind-mounted read-only over itself (EROFS). Needs root and ``unshare``
(:func:`tests.support.private_mounts.require_private_mounts`). Also: an NSS database's files
and listing, to compare before and after."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.cli import nhicard_executable, user_environment


def full_disk_setup(directory: Path, *, room_kib: int = 0) -> str:
    """Shell commands mounting a 16 KiB tmpfs on ``directory`` and filling it, all but
    ``room_kib`` (a multiple of 4: tmpfs counts whole pages)."""
    d = shlex.quote(str(directory))
    return (
        f"mkdir -p {d} && mount -t tmpfs -o size=16k tmpfs {d} && "
        f"(dd if=/dev/zero of={d}/fill bs=1k count={16 - room_kib} 2>/dev/null; true)"
    )


def read_only_setup(path: Path) -> str:
    """Shell commands making the existing file ``path`` read-only (a read-only bind mount)."""
    p = shlex.quote(str(path))
    return f"mount --bind {p} {p} && mount -o remount,ro,bind {p}"


def run_nhicard_in_private_mounts(
    setup: Sequence[str],
    *args: str,
    after: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    """``nhicard ARGS`` after the shell commands ``setup`` (each must succeed, else exit 97),
    in a private mount namespace; then the commands ``after`` (to look at what it left on a
    tmpfs that ends with the namespace), with nhicard's exit status kept."""
    command = " ".join(shlex.quote(a) for a in [nhicard_executable(), *args])
    run = f"{{ {command}; rc=$?; {'; '.join(after)}; exit $rc; }}" if after else f"exec {command}"
    script = " && ".join([*(f"({s} || exit 97)" for s in setup), run])
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=user_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def certutil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["certutil", *args], capture_output=True, text=True, check=False)


def new_nssdb(path: Path) -> Path:
    """An empty NSS database in the new directory ``path``."""
    path.mkdir(parents=True)
    certutil("-N", "--empty-password", "-d", f"sql:{path}").check_returncode()
    return path


def nssdb_state(db: Path) -> tuple[dict[str, bytes], str | None]:
    """Every file of ``db`` with its bytes, and ``certutil -L`` (None when it cannot read it)."""
    files = {p.name: p.read_bytes() for p in sorted(db.iterdir()) if p.is_file()}
    listed = certutil("-L", "-d", f"sql:{db}")
    return files, listed.stdout if listed.returncode == 0 else None
