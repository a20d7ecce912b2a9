"""``nhicard agent``: the card agent as a service (a local stand-in for the official
component)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from nhicard.agent import COMPONENT_HOST, COMPONENT_HTTP_PORT, COMPONENT_HTTPS_PORT, COMPONENT_PORT
from nhicard.cli.context import get_app
from nhicard.cli.help_layout import HelpGroup
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.cli.params import Seconds
from nhicard.core.i18n import T

if TYPE_CHECKING:
    from nhicard.agent.serve.tls import ServerCertificate


@click.group(cls=HelpGroup)
def agent() -> None:
    """The card agent (讀卡機元件) as a local service."""


@agent.command("serve")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=COMPONENT_PORT,
    show_default=True,
    help="TCP port on 127.0.0.1.",
)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="PATTERN",
    help="Allowed web origin, e.g. 'https://*.nhi.gov.tw' (repeatable; replaces the default). "
    "Default: the sites that use the card (cloudicweb.nhi.gov.tw, eservice.nhi.gov.tw, "
    "ecpa.dgpa.gov.tw) and the running sandbox's sites.",
)
@click.option(
    "--cert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TLS certificate (PEM); default: issued by the sandbox CA with --profile sandbox, "
    "else by a local CA under the state dir (agent-tls/ca.pem; name-constrained to the local "
    "names, its key not kept).",
)
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Private key of --cert (PEM).",
)
@click.option("--no-tls", is_flag=True, help="Plain ws:// instead of wss:// (debugging only).")
@click.option(
    "--allow-null-origin",
    is_flag=True,
    help="Also answer pages whose Origin is 'null' or file:// (sandboxed iframes of ANY web "
    "site send 'null'). Refused by default.",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=COMPONENT_HTTP_PORT,
    show_default=True,
    help="Port of the Windows builds' HTTP API (http://127.0.0.1:PORT/api/); 0: off.",
)
@click.option(
    "--https-port",
    type=click.IntRange(0, 65535),
    default=COMPONENT_HTTPS_PORT,
    show_default=True,
    help="Port of the HTTPS API (https://127.0.0.1:PORT/api/); 0: off.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(2, 1000),
    default=48,
    show_default=True,
    help="Connections held at once; beyond it the one idle longest is closed.",
)
@click.option(
    "--idle-timeout",
    type=Seconds(1, min_open=False, max=3600),
    default=60.0,
    show_default=True,
    help="Seconds an open WebSocket may stay silent.",
)
@click.option(
    "--card-deadline",
    type=Seconds(0.5, min_open=False, max=600),
    default=30.0,
    show_default=True,
    help="Seconds one card (and SAM) operation may take; then it is answered 8013.",
)
def serve(
    port: int,
    origins: tuple[str, ...],
    cert: str | None,
    key: str | None,
    no_tls: bool,
    allow_null_origin: bool,
    http_port: int,
    https_port: int,
    max_connections: int,
    idle_timeout: float,
    card_deadline: float,
) -> None:
    """Answer the official component's WebSocket commands on 127.0.0.1.

    Commands: GetVersion, GetRandom, GetBasic, H_Sign?Random=, EnCrypt?Pwd=,
    SecureGetBasicWithParam?Pwd= (anything else: 9999), at wss://127.0.0.1:PORT/echo, and the
    Windows builds' HTTP API on --http-port / --https-port, using the card in the reader
    chosen with -r and the SAM of --profile. Origins not allowed get 403 before the
    WebSocket opens (HTTP API: 403 and 4041); null and file:// origins only with
    --allow-null-origin. Stop with Ctrl-C or SIGTERM.
    """
    from nhicard.agent.client.direct import DirectAgent
    from nhicard.agent.serve import setup
    from nhicard.agent.serve.transport import Limits
    from nhicard.cli.trace import show_card_traffic
    from nhicard.sites.loader import resolve_profile
    from nhicard.sites.sandbox_endpoints import endpoints_file

    app = get_app()
    setup.check_tls_options(no_tls=no_tls, cert=cert, key=key)
    policy = setup.origin_policy(
        origins, allow_null=allow_null_origin, sandbox_endpoints=endpoints_file()
    )
    if allow_null_origin:
        app.warn(
            T(
                "警告:--allow-null-origin 讓來源為 null 或 file:// 的網頁也能讀卡、取得簽章;"
                "任何網站的沙箱 iframe 都會送出 Origin: null。",
                "warning: --allow-null-origin lets pages whose origin is null or file:// read "
                "the card and obtain signatures; a sandboxed iframe on ANY web site sends "
                "Origin: null.",
            )
        )
    profile = resolve_profile(app.profile)  # the SAM of the same loader as the web flows
    sam = profile.sam
    show_card_traffic(app)
    card_agent = DirectAgent(reader=app.reader, sam=sam, refill_keys=True)
    tls = setup.tls_material(
        no_tls=no_tls,
        cert=cert,
        key=key,
        sandbox_profile=profile.is_sandbox,
        sandbox_certificate=_sandbox_certificate,
    )
    setup.raise_open_file_limit()
    started = setup.open_service(
        card_agent,
        origins=policy,
        port=port,
        tls=tls,
        http_port=http_port,
        https_port=https_port,
        limits=Limits(
            max_connections=max_connections, idle_timeout=idle_timeout, card_deadline=card_deadline
        ),
        log=(lambda line: app.debug(line)) if app.verbose else None,
    )
    service, ca_file = started.service, tls.ca_file
    if started.api_ports_taken is not None:
        app.warn(
            T(
                "HTTP API 的埠 {a}/{b} 已被使用,只提供 WebSocket。",
                "the HTTP API ports {a}/{b} are in use; serving the WebSocket only.",
            ),
            a=started.api_ports_taken[0],
            b=started.api_ports_taken[1],
        )
    app.info(
        T("讀卡代理服務:{url}(SAM {sam})", "card agent service: {url} (SAM {sam})"),
        url=service.url,
        sam=sam.address,
    )
    for api in service.api_urls:
        app.info(T("HTTP API:{url}", "HTTP API: {url}"), url=api)
    if ca_file is not None:
        app.info(
            T(
                "CA 憑證(瀏覽器需信任;nhicard agent install 會處理):{path}",
                "CA certificate (for browsers to trust; nhicard agent install does that): {path}",
            ),
            path=str(ca_file),
        )
    app.info(
        T("允許的來源:{origins}", "allowed origins: {origins}"),
        origins=", ".join(policy.current_patterns())
        + (" (+ null, file://)" if allow_null_origin else ""),
    )

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old_term = signal.signal(signal.SIGTERM, on_signal)
    old_int = signal.signal(signal.SIGINT, on_signal)
    service.start_in_thread()
    try:
        while not stop.wait(0.2):
            pass
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
        service.shutdown()
    app.info(T("已停止。", "Stopped."))


def _sandbox_certificate() -> ServerCertificate:
    """The sandbox's server certificate (its own CA, so its ca_bundle also trusts `agent
    serve`): a layer the serving package may not import."""
    from nhicard.agent.serve.tls import ServerCertificate
    from nhicard.core.paths import default_sandbox_dir
    from nhicard.sandbox.tls import ensure_tls

    files = ensure_tls(default_sandbox_dir())
    return ServerCertificate(files.server_cert, files.server_key, files.ca_cert)


# -- install / uninstall / status ------------------------------------------------------------

hosts_file_option = click.option(
    "--hosts-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Hosts file to change (default: the system's, /etc/hosts).",
)
nssdb_option = click.option(
    "--nssdb",
    "nssdbs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="NSS database directory to use (repeatable); given: only these, no system store. "
    "Default: ~/.pki/nssdb and every Firefox profile.",
)


def _machine(hosts_file: Path | None, nssdbs: tuple[Path, ...]):  # type: ignore[no-untyped-def]
    from nhicard.agent.serve.install import Machine
    from nhicard.core.paths import state_dir

    return Machine.current(state_dir(), hosts_file=hosts_file, nssdbs=nssdbs)


@agent.command("install")
@click.option("--dry-run", is_flag=True, help="Print every change it would make; change nothing.")
@hosts_file_option
@nssdb_option
@click.option("--no-service", is_flag=True, help="Do not register the login service.")
@click.option(
    "--browser-policy",
    is_flag=True,
    help="Also write the Chromium/Chrome/Edge managed policy LocalNetworkAccessAllowedForUrls "
    "for the sites that use the card (with --profile sandbox: the sandbox's too), so Chrome "
    "≥ 142 and Edge ≥ 143 let them reach the agent. Needs root/administrator.",
)
@output_options
def install_cmd(
    dry_run: bool,
    hosts_file: Path | None,
    nssdbs: tuple[Path, ...],
    no_service: bool,
    browser_policy: bool,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Make the browsers use `agent serve` in place of the official component.

    Issues the certificate, trusts its CA in the browsers' stores (Linux: NSS databases via
    certutil and, as root, the system store; macOS: login keychain; Windows: the user's Root
    store), adds `127.0.0.1 iccert.nhi.gov.tw` to the hosts file and registers a login
    service running `nhicard agent serve`. With --browser-policy (as root/administrator) it
    also writes the managed policy LocalNetworkAccessAllowedForUrls of every Chromium-family
    browser (Linux: /etc/chromium, /etc/opt/chrome, /etc/opt/edge policies/managed/
    zz-nhicard-local-network-access.json; Windows: HKLM\\Software\\Policies\\Google\\Chrome and
    Microsoft\\Edge; macOS: /Library/Managed Preferences/com.google.Chrome.plist and
    com.microsoft.Edge.plist). A failed step undoes the earlier ones.
    """
    from nhicard.agent.serve.install import ChangeKind, install, notices
    from nhicard.platform import TrustStore

    app = get_app()
    machine = _machine(hosts_file, nssdbs)
    if browser_policy and app.profile == "sandbox":
        from nhicard.agent.serve.origins import sandbox_origins
        from nhicard.sites.sandbox_endpoints import endpoints_file

        extra = [o for o in sandbox_origins(endpoints_file()) if o not in machine.policy_origins]
        machine.policy_origins = (*machine.policy_origins, *extra)
    changes = install(
        machine, service=not no_service, dry_run=dry_run, browser_policy=browser_policy
    )
    for change in changes:
        app.info(
            T("將會:{what}", "would: {what}") if dry_run else T("完成:{what}", "done: {what}"),
            what=app.tr(change.describe),
        )
    needed = notices(machine, service=not no_service)  # what a person must do (a polkit rule)
    if browser_policy and not any(c.kind == ChangeKind.BROWSER_POLICY for c in changes):
        needed.append(
            T(
                "沒有找到 Chromium、Chrome 或 Edge,沒有寫入瀏覽器政策。",
                "no Chromium, Chrome or Edge was found: no browser policy was written.",
            )
        )
    for text in needed:
        app.warn(text)
    if not dry_run and not any(isinstance(c.kind, TrustStore) for c in changes):
        app.warn(
            T(
                "沒有找到瀏覽器的憑證庫;請先開啟 Chromium/Firefox 一次,再執行 agent install。",
                "no browser certificate store was found; open Chromium/Firefox once, then run "
                "agent install again.",
            )
        )
    emit(
        {
            "status": "dry-run" if dry_run else "installed",
            "changes": [c.to_dict() | {"description": app.tr(c.describe)} for c in changes],
            "notices": [app.tr(text) for text in needed],
        },
        pick_format(fmt, as_json),
    )


@agent.command("uninstall")
@click.option("--dry-run", is_flag=True, help="Print what it would remove; change nothing.")
@hosts_file_option
@nssdb_option
@output_options
def uninstall_cmd(
    dry_run: bool, hosts_file: Path | None, nssdbs: tuple[Path, ...], fmt: str | None, as_json: bool
) -> None:
    """Remove exactly what `agent install` added (CA, hosts line, login service, the browser
    policy entries)."""
    from nhicard.agent.serve.install import uninstall

    app = get_app()
    changes = uninstall(_machine(hosts_file, nssdbs), dry_run=dry_run)
    for change in changes:
        app.info(
            T("將會:{what}", "would: {what}") if dry_run else T("完成:{what}", "done: {what}"),
            what=app.tr(change.describe),
        )
    emit(
        {
            "status": "dry-run" if dry_run else "uninstalled",
            "changes": [c.to_dict() | {"description": app.tr(c.describe)} for c in changes],
        },
        pick_format(fmt, as_json),
    )


@agent.command("status")
@hosts_file_option
@nssdb_option
@output_options
def status_cmd(
    hosts_file: Path | None, nssdbs: tuple[Path, ...], fmt: str | None, as_json: bool
) -> None:
    """What `agent install` set up: certificate, trust per store, hosts entry, login service,
    the browsers' LocalNetworkAccessAllowedForUrls policy, and whether the agent answers
    GetVersion at --agent-url."""
    from nhicard.agent.client.factory import probe_component
    from nhicard.agent.serve.install import status

    app = get_app()
    machine = _machine(hosts_file, nssdbs)

    def probe() -> tuple[bool, str | None, str | None]:
        result = probe_component(
            app.agent_url,
            origin="https://cloudicweb.nhi.gov.tw",
            ca_bundle=str(machine.ca_file) if machine.ca_file.exists() else None,
            timeout=3,
        )
        error = result.error.text.render(app.lang) if result.error else None
        return result.ok, result.version, error

    doc = status(machine, probe=probe)
    doc["answers"]["url"] = app.agent_url
    chosen = pick_format(fmt, as_json)
    if chosen == "json":
        emit(doc, chosen)
        return
    emit(status_rows(doc), chosen, columns=("item", "ok", "detail"))


def status_rows(doc: dict[str, object]) -> list[dict[str, object]]:
    """``agent status`` as table rows: item, ok, detail."""
    cert = doc["certificate"]
    hosts = doc["hosts"]
    service = doc["service"]
    answers = doc["answers"]
    assert isinstance(cert, dict) and isinstance(hosts, dict)
    assert isinstance(service, dict) and isinstance(answers, dict)
    rows: list[dict[str, object]] = [
        {"item": "certificate", "ok": cert["exists"], "detail": cert.get("sha256") or cert["file"]}
    ]
    trust = doc["trust"]
    assert isinstance(trust, list)
    for t in trust:
        rows.append({"item": f"trust ({t['store']})", "ok": t["current"], "detail": t["target"]})
    rows.append(
        {
            "item": "hosts",
            "ok": hosts["ok"],
            "detail": f"{hosts['file']}: {COMPONENT_HOST} → {', '.join(hosts['resolves_to']) or '-'}",
        }
    )
    rows.append(
        {
            "item": f"service ({service['kind']})",
            "ok": service["running"],
            "detail": service["file"],
        }
    )
    policies = doc.get("browser_policy") or []
    assert isinstance(policies, list)
    for policy in policies:
        rows.append(
            {
                "item": f"browser policy ({policy['browser']})",
                "ok": policy["allows_nhi"],
                "detail": policy["target"] + (" (nhicard)" if policy["ours"] else ""),
            }
        )
    rows.append(
        {
            "item": "GetVersion",
            "ok": answers["ok"],
            "detail": answers.get("version") or answers.get("error") or "",
        }
    )
    return rows
