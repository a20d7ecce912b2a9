"""No Nagle stalls on the loopback: the sandbox's HTTPS listeners are TCP sockets asyncio sets
TCP_NODELAY on, and the SAM client's socket has TCP_NODELAY (its handshake sends two messages
back to back)."""

from __future__ import annotations

import asyncio
import socket

from nhicard.agent.sam.client import _default_connector
from nhicard.sandbox.server import bind_listener


def nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_the_sandbox_listener_and_what_asyncio_accepts_on_it_have_nodelay() -> None:
    listener = bind_listener("127.0.0.1", 0)
    port = listener.getsockname()[1]
    assert listener.proto == socket.IPPROTO_TCP and nodelay(listener)
    accepted: list[bool] = []

    async def serve() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(nodelay(writer.get_extra_info("socket")))
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if accepted:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(serve())
    assert accepted == [True]


def test_the_sam_client_socket_has_nodelay() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        sock = _default_connector(server.getsockname(), 5.0)
        try:
            assert nodelay(sock)
        finally:
            sock.close()
