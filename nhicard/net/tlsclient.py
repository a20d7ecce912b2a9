"""The TLS of nhicard: its clients (web sites, IMAP) always verify, with TLS ≥ 1.2, trusting
the given CA bundle or else the system's roots; its local servers (``agent serve``, the sandbox)
offer TLS ≥ 1.2 with a certificate of :mod:`nhicard.net.certs`. What a failed connection was is
:mod:`nhicard.net.netclass`."""

from __future__ import annotations

import ssl
from pathlib import Path

from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T, Text


def verifying_context(
    ca_bundle: str | None, *, hint: Text, error: type[NetworkError] = NetworkError
) -> ssl.SSLContext:
    """A verifying client context (TLS ≥ 1.2): ``ca_bundle`` when given, else the system store.

    A bundle that cannot be read raises ``error`` (reason ``ca-bundle``) with ``hint``."""
    try:
        ctx = ssl.create_default_context(cafile=ca_bundle or None)  # None: the system store
    except (OSError, ssl.SSLError) as exc:
        raise error(
            T("無法載入 CA 憑證檔 {path}", "cannot load the CA bundle {path}").format(
                path=ca_bundle
            ),
            hint=hint,
            reason="ca-bundle",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def inspecting_context() -> ssl.SSLContext:
    """A context that verifies nothing, only to read the certificates a server presents
    (to say why they did not verify); nothing but the handshake is sent over it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def serving_context(cert_file: str | Path, key_file: str | Path | None = None) -> ssl.SSLContext:
    """A server context (TLS ≥ 1.2) with this certificate chain and key (None: the key is in
    ``cert_file``); OSError or ssl.SSLError when they cannot be loaded."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), None if key_file is None else str(key_file))
    return ctx
