"""Which PC/SC library this process would use (for --version and env check)."""

from __future__ import annotations

import ctypes.util
import sys


def pcsc_library_name() -> str | None:
    if sys.platform.startswith("win"):
        return "winscard.dll"
    if sys.platform == "darwin":
        return "PCSC.framework"
    return ctypes.util.find_library("pcsclite")


def pcsc_library_description() -> str:
    name = pcsc_library_name()
    if not name:
        return "library not found (install libpcsclite1 / pcscd)"
    if sys.platform.startswith("linux"):
        try:
            from importlib.metadata import PackageNotFoundError  # noqa: F401

            with open("/var/lib/dpkg/status", encoding="utf-8", errors="replace") as fh:
                block = fh.read().split("\n\n")
            for entry in block:
                if entry.startswith("Package: libpcsclite1\n"):
                    for line in entry.splitlines():
                        if line.startswith("Version: "):
                            return f"{name} (pcsc-lite {line[9:]})"
        except OSError:
            pass
    return name
