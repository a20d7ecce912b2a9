"""What differs per operating system, behind one interface (as python-fido2's ``hid/``).

``linux``, ``macos`` and ``windows`` each define the names of
:class:`~nhicard.platform.base.Platform`: the hosts file's place, the PC/SC service's state,
the trust stores, the login service, how a server claims its port, and the advice env check
gives. :func:`get` returns one by name, :func:`current` this computer's. They take their
inputs (environment, command runner, paths) as arguments, so each is tested on any OS.
``hosts`` is the one model of a hosts file, byte for byte.

env check, ``agent install``, ``agent serve`` and the sandbox use this package; it sits below
all of them and imports none of them.
"""

from __future__ import annotations

import importlib
import sys
from typing import cast

from nhicard.platform.base import (
    RUNNING,
    STOPPED,
    UNKNOWN,
    Platform,
    ServiceState,
    ServiceStatus,
    TrustStore,
)

__all__ = [
    "NAMES",
    "RUNNING",
    "STOPPED",
    "UNKNOWN",
    "Platform",
    "ServiceState",
    "ServiceStatus",
    "TrustStore",
]

NAMES = ("linux", "macos", "windows")


def name_of(sys_platform: str) -> str:
    """Our name of the OS with this ``sys.platform`` value (another Unix counts as Linux)."""
    if sys_platform.startswith("win"):
        return "windows"
    if sys_platform == "darwin":
        return "macos"
    return "linux"


def get(name: str) -> Platform:
    """The module for the OS named ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"no such platform: {name!r} (one of {', '.join(NAMES)})")
    return cast(Platform, importlib.import_module(f"nhicard.platform.{name}"))


def current(sys_platform: str | None = None) -> Platform:
    """The module for this computer (or for ``sys_platform``, a ``sys.platform`` value)."""
    return get(name_of(sys_platform or sys.platform))
