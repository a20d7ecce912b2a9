"""Click parameter types shared by several commands."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any

import click

from nhicard.core.errors import UsageError
from nhicard.core.i18n import T, shown
from nhicard.net.urlcheck import host_problem, url_problem

YEAR = 365 * 24 * 3600.0


class Seconds(click.FloatRange):
    """A number of seconds: finite (``nan``, ``inf`` and ``1e400`` are usage errors, exit 2)
    and at most a year, so every wait and deadline below stays computable."""

    name = "seconds"

    def __init__(self, min: float = 0, *, min_open: bool = True, max: float = YEAR) -> None:  # noqa: A002
        super().__init__(min=min, max=max, min_open=min_open)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds.", param, ctx)
        return super().convert(number, param, ctx)

    def _describe_range(self) -> str:
        """The range in words, in the language of help (not ``0<x<=31536000.0``)."""
        from nhicard.cli.help_lang import gettext

        parts = []
        if self.min is not None:
            low = gettext("more than {n} s") if self.min_open else gettext("at least {n} s")
            parts.append(low.format(n=f"{self.min:g}"))
        if self.max is not None:
            if self.max >= YEAR:
                parts.append(gettext("at most a year"))
            else:
                parts.append(gettext("at most {n} s").format(n=f"{self.max:g}"))
        return (
            gettext("{low}, {high}").format(low=parts[0], high=parts[1])
            if len(parts) == 2
            else "".join(parts)
        )


def probe_writable(path: Path) -> str | None:
    """Why files cannot be written in directory ``path`` (made if missing), or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "not a directory"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    except ValueError:  # a NUL byte in the name
        return "not a valid path"
    if not path.is_dir():
        return "not a directory"
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".nhicard-probe-", dir=path)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def writable_directory(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    """Callback of a ``DIR`` option we write files into: made if missing, and refused (exit 2,
    naming the reason) when it is a file, a device, or cannot take new files (``/proc``)."""
    if value is None or ctx.resilient_parsing:
        return value
    why = probe_writable(value)
    if why is not None:
        raise UsageError(
            T("{opt}:無法在 {path} 寫入檔案:{why}", "{opt}: cannot write files in {path}: {why}")
            .format(opt=_opt(param), path=str(value), why=why),
            reason="bad-directory",
        )  # fmt: skip
    return value


def existing_or_new_directory(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    """Callback of a ``DIR`` option only read from: refused if it exists and is no directory."""
    if value is not None and value.exists() and not value.is_dir():
        raise UsageError(
            T("{opt}:{path} 不是目錄", "{opt}: {path} is not a directory")
            .format(opt=_opt(param), path=str(value)),
            reason="bad-directory",
        )  # fmt: skip
    return value


def _opt(param: click.Parameter) -> str:
    return max(param.opts, key=len) if param.opts else str(param.name)


def _url_callback(schemes: tuple[str, ...], zh: str, en: str) -> Any:
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None or ctx.resilient_parsing or value == param.default:
            return value
        why = url_problem(value, schemes)
        if why is not None:
            opt = _opt(param)
            raise UsageError(
                T(f"{opt}:{zh}無法使用:{why.zh}", f"{opt}: {en} cannot be used: {why.en}"),
                reason="bad-url",
            )  # fmt: skip
        return value

    return check


def host_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A host name or IP address option (``sim card --host``): a usage error for what no
    resolver could take (``\xff``, an empty label), instead of retrying it until the wait ends."""
    if value is None or ctx.resilient_parsing:
        return value
    why = host_problem(value)
    if why is not None:
        opt = _opt(param)
        raise UsageError(
            T(f"{opt}:{{host}} 無法使用:{why.zh}", f"{opt}: {{host}} cannot be used: {why.en}")
            .format(host=shown(value)),
            reason="bad-host",
        )  # fmt: skip
    return value


# --agent-url: the official component's WebSocket address
agent_url_callback = _url_callback(("wss", "ws"), "元件網址", "the component address")
# ecpa login --return-url: the relying party the single sign-on continues into
return_url_callback = _url_callback(("https", "http"), "返回網址", "the return URL")


def cookie_jar_target(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    """Callback of ``--cookie-jar``: refused before logging in when it exists and is not a
    regular file (``/dev/full`` must never be replaced by a cookie file)."""
    if value is None or ctx.resilient_parsing:
        return value
    from nhicard.flows.cookie_jar import target_problem

    problem = target_problem(value)
    if problem is not None:
        raise problem
    return value
