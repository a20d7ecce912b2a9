"""A fresh minimal Debian root, built with Debian's ``debootstrap``, to run a command in as a
new user's machine would: ``make fresh-root SUITE=trixie RUN="make demo test"``.

The root is ``debootstrap --variant=minbase`` plus what the README assumes a user installed
(``git make ca-certificates``), then a fresh clone of this repository. Commands run in it as
root under private mount and pid namespaces (``unshare``), so nothing started inside outlives
the run and no mount is left behind. The network is there only while packages install
(``--setup``, default ``make test-system venv``); ``--run`` runs in a private network namespace
that has only loopback, as the test suite expects.

A fresh root knows only Debian's certificate authorities. Where the host reaches the package
registries through a proxy with its own CA, pip inside trusts the host's bundle through
``PIP_CERT`` (a copy of it in the root), and the proxy variables are passed through.

Stdlib only: the host runs this with Debian's ``/usr/bin/python3`` before any venv exists.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
# What the README's fresh machine has before its two commands: git and make (and the CAs that
# git's https needs), nothing else.
USER_PACKAGES = ("git", "make", "ca-certificates")
HOST_CA_IN_ROOT = "/usr/local/share/nhicard-host-ca.pem"
REPO_IN_ROOT = "/srv/nhicard"  # readable by every user: tests run nhicard as others too
PASSED_THROUGH = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "CI",
    "PIP_INDEX_URL",
    "PIP_DEFAULT_TIMEOUT",
)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(message: str) -> None:
    print(f"[fresh-root {time.strftime('%H:%M:%S')}] {message}", flush=True)


def host_ca_bundle(environ: Mapping[str, str]) -> Path | None:
    """The CA bundle the host's pip trusts (``PIP_CERT``, ``SSL_CERT_FILE``, Debian's)."""
    for candidate in (
        environ.get("PIP_CERT"),
        environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def root_environment(environ: Mapping[str, str], *, has_host_ca: bool) -> dict[str, str]:
    """The environment of a command in the root: a login's basics, the proxy and CI
    variables passed through, pip trusting the host's CAs."""
    env = {
        "PATH": PATH,
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "TERM": environ.get("TERM", "dumb"),
        "DEBIAN_FRONTEND": "noninteractive",
        "NHICARD_FRESH_ROOT": "1",
    }
    env.update({k: environ[k] for k in PASSED_THROUGH if k in environ})
    if has_host_ca:
        env["PIP_CERT"] = HOST_CA_IN_ROOT
    return env


def namespace_script(root: Path, command: str, env: Mapping[str, str], *, network: bool) -> str:
    """The shell script that runs inside the new namespaces: the kernel file systems mounted in
    the root, loopback up when the network is private, then ``command`` in the root."""
    r = shlex.quote(str(root))
    lines = [
        "set -e",
        # the root a mount point of its own, so that inside it "/" is one (unshare
        # --propagation, as the tests' private pcscd uses, changes the propagation of "/")
        f"mount --bind {r} {r}",
        f"mount -t proc proc {r}/proc",
        f"mount --rbind /sys {r}/sys",
        f"mount --rbind /dev {r}/dev",
        f"mount -t tmpfs -o mode=755 tmpfs {r}/run",
        f"mount -t tmpfs -o mode=1777 tmpfs {r}/tmp",
    ]
    if not network:
        lines.append("ip link set lo up")
    inner = shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), "sh", "-c", command])
    lines.append(f"exec chroot {r} {inner}")
    return "\n".join(lines)


def run_in_root(
    root: Path, command: str, env: Mapping[str, str], *, network: bool, timeout: float
) -> int:
    """``command`` (a shell line) in the root as root, in private mount and pid namespaces,
    and a private network namespace unless ``network``; its exit code."""
    argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork"]
    if not network:
        argv.append("--net")
    argv += ["sh", "-c", namespace_script(root, command, env, network=network)]
    log(f"{'(network) ' if network else ''}{command}")
    try:
        return subprocess.run(argv, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        log(f"timed out after {timeout:.0f} s: {command}")
        return 124


def need_host_tools() -> None:
    """debootstrap (Debian's package) on the host, installed when missing and we are root."""
    if shutil.which("debootstrap"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("fresh-root needs debootstrap: apt-get install debootstrap (as root)")
    log("installing debootstrap")
    subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True)


def build(suite: str, root: Path, *, mirror: str, environ: Mapping[str, str]) -> None:
    """A new minimal root of Debian ``suite`` at ``root`` with only git, make and the CAs."""
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap --variant=minbase {suite} {root}")
    subprocess.run(
        ["debootstrap", "--variant=minbase", suite, str(root), mirror],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    ca = host_ca_bundle(environ)
    if ca is not None:
        target = root / HOST_CA_IN_ROOT.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca, target)


def clone(repo: Path, root: Path) -> None:
    """A fresh clone of ``repo``'s checked-out commit, as a user's ``git clone`` gives."""
    target = root / REPO_IN_ROOT.lstrip("/")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(repo), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", head], check=True)
    log(f"cloned {repo} at {head[:12]} to {REPO_IN_ROOT}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.support.freshroot", description=__doc__)
    parser.add_argument("--suite", required=True, help="Debian suite: bookworm (12), trixie (13)")
    parser.add_argument("--dir", type=Path, required=True, help="where the root is built")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--mirror", default=MIRROR)
    parser.add_argument(
        "--setup", default="make test-system venv", help="run with the network (in the clone)"
    )
    parser.add_argument("--run", default="", help="run without the network (in the clone)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds, for each command")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("fresh-root builds and enters a root: run it as root")
    need_host_tools()
    started = time.monotonic()
    root = args.dir.resolve()
    build(args.suite, root, mirror=args.mirror, environ=os.environ)
    env = root_environment(os.environ, has_host_ca=host_ca_bundle(os.environ) is not None)
    user_install = "apt-get update -qq && apt-get install -y -qq " + " ".join(USER_PACKAGES)
    rc = run_in_root(root, user_install, env, network=True, timeout=args.timeout)
    if rc == 0:
        clone(args.repo, root)
        for command, network in ((args.setup, True), (args.run, False)):
            if not command:
                continue
            rc = run_in_root(
                root, f"cd {REPO_IN_ROOT} && {command}", env, network=network, timeout=args.timeout
            )
            if rc != 0:
                break
    log(f"{'passed' if rc == 0 else f'FAILED (exit {rc})'} in {time.monotonic() - started:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
