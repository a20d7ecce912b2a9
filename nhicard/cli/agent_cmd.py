"""``nhicard agent``: the card agent as a service (a local stand-in for the official
component)."""

from __future__ import annotations

import signal
import ssl
import threading
from pathlib import Path
from types import FrameType

import click

from nhicard.cli.context import get_app
from nhicard.errors import UsageError
from nhicard.i18n import T


@click.group()
def agent() -> None:
    """The card agent (讀卡機元件) as a local service."""


@agent.command("serve")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=7777,
    show_default=True,
    help="TCP port on 127.0.0.1.",
)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="PATTERN",
    help="Allowed web origin, e.g. 'https://*.gov.tw' (repeatable). "
    "Default: https://*.gov.tw and the running sandbox's sites.",
)
@click.option(
    "--cert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TLS certificate (PEM); default: issued by the sandbox CA with --profile sandbox, "
    "else by a local CA under the state dir (agent-tls/ca.pem).",
)
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Private key of --cert (PEM).",
)
@click.option("--no-tls", is_flag=True, help="Plain ws:// instead of wss:// (debugging only).")
def serve(
    port: int, origins: tuple[str, ...], cert: str | None, key: str | None, no_tls: bool
) -> None:
    """Answer the official component's WebSocket commands on 127.0.0.1.

    Commands: GetVersion, GetRandom, GetBasic, H_Sign?Random=, EnCrypt?Pwd=,
    SecureGetBasicWithParam?Pwd= (anything else: 9999), at wss://127.0.0.1:PORT/echo, using
    the card in the reader chosen with -r and the SAM of --profile. Origins not allowed get
    4041. Stop with Ctrl-C.
    """
    from nhicard.agent.direct import DirectAgent
    from nhicard.agent.endpoints import sam_endpoint_for_profile
    from nhicard.agent.service import DEFAULT_ORIGINS, AgentService, OriginPolicy
    from nhicard.paths import sandbox_endpoints_file, state_dir

    app = get_app()
    if (cert is None) != (key is None):
        raise UsageError(T("--cert 與 --key 必須一起使用", "--cert and --key go together"))
    if no_tls and cert:
        raise UsageError(T("--no-tls 不能與 --cert 同時使用", "--no-tls excludes --cert"))
    sam = sam_endpoint_for_profile(app.profile)
    card_agent = DirectAgent(
        reader=app.reader,
        sam=sam,
        tracer=(lambda line: app.debug(line, 2)) if app.verbose >= 2 else None,
    )
    policy = (
        OriginPolicy(origins)
        if origins
        else OriginPolicy(DEFAULT_ORIGINS, sandbox_endpoints=sandbox_endpoints_file())
    )

    context: ssl.SSLContext | None = None
    ca_file: Path | None = None
    if not no_tls:
        if cert is None and app.profile == "sandbox":
            # the sandbox's own CA, so its ca_bundle also trusts this service
            from nhicard.paths import default_sandbox_dir
            from nhicard.sandbox.tls import ensure_tls

            files = ensure_tls(default_sandbox_dir())
            cert, key, ca_file = str(files.server_cert), str(files.server_key), files.ca_cert
        elif cert is None:
            from nhicard.agent.servetls import ensure_server_certificate

            issued = ensure_server_certificate(state_dir() / "agent-tls")
            cert, key, ca_file = str(issued.cert_file), str(issued.key_file), issued.ca_file
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                T("無法載入 TLS 憑證或金鑰", "cannot load the TLS certificate or key"),
                detail=str(exc),
            ) from None

    service = AgentService(
        card_agent,
        origins=policy,
        port=port,
        ssl_context=context,
        log=(lambda line: app.debug(line)) if app.verbose else None,
    )
    app.info(
        T("讀卡代理服務:{url}(SAM {sam})", "card agent service: {url} (SAM {sam})"),
        url=service.url,
        sam=sam.address,
    )
    if ca_file is not None:
        app.info(
            T("CA 憑證(瀏覽器需信任):{path}", "CA certificate (for browsers to trust): {path}"),
            path=str(ca_file),
        )
    app.info(
        T("允許的來源:{origins}", "allowed origins: {origins}"),
        origins=", ".join(policy.current_patterns()) + " (+ null, file://)",
    )

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = signal.signal(signal.SIGTERM, on_signal)
    service.start_in_thread()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        service.shutdown()
    app.info(T("已停止。", "Stopped."))
