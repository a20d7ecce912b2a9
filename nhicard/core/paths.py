"""Where nhicard keeps its state (platformdirs; overridable by environment variables)."""

from __future__ import annotations

import os
from pathlib import Path

from nhicard.core.errors import UsageError
from nhicard.core.i18n import T


def _directory_from(name: str) -> Path | None:
    """The directory the environment variable ``name`` names (None: unset or empty); a
    usage error when it names something that is not a directory (``/dev/null``, a file)."""
    env = os.environ.get(name)
    if not env:
        return None
    path = Path(env)
    if path.exists() and not path.is_dir():
        raise UsageError(
            T(
                "環境變數 {name} 指向的 {path} 不是資料夾",
                "the environment variable {name} names {path}, which is not a folder",
            ).format(name=name, path=env),
            hint=T(
                "請把 {name} 設為資料夾(不存在時會自動建立),或取消設定以使用預設位置。",
                "Set {name} to a folder (it is made when missing), or unset it for the default.",
            ).format(name=name),
            reason="bad-environment",
        )
    return path


def state_dir() -> Path:
    """User state dir (journals, sandbox); ``NHICARD_STATE_DIR`` overrides."""
    named = _directory_from("NHICARD_STATE_DIR")
    if named is not None:
        return named
    from platformdirs import user_state_dir

    return Path(user_state_dir("nhicard", appauthor=False))


def default_sandbox_dir() -> Path:
    """``NHICARD_SANDBOX_DIR``, else ``<state dir>/sandbox``."""
    named = _directory_from("NHICARD_SANDBOX_DIR")
    return named if named is not None else state_dir() / "sandbox"
