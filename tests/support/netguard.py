"""A stand-in resolver for a real ``nhicard`` process: a ``sitecustomize`` module, put on
``PYTHONPATH``, whose audit hook fails every name lookup but this computer's (``localhost``,
loopback addresses) and logs every lookup and every TCP/UDP connection to a file. A test then
says which names and addresses a command tried, without any network."""

from __future__ import annotations

from pathlib import Path

SITECUSTOMIZE = """
import ipaddress
import os
import socket
import sys

_LOG = os.environ.get("NHICARD_TEST_NET_LOG")


def _text(host):
    if isinstance(host, bytes):
        return host.decode("ascii", "replace")
    return "" if host is None else str(host)


def _local(host):
    if host == "" or str(host).lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _log(line):
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\\n").encode("utf-8", "replace"))
    finally:
        os.close(fd)


def _hook(event, args):
    if event == "socket.getaddrinfo":
        host = _text(args[0])
        _log(f"lookup {host}")
        if not _local(host):
            raise socket.gaierror(socket.EAI_NONAME, "no name lookups in this test")
    elif event == "socket.gethostbyname":
        _log(f"lookup {_text(args[0])}")
        raise socket.gaierror(socket.EAI_NONAME, "no name lookups in this test")
    elif event == "socket.connect":
        sock, address = args
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            _log(f"connect {address[0]}:{address[1]}")


if _LOG:
    sys.addaudithook(_hook)
"""


def guarded(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The environment for ``run_nhicard`` and the log file it fills."""
    where = tmp_path / "netguard"
    where.mkdir()
    (where / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "net.log"
    return {"PYTHONPATH": str(where), "NHICARD_TEST_NET_LOG": str(log)}, log


def tried(log: Path) -> list[str]:
    """The lookups and connections logged, in order."""
    return log.read_text().splitlines() if log.exists() else []


def off_this_computer(log: Path) -> list[str]:
    """The logged lookups and connections that named anything but this computer."""
    import ipaddress

    out = []
    for line in tried(log):
        what, _, target = line.partition(" ")
        host = target
        if what == "connect":
            host = host.rsplit(":", 1)[0]
        if host.lower() == "localhost":
            continue
        try:
            if ipaddress.ip_address(host.split("%")[0]).is_loopback:
                continue
        except ValueError:
            pass
        out.append(line)
    return out
