"""Where the network checks look: the sites and SAM server of the active site profile."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from nhicard.core.i18n import Text
from nhicard.envcheck import CheckEnv
from nhicard.envcheck.probes import SiteProbe, https_probe


@dataclass(frozen=True)
class SiteTarget:
    """A web site the job uses; ``key`` becomes part of check ids (``network.https.nhi``)."""

    key: str
    label: Text
    url: str

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class SamTarget:
    host: str
    port: int


@dataclass(frozen=True)
class NetworkTargets:
    """The profile's sites, SAM endpoint and CA bundle (``None`` = the system's roots)."""

    profile: str
    sites: tuple[SiteTarget, ...]
    sam: SamTarget | None = None
    ca_bundle: str | None = None
    agent_origin: str | None = None  # the Origin the sites' pages send to the component


def targets_of(env: CheckEnv) -> NetworkTargets:
    targets: NetworkTargets = env.get("targets")
    return targets


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
    clock = env.get("now")
    return clock() if clock is not None else datetime.now(UTC)


def probe_site(env: CheckEnv, site: SiteTarget) -> SiteProbe:
    """One HTTPS request per site and run, shared by the network and clock checks."""

    def compute() -> SiteProbe:
        return https_probe(
            site.url,
            context=site_context(env),
            timeout=env.timeout,
            now=lambda: now_utc(env),
            transport=env.get("http_transport"),
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
