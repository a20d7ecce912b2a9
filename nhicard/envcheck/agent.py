"""Group ``agent``: the official component (NHIICC) as a browser would find it.

hosts entry → installed → something on port 7777 → TLS and its certificate → ``GetVersion``
over ``wss://…/echo`` → which backend ``--agent`` would pick. The component is optional (the
``direct`` agent works without it), so everything missing here is ``warn``, never ``fail``.
"""

from __future__ import annotations

import ssl
from pathlib import Path, PurePath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from nhicard.agent import COMPONENT_HOST
from nhicard.core.i18n import T, Text
from nhicard.envcheck import SKIP, Check, CheckEnv, Finding, passed, probes, skipped, warned
from nhicard.envcheck.platforms import hosts_fix
from nhicard.envcheck.probes import ProbeError
from nhicard.envcheck.settings import AgentSettings
from nhicard.net.addresses import is_loopback
from nhicard.platform.hosts import HostsFile

if TYPE_CHECKING:
    from nhicard.sites.sam_endpoint import SamEndpoint

GROUP = "agent"

# The component as it ships (nhi-agent.md): 2020 builds make a root CA named "NHI SelfRoot CA"
# and answer GetVersion:0001; 2024 builds make one with organisation nhi-localhost-ca, a leaf
# for localhost only, and answer GetVersion:0011.
CA_2020 = "NHI SelfRoot CA"
CA_2024_ORGANISATION = "nhi-localhost-ca"
VERSIONS = {"0001": "2020", "0011": "2024"}
UPDATE_CHECK_URL = "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/Eventesting.aspx"
# the official test page, published at two paths (nhi-agent.md), and what it shows on success
TEST_PAGE_URL = "https://cloudicweb.nhi.gov.tw/cloudic/system/webtesting/SampleY.aspx"
TEST_PAGE_URL_SMC = "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/webtesting/SampleY.aspx"
# quoted as the source gives them: "XXX" stands for the holder's name the page shows
READ_OK = "讀卡成功：XXX"
VERIFY_OK = "認證卡片：成功!"
LINKS = T(
    "檢查更新:{u};測試頁:{t} 或 {s}(成功時「讀取健保卡」顯示「{r}」,「驗證健保卡」最後顯示「{v}」)",
    "update check: {u}; test page: {t} or {s} (on success 「讀取健保卡」 shows 「{r}」 and "
    "「驗證健保卡」 ends with 「{v}」)",
).format(u=UPDATE_CHECK_URL, t=TEST_PAGE_URL, s=TEST_PAGE_URL_SMC, r=READ_OK, v=VERIFY_OK)

# Builds before 2024 open PC/SC once at start: a reader plugged in later is not seen until the
# component restarts ([8013] / [7004]); the 2024 build opens a new context for every command.
RESTART_BEFORE_2024 = T(
    "2024 年以前的元件版本只在啟動時尋找讀卡機:插上讀卡機後要重新啟動元件(或重新開機;Linux:"
    "sudo systemctl restart NHIICC),否則會出現 [8013] 或 [7004]。",
    "Builds before 2024 look for readers only when they start: after plugging in a reader, "
    "restart the component (or the computer; Linux: sudo systemctl restart NHIICC), or it "
    "answers [8013] or [7004].",
)
RESTART_UNKNOWN_BUILD = T(
    "若元件是 2024 年以前的版本(GetVersion 不是 0011),插上讀卡機後要重新啟動元件(Linux:"
    "sudo systemctl restart NHIICC);2024 版不需要。",
    "If the component is a build from before 2024 (GetVersion other than 0011), restart it "
    "after plugging in a reader (Linux: sudo systemctl restart NHIICC); the 2024 build does "
    "not need that.",
)

OPTIONAL = T(
    "(官方元件非必要:nhicard 內建的 direct 讀卡代理不需要它)",
    "(the official component is optional: nhicard's built-in direct agent works without it)",
)


def _settings(env: CheckEnv) -> AgentSettings:
    return env.agent


def hosts_path(env: CheckEnv) -> PurePath:
    return env.hosts_file or env.platform.hosts_file_path(env.environ)


def auto_asks(env: CheckEnv) -> bool:
    """Whether ``--agent auto`` asks the component at all (the factory's rule, on this run's
    hosts file): not when the hosts file lacks the component's line."""
    from nhicard.agent.client.factory import hosts_maps_component, worth_probing

    s = _settings(env)
    return worth_probing(
        s.url,
        url_given=s.url_given,
        hosts_maps=lambda: hosts_maps_component(hosts_file=hosts_path(env)),
    )


def reachable_offline(host: str) -> bool:
    """A host ``--offline`` still connects to: this computer, by address or as localhost
    (no name is looked up, nothing leaves the computer)."""
    return is_loopback(host, name_too=True)


OFFLINE = T(
    "略過:離線模式(--offline)不查詢 {h}",
    "skipped: offline mode (--offline) does not look up {h}",
)


NOT_LISTED = T(
    "略過:hosts 檔沒有 {h} 這一行,不查詢這個名稱",
    "skipped: the hosts file has no line for {h}, the name is not looked up",
)


def _offline(host: str) -> Finding:
    return skipped(OFFLINE.format(h=host), "offline")


def joined(first: Text, second: Text) -> Text:
    """Two texts one after the other."""
    return Text(first.zh + second.zh, first.en + second.en)


def with_optional(fix: Text) -> Text:
    return Text(f"{fix.zh}{OPTIONAL.zh}", f"{fix.en} {OPTIONAL.en}")


def check_hosts(env: CheckEnv) -> Finding:
    plat, environ = env.platform, env.environ
    path = hosts_path(env)
    fix = with_optional(hosts_fix(plat, environ))
    try:
        hosts = HostsFile.read(path)
    except OSError as exc:
        return warned(
            T("無法讀取 hosts 檔 {p}", "cannot read the hosts file {p}").format(p=str(path)),
            fix,
            f"{path}: {exc.strerror or exc}",
        )
    addresses = hosts.addresses(COMPONENT_HOST)
    detail = f"{path}: {COMPONENT_HOST} → {', '.join(addresses) or 'no entry'}"
    if not addresses:
        return warned(
            T(
                "hosts 檔沒有 {h}(官方元件未安裝或安裝不完整)",
                "the hosts file has no entry for {h} (official component not installed)",
            ).format(h=COMPONENT_HOST),
            fix,
            detail,
        )
    if not is_loopback(addresses[0]):
        return warned(
            T(
                "hosts 檔把 {h} 指向 {a},不是 127.0.0.1",
                "the hosts file maps {h} to {a}, not 127.0.0.1",
            ).format(h=COMPONENT_HOST, a=addresses[0]),
            fix,
            detail,
        )
    return passed(
        T("{h} 指向本機 {a}", "{h} points to this computer ({a})").format(
            h=COMPONENT_HOST, a=addresses[0]
        ),
        detail,
    )


def check_installed(env: CheckEnv) -> Finding:
    plat, environ = env.platform, env.environ
    where = plat.component_install_dir(environ)
    if where is None:
        return skipped(
            T(
                "此作業系統的官方元件安裝位置未公開;改以連接埠判斷",
                "the component's install location is not published for this OS; see the port",
            )
        )
    if Path(where).is_dir():
        return passed(
            T("官方元件已安裝於 {p}", "official component installed in {p}").format(p=str(where)),
            str(where),
        )
    return warned(
        T("官方元件未安裝({p} 不存在)", "official component not installed ({p} is missing)").format(
            p=str(where)
        ),
        with_optional(
            T("需要時請下載安裝:{u}", "If you need it, download and install: {u}").format(
                u=plat.component_download_url()
            )
        ),
        str(where),
    )


def check_port(env: CheckEnv) -> Finding:
    s, plat = _settings(env), env.platform
    if env.offline and not reachable_offline(s.connect_host):
        return _offline(s.connect_host)
    try:
        ms = probes.tcp_connect(s.connect_host, s.port, env.timeout)
    except ProbeError as err:
        return warned(
            T(
                "{w} 沒有程式在接聽(官方元件未啟動)",
                "nothing listens on {w} (the official component is not running)",
            ).format(w=s.where),
            with_optional(
                joined(
                    T(
                        "啟動或重新安裝官方元件(Linux:sudo systemctl start NHIICC);下載:{u};",
                        "Start or reinstall the official component (Linux: sudo systemctl start "
                        "NHIICC); download: {u}; ",
                    ).format(u=plat.component_download_url()),
                    LINKS,
                )
            ),
            f"{s.where}: {err.kind}: {err.text}",
            blocking=True,
        )
    return passed(
        T("{w} 有程式在接聽({ms} 毫秒)", "something listens on {w} ({ms} ms)").format(
            w=s.where, ms=ms
        ),
        s.url,
    )


def component_build(der: bytes | None) -> str | None:
    """``"2020"`` / ``"2024"`` when the certificate was issued by that build's own CA."""
    if not der:
        return None
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        issuer = x509.load_der_x509_certificate(der).issuer
    except ValueError:
        return None
    names = [str(a.value) for a in issuer.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if CA_2024_ORGANISATION in orgs:
        return "2024"
    if any(n.startswith(CA_2020) for n in names):
        return "2020"
    return None


def _ca_to_export(build: str | None) -> Text:
    if build == "2024":
        return T(
            f"2024 版元件的根憑證(組織 {CA_2024_ORGANISATION})",
            f"the 2024 component's root CA (organisation {CA_2024_ORGANISATION})",
        )
    if build == "2020":
        return T(f"2020 版元件的根憑證「{CA_2020}」", f"the 2020 component's root CA '{CA_2020}'")
    return T(
        f"元件的根憑證(2020 版「{CA_2020}」,2024 版組織 {CA_2024_ORGANISATION})",
        f"the component's root CA ('{CA_2020}' for 2020 builds, organisation "
        f"{CA_2024_ORGANISATION} for 2024 builds)",
    )


def agent_tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The trust the ``nhiicc`` client applies: the given CA bundle, else the system roots."""
    return ssl.create_default_context(cafile=ca_bundle)


def check_tls(env: CheckEnv) -> Finding:
    s, plat = _settings(env), env.platform
    if urlsplit(s.url).scheme == "ws":
        return Finding(
            SKIP,
            T("元件位址為 ws://(未加密)", "the component address is ws:// (no TLS)"),
            s.url,
            blocking=False,
        )
    if env.offline and not reachable_offline(s.connect_host):
        return _offline(s.connect_host)
    try:
        peer = probes.tls_handshake(
            s.connect_host,
            s.port,
            server_name=s.host,
            context=agent_tls_context(s.ca_bundle),
            timeout=env.timeout,
        )
    except ProbeError as err:
        return warned(
            T("{w} 的 TLS 交握失敗", "the TLS handshake with {w} failed").format(w=s.where),
            with_optional(
                T(
                    "{w} 上的程式不是官方元件或已損壞;請重新安裝官方元件。",
                    "The program on {w} is not the official component or is broken; "
                    "reinstall the component.",
                ).format(w=s.where)
            ),
            f"{s.where}: {err.kind}: {err.text}",
            blocking=True,
        )
    build = component_build(peer.certificate)
    detail = f"{peer.version}; {probes.describe_certificate(peer.certificate)}"
    if build:
        detail += f"; {build} build"
    if not peer.verified and build == "2024" and "hostname" in (peer.verify_error or "").lower():
        return warned(
            T(
                "2024 版元件的憑證只適用於 localhost,不適用 {h}",
                "the 2024 component's certificate is for localhost only, not {h}",
            ).format(h=s.host),
            with_optional(
                T(
                    "請改用 --agent-url wss://localhost:{p}/echo。",
                    "Use --agent-url wss://localhost:{p}/echo.",
                ).format(p=s.port)
            ),
            f"{detail}; {peer.verify_error}",
            blocking=True,
        )
    if not peer.verified:
        ca = _ca_to_export(build)
        return warned(
            T(
                "元件的憑證不受信任(未連到受信任的根憑證)",
                "the component's certificate does not chain to a trusted root",
            ),
            Text(
                f"{plat.trusted_roots_note().zh} 使用 --agent nhiicc 時,需把{ca.zh}匯出為 PEM "
                "並設為網站設定檔的 ca_bundle。",
                f"{plat.trusted_roots_note().en} For --agent nhiicc, export {ca.en} as PEM "
                "and set it as the profile's ca_bundle.",
            ),
            f"{detail}; {peer.verify_error}",
            blocking=True,
        )
    return passed(
        T("TLS {v},憑證受信任", "TLS {v}, certificate trusted").format(v=peer.version), detail
    )


def check_version(env: CheckEnv) -> Finding:
    from nhicard.agent.client.factory import probe_component

    s = _settings(env)
    if env.offline and not reachable_offline(s.host):
        return _offline(s.host)
    if not auto_asks(env):
        return skipped(NOT_LISTED.format(h=s.host), "no hosts line")
    probe = probe_component(s.url, origin=s.origin, ca_bundle=s.ca_bundle, timeout=env.timeout)
    if probe.ok:
        build = VERSIONS.get(str(probe.version))
        if build == "2020":
            return warned(
                T(
                    "官方元件回應 GetVersion:{v}(2020 版;2024 版為 0011)",
                    "the component answers GetVersion: {v} (a 2020 build; 2024 builds answer 0011)",
                ).format(v=probe.version),
                with_optional(
                    Text(
                        f"需要時請更新元件:{env.platform.component_download_url()};{LINKS.zh}"
                        f"。更新前:{RESTART_BEFORE_2024.zh}",
                        f"Update the component if you need it: "
                        f"{env.platform.component_download_url()}; {LINKS.en}. Until then: "
                        f"{RESTART_BEFORE_2024.en}",
                    )
                ),
                s.url,
            )
        return passed(
            joined(
                T("官方元件回應 GetVersion:{v}", "the component answers GetVersion: {v}").format(
                    v=probe.version
                ),
                T(f"({build} 版)", f" (a {build} build)") if build else T("", ""),
            ),
            s.url,
        )
    err = probe.error
    message = err.message if err is not None else T("沒有回應", "no answer")
    detail = f"{s.url}: {err.text.en}" if err is not None else s.url
    restart = restart_hint(env)
    return warned(
        Text(
            f"官方元件沒有回應 GetVersion:{message.zh}",
            f"the component did not answer GetVersion: {message.en}",
        ),
        with_optional(
            joined(
                joined(
                    err.hint
                    if err is not None and err.hint is not None
                    else T(
                        "重新啟動或重新安裝官方元件。",
                        "Restart or reinstall the official component.",
                    ),
                    T(f"({LINKS.zh})", f" ({LINKS.en})"),
                ),
                T(restart.zh, f" {restart.en}") if restart is not None else T("", ""),
            )
        ),
        detail,
    )


def restart_hint(env: CheckEnv) -> Text | None:
    """The restart-after-plugging-a-reader hint for the installed build: none for the 2024
    build (its CA file says it is installed), worded for an unknown build otherwise."""
    from nhicard.envcheck.official_ca import installed_build

    if installed_build(env) == "2024":
        return None
    return RESTART_UNKNOWN_BUILD


def profile_sam(env: CheckEnv) -> SamEndpoint:
    """The SAM of the run's site profile, as the plan loaded it (``profile_sam``: the
    endpoint, or the error that kept the profile from loading); loaded here by the same
    loader when the plan did not."""
    from nhicard.core.errors import NhicardError

    loaded = env.profile_sam
    if loaded is None:
        from nhicard.sites.loader import resolve_profile

        sam: SamEndpoint = resolve_profile(env.profile_name).sam
        return sam
    if isinstance(loaded, NhicardError):
        raise loaded
    found: SamEndpoint = loaded
    return found


def check_backend(env: CheckEnv) -> Finding:
    """Which backend ``--agent`` picks, asking the factory exactly as the commands do."""
    from nhicard.agent.client.factory import open_agent
    from nhicard.core.errors import NhicardError

    s = _settings(env)
    asks = s.kind == "nhiicc" or (s.kind == "auto" and auto_asks(env))
    if env.offline and asks and not reachable_offline(s.host):
        return _offline(s.host)
    try:
        sam = profile_sam(env)
        agent = open_agent(
            s.kind,
            reader=env.reader,
            agent_url=s.url,
            sam=sam,
            origin=s.origin,
            ca_bundle=s.ca_bundle,
            url_given=s.url_given,
            hosts_maps=lambda: asks,
        )
    except NhicardError as err:
        return warned(
            Text(
                f"無法決定讀卡代理:{err.message.zh}",
                f"cannot choose a card agent: {err.message.en}",
            ),
            err.hint,
            err.detail or "",
        )
    with agent:
        sel = agent.selection
    return passed(
        Text(
            f"--agent {s.kind} 使用 {sel.kind}:{sel.reason.zh}",
            f"--agent {s.kind} uses {sel.kind}: {sel.reason.en}",
        ),
        sel.kind,
    )


def checks() -> list[Check]:
    return [
        Check("agent.hosts", GROUP, check_hosts),
        Check("agent.installed", GROUP, check_installed),
        Check("agent.port", GROUP, check_port),
        Check("agent.tls", GROUP, check_tls, needs=("agent.port",)),
        Check("agent.version", GROUP, check_version, needs=("agent.port", "agent.tls")),
        Check("agent.backend", GROUP, check_backend),
    ]
