"""Free loopback ports and process checks for the tests that start servers."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from tests.support.stack import free_port_range


def free_port_base(count: int = 5) -> int:
    """A port P such that P … P+count-1 are all free on 127.0.0.1 (the sandbox's ports)."""
    return free_port_range(count)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat[stat.rfind(")") + 2 :].startswith("Z")


def free_port() -> int:
    """A loopback port nothing listens on now (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(
    port: int, proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 20
) -> None:
    """Until something accepts on 127.0.0.1:``port``; fails when ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stream = proc.stdout or proc.stderr
            out = stream.read() if stream else ""
            if isinstance(out, bytes):
                out = out.decode(errors="replace")
            raise AssertionError(f"agent serve exited with {proc.returncode}: {out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"agent serve did not listen on port {port} within {timeout:.0f} s")
