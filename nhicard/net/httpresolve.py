"""httpx's own transport with name resolution inside the exchange's deadline: httpcore's
synchronous network backend resolves through :func:`nhicard.net.resolve.resolve` within the
connect timeout (which the browser bounds by what is left of the total deadline) before
connecting, so a resolver that never answers ends like any other connect timeout."""

from __future__ import annotations

from typing import Any

import httpcore
import httpx

from nhicard.net.resolve import resolve


class ResolvingBackend(httpcore.SyncBackend):
    """httpcore's synchronous backend, resolving the host within the connect timeout (which
    the caller bounds by what is left of the exchange's total deadline), then connecting to
    each address in turn as ``socket.create_connection`` does."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = resolve(host, port, timeout)
        except OSError as exc:
            raise httpcore.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        last: httpcore.ConnectError | None = None
        for info in infos:
            address = info[4][0]
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")


def resolving_transport(**kwargs: Any) -> httpx.HTTPTransport:
    """``httpx.HTTPTransport(**kwargs)`` whose connections resolve names within their
    connect timeout (:class:`ResolvingBackend`). The backend is set on httpx's own
    connection pool (httpx has no parameter for it); if a later httpx lays the pool out
    differently the transport is returned unchanged."""
    transport = httpx.HTTPTransport(**kwargs)
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = ResolvingBackend()
    return transport
