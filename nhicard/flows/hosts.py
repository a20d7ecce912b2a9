"""Where a flow may send the user's password and forms.

A profile file that ``extends = "real"`` (or ``"sandbox"``) inherits everything, so a small
override can quietly move a site elsewhere: an ``http://`` base URL, or another host. Such a
profile is refused for the web flows unless the user says so explicitly
(``--allow-profile-hosts``), and then every such host is named in a warning."""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlsplit

from nhicard.core.errors import UsageError
from nhicard.core.i18n import T, Text
from nhicard.net.addresses import is_loopback
from nhicard.sites.loader import resolve_profile
from nhicard.sites.model import SiteProfile


@functools.cache
def real_hosts() -> frozenset[str]:
    """The hosts of the built-in ``real`` profile (the government sites)."""
    return frozenset(resolve_profile("real").site_hosts())


def unexpected_hosts(profile: SiteProfile) -> list[tuple[str, Text]]:
    """(host, why) for each site of a derived profile that leaves its base's hosts or uses
    plain HTTP (derived from ``real``); empty for built-in and stand-alone profiles."""
    root = profile.derived_from
    if root is None:
        return []
    found: list[tuple[str, Text]] = []
    for site in (profile.nhi, profile.ecpa, profile.elearn):
        parts = urlsplit(site.base_url)
        host = (parts.hostname or "").lower()
        if root == "real" and parts.scheme == "http":
            found.append((host, T("以未加密的 http 連線", "over unencrypted http")))
        elif root == "real" and host not in real_hosts():
            found.append((host, T("不是健保署的正式網站", "which is not one of the real sites")))
        elif root == "sandbox" and not is_loopback(host, name_too=True):
            found.append((host, T("不在本機(沙箱只在本機)", "which is not on this machine")))
    return list(dict(found).items())


def check_profile_hosts(
    profile: SiteProfile, *, allowed: bool, warn: Callable[[Text], None] | None
) -> None:
    """Refuse (exit 2) a derived profile whose sites leave its base, unless ``allowed``; then
    warn naming each host."""
    found = unexpected_hosts(profile)
    if not found:
        return
    if not allowed:
        host, why = found[0]
        raise UsageError(
            T(
                f"網站設定檔 {{source}} 衍生自 {{root}},卻會把密碼與表單送到 {{host}}({why.zh})",
                f"the site profile {{source}} derives from {{root}} but would send the password "
                f"and forms to {{host}} ({why.en})",
            ).format(source=profile.source, root=profile.derived_from, host=host),
            hint=T(
                "確定要這麼做,請加上 --allow-profile-hosts;否則請修正設定檔的 base_url。",
                "If that is really meant, add --allow-profile-hosts; else fix the profile's "
                "base_url.",
            ),
            reason="profile-hosts",
        )
    for host, why in found:
        if warn is not None:
            warn(
                T(
                    f"警告:密碼與表單將送到 {{host}}({why.zh}),因為指定了 --allow-profile-hosts",
                    f"warning: the password and forms go to {{host}} ({why.en}), as "
                    "--allow-profile-hosts says",
                ).format(host=host)
            )
