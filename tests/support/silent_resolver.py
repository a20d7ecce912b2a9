"""A name server that receives DNS queries and never answers, and ``nhicard`` run against it
in a private network and mount namespace (``unshare --net --mount``): only loopback exists
there, ``/etc/resolv.conf`` names the silent server (on a loopback address, never anything
else), ``/etc/hosts`` holds only ``localhost`` and ``/etc/nsswitch.conf`` says
``hosts: files dns`` — so every other name waits on the resolver until glibc or nhicard gives
up. The machine's own files and network are never touched. Needs root, ``unshare`` and
``ip``; skipped without them on a developer machine, failed under ``CI``.

Run as ``python -m tests.support.silent_resolver ADDRESS LOG READY`` it is the server itself:
UDP and TCP on ``ADDRESS:53``, each query appended to ``LOG`` as ``udp HEX`` / ``tcp HEX``,
``READY`` created once both sockets listen."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.private_mounts import require_private_mounts

RESOLVER = "127.0.0.53"  # systemd-resolved's stub address; any of 127.0.0.0/8 would do
# glibc's own limits set far past any deadline of ours: 30 s per try, 5 tries per query
SLOW_GLIBC = "options timeout:30 attempts:5"

# in the namespace: loopback up, the private files bound, the server started and awaited;
# then the command, then the server stopped (it would hold the namespace alive)
_SCRIPT = """
ip link set lo up || exit 96
mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts \
  && mount --bind "$3" /etc/nsswitch.conf || exit 97
(cd "$4" && exec "$5" -m tests.support.silent_resolver "$6" "$7" "$8") &
server=$!
i=0
while [ ! -e "$8" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
[ -e "$8" ] || { kill $server; exit 95; }
shift 8
"$@"
rc=$?
kill $server
wait $server 2>/dev/null
exit $rc
"""


def require_private_network() -> None:
    """Root, ``unshare``, ``mount`` and ``ip`` (private network and mount namespaces), and
    the files bound over (a bind needs its target to exist)."""
    require_private_mounts(
        shutil.which("ip") or "ip", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"
    )


def wire_name(host: str) -> bytes:
    """``host`` as a DNS query carries it (length-prefixed labels)."""
    return b"".join(bytes([len(p)]) + p.encode("ascii") for p in host.split(".")) + b"\0"


@dataclass
class SilentDns:
    """A private namespace whose only name server never answers; ``resolver_options`` is
    the ``options`` line of its resolv.conf (empty: glibc's defaults)."""

    workdir: Path
    resolver_options: str = ""
    address: str = RESOLVER

    @property
    def log(self) -> Path:
        return self.workdir / "queries.log"

    def _files(self) -> tuple[Path, Path, Path]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        resolv = self.workdir / "resolv.conf"
        resolv.write_text(f"nameserver {self.address}\n{self.resolver_options}\n")
        hosts = self.workdir / "hosts"
        hosts.write_text("127.0.0.1 localhost\n::1 localhost\n")
        nsswitch = self.workdir / "nsswitch.conf"
        lines = Path("/etc/nsswitch.conf").read_text().splitlines()
        kept = [ln for ln in lines if ln.split(":", 1)[0].strip() != "hosts"]
        nsswitch.write_text("\n".join([*kept, "hosts: files dns", ""]))
        return resolv, hosts, nsswitch

    def run(
        self, argv: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` in the namespace; the whole process group is killed if it outlives
        ``timeout`` (then :class:`subprocess.TimeoutExpired` is raised)."""
        from tests.support.cli import ROOT

        ready = self.workdir / "ready"
        ready.unlink(missing_ok=True)
        self.log.unlink(missing_ok=True)
        files = [str(p) for p in self._files()]
        cmd = ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", _SCRIPT,
               "sh", *files, str(ROOT), sys.executable, self.address, str(self.log), str(ready),
               *argv]  # fmt: skip
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if proc.returncode is None:  # timed out (or interrupted)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def run_nhicard(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """``nhicard ARGS`` as a user would run it (:mod:`tests.support.cli`), in the
        namespace, without proxies (they would be asked instead of the name server)."""
        from tests.support.cli import nhicard_executable, user_environment

        full = user_environment(env)
        for name in list(full):
            if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
                del full[name]
        return self.run([nhicard_executable(), *args], full, timeout)

    def queries(self) -> list[tuple[str, bytes]]:
        """What the server received: (``udp`` or ``tcp``, the bytes)."""
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            kind, _, data = line.partition(" ")
            out.append((kind, bytes.fromhex(data)))
        return out

    def asked_for(self, host: str) -> bool:
        """Whether a query for ``host`` reached the server."""
        name = wire_name(host)
        return any(name in data for _kind, data in self.queries())


def serve(address: str, log: Path, ready: Path) -> None:
    """Receive queries over UDP and TCP on ``address:53`` forever, answering none."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, 53))
    tcp.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ, "udp")
    sel.register(tcp, selectors.EVENT_READ, "accept")

    def note(kind: str, data: bytes) -> None:
        with log.open("a") as f:
            f.write(f"{kind} {data.hex()}\n")

    ready.touch()
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if key.data == "udp":
                note("udp", sock.recv(4096))
            elif key.data == "accept":
                conn, _peer = sock.accept()
                sel.register(conn, selectors.EVENT_READ, "tcp")
            else:  # a TCP query: read, never answered; the connection stays open
                data = sock.recv(4096)
                if data:
                    note("tcp", data)
                else:
                    sel.unregister(sock)
                    sock.close()


if __name__ == "__main__":
    serve(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
