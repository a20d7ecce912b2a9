"""``nhicard completion SHELL``: Click's own completion script for bash, zsh or fish, and one
for PowerShell, which Click lacks (:class:`PowerShellComplete`, the same protocol)."""

from __future__ import annotations

import os

import click

from nhicard.cli.help_layout import HelpCommand
from nhicard.cli.powershell_completion import PowerShellComplete

SHELLS = ("bash", "zsh", "fish", PowerShellComplete.name)


def completion_source(shell: str) -> str:
    from click.shell_completion import get_completion_class

    from nhicard.cli.main import cli

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - SHELLS are all registered
        raise click.UsageError(f"unsupported shell: {shell}")
    return cls(cli, {}, "nhicard", "_NHICARD_COMPLETE").source()


@click.command(cls=HelpCommand)
@click.argument("shell", type=click.Choice(SHELLS), required=False)
def completion(shell: str | None) -> None:
    """Print the shell completion script (the files in completions/ are the same).

    \b
    bash:  eval "$(nhicard completion bash)"        (or copy to /etc/bash_completion.d/)
    zsh:   nhicard completion zsh > "${fpath[1]}/_nhicard"
    fish:  nhicard completion fish > ~/.config/fish/completions/nhicard.fish
    PowerShell: nhicard completion powershell | Out-String | Invoke-Expression
                (add that line to $PROFILE)
    """
    if shell is None:
        shell = os.path.basename(os.environ.get("SHELL", "bash"))
        if shell not in SHELLS:
            shell = "bash"
    click.echo(completion_source(shell), nl=False)
