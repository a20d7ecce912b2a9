"""Which PC/SC library this process would use (for --version and env check)."""

from __future__ import annotations

import os
import sys

LINUX_SONAME = "libpcsclite.so.1"
# where Debian, Fedora, Arch and local builds put it; checked before asking ctypes.util, whose
# import and ldconfig run cost ~10 ms of ``--version``
_LINUX_LIB_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/i386-linux-gnu",
    "/usr/lib/arm-linux-gnueabihf",
    "/usr/lib64",
    "/usr/lib",
    "/lib64",
    "/lib",
    "/usr/local/lib",
)


def pcsc_library_name() -> str | None:
    if sys.platform.startswith("win"):
        return "winscard.dll"
    if sys.platform == "darwin":
        return "PCSC.framework"
    extra = os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
    for directory in (*filter(None, extra), *_LINUX_LIB_DIRS):
        if os.path.exists(os.path.join(directory, LINUX_SONAME)):
            return LINUX_SONAME
    import ctypes.util

    return ctypes.util.find_library("pcsclite")


def _dpkg_version(package: str, status_file: str = "/var/lib/dpkg/status") -> str | None:
    """The installed version of a Debian package, from dpkg's status file."""
    try:
        with open(status_file, encoding="utf-8", errors="replace") as fh:
            text = "\n" + fh.read()
    except OSError:
        return None
    start = text.find(f"\nPackage: {package}\n")
    if start < 0:
        return None
    end = text.find("\n\n", start + 1)
    for line in text[start + 1 : end if end >= 0 else None].splitlines():
        if line.startswith("Version: "):
            return line[9:]
    return None


def pcsc_library_description() -> str:
    name = pcsc_library_name()
    if not name:
        return "library not found (install libpcsclite1 / pcscd)"
    if sys.platform.startswith("linux"):
        version = _dpkg_version("libpcsclite1")
        if version:
            return f"{name} (pcsc-lite {version})"
    return name


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (e.g. ``pyscard``), None when absent.

    Reads the ``Version:`` line of its ``*.dist-info/METADATA`` on sys.path directly:
    importing importlib.metadata (email, zipfile, csv …) costs ~25 ms of ``--version``."""
    prefix = distribution.lower().replace("-", "_") + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") and name.lower().startswith(prefix):
                metadata = os.path.join(entry, name, "METADATA")
                try:
                    with open(metadata, encoding="utf-8", errors="replace") as fh:
                        for line in fh:
                            if line.startswith("Version:"):
                                return line.split(":", 1)[1].strip()
                            if not line.strip():
                                break
                except OSError:
                    continue
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:
        return None
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
