"""What ``agent serve`` serves with, decided before it starts: the origin policy, the TLS
material (which certificate, key and CA) and the ports, with the fallback when the HTTP API's
default ports are taken. The command line only parses options, prints and handles signals.

- Origins: the ``--origin`` patterns, or by default :data:`DEFAULT_ORIGINS` plus the running
  sandbox's sites (re-read on each request).
- TLS: none with ``--no-tls``; the user's ``--cert``/``--key``; else, with the sandbox
  profile, the sandbox's own certificate (so its ``ca_bundle`` also trusts this service);
  else a certificate from a local CA under the state dir
  (:func:`nhicard.agent.serve.tls.ensure_server_certificate`; a state dir that cannot be
  written is a :class:`~nhicard.core.errors.LocalIOError` naming the file).
- Ports: the WebSocket port must be free; when the HTTP API's ports are taken and they are
  the official defaults (59001/59002: the official component may hold them), the WebSocket
  is served alone (pages fall back to it); other ports given on purpose must be free.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nhicard.agent.base import CardAgent
from nhicard.agent.serve.commands import Log
from nhicard.agent.serve.origins import DEFAULT_ORIGINS, BadOrigin, OriginPolicy
from nhicard.agent.serve.service import DEFAULT_HTTP_PORT, DEFAULT_HTTPS_PORT, AgentService
from nhicard.agent.serve.tls import ServerCertificate, ensure_server_certificate
from nhicard.agent.serve.transport import Limits
from nhicard.core.errors import LocalIOError, NetworkError, UsageError
from nhicard.core.i18n import T
from nhicard.core.paths import state_dir

LOCAL_CA_DIR = "agent-tls"  # under the state dir


def origin_policy(
    patterns: tuple[str, ...], *, allow_null: bool, sandbox_endpoints: Path
) -> OriginPolicy:
    """The ``--origin`` patterns, or the defaults and the running sandbox's sites;
    :class:`UsageError` for a malformed pattern."""
    try:
        if patterns:
            return OriginPolicy(patterns, allow_null=allow_null)
        return OriginPolicy(
            DEFAULT_ORIGINS, sandbox_endpoints=sandbox_endpoints, allow_null=allow_null
        )
    except BadOrigin as exc:
        raise UsageError(
            T(
                "--origin 格式錯誤(應為 scheme://主機[:埠],`*.` 只能在最左邊):{detail}",
                "bad --origin (want scheme://host[:port], '*.' only as the leftmost label): "
                "{detail}",
            ).format(detail=str(exc))
        ) from None


@dataclass(frozen=True)
class TlsMaterial:
    """What the TLS ports serve with: ``context`` None for plain ``ws://``; ``ca_file`` the
    CA browsers must trust (None for the user's own ``--cert``)."""

    context: ssl.SSLContext | None
    ca_file: Path | None


def check_tls_options(*, no_tls: bool, cert: str | None, key: str | None) -> None:
    """:class:`UsageError` when ``--no-tls``, ``--cert`` and ``--key`` do not go together."""
    if (cert is None) != (key is None):
        raise UsageError(T("--cert 與 --key 必須一起使用", "--cert and --key go together"))
    if no_tls and cert:
        raise UsageError(T("--no-tls 不能與 --cert 同時使用", "--no-tls excludes --cert"))


def tls_material(
    *,
    no_tls: bool,
    cert: str | None,
    key: str | None,
    sandbox_profile: bool,
    sandbox_certificate: Callable[[], ServerCertificate],
    local_ca_dir: Path | None = None,
) -> TlsMaterial:
    """The certificate to serve: none (``no_tls``), the user's ``cert``/``key``, with the
    sandbox profile the sandbox's (``sandbox_certificate``, made or loaded), else one from the
    local CA in ``local_ca_dir`` (default: ``agent-tls`` in the state dir).
    :class:`UsageError` when they cannot be loaded or the options do not go together."""
    from nhicard.net.tlsclient import serving_context

    check_tls_options(no_tls=no_tls, cert=cert, key=key)
    if no_tls:
        return TlsMaterial(None, None)
    ca_file: Path | None = None
    if cert is None or key is None:
        issued = sandbox_certificate() if sandbox_profile else _local_certificate(local_ca_dir)
        cert, key, ca_file = str(issued.cert_file), str(issued.key_file), issued.ca_file
    try:
        context = serving_context(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            T("無法載入 TLS 憑證或金鑰", "cannot load the TLS certificate or key"),
            detail=str(exc),
        ) from None
    return TlsMaterial(context, ca_file)


def _local_certificate(directory: Path | None) -> ServerCertificate:
    """The local CA's certificate, in the state dir unless ``directory`` is given; the
    :class:`LocalIOError` of a file there that cannot be written says where else to keep it."""
    try:
        return ensure_server_certificate(directory or state_dir() / LOCAL_CA_DIR)
    except LocalIOError as exc:
        if directory is None:
            exc.hint = T(
                "請清出磁碟空間,或把 NHICARD_STATE_DIR 指向可寫入的位置;也可用 --cert 與 --key "
                "指定自己的憑證。",
                "Free some disk space, or point NHICARD_STATE_DIR at a writable place; or give "
                "your own certificate with --cert and --key.",
            )
        raise


@dataclass(frozen=True)
class Started:
    """A service listening on its ports. ``api_ports_taken``: the HTTP API's default ports
    were in use, so only the WebSocket is served."""

    service: AgentService
    api_ports_taken: tuple[int, int] | None = None


def open_service(
    agent: CardAgent,
    *,
    origins: OriginPolicy,
    port: int,
    tls: TlsMaterial,
    http_port: int,
    https_port: int,
    limits: Limits,
    log: Log | None,
) -> Started:
    """The service bound to its ports (0 for ``http_port``/``https_port``: off), falling back
    to the WebSocket alone when the default HTTP API ports are taken; the typed
    :class:`NetworkError` (``listen-failed``) for any other port in use."""

    def start(http: int | None, https: int | None) -> AgentService:
        return AgentService(
            agent,
            origins=origins,
            port=port,
            ssl_context=tls.context,
            log=log,
            http_port=http,
            https_port=https if tls.context is not None else None,
            limits=limits,
        )

    http_api = (http_port or None, https_port or None)
    try:
        return Started(start(*http_api))
    except NetworkError:
        defaults = (http_port, https_port) == (DEFAULT_HTTP_PORT, DEFAULT_HTTPS_PORT)
        if not any(http_api) or not defaults:
            raise
    return Started(start(None, None), api_ports_taken=(http_port, https_port))


def raise_open_file_limit() -> None:
    """Up to the hard limit: idle connections then cost file descriptors, not service."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
