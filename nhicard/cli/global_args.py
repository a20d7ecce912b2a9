"""Global options (the root group's) accepted after the subcommand too:
``nhicard card read -r 0 --lang en`` is ``nhicard -r 0 --lang en card read``.

Before the root group parses its arguments, each root option found among the subcommand's
arguments is moved in front of the subcommand's name. An option the subcommand declares
itself under the same name is the subcommand's and stays where it is; so do ``-h/--help``
(the subcommand's help), the values of the subcommand's own options, and everything after
``--``.
"""

from __future__ import annotations

import click


def _names(params: list[click.Parameter]) -> dict[str, click.Option]:
    names: dict[str, click.Option] = {}
    for param in params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                names[name] = param
    return names


def _takes_value(param: click.Option) -> bool:
    return not (param.is_flag or param.count)


def _match(token: str, names: dict[str, click.Option]) -> tuple[click.Option, bool] | None:
    """The option ``token`` starts with, and whether the next token is its value."""
    if token.startswith("--"):
        name, eq, _ = token.partition("=")
        param = names.get(name)
        if param is None:
            return None
        return param, _takes_value(param) and not eq
    param = names.get(token[:2])
    if param is None:
        return None
    if _takes_value(param):
        return param, len(token) == 2  # -r 0, or -r0
    if len(token) == 2 or all(names.get(f"-{c}") is param for c in token[2:]):
        return param, False  # -v, -vv
    return None


def _skip_own(tokens: list[str], at: int, names: dict[str, click.Option]) -> int | None:
    """Index after the option at ``at`` if it is one of ``names`` (with its value)."""
    found = _match(tokens[at], names)
    if found is None:
        return None
    return at + (2 if found[1] else 1)


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """``args`` with the root options given after the subcommand moved in front of it."""
    root = _names(group.params)
    for name in ctx.help_option_names:
        root.pop(name, None)
    at = 0
    while at < len(args) and args[at].startswith("-") and args[at] not in ("-", "--"):
        after = _skip_own(args, at, root)
        at = after if after is not None else at + 1
    # the command chain: nhicard card read, nhicard reader list …
    command: click.Command = group
    end = at
    while isinstance(command, click.Group) and end < len(args):
        if args[end].startswith("-"):
            return args  # a group's own option: left to Click
        sub = command.get_command(ctx, args[end])
        if sub is None:
            return args  # Click says "No such command"
        command, end = sub, end + 1
    if command is group:
        return args
    own = _names(command.params)
    for name in ctx.help_option_names:
        own.setdefault(name, click.Option([name], is_flag=True))
    hoisted: list[str] = []
    kept: list[str] = []
    i = end
    while i < len(args):
        token = args[i]
        if token == "--":
            kept.extend(args[i:])
            break
        if not token.startswith("-") or token == "-":
            kept.append(token)
            i += 1
            continue
        after = _skip_own(args, i, own)
        if after is not None:
            kept.extend(args[i:after])
            i = after
            continue
        found = _match(token, root)
        if found is None:
            kept.append(token)  # unknown: Click says so
            i += 1
            continue
        after = i + (2 if found[1] else 1)
        hoisted.extend(args[i:after])
        i = after
    if not hoisted:
        return args
    return [*args[:at], *hoisted, *args[at:end], *kept]
