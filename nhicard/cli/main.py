"""The root command: global options, lazy sub-commands, and the one place where errors
become messages and exit codes (cli-contract.md)."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from nhicard import __version__
from nhicard.agent import DEFAULT_AGENT_URL
from nhicard.cli.context import AppContext
from nhicard.cli.fast_exit import end_process
from nhicard.cli.global_args import hoist_global_options
from nhicard.cli.help_lang import activate, bind_click
from nhicard.cli.lazy import LazyGroup
from nhicard.cli.output import no_color_option, tolerant_streams
from nhicard.cli.params import Seconds, agent_url_callback
from nhicard.cli.stop_signals import stop_signals_interrupt
from nhicard.cli.streams import ReaderGone, guard_standard_streams
from nhicard.core.errors import AlreadyReported, Category, NhicardError
from nhicard.core.i18n import LANGS, T, default_lang

# name -> "module:attribute"; modules are imported only when the command runs or is listed
# in --help, so start-up stays fast and a missing optional extra breaks only its command.
COMMANDS: dict[str, str] = {
    "reader": "nhicard.cli.reader_cmd:reader",
    "card": "nhicard.cli.card_cmd:card",
    "env": "nhicard.cli.env_cmd:env",
    "register": "nhicard.cli.register_cmd:register",
    "verify-email": "nhicard.cli.verify_email_cmd:verify_email",
    "ecpa": "nhicard.cli.ecpa_cmd:ecpa",
    "sandbox": "nhicard.cli.sandbox_cmd:sandbox",
    "sim": "nhicard.cli.sim_cmd:sim",
    "agent": "nhicard.cli.agent_cmd:agent",
    "completion": "nhicard.cli.completion_cmd:completion",
}


def _version_text() -> str:
    from nhicard.pcsc.library import installed_version, pcsc_library_description

    lines = [f"nhicard {__version__}"]
    pyscard = installed_version("pyscard")
    lines.append(f"pyscard {pyscard}" if pyscard else "pyscard not installed")

    lines.append(f"PC/SC {pcsc_library_description()}")
    lines.append(f"Python {sys.version.split()[0]}")
    return "\n".join(lines)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(_version_text())
    ctx.exit(0)


def _complete_reader(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    try:
        from nhicard.pcsc.names import list_reader_names

        names = list_reader_names()
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    from click.shell_completion import CompletionItem

    out = []
    for i, name in enumerate(names):
        if str(i).startswith(incomplete) or incomplete.lower() in name.lower():
            out.append(CompletionItem(name, help=f"#{i}"))
    return out


class RootGroup(LazyGroup):
    """``nhicard`` itself: global options also after the subcommand
    (:mod:`nhicard.cli.global_args`), help and Click's messages in the language of
    ``--lang`` (:mod:`nhicard.cli.help_lang`), and errors turned into the contract's messages
    and exit codes here, so Click's ``CliRunner`` sees exactly what a user sees."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        lang = _lang_from_argv(argv)
        activate(lang)
        bind_click()
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        sys.exit(_run(self, argv, prog_name or "nhicard", complete_var, lang, extra))


@click.group(
    name="nhicard",
    cls=RootGroup,
    lazy_commands=COMMANDS,
    context_settings={"auto_envvar_prefix": "NHICARD", "help_option_names": ["-h", "--help"]},
)
@click.option(
    "-r",
    "--reader",
    metavar="TEXT",
    shell_complete=_complete_reader,
    help="Reader by index (0) or case-insensitive name substring.",
)
@click.option(
    "--agent",
    type=click.Choice(["auto", "direct", "nhiicc"]),
    default="auto",
    show_default=True,
    help="Card agent backend.",
)
@click.option(
    "--agent-url",
    default=DEFAULT_AGENT_URL,
    show_default=True,
    metavar="URL",
    callback=agent_url_callback,
    help="Address of the official component (nhiicc backend).",
)
@click.option(
    "--profile",
    default="real",
    show_default=True,
    metavar="NAME|PATH",
    help="Site profile: real, sandbox, or a TOML file.",
)
@click.option(
    "--lang",
    type=click.Choice(list(LANGS)),
    default=None,
    help="Language of messages and hints [default: from the locale, else zh-TW].",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More detail; -vv traces APDUs and HTTP (personal data masked).",
)
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors.")
@no_color_option
@click.option(
    "--allow-profile-hosts",
    is_flag=True,
    help="Let a profile that extends real/sandbox send the password to other hosts (warns).",
)
@click.option(
    "--apdu-timeout",
    type=Seconds(max=600.0),
    default=None,
    metavar="SECONDS",
    help="How long the card may take to answer one command [default: 5].",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show versions of nhicard, pyscard and the PC/SC library.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    reader: str | None,
    agent: str,
    agent_url: str,
    profile: str,
    lang: str | None,
    verbose: int,
    quiet: bool,
    allow_profile_hosts: bool,
    apdu_timeout: float | None,
) -> None:
    """nhicard — the Taiwan NHI card (健保卡) from a terminal.

    Read cards, diagnose readers, and set up the card password (register → verify-email →
    ecpa login), against the real sites or the local sandbox.

    The options below may also follow the command (nhicard card read -r 0); where a command
    has an option of the same name, the command's own option is meant.
    """
    lang = lang or default_lang()
    activate(lang)  # help and Click's messages from here on
    ctx.obj = AppContext(
        reader=reader,
        agent=agent,
        agent_url=agent_url,
        agent_url_given=ctx.get_parameter_source("agent_url")
        not in (None, click.core.ParameterSource.DEFAULT),
        profile=profile,
        lang=lang,
        verbose=verbose,
        quiet=quiet,
        allow_profile_hosts=allow_profile_hosts,
    )
    if apdu_timeout is not None:
        from nhicard.pcsc.connection import set_apdu_timeout

        set_apdu_timeout(apdu_timeout)


# The one table of exit codes (cli-contract.md): the core's error categories → exit status.
EXIT_CODES: dict[Category, int] = {
    Category.OTHER: 1,
    Category.USAGE: 2,
    Category.PCSC_UNAVAILABLE: 3,
    Category.NO_READER: 4,
    Category.NO_CARD: 5,
    Category.CARD_ERROR: 6,
    Category.NETWORK: 7,
    Category.SITE_REJECTED: 8,
    Category.AUTH_REFUSED: 9,
    Category.CHECKS_FAILED: 10,
    Category.SITE_CHANGED: 11,
    Category.INTERRUPTED: 130,
}
EXIT_BUG = 1  # an unexpected exception: a bug in nhicard


def exit_code_for(err: NhicardError) -> int:
    """The exit status of the CLI contract for ``err``."""
    return EXIT_CODES[err.category]


INTERNAL_ERROR = T(
    "nhicard 內部錯誤(這是程式的問題,請回報):{err}",
    "internal error in nhicard (this is a bug, please report it): {err}",
)
INTERNAL_HINT = T("加上 -v 可看到完整的追蹤資訊。", "Run again with -v for the full traceback.")
INTERRUPTED = T("已中斷。", "Interrupted.")
ERROR_PREFIX = T("錯誤", "Error")
HINT_PREFIX = T("建議", "Hint")


def _lang_from_argv(argv: list[str]) -> str:
    """The language of ``--lang`` (its last one, as Click takes it) anywhere before ``--``;
    else from the environment. Known before parsing, for Click's own errors."""
    lang = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv) and argv[i + 1] in LANGS:
            lang = argv[i + 1]
        elif arg.startswith("--lang=") and arg.split("=", 1)[1] in LANGS:
            lang = arg.split("=", 1)[1]
    return lang or default_lang()


def report_error(err: NhicardError, lang: str) -> None:
    click.echo(f"{ERROR_PREFIX.render(lang)}: {err.text.render(lang)}", err=True)
    if err.hint is not None:
        click.echo(f"{HINT_PREFIX.render(lang)}: {err.hint.render(lang)}", err=True)
    saved = getattr(err, "saved_page", None)
    if saved:
        click.echo(f"{T('已保存頁面', 'Page saved to').render(lang)}: {saved}", err=True)


def _run(
    group: click.Group,
    args: list[str],
    prog_name: str,
    complete_var: str | None,
    lang: str,
    extra: dict[str, Any],
) -> int:
    """Run the command line ``args``; its exit status (cli-contract.md), the error reported."""
    verbose = any(
        a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args
    )
    try:
        rv = click.Group.main(group, args, prog_name, complete_var, standalone_mode=False, **extra)
    except ReaderGone:
        return 0  # stdout's pipe closed by its reader (| head): quietly stop
    except NhicardError as err:
        if not isinstance(err, AlreadyReported):
            report_error(err, lang)
        return exit_code_for(err)
    except click.exceptions.Abort:
        click.echo(INTERRUPTED.render(lang), err=True)
        return EXIT_CODES[Category.INTERRUPTED]
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except KeyboardInterrupt:
        click.echo(INTERRUPTED.render(lang), err=True)
        return EXIT_CODES[Category.INTERRUPTED]
    except Exception as err:  # noqa: BLE001 - the single catch-all that turns bugs into exit 1
        if verbose:
            import traceback

            traceback.print_exc()
        click.echo(INTERNAL_ERROR.render(lang, err=f"{type(err).__name__}: {err}"), err=True)
        if not verbose:
            click.echo(INTERNAL_HINT.render(lang), err=True)
        return EXIT_BUG
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def main(argv: list[str] | None = None) -> None:
    """The command line ``argv`` (default: ``sys.argv``); ends with ``SystemExit``."""
    tolerant_streams()
    guard_standard_streams()
    args = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("_NHICARD_COMPLETE", "").startswith("powershell"):
        import nhicard.cli.powershell_completion  # noqa: F401 - registers it with Click
    # SIGTERM/SIGHUP (systemd, timeout, a closed terminal) stop it as Ctrl-C does
    with stop_signals_interrupt():
        cli.main(args=args, prog_name="nhicard")


def run() -> NoReturn:
    """The ``nhicard`` console script: :func:`main`, then the end of the process
    (:func:`nhicard.cli.fast_exit.end_process`, looked up here so benchmarks can wrap it)."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    end_process(code)


if __name__ == "__main__":
    run()
