"""A Click group whose sub-commands are imported only when used (or listed in --help), so
start-up stays fast and a missing optional extra breaks only its own command."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

import click

from nhicard.cli.help_layout import HelpGroup


def _module_present(target: str) -> bool:
    module = target.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(HelpGroup):
    """``lazy_commands`` maps a command name to ``"module:attribute"``; help in nhicard's
    layout (:class:`~nhicard.cli.help_layout.HelpGroup`)."""

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.lazy_commands = lazy_commands if lazy_commands is not None else {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = {name for name, target in self.lazy_commands.items() if _module_present(target)}
        return sorted(set(super().list_commands(ctx)) | lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        eager = super().get_command(ctx, cmd_name)
        if eager is not None:
            return eager
        target = self.lazy_commands.get(cmd_name)
        if target is None or not _module_present(target):
            return None
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd
