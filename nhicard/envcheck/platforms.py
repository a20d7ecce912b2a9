"""What differs per operating system, behind one interface (architecture.md, "Platforms").

Each of ``platform_linux``, ``platform_windows`` and ``platform_macos`` provides the same
functions (see :class:`PlatformSupport`); :func:`current` picks the one for this computer.
They take their inputs (environment, command runner, paths) as arguments so that every one
of them is unit-tested on any OS.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, cast

from nhicard.agent import COMPONENT_HOST
from nhicard.i18n import T, Text

if TYPE_CHECKING:
    from nhicard.envcheck import CheckEnv

RUNNING = "running"
STOPPED = "stopped"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ServiceState:
    """State of the PC/SC service: ``running``, ``stopped`` or ``unknown``, and how we know."""

    state: str
    detail: str


class PlatformSupport(Protocol):
    """The per-OS functions every ``platform_*`` module defines."""

    NAME: str

    def hosts_file_path(self, environ: Mapping[str, str]) -> PurePath: ...

    def pcsc_service_state(self, environ: Mapping[str, str]) -> ServiceState: ...

    def pcsc_service_fix(self) -> Text: ...

    def pcsc_library_fix(self) -> Text: ...

    def pyscard_fix(self) -> Text: ...

    def reader_driver_fix(self) -> Text: ...

    def component_download_url(self) -> str: ...

    def component_install_dir(self, environ: Mapping[str, str]) -> Path | None: ...

    def trusted_roots_note(self) -> Text: ...

    def hosts_fix(self, environ: Mapping[str, str]) -> Text: ...


def hosts_line_fix(path: PurePath, how_zh: str, how_en: str) -> Text:
    """The fix when the hosts file at ``path`` lacks the official component's line;
    ``how_zh`` / ``how_en`` say how to add that line by hand on this OS."""
    return T(
        f"官方元件安裝時會在 {path} 加入「127.0.0.1 {COMPONENT_HOST}」;需要官方元件時"
        f"請重新安裝,或{how_zh}加入這一行。",
        f"The official component's installer adds '127.0.0.1 {COMPONENT_HOST}' to {path}; "
        f"if you need the component, reinstall it or add that line with {how_en}.",
    )


def module_for(system: str) -> ModuleType:
    """The platform module for a ``sys.platform`` value."""
    import importlib

    if system.startswith("win"):
        name = "windows"
    elif system == "darwin":
        name = "macos"
    else:
        name = "linux"
    return importlib.import_module(f"nhicard.envcheck.platform_{name}")


def current(system: str | None = None) -> PlatformSupport:
    """The platform support of this computer (or of ``system``, a ``sys.platform`` value)."""
    return cast(PlatformSupport, module_for(system or sys.platform))


def platform_of(env: CheckEnv) -> PlatformSupport:
    """The platform support a check run was given (setting ``platform``)."""
    plat: PlatformSupport = env.get("platform")
    return plat


def environ_of(env: CheckEnv) -> Mapping[str, str]:
    """The environment variables a check run looks at (setting ``environ``, else ours)."""
    environ: Mapping[str, str] = env.get("environ", os.environ)
    return environ
