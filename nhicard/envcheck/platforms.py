"""env check's side of :mod:`nhicard.platform` (what differs per OS, behind one interface):
the platform and environment a check run was given, and the hosts-file fix.

A run's ``platform`` setting is one of :mod:`nhicard.platform`'s modules; tests inject one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from nhicard.agent import COMPONENT_HOST
from nhicard.core.i18n import T, Text
from nhicard.platform import Platform as PlatformSupport

if TYPE_CHECKING:
    from nhicard.envcheck import CheckEnv


def hosts_fix(plat: PlatformSupport, environ: Mapping[str, str]) -> Text:
    """The fix when the hosts file lacks the official component's line."""
    path, how = plat.hosts_file_path(environ), plat.hosts_editor()
    return T(
        f"官方元件安裝時會在 {path} 加入「127.0.0.1 {COMPONENT_HOST}」;需要官方元件時"
        f"請重新安裝,或{how.zh}加入這一行。",
        f"The official component's installer adds '127.0.0.1 {COMPONENT_HOST}' to {path}; "
        f"if you need the component, reinstall it or add that line with {how.en}.",
    )


def platform_of(env: CheckEnv) -> PlatformSupport:
    """The platform a check run was given (setting ``platform``)."""
    plat: PlatformSupport = env.get("platform")
    return plat


def environ_of(env: CheckEnv) -> Mapping[str, str]:
    """The environment variables a check run looks at (setting ``environ``, else ours)."""
    environ: Mapping[str, str] = env.get("environ", os.environ)
    return environ
