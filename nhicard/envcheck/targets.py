"""Where the network checks look: the sites and SAM server of the active site profile."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from typing import Any

from nhicard.core.i18n import Text
from nhicard.envcheck import CheckEnv
from nhicard.envcheck.probes import SiteProbe, https_probe
from nhicard.envcheck.settings import NetworkTargets, SamTarget, SiteTarget


def targets_of(env: CheckEnv) -> NetworkTargets:
    return env.targets


def site_context(env: CheckEnv) -> ssl.SSLContext:
    """The web layer's verifying TLS context for the profile's sites, made once per run,
    with its TLS ≥ 1.2 floor lowered so that an older version is seen (and reported by
    ``network.tls.*``) instead of failing the handshake."""

    def make() -> ssl.SSLContext:
        from nhicard.web.browser import tls_context

        ctx = tls_context(targets_of(env).ca_bundle)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        return ctx

    ctx: ssl.SSLContext = env.memo("tls-context", make)
    return ctx


def now_utc(env: CheckEnv) -> datetime:
    clock = env.now
    return clock() if clock is not None else datetime.now(UTC)


def probe_site(env: CheckEnv, site: SiteTarget) -> SiteProbe:
    """One HTTPS request per site and run, shared by the network and clock checks."""

    def compute() -> SiteProbe:
        return https_probe(
            site.url,
            context=site_context(env),
            timeout=env.timeout,
            now=lambda: now_utc(env),
            transport=env.http_transport,
        )

    probe: SiteProbe = env.memo(f"probe:{site.url}", compute)
    return probe


SITE_LABELS = {
    "nhi": Text("健保卡網路服務註冊網站", "NHI card registration site"),
    "ecpa": Text("人事服務網 eCPA", "eCPA"),
}


def targets_from_profile(profile: Any) -> NetworkTargets:
    """Targets of a :class:`nhicard.sites.loader.SiteProfile`: the registration site's and
    eCPA's login pages, the SAM server, the CA bundle."""
    from nhicard.core.errors import NhicardError

    sites = []
    for key in ("nhi", "ecpa"):
        spec = getattr(profile, key)
        try:
            url = spec.url("login")
        except NhicardError:
            url = spec.base_url
        sites.append(SiteTarget(key, SITE_LABELS[key], url))
    sam = SamTarget(profile.sam.host, int(profile.sam.port)) if profile.sam else None
    return NetworkTargets(
        profile.name, tuple(sites), sam, profile.ca_bundle, profile.agent_origin or None
    )
