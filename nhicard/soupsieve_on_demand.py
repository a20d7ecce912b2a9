"""soupsieve (BeautifulSoup's CSS engine) imported when first used, not with bs4.

``import bs4`` imports soupsieve, whose module body compiles its tokenizer's regular
expressions (≈ 30-40 ms a process). nhicard matches its site profiles' selectors itself
(:mod:`nhicard.web.selectors`), so most commands never use soupsieve: importing this module
(``nhicard.web`` and ``nhicard.mail`` do, before any bs4 import) puts a stand-in module into
``sys.modules``. bs4 binds the stand-in as it would
the real module; the first attribute read from it (``soupsieve.select`` when a page's
``Tag.select`` runs, ``from soupsieve import …``) imports the real soupsieve, which from then on
is what ``sys.modules`` holds and what the stand-in hands out. Nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import threading
import types
from typing import Any

NAME = "soupsieve"
_lock = threading.Lock()


class _OnDemand(types.ModuleType):
    """The stand-in: every attribute not yet copied comes from the real module."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_load(self), name)


def _load(stand_in: _OnDemand) -> types.ModuleType:
    with _lock:
        real = stand_in.__dict__.get("_real")
        if real is None:
            if sys.modules.get(NAME) is stand_in:
                del sys.modules[NAME]
            try:
                real = importlib.import_module(NAME)
            except BaseException:
                sys.modules.setdefault(NAME, stand_in)
                raise
            stand_in.__dict__.update(real.__dict__)
            stand_in.__dict__["_real"] = real
    assert isinstance(real, types.ModuleType)
    return real


def install() -> None:
    """Put the stand-in in place unless soupsieve (or the stand-in) is already imported."""
    if NAME in sys.modules or "bs4" in sys.modules:
        return
    stand_in = _OnDemand(NAME, "soupsieve, imported on first use (nhicard.soupsieve_on_demand)")
    # what the import system reads of a module in sys.modules (is it still initializing?);
    # find_spec("soupsieve") answers this spec until the real module replaces it
    stand_in.__spec__ = importlib.machinery.ModuleSpec(NAME, None)
    sys.modules[NAME] = stand_in


install()
