"""env check's side of :mod:`nhicard.platform` (what differs per OS, behind one interface):
the hosts-file fix. A run's platform is :attr:`nhicard.envcheck.CheckEnv.platform`, one of
:mod:`nhicard.platform`'s modules; tests inject one."""

from __future__ import annotations

from collections.abc import Mapping

from nhicard.agent import COMPONENT_HOST
from nhicard.core.i18n import T, Text
from nhicard.platform import Platform as PlatformSupport


def hosts_fix(plat: PlatformSupport, environ: Mapping[str, str]) -> Text:
    """The fix when the hosts file lacks the official component's line."""
    path, how = plat.hosts_file_path(environ), plat.hosts_editor()
    return T(
        f"官方元件安裝時會在 {path} 加入「127.0.0.1 {COMPONENT_HOST}」;需要官方元件時"
        f"請重新安裝,或{how.zh}加入這一行。",
        f"The official component's installer adds '127.0.0.1 {COMPONENT_HOST}' to {path}; "
        f"if you need the component, reinstall it or add that line with {how.en}.",
    )
