"""The language of help and of Click's own messages: stdlib ``gettext`` with the catalog
``nhicard/locale/zh_TW/LC_MESSAGES/nhicard.mo``.

English is the source language: help texts (docstrings, ``help=``) are written in English in
the code and translated when they are rendered. Click marks its own strings ("Usage:",
"No such option", "Show this message and exit.") with ``gettext``'s ``_()``; those module
names are bound here to :func:`gettext`, which answers in the active language, so Click's
messages follow ``--lang`` without touching the process environment (children inherit no
``LANGUAGE``).

The catalog is read on the first translated string only, i.e. when help or a Click error is
rendered in zh-TW: a command that runs without either never opens it (the ``card read`` row
of ``benchmarks/``). The catalog is built from ``nhicard.po`` with ``make catalogs``.
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import sys
from collections.abc import Iterator
from pathlib import Path

DOMAIN = "nhicard"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
# --lang values → gettext language names of the catalogs
CATALOG_LANGUAGE = {"zh-TW": "zh_TW"}

_active = "en"


def activate(lang: str) -> None:
    """Help and Click's messages in ``lang`` (``zh-TW`` or ``en``) from now on."""
    global _active
    _active = lang


def active() -> str:
    return _active


@contextlib.contextmanager
def language(lang: str) -> Iterator[None]:
    """``lang`` within the block, the previous language after it."""
    before = _active
    activate(lang)
    try:
        yield
    finally:
        activate(before)


@functools.cache
def catalog(lang: str) -> _gettext.NullTranslations:
    """The translations of ``lang`` (read once); English: none."""
    name = CATALOG_LANGUAGE.get(lang)
    if name is None:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[name], fallback=True)


def gettext(message: str) -> str:
    """``message`` (English) in the active language."""
    if _active == "en" or not message:
        return message
    return catalog(_active).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    if _active == "en":
        return singular if n == 1 else plural
    return catalog(_active).ngettext(singular, plural, n)


def translate_help(text: str | None) -> str | None:
    """A help text as written in the code (a docstring, a ``help=``) in the active language:
    the whole text is one catalog entry."""
    if text is None:
        return None
    return gettext(text)


# Click's modules that call ``_()`` / ``ngettext()``; each bound them at import from gettext
CLICK_MODULES = (
    "click.core",
    "click.decorators",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click.types",
    "click.termui",
    "click.utils",
    "click.shell_completion",
)


def bind_click() -> None:
    """Click's ``_`` and ``ngettext`` answer in the active language (idempotent; a module
    not yet imported is bound when it is: see :func:`bind_click_module`)."""
    for name in CLICK_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            bind_click_module(module)


def bind_click_module(module: object) -> None:
    if hasattr(module, "_"):
        module._ = gettext  # type: ignore[attr-defined]
    if hasattr(module, "ngettext"):
        module.ngettext = ngettext  # type: ignore[attr-defined]
