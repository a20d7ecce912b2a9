"""Group ``network``: proxy variables, DNS, HTTPS and TLS version of the profile's sites, TCP
reachability of the SAM server. Skipped as a whole with ``--offline``."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from urllib.parse import urlsplit, urlunsplit

from nhicard.core.i18n import T, Text
from nhicard.envcheck import (
    DEFAULT_TIMEOUT,
    FAIL,
    Check,
    CheckEnv,
    Finding,
    failed,
    passed,
    probes,
    skipped,
    warned,
)
from nhicard.envcheck.probes import ProbeError, ProbeKind
from nhicard.envcheck.settings import NetworkTargets, SiteTarget
from nhicard.envcheck.targets import probe_site, targets_of
from nhicard.net.addresses import is_ip

GROUP = "network"
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")

OFFLINE = T("略過:離線模式(--offline)", "skipped: offline mode (--offline)")
NETWORK_FIX = T(
    "確認這台電腦能上網:網路線/Wi-Fi、DNS、防火牆;公司網路可能需要設定 Proxy(HTTPS_PROXY)。",
    "Check that this computer is online: cable/Wi-Fi, DNS, firewall; an office network may "
    "need a proxy (HTTPS_PROXY).",
)


def proxy_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables in effect (upper case wins over lower case, as in httpx)."""
    found: dict[str, str] = {}
    for name in PROXY_VARS:
        value = environ.get(name) or environ.get(name.lower())
        if value:
            found[name] = value
    return found


def hide_password(url: str) -> str:
    """``http://user:secret@proxy:8080`` → ``http://user:***@proxy:8080``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


def _proxy_ok(value: str) -> bool:
    try:
        parts = urlsplit(value if "://" in value else f"http://{value}")
        return bool(parts.hostname) and parts.scheme in ("http", "https", "socks5", "socks5h")
    except ValueError:
        return False


def check_proxy(env: CheckEnv) -> Finding:
    found = proxy_settings(env.environ)
    if not found:
        return passed(T("未設定 Proxy(直接連線)", "no proxy variables set (direct connection)"))
    shown = ", ".join(f"{k}={v if k == 'NO_PROXY' else hide_password(v)}" for k, v in found.items())
    bad = [k for k, v in found.items() if k != "NO_PROXY" and not _proxy_ok(v)]
    if bad:
        return warned(
            T("Proxy 變數格式不正確:{names}", "malformed proxy variables: {names}").format(
                names=", ".join(bad)
            ),
            T(
                "Proxy 應寫成 http://主機:埠,例如 http://proxy.example:8080。",
                "A proxy is written http://host:port, e.g. http://proxy.example:8080.",
            ),
            shown,
        )
    return passed(T("使用 Proxy:{p}", "proxy in effect: {p}").format(p=shown), shown)


def _uses_proxy(environ: Mapping[str, str], host: str) -> bool:
    found = proxy_settings(environ)
    if not (found.get("HTTPS_PROXY") or found.get("ALL_PROXY")):
        return False
    for entry in found.get("NO_PROXY", "").split(","):
        entry = entry.strip().lstrip(".")
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return False
    return True


def about(site: SiteTarget, text: Text, **fields: object) -> Text:
    """``text`` with ``{site}`` filled by the site's label in each language."""
    return Text(
        text.zh.format(site=site.label.zh, **fields), text.en.format(site=site.label.en, **fields)
    )


def check_dns(site: SiteTarget, env: CheckEnv) -> Finding:
    if is_ip(site.host):
        return passed(about(site, T("{site}:位址 {h}", "{site}: address {h}"), h=site.host))
    try:
        addrs = probes.resolve(site.host, site.port)
    except ProbeError as err:
        if _uses_proxy(env.environ, site.host):
            return warned(
                about(
                    site,
                    T(
                        "{site}:本機無法解析 {h},由 Proxy 代為解析",
                        "{site}: {h} does not resolve here; the proxy resolves it",
                    ),
                    h=site.host,
                ),
                None,
                err.text,
            )
        return failed(
            about(
                site, T("{site}:無法解析網域名稱 {h}", "{site}: cannot resolve {h}"), h=site.host
            ),
            NETWORK_FIX,
            err.text,
        )
    return passed(
        about(
            site,
            T("{site}:{h} 解析為 {a}", "{site}: {h} resolves to {a}"),
            h=site.host,
            a=addrs[0],
        ),
        ", ".join(addrs),
    )


UNTRUSTED_FIX = T(
    "檢查電腦的日期時間;公司網路若攔截 HTTPS,請把其根憑證加入系統信任;"
    "沙盒請使用 --profile sandbox(其 CA)。",
    "Check the computer's date and time; if the office network intercepts HTTPS, add "
    "its root certificate to the system's trusted roots; for the sandbox use "
    "--profile sandbox (its CA).",
)
PROBE_SUMMARIES = {
    ProbeKind.TIMEOUT: T("{site}:連線逾時", "{site}: timed out"),
    ProbeKind.REFUSED: T("{site}:連線被拒", "{site}: connection refused"),
    ProbeKind.DNS: T("{site}:無法解析網域名稱", "{site}: the name does not resolve"),
    ProbeKind.TLS_UNTRUSTED: T(
        "{site}:伺服器憑證不受信任", "{site}: the server certificate is not trusted"
    ),
}


def probe_failure(site: SiteTarget, err: ProbeError, timeout: float = DEFAULT_TIMEOUT) -> Finding:
    """Word a failed HTTPS probe of ``site`` by its kind; an untrusted certificate names the
    chain the site sends (issuer, root) and how to trust that root in the profile."""
    summary = PROBE_SUMMARIES.get(err.kind, T("{site}:HTTPS 連線失敗", "{site}: HTTPS failed"))
    detail = f"{site.url}: {err.kind}: {err.text}"
    if err.kind == ProbeKind.TLS_UNTRUSTED:
        from nhicard.net.tlschain import presented_chain, untrusted_texts

        chain = presented_chain(site.host, site.port, timeout=timeout)
        if chain is not None:
            message, fix = untrusted_texts(site.host, chain)
            shown = Text(f"{site.label.zh}:{message.zh}", f"{site.label.en}: {message.en}")
            return failed(shown, fix, f"{detail}; chain: {chain.describe()}")
        return failed(about(site, summary), UNTRUSTED_FIX, detail)
    return failed(about(site, summary), NETWORK_FIX, detail)


def check_https(site: SiteTarget, env: CheckEnv) -> Finding:
    try:
        probe = probe_site(env, site)
    except ProbeError as err:
        return probe_failure(site, err, env.timeout)
    detail = (
        f"{site.url}: HTTP {probe.status_code}, {probe.tls_version or '?'}, {probe.elapsed_ms} ms"
    )
    if probe.server:
        detail += f", Server: {probe.server}"
    if probe.status_code >= 500:  # it answered: the TLS check still has something to say
        return Finding(
            FAIL,
            about(
                site,
                T(
                    "{site}:網站回應錯誤 {code}(可能維護中)",
                    "{site}: the site answers error {code} (maintenance?)",
                ),
                code=probe.status_code,
            ),
            detail,
            T("稍後再試;網站暫時無法使用。", "Try again later; the site is unavailable for now."),
            blocking=False,
        )
    return passed(
        about(
            site,
            T("{site}:HTTPS 可連線({ms} 毫秒)", "{site}: reachable over HTTPS ({ms} ms)"),
            ms=probe.elapsed_ms,
        ),
        detail,
    )


MODERN_TLS = ("TLSv1.2", "TLSv1.3")
TLS_FIX = T(
    "更新作業系統與 Python/OpenSSL;公司 Proxy 若降級 TLS 請洽網管。nhicard 需要 TLS 1.2 以上,"
    "eCPA 已停用 TLS 1.0。",
    "Update the operating system and Python/OpenSSL; if an office proxy downgrades TLS, ask "
    "its administrator. nhicard needs TLS 1.2 or later; eCPA has switched TLS 1.0 off.",
)


def check_tls(site: SiteTarget, env: CheckEnv) -> Finding:
    try:
        probe = probe_site(env, site)
    except ProbeError as err:
        return probe_failure(site, err, env.timeout)
    version = probe.tls_version
    from nhicard.net.tlschain import presented_chain

    chain = presented_chain(site.host, site.port, timeout=env.timeout)
    shown = f"{site.url}; chain: {chain.describe()}" if chain is not None else site.url
    if version is None:
        return warned(
            about(site, T("{site}:無法得知 TLS 版本", "{site}: the TLS version is unknown")),
            None,
            shown,
        )
    if version in MODERN_TLS:
        return passed(about(site, T("{site}:{v}", "{site}: {v}"), v=version), shown)
    return failed(
        about(
            site,
            T("{site}:{v} 過舊(需要 TLS 1.2 以上)", "{site}: {v} is too old (TLS 1.2+ needed)"),
            v=version,
        ),
        TLS_FIX,
        shown,
    )


def check_sam(env: CheckEnv) -> Finding:
    sam = targets_of(env).sam
    if sam is None:
        return skipped(T("設定檔未指定 SAM 伺服器", "the profile names no SAM server"))
    where = f"{sam.host}:{sam.port}"
    try:
        if not is_ip(sam.host):
            probes.resolve(sam.host, sam.port)
        ms = probes.tcp_connect(sam.host, sam.port, env.timeout)
    except ProbeError as err:
        return failed(
            T(
                "SAM 認證伺服器 {w} 無法連線(無法簽章,註冊與登入會失敗)",
                "the SAM server {w} is unreachable (no signatures: registration and login fail)",
            ).format(w=where),
            T(
                "防火牆須允許連往 {w} 的 TCP 連線(不是 HTTPS,經 Proxy 無法轉送)。",
                "The firewall must allow TCP to {w} (raw TCP, not HTTPS: proxies do not carry it).",
            ).format(w=where),
            f"{where}: {err.kind}: {err.text}",
        )
    return passed(
        T("SAM 認證伺服器 {w} 可連線({ms} 毫秒)", "SAM server {w} reachable ({ms} ms)").format(
            w=where, ms=ms
        ),
        where,
    )


def _offline(env: CheckEnv) -> Finding:
    return skipped(OFFLINE, "offline")


def checks(targets: NetworkTargets, *, offline: bool) -> list[Check]:
    """The network checks for ``targets`` (all ``skip`` when ``offline``)."""
    out = [Check("network.proxy", GROUP, check_proxy)]
    for site in targets.sites:
        dns_id, https_id = f"network.dns.{site.key}", f"network.https.{site.key}"
        out += [
            Check(dns_id, GROUP, partial(check_dns, site)),
            Check(https_id, GROUP, partial(check_https, site), needs=(dns_id,)),
            Check(
                f"network.tls.{site.key}",
                GROUP,
                partial(check_tls, site),
                needs=(https_id,),
            ),
        ]
    out.append(Check("network.sam", GROUP, check_sam))
    if offline:  # the proxy variables are local facts: still reported
        out = [c if c.id == "network.proxy" else Check(c.id, c.group, _offline) for c in out]
    return out
