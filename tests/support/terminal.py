"""Running the installed nhicard on a pseudo-terminal, as a person at a terminal would.

:func:`run_on_terminal` gives the command a pty as stdin, stdout and stderr (what the person
sees, in one stream, bytes as written: colours, carriage returns); with ``stdout_to_pipe``
stdout goes to a pipe instead, so the terminal shows only messages and progress; ``typed``
is what the person types.
"""

from __future__ import annotations

import errno
import os
import pty
import select
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

from tests.support.cli import nhicard_executable


@dataclass(frozen=True)
class TerminalRun:
    returncode: int
    screen: bytes  # everything written to the terminal
    stdout: bytes  # with stdout_to_pipe: what went to stdout, else b""

    @property
    def text(self) -> str:
        return self.screen.decode("utf-8", "replace")


def run_on_terminal(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdout_to_pipe: bool = False,
    timeout: float = 60,
    columns: int = 200,
    typed: bytes = b"",
) -> TerminalRun:
    """``typed``: what the person types (sits in the terminal's input until read)."""
    full_env = dict(os.environ)
    full_env.pop("NHICARD_LANG", None)
    full_env.pop("NO_COLOR", None)
    full_env.setdefault("LANG", "C.UTF-8")
    full_env["COLUMNS"] = str(columns)
    full_env["TERM"] = "xterm"
    if env:
        full_env.update(env)
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [nhicard_executable(), *args],
            stdin=slave,
            stdout=subprocess.PIPE if stdout_to_pipe else slave,
            stderr=slave,
            env=full_env,
            close_fds=True,
        )
    finally:
        os.close(slave)
    if typed:
        os.write(master, typed)
    screen = bytearray()
    out = bytearray()
    deadline = time.monotonic() + timeout
    streams = [master] + ([proc.stdout.fileno()] if proc.stdout is not None else [])
    try:
        while streams:
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"nhicard {' '.join(args)} did not end")
            ready, _, _ = select.select(streams, [], [], 0.5)
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError as exc:  # the pty's other side closed (Linux: EIO)
                    if exc.errno != errno.EIO:
                        raise
                    chunk = b""
                if not chunk:
                    streams.remove(fd)
                elif fd == master:
                    screen += chunk
                else:
                    out += chunk
        returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.stdout is not None:
            proc.stdout.close()
    return TerminalRun(returncode, bytes(screen), bytes(out))
