"""The users' install on a fresh Debian 13, exactly as the README says, with no compiler.

A minimal Debian 13 root (debootstrap, then only git, make and the CAs: tests/support/freshroot.py)
gets the README's Debian commands verbatim (this checkout's wheel in place of the package
name), answering "yes" to apt as the user would. No compiler and no Python headers are in the root, so pyscard can only
be Debian's. Then, without the network: the system bus and polkitd (systemd starts them on a
real Debian 13), pcscd with polkit on, a virtual card on vpcd (``nhicard sim card``),
``nhicard --version``, ``reader list`` and ``card read``, as the installed command.

Needs root and the package registries (the host's CI run has both); inside a fresh root's own
test run (no network) there is nothing to install from, so it is skipped there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nhicard import __version__
from tests.support import freshroot
from tests.support.cli import ROOT

pytestmark = pytest.mark.timeout(1500)

SUITE = "trixie"  # Debian 13: Python 3.13, pcsc-lite 2 with polkit

CHECK_SCRIPT = """set -eu
export PATH="$HOME/.local/bin:$PATH"
for tool in gcc cc x86_64-linux-gnu-gcc; do
  if command -v "$tool" >/dev/null; then echo "compiler present: $tool" >&2; exit 90; fi
done
python3 -c 'import sysconfig, os, sys; sys.exit(91 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 0)'
# what a Debian 13 desktop runs (systemd starts them there): the system bus and polkitd, which
# pcsc-lite 2 asks about every client (root is always allowed), then pcscd with polkit on
mkdir -p /run/dbus
dbus-daemon --system --fork
/usr/lib/polkit-1/polkitd --no-debug >/root/out/polkitd.log 2>&1 &
for i in $(seq 50); do dbus-send --system --print-reply --dest=org.freedesktop.PolicyKit1 \
  /org/freedesktop/PolicyKit1/Authority org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1 && break
  sleep 0.1; done
pcscd
nhicard sim card >/root/out/sim.log 2>&1 &
nhicard --version >/root/out/version.txt
nhicard card read --wait 20 --format json >/root/out/card.json
nhicard reader list --format json >/root/out/readers.json
python3 -c 'import smartcard, sys; print(smartcard.__file__)' >/root/out/pyscard.txt
"""


def readme_debian_commands() -> list[str]:
    """The README's Debian install block, without the compiler: its command lines."""
    text = (ROOT / "README.md").read_text("utf-8")
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        if "python3-pyscard" in block and "pipx install" in block:
            return [
                line.split("  #")[0].strip()
                for line in block.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ]
    raise AssertionError("README.md has no Debian install block with python3-pyscard and pipx")


def registries_reachable() -> bool:
    try:
        with socket.create_connection(("deb.debian.org", 80), timeout=10):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def can_build_roots() -> None:
    """Skips (fails under CI) where a Debian root cannot be built and filled here."""
    if os.environ.get("NHICARD_FRESH_ROOT"):
        pytest.skip("inside a fresh root's test run: no network to install from")
    if os.geteuid() != 0:
        pytest.skip("builds a Debian root with debootstrap: run as root")
    if not registries_reachable():
        if os.environ.get("CI"):
            pytest.fail("Debian's mirror is not reachable: required in CI")
        pytest.skip("Debian's mirror is not reachable")


@pytest.fixture(scope="module")
def wheel(can_build_roots: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("nhicard-*.whl")
    return built


def test_the_readme_installs_nhicard_by_name() -> None:
    commands = readme_debian_commands()
    assert commands[0].startswith("apt install ") and "python3-pyscard" in commands[0]
    assert "gcc" not in " ".join(commands) and "python3-dev" not in " ".join(commands)
    assert commands[-1] == "pipx install --system-site-packages nhicard"


def with_this_wheel(commands: list[str], wheel: Path) -> list[str]:
    """The README's commands with this checkout's wheel where the user names the package."""
    *rest, last = commands
    assert last.endswith(" nhicard"), last
    return [*rest, f"{last.removesuffix('nhicard')}./{wheel.name}"]


def test_wheel_installs_and_reads_a_card_in_fresh_debian_13(wheel: Path, tmp_path: Path) -> None:
    freshroot.need_host_tools()
    root = tmp_path / "root"
    try:
        freshroot.build(SUITE, root, mirror=freshroot.MIRROR, environ=os.environ)
        env = freshroot.root_environment(
            os.environ, has_host_ca=freshroot.host_ca_bundle(os.environ) is not None
        )
        home = root / "root"
        shutil.copy(wheel, home / wheel.name)
        (home / "out").mkdir()
        (home / "check.sh").write_text(CHECK_SCRIPT)
        # the user answers "yes" to apt's question
        (root / "etc/apt/apt.conf.d/90yes").write_text('APT::Get::Assume-Yes "true";\n')
        user_install = " && ".join(
            ["apt-get update -qq", *with_this_wheel(readme_debian_commands(), wheel)]
        )
        rc = freshroot.run_in_root(
            root, f"cd /root && {user_install}", env, network=True, timeout=900
        )
        assert rc == 0, "the README's Debian install failed in a fresh Debian 13"
        # the test's own virtual reader (not part of the user's install)
        rc = freshroot.run_in_root(
            root, "apt-get install -y -qq vsmartcard-vpcd", env, network=True, timeout=300
        )
        assert rc == 0
        rc = freshroot.run_in_root(root, "sh /root/check.sh", env, network=False, timeout=300)
        out = home / "out"
        logs = {p.name: p.read_text(errors="replace") for p in out.iterdir()}
        assert rc == 0, f"exit {rc}: {logs}"
        assert logs["version.txt"].splitlines()[0] == f"nhicard {__version__}", logs
        assert logs["pyscard.txt"].startswith("/usr/lib/python3/dist-packages/"), logs
        readers = json.loads(logs["readers.json"])
        assert any(r["state"] == "present" and r["card_type"] == "nhi" for r in readers), readers
        card = json.loads(logs["card.json"])
        assert card["card_number"] and card["birth_date"], card
    finally:
        shutil.rmtree(root, ignore_errors=True)
