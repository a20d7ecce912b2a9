"""The Chromium-family managed policy ``LocalNetworkAccessAllowedForUrls`` (``agent install
--browser-policy``): written, read back and removed exactly, per place of
:meth:`nhicard.platform.base.Platform.browser_policy_places`.

Chrome 142 and Edge 143 (and Chrome 147 for WebSockets) block a public web site from reaching
this computer's loopback (where the card component or ``agent serve`` listens) unless the
person allows "local network access" for that site, or a managed policy lists the site. The
policy is a list of URL patterns in Chromium's enterprise format (chromeenterprise.google
/policies/url-patterns): ``scheme://host[:port]``, a host prefixed ``[*.]`` also matching its
subdomains, ``*`` for any; as the policy matches origins, patterns carry no path.

Per place (what is written, and what uninstall removes):

- ``json-dir`` (Linux): our own file ``zz-nhicard-local-network-access.json`` in the
  directory, and the directories we had to create; other files there are never touched.
  Chromium does not merge a list policy set by several files of the directory: the file last
  by name wins (measured with Chromium 156: an office's own ``office.json`` listing another
  site made a ``nhicard-….json`` beside it ineffective). So our file sorts last and lists
  the patterns the other files there already set, followed by ours;
- ``registry`` (Windows): values ``N = URL`` under ``<key>\\LocalNetworkAccessAllowedForUrls``
  with the next free numbers; entries already there stay; uninstall deletes our values (when
  they still hold our URL) and the subkey when we created it and it is empty;
- ``plist`` (macOS): our URLs appended to the array in the managed-preferences plist (the
  file created when missing); uninstall takes exactly those entries out again (and the key,
  or the file, when we created it and nothing else is in it).
"""

from __future__ import annotations

import json
import plistlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any

from nhicard.core.atomicfile import PUBLIC, replace_file
from nhicard.core.errors import NotAvailable
from nhicard.core.i18n import T, Text
from nhicard.platform import linux, windows
from nhicard.platform.base import PolicyPlace, Result, Runner

POLICY = "LocalNetworkAccessAllowedForUrls"

PRIVILEGE_HINT = T(
    "瀏覽器的受管理政策需要系統管理員權限:Linux/macOS 請用 sudo 執行,Windows 請以系統管理員"
    "身分開啟終端機。",
    "Browser managed policies need administrator rights: run it with sudo on Linux/macOS, or "
    "from a terminal opened as administrator on Windows.",
)


class PolicyFailed(NotAvailable):
    """The policy could not be written or removed (privileges, a foreign file in our way)."""


def _fail(message: Text, *, detail: str | None = None, reason: str) -> PolicyFailed:
    hint = PRIVILEGE_HINT if reason == "needs-privileges" else None
    return PolicyFailed(message, detail=detail, hint=hint, reason=reason)


def needs_privileges() -> PolicyFailed:
    return _fail(
        T(
            "寫入瀏覽器政策 {p} 需要 root/系統管理員權限",
            "writing the browser policy {p} needs root/administrator rights",
        ).format(p=POLICY),
        reason="needs-privileges",
    )


# -- URL patterns ---------------------------------------------------------------------------------

_PATTERN = re.compile(
    r"^(?:(?P<scheme>[a-z*][a-z0-9+.-]*)://)?(?P<host>\[\*\.\][^/:]+|\[[0-9a-f:.]+\]|[^/:\[\]]+)"
    r"(?::(?P<port>\*|\d{1,5}))?(?:/.*)?$",
    re.I,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def pattern_allows(pattern: str, origin: str) -> bool:
    """Whether an enterprise URL pattern matches the web origin ``scheme://host[:port]``."""
    pattern = pattern.strip()
    if pattern == "*":
        return True
    m = _PATTERN.match(pattern)
    o = re.match(r"^([a-z][a-z0-9+.-]*)://([^/:]+|\[[^\]]+\])(?::(\d+))?/?$", origin.strip(), re.I)
    if m is None or o is None:
        return False
    scheme, host = o[1].lower(), o[2].lower()
    port = int(o[3]) if o[3] else _DEFAULT_PORTS.get(scheme)
    want_scheme = (m["scheme"] or "*").lower()
    if want_scheme != "*" and want_scheme != scheme:
        return False
    want_host = m["host"].lower()
    if want_host.startswith("[*.]"):
        base = want_host[4:]
        if host != base and not host.endswith("." + base):
            return False
    elif want_host != host:
        return False
    want_port = m["port"]
    if want_port is None:
        # left out: with a scheme, the scheme's default port; without one, any port
        return m["scheme"] in (None, "*") or port == _DEFAULT_PORTS.get(want_scheme)
    return want_port == "*" or int(want_port) == port


def allows(patterns: Iterable[str], origin: str) -> bool:
    return any(pattern_allows(p, origin) for p in patterns)


# -- one place ------------------------------------------------------------------------------------


def installed(place: PolicyPlace, exists: Callable[[Path], bool] = Path.exists) -> bool:
    """The browser of ``place`` is on this computer (always, for a place with no ``detect``)."""
    return not place.detect or any(exists(Path(p)) for p in place.detect)


def target_of(place: PolicyPlace) -> str:
    """What ``agent install`` records for ``place``: our file, our subkey, the plist."""
    if place.kind == "json-dir":
        return str(Path(place.location) / linux.POLICY_FILE)
    if place.kind == "registry":
        return str(PureWindowsPath(place.location, POLICY))
    return place.location


@dataclass
class Writer:
    """Writes and removes the policy; ``run`` is the command runner (reg.exe on Windows)."""

    run: Runner

    # -- writing: each returns the record of what it did (kept in agent-install.json) ----

    def write(
        self, place: PolicyPlace, origins: Sequence[str], previous: dict[str, Any]
    ) -> dict[str, Any]:
        if place.kind == "json-dir":
            return self._write_json(place, origins, previous)
        if place.kind == "registry":
            return self._write_registry(place, origins, previous)
        return self._write_plist(place, origins, previous)

    def remove(self, place_kind: str, target: str, record: dict[str, Any]) -> None:
        if place_kind == "json-dir":
            self._remove_json(target, record)
        elif place_kind == "registry":
            self._remove_registry(target, record)
        elif place_kind == "plist":
            self._remove_plist(target, record)

    def read(self, place: PolicyPlace) -> list[str]:
        """Every pattern of the policy at ``place`` (anyone's), for status and env check."""
        try:
            if place.kind == "json-dir":
                return _json_dir_patterns(Path(place.location))
            if place.kind == "registry":
                found = self.run(windows.reg_query_command(target_of(place)))
                return (
                    list(windows.parse_reg_query(found.stdout).values())
                    if found.returncode == 0
                    else []
                )
            doc = _read_plist(Path(place.location))
        except OSError:
            return []
        value = doc.get(POLICY) if doc else None
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    # json-dir ---------------------------------------------------------------------------

    def _write_json(
        self, place: PolicyPlace, origins: Sequence[str], previous: dict[str, Any]
    ) -> dict[str, Any]:
        directory = Path(place.location)
        file = directory / linux.POLICY_FILE
        if file.exists() and not previous:
            raise _fail(
                T(
                    "{f} 已存在,且不是 nhicard 寫的", "{f} exists and was not written by nhicard"
                ).format(f=str(file)),
                reason="policy-conflict",
            )
        created = list(previous.get("created_dirs", []))
        missing = [d for d in (directory, *directory.parents) if not d.exists()]
        try:
            for d in reversed(missing):
                d.mkdir(mode=0o755)
                created.append(str(d))
            others = [p for p in _json_dir_patterns(directory, skip=file) if p not in origins]
            data = json.dumps({POLICY: [*others, *origins]}, indent=2).encode() + b"\n"
            replace_file(file, data, mode=PUBLIC)
        except OSError as exc:
            self._remove_json(str(file), {"created_dirs": created})
            raise _write_error(str(file), exc) from None
        return {"kind": "json-dir", "created_dirs": created, "origins": list(origins)}

    def _remove_json(self, target: str, record: dict[str, Any]) -> None:
        file = Path(target)
        try:
            file.unlink(missing_ok=True)
            for d in sorted(record.get("created_dirs", []), key=len, reverse=True):
                p = Path(d)
                if p.is_dir() and not any(p.iterdir()):
                    p.rmdir()
        except OSError as exc:
            raise _write_error(target, exc, removing=True) from None

    # registry ---------------------------------------------------------------------------

    def _write_registry(
        self, place: PolicyPlace, origins: Sequence[str], previous: dict[str, Any]
    ) -> dict[str, Any]:
        key = target_of(place)
        found = self.run(windows.reg_query_command(key))
        values = windows.parse_reg_query(found.stdout) if found.returncode == 0 else {}
        created_key = bool(previous.get("created_key")) if previous else found.returncode != 0
        ours: dict[str, str] = dict(previous.get("values", {}))
        added: dict[str, str] = {}
        try:
            for origin in origins:
                if origin in values.values():
                    continue
                n = 1
                while str(n) in values:
                    n += 1
                self._reg(windows.reg_add_command(key, str(n), origin), key)
                values[str(n)] = origin
                added[str(n)] = origin
        except PolicyFailed:
            self._remove_registry(key, {"values": added, "created_key": created_key})
            raise
        return {"kind": "registry", "values": ours | added, "created_key": created_key}

    def _reg(self, argv: Sequence[str], key: str) -> Result:
        result = self.run(argv)
        if result.returncode != 0:
            text = (result.stderr or result.stdout).strip()
            denied = re.search(r"access is denied|拒絕存取|permission", text, re.I)
            raise _fail(
                T("無法寫入登錄機碼 {k}", "cannot write the registry key {k}").format(k=key),
                detail=f"{' '.join(argv[:3])} …: exit {result.returncode}: {text[:300]}",
                reason="needs-privileges" if denied else "store-write-failed",
            )
        return result

    def _remove_registry(self, key: str, record: dict[str, Any]) -> None:
        found = self.run(windows.reg_query_command(key))
        if found.returncode != 0:
            return  # the key is gone: nothing of ours is left
        values = windows.parse_reg_query(found.stdout)
        for name, url in sorted(record.get("values", {}).items()):
            if values.get(name) == url:
                self._reg(windows.reg_delete_value_command(key, name), key)
                del values[name]
        if record.get("created_key") and not values:
            self._reg(windows.reg_delete_key_command(key), key)

    # plist ------------------------------------------------------------------------------

    def _write_plist(
        self, place: PolicyPlace, origins: Sequence[str], previous: dict[str, Any]
    ) -> dict[str, Any]:
        file = Path(place.location)
        try:
            existed = file.exists()
            doc = _read_plist(file) if existed else {}
            fmt = _plist_format(file) if existed else plistlib.FMT_XML
            current = doc.get(POLICY)
            created_key = (
                bool(previous.get("created_key")) if previous else not isinstance(current, list)
            )
            entries = list(current) if isinstance(current, list) else []
            added = [o for o in origins if o not in entries]
            doc[POLICY] = entries + added
            file.parent.mkdir(parents=True, exist_ok=True)
            replace_file(file, plistlib.dumps(doc, fmt=fmt), mode=PUBLIC)
        except OSError as exc:
            raise _write_error(str(file), exc) from None
        return {
            "kind": "plist",
            "created_file": bool(previous.get("created_file")) if previous else not existed,
            "created_key": created_key,
            "added": sorted({*previous.get("added", []), *added}),
        }

    def _remove_plist(self, target: str, record: dict[str, Any]) -> None:
        file = Path(target)
        try:
            if not file.exists():
                return
            doc = _read_plist(file)
            fmt = _plist_format(file)
            current = doc.get(POLICY)
            if isinstance(current, list):
                ours = set(record.get("added", []))
                kept = [v for v in current if v not in ours]
                if kept or not record.get("created_key"):
                    doc[POLICY] = kept
                else:
                    del doc[POLICY]
            if not doc and record.get("created_file"):
                file.unlink()
            else:
                replace_file(file, plistlib.dumps(doc, fmt=fmt), mode=PUBLIC)
        except OSError as exc:
            raise _write_error(target, exc, removing=True) from None


def json_dir_files(directory: Path) -> Iterator[tuple[Path, list[str]]]:
    """Each JSON file of a Linux managed-policy ``directory`` that sets the policy, in name
    order, with its patterns (unreadable or malformed files are passed over)."""
    if not directory.is_dir():
        return
    for f in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(f.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        value = doc.get(POLICY) if isinstance(doc, dict) else None
        if isinstance(value, list):
            yield f, [v for v in value if isinstance(v, str)]


def _json_dir_patterns(directory: Path, *, skip: Path | None = None) -> list[str]:
    """The policy's patterns in every JSON file of ``directory`` (but ``skip``), no repeats."""
    out: list[str] = []
    for f, patterns in json_dir_files(directory):
        if f != skip:
            out += [v for v in patterns if v not in out]
    return out


def _read_plist(file: Path) -> dict[str, Any]:
    try:
        doc = plistlib.loads(file.read_bytes())
    except (plistlib.InvalidFileException, ValueError) as exc:
        raise OSError(f"{file}: not a property list: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def _plist_format(file: Path) -> plistlib.PlistFormat:
    return plistlib.FMT_BINARY if file.read_bytes().startswith(b"bplist") else plistlib.FMT_XML


def _write_error(target: str, exc: OSError, *, removing: bool = False) -> PolicyFailed:
    denied = isinstance(exc, PermissionError)
    message = (
        T("無法移除瀏覽器政策 {t}", "cannot remove the browser policy {t}")
        if removing
        else T("無法寫入瀏覽器政策 {t}", "cannot write the browser policy {t}")
    )
    return _fail(
        message.format(t=target),
        detail=exc.strerror or str(exc),
        reason="needs-privileges" if denied else "store-write-failed",
    )
