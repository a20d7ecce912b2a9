"""Where nhicard keeps its state (platformdirs; overridable by environment variables)."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """User state dir (journals, sandbox); ``NHICARD_STATE_DIR`` overrides."""
    env = os.environ.get("NHICARD_STATE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_state_dir

    return Path(user_state_dir("nhicard", appauthor=False))


def default_sandbox_dir() -> Path:
    """``NHICARD_SANDBOX_DIR``, else ``<state dir>/sandbox``."""
    env = os.environ.get("NHICARD_SANDBOX_DIR")
    return Path(env) if env else state_dir() / "sandbox"
