"""The value types of an ``env check`` run's settings (:class:`nhicard.envcheck.CheckEnv`):
what the agent checks look at, where the network checks look, the published installers.
They import nothing of ``envcheck``, so that the settings object can name them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from nhicard.agent import COMPONENT_HOST
from nhicard.core.i18n import Text


@dataclass(frozen=True)
class AgentSettings:
    """What the agent checks look at (from the root options and the site profile)."""

    url: str  # --agent-url
    kind: str = "auto"  # --agent
    origin: str = "https://cloudicweb.nhi.gov.tw"
    ca_bundle: str | None = None  # CA the nhiicc client trusts for the component
    url_given: bool = False  # the user named the URL: --agent auto asks there regardless

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "wss" else 80)

    @property
    def connect_host(self) -> str:
        """Where to connect: the component's public name stands for this computer."""
        return "127.0.0.1" if self.host.lower() == COMPONENT_HOST else self.host

    @property
    def where(self) -> str:
        return f"{self.connect_host}:{self.port}"


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


@dataclass(frozen=True)
class PublishedInstaller:
    """One file as the official download page lists it."""

    name: str
    md5: str  # lowercase hex
