"""Per-invocation settings shared by every command (the root group's options).

Nothing is opened here eagerly: readers, agents and browsers are created by the command
that needs them, so ``--help`` and completion stay fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import click

from nhicard.agent import DEFAULT_AGENT_URL
from nhicard.core.i18n import Text


@dataclass
class AppContext:
    reader: str | None = None
    agent: str = "auto"
    agent_url: str = DEFAULT_AGENT_URL
    agent_url_given: bool = False  # --agent-url or NHICARD_AGENT_URL named it
    profile: str = "real"
    lang: str = "zh-TW"
    verbose: int = 0
    quiet: bool = False
    allow_profile_hosts: bool = False
    extras: dict[str, object] = field(default_factory=dict)

    # -- messages on stderr ------------------------------------------------------------
    def info(self, text: Text | str, **fields: object) -> None:
        """A progress or status message (suppressed by --quiet)."""
        if self.quiet:
            return
        click.echo(self._s(text, fields), err=True)

    def warn(self, text: Text | str, **fields: object) -> None:
        click.echo(self._s(text, fields), err=True)

    def debug(self, text: Text | str, level: int = 1, **fields: object) -> None:
        if self.verbose >= level:
            click.echo(self._s(text, fields), err=True)

    def tr(self, text: Text, **fields: object) -> str:
        return text.render(self.lang, **fields)

    def _s(self, text: Text | str, fields: dict[str, object]) -> str:
        if isinstance(text, Text):
            return text.render(self.lang, **fields)
        return text.format(**fields) if fields else text

    @property
    def stderr_is_tty(self) -> bool:
        return sys.stderr.isatty()


def get_app(ctx: click.Context | None = None) -> AppContext:
    ctx = ctx or click.get_current_context()
    obj = ctx.find_object(AppContext)
    if obj is None:  # a command invoked on its own (tests): defaults
        obj = AppContext()
        ctx.obj = obj
    return obj


pass_app = click.make_pass_decorator(AppContext, ensure=True)
