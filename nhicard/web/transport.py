"""HTTP/1.1 for the web commands on the standard library's :mod:`http.client`: an httpx
transport, so the browser keeps httpx's client (cookies, redirects, decoding, timeouts as
``request.extensions["timeout"]``) while a command does not import httpcore, h11 and anyio
(≈ 20–40 ms a process, more than the command's own requests take on loopback).

What it does, as httpx's own transport would:

- one keep-alive connection per scheme, host and port, reused while the server keeps it open
  (an idle connection the server has closed, or that has unread bytes, is dropped before use;
  a GET or HEAD that finds a reused connection dead before any answer is sent once more on a
  fresh one — never a form post);
- TLS with the caller's :class:`ssl.SSLContext` (SNI and host name check by the context);
  TCP_NODELAY (set by :mod:`http.client`);
- connect, read and write timeouts from the request's ``timeout`` extension;
- the body streamed as it arrives, one socket read at a time (so a caller can stop a body that
  is too large or too slow), and a body cut short is an error, never a shorter page;
- failures raised as httpx's exceptions (``ConnectError``, ``ConnectTimeout``,
  ``ReadTimeout``, ``WriteTimeout``, ``ReadError``, ``WriteError``, ``RemoteProtocolError``),
  each with the socket or TLS error as its ``__cause__`` (what :mod:`nhicard.netclass`
  classifies).

Proxies from the environment still go through httpx's own transport (httpx mounts one per
proxy; only then is httpcore imported)."""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from collections.abc import Iterable, Iterator

import httpx

_CHUNK = 64 * 1024
_RETRY_ON_FRESH = frozenset({"GET", "HEAD"})
_Key = tuple[str, str, int]


def _error(
    kind: type[httpx.TransportError], exc: BaseException, request: httpx.Request
) -> Exception:
    return kind(str(exc) or type(exc).__name__, request=request)


class _Stale(Exception):
    """A reused connection was found closed before the server answered."""


def _unfold(value: str) -> str:
    """A header value with obsolete line folding (RFC 9112 §5.2) joined by single spaces."""
    if "\n" not in value:
        return value
    return " ".join(part.strip() for part in value.splitlines() if part.strip())


def _idle_and_open(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection is fit for another request: nothing to read on it (a
    readable idle socket means the server closed it or sent what nobody asked for)."""
    sock = conn.sock
    if sock is None:
        return False
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class _Body(httpx.SyncByteStream):
    """A response body read one socket read at a time; at its end (or on close) the
    connection goes back to the pool if the body was whole and the server keeps it open."""

    def __init__(
        self,
        transport: StdlibTransport,
        key: _Key,
        conn: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        request: httpx.Request,
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn: http.client.HTTPConnection | None = conn
        self._response = response
        self._request = request
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        try:
            while not self._complete:
                if response.length == 0:  # read whole, or none (HEAD, 1xx, 204, 304)
                    self._complete = True
                    break
                chunk = response.read1(_CHUNK)
                if response.chunked and (response.chunk_left or 0) < 0:
                    raise http.client.HTTPException("negative chunk size")
                if chunk:
                    yield chunk
                    continue
                if not response.chunked and response.length:  # EOF before Content-Length
                    raise http.client.IncompleteRead(b"", response.length)
                self._complete = True  # chunked end, or the end of a body read to EOF
        except TimeoutError as exc:
            self.close()
            raise _error(httpx.ReadTimeout, exc, self._request) from exc
        except http.client.IncompleteRead as exc:
            self.close()
            missing = f" ({exc.expected} bytes missing)" if exc.expected is not None else ""
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body{missing}",
                request=self._request,
            ) from exc
        except http.client.HTTPException as exc:  # a bad chunk size line, a line too long
            self.close()
            raise _error(httpx.RemoteProtocolError, exc, self._request) from exc
        except OSError as exc:
            self.close()
            raise _error(httpx.ReadError, exc, self._request) from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        reusable = self._complete and not self._response.will_close
        self._response.close()
        if reusable:
            self._transport._check_in(self._key, conn)
        else:
            conn.close()


class StdlibTransport(httpx.BaseTransport):
    """An :class:`httpx.BaseTransport` on :mod:`http.client` (see the module docstring)."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._idle: dict[_Key, http.client.HTTPConnection] = {}
        self._lock = threading.Lock()

    # -- the pool ------------------------------------------------------------------------
    def _check_out(self, key: _Key) -> http.client.HTTPConnection | None:
        with self._lock:
            conn = self._idle.pop(key, None)
        if conn is not None and not _idle_and_open(conn):
            conn.close()
            return None
        return conn

    def _check_in(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            old = self._idle.pop(key, None)
            self._idle[key] = conn
        if old is not None:
            old.close()

    def close(self) -> None:
        with self._lock:
            conns, self._idle = list(self._idle.values()), {}
        for conn in conns:
            conn.close()

    # -- one request -----------------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"the URL scheme {url.scheme!r} is not supported", request=request
            )
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        key: _Key = (url.scheme, host, port)
        timeouts = request.extensions.get("timeout", {})
        # a body of unknown length (a generator) goes out chunked, as httpx framed it
        body: bytes | Iterable[bytes] = (
            request.stream  # type: ignore[assignment]
            if "transfer-encoding" in request.headers
            else request.read()
        )
        conn = self._check_out(key)
        if conn is not None:
            try:
                return self._exchange(request, key, conn, body, timeouts, retry_stale=True)
            except _Stale:
                pass  # the server closed the kept-alive connection as this request went out
        conn = self._connect(request, host, port, timeouts)
        return self._exchange(request, key, conn, body, timeouts, retry_stale=False)

    def _connect(
        self, request: httpx.Request, host: str, port: int, timeouts: dict[str, float | None]
    ) -> http.client.HTTPConnection:
        timeout = timeouts.get("connect")
        conn: http.client.HTTPConnection
        if request.url.scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._ssl_context
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise _error(httpx.ConnectTimeout, exc, request) from exc
        except OSError as exc:  # refused, DNS, unreachable, and every TLS failure (SSLError)
            conn.close()
            raise _error(httpx.ConnectError, exc, request) from exc
        return conn

    def _exchange(
        self,
        request: httpx.Request,
        key: _Key,
        conn: http.client.HTTPConnection,
        body: bytes | Iterable[bytes],
        timeouts: dict[str, float | None],
        *,
        retry_stale: bool,
    ) -> httpx.Response:
        """Send ``request`` on ``conn`` and read the status and headers. With
        ``retry_stale`` (a reused connection), a GET or HEAD that finds the connection dead
        before any answer raises :class:`_Stale`, to be sent again on a fresh one."""
        stale = retry_stale and request.method in _RETRY_ON_FRESH
        sock = conn.sock
        assert sock is not None
        try:
            try:
                sock.settimeout(timeouts.get("write"))
                conn.putrequest(
                    request.method,
                    request.url.raw_path.decode("ascii"),
                    skip_host=True,
                    skip_accept_encoding=True,
                )
                for name, value in request.headers.raw:
                    conn.putheader(name, value)
                if isinstance(body, bytes):
                    conn.endheaders(body or None)
                else:
                    conn.endheaders(body, encode_chunked=True)
            except TimeoutError as exc:
                raise _error(httpx.WriteTimeout, exc, request) from exc
            except OSError as exc:
                if stale:
                    raise _Stale from exc
                raise _error(httpx.WriteError, exc, request) from exc
            try:
                sock.settimeout(timeouts.get("read"))
                response = conn.getresponse()
            except TimeoutError as exc:
                raise _error(httpx.ReadTimeout, exc, request) from exc
            except http.client.RemoteDisconnected as exc:  # closed before a status line
                if stale:
                    raise _Stale from exc
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                ) from exc
            except http.client.HTTPException as exc:  # a bad status line, too many headers
                raise _error(httpx.RemoteProtocolError, exc, request) from exc
            except OSError as exc:
                raise _error(httpx.ReadError, exc, request) from exc
        except BaseException:
            conn.close()
            raise
        headers = [
            (name.encode("latin-1"), _unfold(value).encode("latin-1"))
            for name, value in response.msg.items()
        ]
        return httpx.Response(
            response.status,
            headers=headers,
            stream=_Body(self, key, conn, response, request),
            extensions={
                "http_version": b"HTTP/1.0" if response.version == 10 else b"HTTP/1.1",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
            },
        )


__all__ = ["StdlibTransport"]
