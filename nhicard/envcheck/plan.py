"""Which checks one ``env check`` run makes, in which order, with which settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nhicard.agent import DEFAULT_AGENT_URL
from nhicard.core.errors import NhicardError
from nhicard.core.i18n import T
from nhicard.envcheck import DEFAULT_TIMEOUT, GROUPS, Check, CheckEnv, Finding, failed, passed
from nhicard.envcheck import agent as agent_group
from nhicard.envcheck import agent_serve as agent_serve_group
from nhicard.envcheck import browser_lna as browser_lna_group
from nhicard.envcheck import card as card_group
from nhicard.envcheck import clock as clock_group
from nhicard.envcheck import installer as installer_group
from nhicard.envcheck import network as network_group
from nhicard.envcheck import official_ca as official_ca_group
from nhicard.envcheck import pcsc as pcsc_group
from nhicard.envcheck import pcsc_usb as pcsc_usb_group
from nhicard.envcheck import system as system_group
from nhicard.envcheck.settings import AgentSettings, NetworkTargets
from nhicard.platform import Platform as PlatformSupport
from nhicard.platform import current

if TYPE_CHECKING:
    from nhicard.sites.sam_endpoint import SamEndpoint

LOCAL_TIMEOUT = 10.0  # seconds for each check of this computer (PC/SC, files)
LOCAL_GROUPS = frozenset({"system", "pcsc", "card", "installer"})


def budget_for(timeout: float) -> float:
    """The whole run's limit: two network steps in a row plus slack, at least 14 s."""
    return max(14.0, 2.8 * timeout)


@dataclass(frozen=True)
class CheckOptions:
    """What the user asked for (``env check`` options and the root options)."""

    groups: tuple[str, ...] = GROUPS
    offline: bool = False
    installers: tuple[Path, ...] = ()
    reader: str | None = None
    profile: str = "real"
    agent: AgentSettings = field(default_factory=lambda: AgentSettings(DEFAULT_AGENT_URL))
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class LoadedProfile:
    """The network targets of the profile and its SAM (for ``agent.backend``), or why it
    could not be loaded."""

    targets: NetworkTargets | None
    error: NhicardError | None = None
    sam: SamEndpoint | None = None  # imported only when a profile is loaded


def load_profile(name: str) -> LoadedProfile:
    """The profile's sites, SAM and CA bundle (through the one profile loader the web
    flows and ``agent serve`` use)."""
    from nhicard.envcheck.targets import targets_from_profile
    from nhicard.sites.loader import resolve_profile

    try:
        profile = resolve_profile(name)
    except NhicardError as err:
        return LoadedProfile(None, err)
    return LoadedProfile(targets_from_profile(profile), sam=profile.sam)


def _profile_check(name: str, loaded: LoadedProfile) -> Check:
    def run(env: CheckEnv) -> Finding:
        if loaded.targets is None:
            err = loaded.error
            assert err is not None
            return failed(
                T("無法載入網站設定檔 {p}", "cannot load the site profile {p}").format(p=name),
                err.hint or err.message,
                err.text.en,
            )
        t = loaded.targets
        detail = "; ".join(f"{s.key} {s.url}" for s in t.sites)
        if t.sam is not None:
            detail += f"; sam {t.sam.host}:{t.sam.port}"
        if t.ca_bundle:
            detail += f"; ca_bundle {t.ca_bundle}"
        return passed(T("網站設定檔:{p}", "site profile: {p}").format(p=name), detail)

    return Check("network.profile", "network", run)


def plan_checks(options: CheckOptions, loaded: LoadedProfile) -> list[Check]:
    """Every check of the selected groups, in report order."""
    targets = loaded.targets or NetworkTargets(options.profile, ())
    by_group: dict[str, list[Check]] = {
        "system": system_group.checks(),
        "pcsc": pcsc_group.checks() + pcsc_usb_group.checks(),
        "card": card_group.checks(),
        "agent": agent_group.checks()
        + official_ca_group.checks()
        + agent_serve_group.checks()
        + browser_lna_group.checks(),
        "network": [_profile_check(options.profile, loaded)]
        + [
            replace(c, needs=(*c.needs, "network.profile"))
            for c in network_group.checks(targets, offline=options.offline)
        ],
        "clock": clock_group.checks(offline=options.offline),
        "installer": installer_group.checks(list(options.installers)),
    }
    out: list[Check] = []
    for group in GROUPS:
        if group not in options.groups:
            continue
        for c in by_group[group]:
            if group in LOCAL_GROUPS and c.timeout is None:
                c = replace(c, timeout=LOCAL_TIMEOUT)
            out.append(c)
    return out


def make_env(
    options: CheckOptions,
    loaded: LoadedProfile,
    *,
    platform: PlatformSupport | None = None,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], datetime] | None = None,
) -> CheckEnv:
    """The one place a run's settings are made; tests inject a platform, environment or
    clock here, or derive variants with :func:`dataclasses.replace`."""
    return CheckEnv(
        platform=platform or current(),
        environ=environ if environ is not None else os.environ,
        targets=loaded.targets or NetworkTargets(options.profile, ()),
        agent=options.agent,
        reader=options.reader,
        profile_name=options.profile,
        profile_sam=loaded.sam if loaded.sam is not None else loaded.error,
        offline=options.offline,
        timeout=options.timeout,
        now=now,
    )


def parse_groups(text: str | None) -> tuple[str, ...]:
    """``"pcsc,card"`` → ``("pcsc", "card")``; ValueError naming an unknown group."""
    if text is None:
        return GROUPS
    wanted = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in wanted if g not in GROUPS]
    if unknown or not wanted:
        raise ValueError(", ".join(unknown) or text)
    return tuple(g for g in GROUPS if g in wanted)


def all_check_ids(options: CheckOptions | None = None) -> list[str]:
    """The ids a full run makes (the profile's sites are always ``nhi`` and ``ecpa``)."""
    from nhicard.envcheck.settings import SamTarget, SiteTarget
    from nhicard.envcheck.targets import SITE_LABELS

    opts = options or CheckOptions()
    sites = tuple(SiteTarget(k, label, f"https://{k}.invalid/") for k, label in SITE_LABELS.items())
    targets = NetworkTargets(opts.profile, sites, SamTarget("sam.invalid", 443))
    return [c.id for c in plan_checks(opts, LoadedProfile(targets))]
