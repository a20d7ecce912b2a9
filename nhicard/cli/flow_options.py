"""What the web-flow commands (register, verify-email, ecpa login) share on the CLI side:
the ``--save-pages`` option and the flow settings built from the root options."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from nhicard.cli.context import AppContext
from nhicard.cli.params import writable_directory
from nhicard.core.i18n import Text

if TYPE_CHECKING:
    from nhicard.flows.base import FlowSettings

save_pages_option = click.option(
    "--save-pages",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    callback=writable_directory,
    help="Save every page fetched (redacted) into DIR.",
)


def flow_settings(
    app: AppContext,
    save_pages: Path | None = None,
    *,
    read_timeout: float | None = None,
    form_hosts_of: str | None = None,
) -> FlowSettings:
    """The :class:`~nhicard.flows.base.FlowSettings` of this invocation: the root options,
    step progress on a terminal (or with -v), HTTP traces with -vv, ``--save-pages``."""
    from urllib.parse import urlsplit

    from nhicard.flows.base import FlowSettings

    # the relying party of ecpa login --return-url: the sign-on's forms may go there too
    extra = (urlsplit(form_hosts_of).hostname or "",) if form_hosts_of else ()

    def log(text: Text) -> None:
        if app.stderr_is_tty or app.verbose >= 1:
            app.info(text)

    def trace(line: str) -> None:
        app.debug(line, level=2)

    return FlowSettings(
        profile=app.profile,
        agent_kind=app.agent,
        agent_url=app.agent_url,
        agent_url_given=app.agent_url_given,
        reader=app.reader,
        trace=trace if app.verbose >= 2 else None,
        log=log,
        warn=app.warn,
        allow_profile_hosts=app.allow_profile_hosts,
        extra_form_hosts=tuple(h for h in extra if h),
        save_pages=save_pages,
        read_timeout=read_timeout,
    )
