"""Reader names: the readers present (asked of PC/SC on every call, never cached) and the
one a ``--reader`` value names (an index or a case-insensitive substring)."""

from __future__ import annotations

from typing import Any

from nhicard.core.errors import NhicardError, ReaderError
from nhicard.core.i18n import T
from nhicard.pcsc import codes
from nhicard.pcsc.context import PcscContext, ScardCallError, check, scard, shared_context


def translated(err: ScardCallError, reader: str | None = None) -> NhicardError:
    """The typed error for a failed PC/SC call (see :func:`nhicard.pcsc.codes.translate`)."""
    return codes.translate(err.code, reader=reader, during=err.during)


def list_reader_names(context: PcscContext | None = None) -> list[str]:
    """Names of the readers present right now (asked of PC/SC on every call)."""
    ctx = context or shared_context()
    sc = scard()

    def op(handle: Any) -> list[str]:
        hresult, names = sc.SCardListReaders(handle, [])
        if codes.normalize(hresult) == codes.SCARD_E_NO_READERS_AVAILABLE:
            return []
        check(hresult, "SCardListReaders")
        return list(names)

    try:
        return ctx.run(op)
    except ScardCallError as err:
        raise translated(err) from None


def reader_list_text(names: list[str]) -> str:
    """``"0: Reader A; 1: Reader B"`` (``-`` for none), for messages and hints."""
    return "; ".join(f"{i}: {n}" for i, n in enumerate(names)) or "-"


def resolve_reader(spec: str, names: list[str]) -> str:
    """The one reader ``spec`` names: an index (``0``) or a case-insensitive substring.

    Raises ReaderError: no readers / several match (listed) / not found (available listed)."""
    if not names:
        raise codes.no_readers()
    spec = spec.strip()
    if spec.isdigit():
        index = int(spec)
        if index < len(names):
            return names[index]
        raise ReaderError(
            T("沒有編號 {index} 的讀卡機", "no reader with index {index}").format(index=index),
            hint=T("可用的讀卡機:{names}", "Available readers: {names}").format(
                names=reader_list_text(names)
            ),
            reason="reader-not-found",
        )
    exact = [n for n in names if n.lower() == spec.lower()]
    matches = exact or [n for n in names if spec.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ReaderError(
            T("找不到名稱含「{spec}」的讀卡機", "no reader matches “{spec}”").format(spec=spec),
            hint=T("可用的讀卡機:{names}", "Available readers: {names}").format(
                names=reader_list_text(names)
            ),
            reason="reader-not-found",
        )
    listed = "; ".join(f"{names.index(m)}: {m}" for m in matches)
    raise ReaderError(
        T("「{spec}」符合多台讀卡機:{listed}", "“{spec}” matches several readers: {listed}").format(
            spec=spec, listed=listed
        ),
        hint=T(
            "請用編號(-r 0)或更完整的名稱指定讀卡機。",
            "Name the reader by index (-r 0) or a longer part of its name.",
        ),
        reason="reader-ambiguous",
    )
