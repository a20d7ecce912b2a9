"""``make pcscd`` (used by ``make demo``, ``make bench`` and ``.ci/run``) asks the PC/SC socket,
not the process list: in a private mount namespace whose ``/run/pcscd`` is empty, with a
process named ``pcscd`` running (as a pcscd in another namespace or container would show in
``pgrep``), it still finds that nothing answers, starts pcscd, and waits until a client can
establish a context."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import ROOT, nhicard_executable
from tests.support.stack import have_real_pcsc


def test_make_pcscd_starts_pcscd_when_the_socket_does_not_answer(tmp_path: Path) -> None:
    why = have_real_pcsc()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    run_dir = tmp_path / "run-pcscd"
    run_dir.mkdir()
    decoy_bin = tmp_path / "pcscd"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", decoy_bin)
    decoy = subprocess.Popen([str(decoy_bin), "60"])
    bin_dir = Path(nhicard_executable()).parent
    script = (
        f"mount --bind {run_dir} /run/pcscd && "
        "pgrep -x pcscd >/dev/null && echo 'pgrep: a pcscd is running' && "
        f"{{ {bin_dir}/nhicard reader list >/dev/null 2>&1; echo before=$?; }} && "
        f"make -s -C {ROOT} pcscd BIN={bin_dir} VENV={bin_dir.parent} && "
        f"{{ {bin_dir}/nhicard reader list >/dev/null 2>&1; echo after=$?; }}"
    )
    env = dict(os.environ)
    env.pop("PCSCLITE_CSOCK_NAME", None)  # the default socket, /run/pcscd/pcscd.comm
    try:
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    finally:
        decoy.kill()
        decoy.wait()
        pid_file = run_dir / "pcscd.pid"
        deadline = time.monotonic() + 5
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_file.exists():
            os.kill(int(pid_file.read_text().strip("\0\n ")), signal.SIGTERM)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pgrep: a pcscd is running" in proc.stdout
    assert "before=3" in proc.stdout  # nothing answered at the socket
    assert "starting the PC/SC daemon" in proc.stdout
    assert "after=0" in proc.stdout, proc.stdout + proc.stderr
    assert (run_dir / "pcscd.comm").exists()
