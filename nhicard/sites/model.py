"""The site profile as data: every site detail (URLs, visible labels, control names,
markers, the mail link, the SAM) in frozen objects. ``loader`` builds them from TOML; the
web engine (``nhicard.web``) turns them into browser policies and redactors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from nhicard.core.errors import UsageError
from nhicard.core.i18n import T
from nhicard.sites.sam_endpoint import SamEndpoint


class ProfileError(UsageError):
    """A site profile is missing, malformed or incomplete (exit 2)."""


@dataclass(frozen=True)
class ControlSpec:
    """How to find one control: its known names/ids (tried first) and visible labels."""

    names: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageSpec:
    """One page: its address (if it can be opened directly), the texts that identify it,
    and its controls by logical name."""

    name: str
    url: str
    markers: tuple[str, ...]
    controls: Mapping[str, ControlSpec]

    def control(self, key: str) -> ControlSpec:
        try:
            return self.controls[key]
        except KeyError:
            raise ProfileError(
                T(
                    "網站設定檔的頁面 {page} 沒有欄位 {key}",
                    "the site profile's page {page} has no control {key}",
                ).format(page=self.name, key=key)
            ) from None


@dataclass(frozen=True)
class Markers:
    """Texts that tell what a page means (compared normalised)."""

    success: tuple[str, ...] = ()
    error: tuple[str, ...] = ()
    already_registered: tuple[str, ...] = ()
    maintenance: tuple[str, ...] = ()
    session_expired: tuple[str, ...] = ()
    wrong_password: tuple[str, ...] = ()
    locked: tuple[str, ...] = ()
    revoked: tuple[str, ...] = ()
    not_registered: tuple[str, ...] = ()
    attempts_left_pattern: str = ""
    locked_until_pattern: str = ""


# Values a login chain's fields may name as ``{placeholder}`` besides its own ``vars`` and
# the replies saved by earlier calls: what the user gave, and what the card agent answers
# (asked only when a field needs it; ``sign`` needs a saved ``random``).
CHAIN_USER_INPUTS = ("account", "password")
CHAIN_CARD_INPUTS = (
    "basic", "card_number", "id_number", "version", "sign", "encrypted_password",
)  # fmt: skip
CHAIN_REPLY_KINDS = ("text",)
FIELD_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ChainCall:
    """One XHR call of a login chain: where it posts (form-urlencoded), which fields in
    which order (values are templates with ``{placeholders}``), how its reply is read, what
    a successful reply looks like (``ok``, a regex over the whole reply), under which name
    the reply is kept for later calls (``save``), and what a refusal means (``auth``: the
    login was refused, exit 9; ``site``: the site refused otherwise, exit 8).
    ``wrong_password_replies``: whole replies that mean a refused password although they
    carry no words (the real ``GetApTicketV2`` answers an empty body or ``0``)."""

    name: str
    url: str
    fields: tuple[tuple[str, str], ...]
    ok: str
    reply: str = "text"
    reply_key: str = ""
    save: str = ""
    refusal: str = "auth"
    wrong_password_replies: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoginChain:
    """A login column's chain of calls as data (``[ecpa.chains.<name>]``)."""

    key: str
    source: str
    guess: bool
    column: str
    controls: tuple[str, ...]
    variables: Mapping[str, str]
    calls: tuple[ChainCall, ...]
    sso_fields: tuple[tuple[str, str], ...]

    def needs(self, name: str) -> bool:
        """True when some field of the chain uses ``{name}``."""
        pairs = [p for c in self.calls for p in c.fields] + list(self.sso_fields)
        return any(name in FIELD_RE.findall(value) for _, value in pairs)


@dataclass(frozen=True)
class SiteSpec:
    """One web site (the NHI registration site, eCPA, the e-learning relying party)."""

    key: str
    base_url: str
    pages: Mapping[str, PageSpec]
    markers: Markers
    message_selectors: tuple[str, ...] = ()
    agent_fields: tuple[str, ...] = ()
    api: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    name_selectors: tuple[str, ...] = ()
    chains: Mapping[str, LoginChain] = field(default_factory=dict)

    def page(self, name: str) -> PageSpec:
        try:
            return self.pages[name]
        except KeyError:
            raise ProfileError(
                T(
                    "網站設定檔的 {site} 沒有頁面 {page}",
                    "the site profile's {site} has no page {page}",
                ).format(site=self.key, page=name)
            ) from None

    def url(self, page: str) -> str:
        """The absolute URL of a page of this site."""
        spec = self.page(page)
        if not spec.url:
            raise ProfileError(
                T(
                    "網站設定檔的 {site}.pages.{page} 沒有 path",
                    "the site profile's {site}.pages.{page} has no path",
                ).format(site=self.key, page=page)
            )
        return spec.url

    def api_url(self, name: str) -> str:
        """The absolute URL of one API call of the site's page script."""
        try:
            return self.api[name]
        except KeyError:
            raise ProfileError(
                T(
                    "網站設定檔的 {site}.api 沒有 {name}",
                    "the site profile's {site}.api has no {name}",
                ).format(site=self.key, name=name)
            ) from None


@dataclass(frozen=True)
class MailSpec:
    """How to recognise the verification mail and its link."""

    sender_contains: tuple[str, ...]
    subject_contains: tuple[str, ...]
    link_label: str
    link_url_pattern: str
    allowed_link_hosts: tuple[str, ...]

    def link_allowed(self, url: str) -> bool:
        """True if ``url`` matches the pattern and its host is an allowed one."""
        host = (urlsplit(url).hostname or "").lower()
        return bool(re.search(self.link_url_pattern, url)) and host in {
            h.lower() for h in self.allowed_link_hosts
        }


@dataclass(frozen=True)
class SiteProfile:
    """Everything nhicard needs to know about the sites of one environment."""

    name: str
    source: str
    allow_http: bool
    ca_bundle: str | None
    agent_origin: str
    nhi: SiteSpec
    ecpa: SiteSpec
    elearn: SiteSpec
    mail: MailSpec
    sam: SamEndpoint
    sandbox: Mapping[str, str] = field(default_factory=dict)
    # the built-in profile a user file extends (``"real"``/``"sandbox"``), None otherwise
    derived_from: str | None = None

    def site_hosts(self) -> tuple[str, ...]:
        """The hosts of the profile's sites: the only ones forms are submitted to."""
        hosts = [urlsplit(s.base_url).hostname or "" for s in (self.nhi, self.ecpa, self.elearn)]
        return tuple(dict.fromkeys(h.lower() for h in hosts if h))

    @property
    def is_sandbox(self) -> bool:
        """``sandbox`` or a profile that extends it (filled from the running sandbox)."""
        return bool(self.sandbox)

    def secret_fields(self) -> tuple[str, ...]:
        """Form fields whose values are never shown (the agent's hidden fields)."""
        return tuple(dict.fromkeys([*self.nhi.agent_fields, *self.ecpa.agent_fields]))
