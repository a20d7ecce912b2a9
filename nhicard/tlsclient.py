"""The TLS trust of nhicard's clients (web sites, IMAP): always verifying, TLS ≥ 1.2, trusting
the given CA bundle or else the system's roots."""

from __future__ import annotations

import ssl

from nhicard.errors import NetworkError
from nhicard.i18n import T, Text


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
