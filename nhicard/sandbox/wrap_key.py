"""The sandbox SAM's 24-byte wrapping key file (``sam_wrap_key.hex``), read without the
certificate and RSA code of :mod:`nhicard.sandbox.keys`: every ``--profile sandbox`` command
reads it, and importing ``cryptography.x509`` for 48 hex digits cost ≈ 60 ms a process."""

from __future__ import annotations

from pathlib import Path

from nhicard.errors import UsageError
from nhicard.i18n import T

WRAP_KEY_FILE = "sam_wrap_key.hex"


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
    """The sandbox wrapping key of ``directory`` (it must exist)."""
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
