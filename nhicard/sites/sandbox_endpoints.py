"""The running sandbox as the commands see it: ``DIR/endpoints.json`` and the SAM's wrapping
key ``DIR/sam_wrap_key.hex``, read and written here only.

The sandbox server writes :class:`SandboxEndpoints` with :func:`write_endpoints` once every
part listens; ``--profile sandbox`` (and a profile that ``extends`` it), ``agent serve``'s
origin list and ``sandbox status|down`` read it back. Outside :mod:`nhicard.sandbox` so that
``web/`` and ``agent/`` need not import the sandbox to find it, and cheap to import (json and
pathlib only: every ``--profile sandbox`` command reads it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nhicard.core.errors import NetworkError, UsageError
from nhicard.core.i18n import T

ENDPOINTS_FILE = "endpoints.json"
WRAP_KEY_FILE = "sam_wrap_key.hex"
REQUIRED = ("nhi_url", "ecpa_url", "ca_bundle", "sam")


def endpoints_file(sandbox_dir: Path | None = None) -> Path:
    """The JSON file ``sandbox up`` writes and ``--profile sandbox`` reads."""
    from nhicard.core.paths import default_sandbox_dir

    return (sandbox_dir or default_sandbox_dir()) / ENDPOINTS_FILE


@dataclass(frozen=True)
class SandboxEndpoints:
    """Where each part of a running sandbox listens (``""`` where the file names none)."""

    nhi_url: str = ""
    ecpa_url: str = ""
    elearn_url: str = ""
    smtp: str = ""
    maildir: str = ""
    ca_bundle: str = ""
    sam: str = ""  # HOST:PORT
    readers: tuple[str, ...] = ()
    agent_origins: tuple[str, ...] = ()  # the NHI site's origin first
    pid: int | None = None

    @property
    def sam_host(self) -> str:
        return self.sam.rpartition(":")[0].strip("[]")

    @property
    def sam_port(self) -> str:
        return self.sam.rpartition(":")[2]

    def missing(self) -> list[str]:
        """The keys a profile needs that the file lacks."""
        return [k for k in REQUIRED if not getattr(self, k)]

    def to_json(self) -> dict[str, Any]:
        """The ``endpoints.json`` document (also what ``sandbox up`` prints)."""
        return {
            "nhi_url": self.nhi_url,
            "ecpa_url": self.ecpa_url,
            "elearn_url": self.elearn_url,
            "smtp": self.smtp,
            "maildir": self.maildir,
            "ca_bundle": self.ca_bundle,
            "sam": self.sam,
            "readers": list(self.readers),
            "agent_origin": list(self.agent_origins),
            "pid": self.pid,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SandboxEndpoints:
        """Whatever of a document is usable (values of the wrong type are left out)."""

        def text(key: str) -> str:
            value = doc.get(key)
            ok = isinstance(value, str | int) and not isinstance(value, bool)
            return str(value) if ok else ""

        def texts(key: str) -> tuple[str, ...]:
            value = doc.get(key)
            items = value if isinstance(value, list) else [value]
            return tuple(v for v in items if isinstance(v, str) and v)

        pid = doc.get("pid")
        return cls(
            nhi_url=text("nhi_url"),
            ecpa_url=text("ecpa_url"),
            elearn_url=text("elearn_url"),
            smtp=text("smtp"),
            maildir=text("maildir"),
            ca_bundle=text("ca_bundle"),
            sam=text("sam"),
            readers=texts("readers"),
            agent_origins=texts("agent_origin"),
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        )


def write_endpoints(sandbox_dir: Path, endpoints: SandboxEndpoints) -> Path:
    """Write ``DIR/endpoints.json`` atomically (a reader never sees half a file)."""
    from nhicard.core.atomicfile import PUBLIC, replace_file

    path = endpoints_file(sandbox_dir)
    text = json.dumps(endpoints.to_json(), ensure_ascii=False, indent=2) + "\n"
    replace_file(path, text.encode("utf-8"), mode=PUBLIC)
    return path


def read_endpoints_doc(path: Path) -> dict[str, Any] | None:
    """The raw document of an endpoints file, or None when it is absent or broken."""
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def peek_endpoints(path: Path) -> SandboxEndpoints | None:
    """What an endpoints file says, without judging it (None when absent or broken)."""
    doc = read_endpoints_doc(path)
    return SandboxEndpoints.from_json(doc) if doc is not None else None


def sandbox_not_running(detail: str) -> NetworkError:
    """Exit 7: ``--profile sandbox`` without a usable running sandbox."""
    return NetworkError(
        T(
            "沙箱未執行:請先執行 nhicard sandbox up",
            "sandbox not running: run `nhicard sandbox up`",
        ),
        hint=T(
            "先執行 nhicard sandbox up,再使用 --profile sandbox。",
            "Run `nhicard sandbox up`, then use --profile sandbox.",
        ),
        reason="sandbox-not-running",
        detail=detail,
    )


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32" or pid <= 0:
        return True  # no cheap safe check there: trust the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_endpoints(sandbox_dir: Path | None = None) -> SandboxEndpoints:
    """The running sandbox's endpoints; a missing, broken or stale file (its process gone),
    or one lacking a part a profile needs → :func:`sandbox_not_running` (exit 7)."""
    path = endpoints_file(sandbox_dir)
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise sandbox_not_running(f"{path} missing") from None
    except (OSError, ValueError) as exc:
        raise sandbox_not_running(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise sandbox_not_running(f"{path}: not a JSON object")
    endpoints = SandboxEndpoints.from_json(raw)
    if endpoints.pid is not None and not _pid_alive(endpoints.pid):
        raise sandbox_not_running(f"{path}: process {endpoints.pid} has exited")
    missing = endpoints.missing()
    if missing:
        raise sandbox_not_running(f"{path}: missing {', '.join(missing)}")
    return endpoints


# -- the SAM's wrapping key ---------------------------------------------------------------
def bad_key_file(path: Path, why: str) -> UsageError:
    """A sandbox SAM key file that cannot be used (exit 2: delete it, set up again)."""
    return UsageError(
        T(
            "沙盒 SAM 金鑰檔 {path} 無法使用:{why}",
            "sandbox SAM key file {path} is unusable: {why}",
        ).format(path=str(path), why=why),
        hint=T(
            "刪除該檔案後重新執行 nhicard sandbox up。",
            "Delete the file and run `nhicard sandbox up` again.",
        ),
    )


def load_wrap_key(directory: Path) -> bytes:
    """The sandbox wrapping key of ``directory`` (it must exist). Read without the
    certificate and RSA code of :mod:`nhicard.sandbox.keys`: importing ``cryptography.x509``
    for 48 hex digits cost ≈ 60 ms a process."""
    path = Path(directory) / WRAP_KEY_FILE
    try:
        key = bytes.fromhex(path.read_text("ascii").strip())
    except FileNotFoundError:
        raise bad_key_file(path, "missing (is the sandbox set up?)") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise bad_key_file(path, type(exc).__name__) from None
    if len(key) != 24:
        raise bad_key_file(path, "not 24 bytes")
    return key
