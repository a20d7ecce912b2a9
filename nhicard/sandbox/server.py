"""The sandbox server process: every part of the local replica in one asyncio loop.

``python -m nhicard.sandbox.server --dir DIR [--data FILE] [--port-base N] [--no-card]``

Ports (all on 127.0.0.1): base+0 NHI registration site (HTTPS), base+1 eCPA (HTTPS), base+2
e-learning relying party (HTTPS), base+3 SMTP sink, base+4 SAM. Unless ``--no-card``, a virtual
card of the first person in the data runs in a thread on vpcd slot 0 (port from
``NHICARD_VPCD_PORT``, else 35963). When everything listens, ``DIR/endpoints.json`` is written
(keys: nhi_url, ecpa_url, elearn_url, smtp, maildir, ca_bundle, sam, readers, agent_origin,
pid) and ``DIR/server.pid`` names this process. SIGTERM or SIGINT shut everything down and
remove both files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from nhicard import platform
from nhicard.core.errors import NhicardError
from nhicard.sandbox import supervisor
from nhicard.sites.sandbox_endpoints import SandboxEndpoints, write_endpoints

HOST = "127.0.0.1"
VPCD_READER_PREFIX = "Virtual PCD"  # FRIENDLYNAME of Debian's vpcd reader.conf
log = logging.getLogger("nhicard.sandbox.server")


@dataclass(frozen=True)
class ServerOptions:
    sandbox_dir: Path
    data_file: Path | None
    port_base: int
    card: bool
    vpcd_port: int
    host: str = HOST

    def port(self, offset: int) -> int:
        return self.port_base + offset


class _EmbeddedUvicorn(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the sandbox server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_listener(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when their proto
    # says TCP, and uvicorn writes a response's headers and body apart — with Nagle's
    # algorithm the body waits for the client's delayed ACK (≈ 40 ms a request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    platform.current().prepare_listener(sock)  # a port no other program shares (Windows too)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


class HttpsSite:
    """One Starlette app served over TLS on an already bound socket."""

    def __init__(self, name: str, app: Any, sock: socket.socket, cert: Path, key: Path) -> None:
        self.name = name
        self.sock = sock
        config = uvicorn.Config(
            app,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = _EmbeddedUvicorn(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises what broke the start
                raise RuntimeError(f"{self.name} stopped while starting")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
        self.sock.close()


def reader_name(slot: int) -> str:
    return f"{VPCD_READER_PREFIX} 00 {slot:02d}"


class SandboxServer:
    """Starts and stops every part; ``endpoints`` is what ``endpoints.json`` says."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.sites: list[HttpsSite] = []
        self.smtp: Any = None
        self.sam: Any = None
        self.card_stop = threading.Event()
        self.card_thread: threading.Thread | None = None
        self.ctx: Any = None
        self.endpoints: SandboxEndpoints | None = None

    def urls(self) -> dict[str, str]:
        o = self.options
        return {
            "nhi_url": f"https://{o.host}:{o.port(0)}",
            "ecpa_url": f"https://{o.host}:{o.port(1)}",
            "elearn_url": f"https://{o.host}:{o.port(2)}",
        }

    async def start(self) -> SandboxEndpoints:
        from nhicard.sandbox.context import SandboxContext
        from nhicard.sandbox.data import load_data
        from nhicard.sandbox.ecpa_site import build_ecpa_app
        from nhicard.sandbox.elearn_site import build_elearn_app
        from nhicard.sandbox.nhi_site import build_nhi_app
        from nhicard.sandbox.sam import SamServer
        from nhicard.sandbox.smtp_sink import SmtpSink
        from nhicard.sandbox.tls import ensure_tls

        o = self.options
        o.sandbox_dir.mkdir(parents=True, exist_ok=True)
        data = load_data(o.data_file)
        listeners = [bind_listener(o.host, o.port(i)) for i in range(3)]
        tls = ensure_tls(o.sandbox_dir)
        urls = self.urls()
        readers = [reader_name(0)] if o.card and data.cards else []
        endpoints = SandboxEndpoints(
            **urls,
            smtp=f"{o.host}:{o.port(3)}",
            maildir=str(o.sandbox_dir / "maildir"),
            ca_bundle=str(tls.ca_cert),
            sam=f"{o.host}:{o.port(4)}",
            readers=tuple(readers),
            agent_origins=(urls["nhi_url"], urls["ecpa_url"]),
            pid=os.getpid(),
        )
        ctx = SandboxContext.open(o.sandbox_dir, data=data, endpoints=endpoints.to_json())
        self.ctx = ctx
        apps = (
            ("nhi", build_nhi_app(ctx)),
            ("ecpa", build_ecpa_app(ctx)),
            ("elearn", build_elearn_app(ctx)),
        )
        for (name, app), sock in zip(apps, listeners, strict=True):
            site = HttpsSite(name, app, sock, tls.server_cert, tls.server_key)
            self.sites.append(site)
            await site.start()
        self.smtp = SmtpSink(Path(endpoints.maildir), host=o.host, port=o.port(3))
        await self.smtp.start()
        self.sam = SamServer(data, ctx.keys, o.host, o.port(4))
        await self.sam.start()
        if readers:
            self.start_card(ctx, data.cards[0])
        self.endpoints = endpoints
        return endpoints

    def start_card(self, ctx: Any, record: Any) -> None:
        from nhicard.sandbox.vcard import VirtualCard
        from nhicard.sandbox.vpcd import VpcdCardClient

        card = VirtualCard(record, ctx.faults.card_faults(record.card_number))
        client = VpcdCardClient(card, host=HOST, port=self.options.vpcd_port)
        self.card_thread = threading.Thread(
            target=client.run, args=(self.card_stop,), name="virtual-card", daemon=True
        )
        self.card_thread.start()

    async def stop(self) -> None:
        self.card_stop.set()
        for site in reversed(self.sites):
            await site.stop()
        if self.sam is not None:
            with contextlib.suppress(Exception):
                await self.sam.stop()
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                await self.smtp.stop()
        if self.card_thread is not None:
            await asyncio.to_thread(self.card_thread.join, 5)
        if self.ctx is not None:
            self.ctx.close()


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def claim_pid_file(sandbox_dir: Path) -> None:
    """Write our pid, unless another live server owns the directory (then exit 2)."""
    other = supervisor.read_pid(sandbox_dir)
    if other is not None and other != os.getpid():
        print(
            f"sandbox already running in {sandbox_dir} (pid {other}) / 沙盒已在執行中",
            file=sys.stderr,
        )
        raise SystemExit(2)
    _write_atomically(sandbox_dir / supervisor.PID_FILE, f"{os.getpid()}\n")


def release_files(sandbox_dir: Path) -> None:
    for name in (supervisor.ENDPOINTS_FILE, supervisor.PID_FILE):
        path = sandbox_dir / name
        with contextlib.suppress(OSError, ValueError):
            if name == supervisor.PID_FILE and int(path.read_text().strip()) != os.getpid():
                continue
            path.unlink()


async def serve(options: ServerOptions) -> None:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    server = SandboxServer(options)
    try:
        endpoints = await server.start()
        write_endpoints(options.sandbox_dir, endpoints)
        log.info("sandbox up: %s", json.dumps(endpoints.to_json(), ensure_ascii=False))
        await stop_requested.wait()
        log.info("stopping")
    finally:
        await server.stop()
        log.info("stopped")


def parse_args(argv: list[str] | None = None) -> ServerOptions:
    parser = argparse.ArgumentParser(prog="python -m nhicard.sandbox.server")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--port-base", type=int, default=supervisor.DEFAULT_PORT_BASE)
    parser.add_argument("--no-card", action="store_true")
    args = parser.parse_args(argv)
    from nhicard.sandbox.vpcd import base_port

    vpcd_port = base_port()  # checked by `sandbox up` before it starts this process
    return ServerOptions(
        sandbox_dir=args.dir.resolve(),
        data_file=args.data,
        port_base=args.port_base,
        card=not args.no_card,
        vpcd_port=vpcd_port,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options.sandbox_dir.mkdir(parents=True, exist_ok=True)
    claim_pid_file(options.sandbox_dir)
    try:
        asyncio.run(serve(options))
    except NhicardError as err:
        log.error("%s", err.text.en)
        return 2
    except OSError as err:
        log.error("cannot start the sandbox: %s", err)
        return 7
    finally:
        release_files(options.sandbox_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
