"""Which SAM a profile talks to (the one place that resolves it).

- ``real``: ``cloudicap.nhi.gov.tw:443`` with the published wrapping key.
- ``sandbox``: the running sandbox's SAM, ``"sam": "127.0.0.1:PORT"`` in the sandbox
  endpoints file (``nhicard.paths.sandbox_endpoints_file()``), with the sandbox wrapping key
  from the same directory.
- a TOML file: its ``[sam]`` table (``host``, ``port``, optional ``wrap_key`` as 48 hex digits,
  default the published key); a file without ``[sam]`` means the real SAM.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from nhicard.agent.errors import agent_error
from nhicard.agent.sam import PUBLISHED_L_KEY, REAL_SAM, SamEndpoint
from nhicard.errors import UsageError
from nhicard.i18n import T
from nhicard.paths import sandbox_endpoints_file

_SANDBOX_HINT = T("請先執行 nhicard sandbox up。", "Run `nhicard sandbox up` first.")


def read_sandbox_endpoints(path: Path | None = None) -> dict[str, Any]:
    """The sandbox's ``endpoints.json``; 4061 when the sandbox is not set up or unreadable."""
    file = path or sandbox_endpoints_file()
    try:
        doc = json.loads(file.read_text("utf-8"))
    except FileNotFoundError:
        raise agent_error(
            "4061", detail=f"sandbox not running: {file} does not exist", hint=_SANDBOX_HINT
        ) from None
    except (OSError, ValueError) as exc:
        raise agent_error("4061", detail=f"{file}: {exc}", hint=_SANDBOX_HINT) from None
    if not isinstance(doc, dict):
        raise agent_error("4061", detail=f"{file}: not a JSON object", hint=_SANDBOX_HINT)
    return doc


def _host_port(value: object, where: str) -> tuple[str, int]:
    text = str(value)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            T(
                "SAM 位址格式錯誤(應為 主機:埠):{where}",
                "bad SAM address (want HOST:PORT): {where}",
            ).format(where=where)
        )
    return host.strip("[]"), int(port)


def sandbox_sam_endpoint(endpoints_file: Path | None = None) -> SamEndpoint:
    """The running sandbox's SAM with the sandbox wrapping key."""
    from nhicard.sandbox.wrap_key import load_wrap_key

    file = endpoints_file or sandbox_endpoints_file()
    doc = read_sandbox_endpoints(file)
    if "sam" not in doc:
        raise agent_error("4061", detail=f"{file} has no 'sam' entry", hint=_SANDBOX_HINT)
    host, port = _host_port(doc["sam"], f"{file}: sam")
    return SamEndpoint(host, port, load_wrap_key(file.parent))


def _profile_file_endpoint(path: Path) -> SamEndpoint:
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            T("無法讀取設定檔 {path}", "cannot read the profile {path}").format(path=str(path)),
            detail=str(exc),
        ) from None
    sam = doc.get("sam")
    if sam is None:
        return REAL_SAM
    if not isinstance(sam, dict) or "host" not in sam or "port" not in sam:
        raise UsageError(
            T(
                "設定檔 {path} 的 [sam] 需要 host 與 port", "[sam] in {path} needs host and port"
            ).format(path=str(path))
        )
    host, port = _host_port(f"{sam['host']}:{sam['port']}", f"{path}: [sam]")
    key = PUBLISHED_L_KEY
    if "wrap_key" in sam:
        try:
            key = bytes.fromhex(str(sam["wrap_key"]))
        except ValueError:
            key = b""
        if len(key) != 24:
            raise UsageError(
                T(
                    "設定檔 {path} 的 [sam] wrap_key 必須是 48 個十六進位數字",
                    "[sam] wrap_key in {path} must be 48 hex digits",
                ).format(path=str(path))
            )
    return SamEndpoint(host, port, key)


def sam_endpoint_for_profile(profile: str) -> SamEndpoint:
    """The SAM endpoint of a profile name (``real``, ``sandbox``) or profile file path."""
    if profile == "real":
        return REAL_SAM
    if profile == "sandbox":
        return sandbox_sam_endpoint()
    path = Path(profile)
    if path.suffix == ".toml" or path.exists():
        return _profile_file_endpoint(path)
    raise UsageError(
        T(
            "未知的設定檔:{name}(可用 real、sandbox 或 TOML 檔路徑)",
            "unknown profile: {name} (use real, sandbox or a TOML file path)",
        ).format(name=profile)
    )
