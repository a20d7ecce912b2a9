"""``nhicard env check``: diagnostics for when 「讀取」 does nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nhicard.cli.context import get_app
from nhicard.cli.help_layout import HelpGroup
from nhicard.cli.output import emit, output_options, pick_format
from nhicard.cli.params import Seconds
from nhicard.cli.records import check_record, env_report
from nhicard.core.errors import ChecksFailed, UsageError
from nhicard.core.i18n import T, shown
from nhicard.envcheck import FAIL, GROUPS, PASS, SKIP, WARN, CheckResult, run_checks
from nhicard.envcheck.settings import AgentSettings

CHECK_IDS_HELP = """\b
Groups and check ids (stable; per-site ids use the site keys nhi and ecpa):
  system     system.os system.python system.nhicard system.pyscard system.pcsc-library
  pcsc       pcsc.service pcsc.context pcsc.readers pcsc.reader-state pcsc.exclusive
             pcsc.usb
  card       card.present card.atr card.select card.profile card.id-check card.termination
  agent      agent.hosts agent.installed agent.port agent.tls agent.version agent.backend
             agent.official-ca agent.serve-trust agent.serve-service agent.exposed
             agent.browser-lna
  network    network.profile network.proxy network.dns.SITE network.https.SITE
             network.tls.SITE network.sam
  clock      clock.offset clock.timezone
  installer  installer.checksum.N (one per --installer FILE, N from 1), or
             installer.checksum (skip) without --installer
"""

MARKS = {PASS: ("✔", "green"), WARN: ("!", "yellow"), FAIL: ("✘", "red"), SKIP: ("-", None)}
ASCII_MARKS = {PASS: "+", WARN: "!", FAIL: "x", SKIP: "-"}
SUMMARY_LINE = T(
    "通過 {pass_} · 警告 {warn} · 失敗 {fail} · 略過 {skip}",
    "{pass_} passed · {warn} warnings · {fail} failed · {skip} skipped",
)


@click.group(cls=HelpGroup)
def env() -> None:
    """Diagnose this computer's setup (readers, card, component, network, clock)."""


def _can_encode(text: str) -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def render_table(results: list[CheckResult], lang: str) -> str:
    """One line per check with its status mark; the fix under warnings and failures."""
    fancy = _can_encode("✔✘→")
    width = max((len(r.id) for r in results), default=0)
    lines = []
    for r in results:
        mark, colour = MARKS[r.status]
        if not fancy:
            mark = ASCII_MARKS[r.status]
        head = click.style(f"{mark} {r.status.upper():4}", fg=colour, bold=r.status == FAIL)
        lines.append(f"{head} {r.id.ljust(width)}  {r.summary.render(lang)}")
        if r.status in (WARN, FAIL) and r.fix is not None:
            arrow = "→" if fancy else "->"
            lines.append(f"{' ' * (7 + width)}  {arrow} {r.fix.render(lang)}")
    counts = env_report(results, lang)["summary"]
    lines.append("")
    lines.append(
        SUMMARY_LINE.render(
            lang, pass_=counts[PASS], warn=counts[WARN], fail=counts[FAIL], skip=counts[SKIP]
        )
    )
    return "\n".join(lines)


def _groups(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    from nhicard.envcheck.plan import parse_groups

    try:
        return parse_groups(value)
    except ValueError as exc:
        named = str(exc).strip(", ")
        why = (
            T("不明的群組:{g}", "unknown group: {g}").format(g=shown(named))
            if named
            else T("沒有指定任何群組", "no group named")
        )
        raise UsageError(  # rendered in the chosen language by the root group
            T("--only:{why_zh}(可選:{all})", "--only: {why_en} (choose from {all})").format(
                why_zh=why.zh, why_en=why.en, all=", ".join(GROUPS)
            ),
            reason="bad-group",
        ) from None


@env.command("check", epilog=CHECK_IDS_HELP)
@click.option("--offline", is_flag=True, help="Skip everything that needs the Internet.")
@click.option(
    "--only",
    "groups",
    metavar="GROUP[,GROUP]",
    callback=_groups,
    help=f"Run only these groups ({', '.join(GROUPS)}).",
)
@click.option(
    "--installer",
    "installers",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    metavar="FILE",
    help="A downloaded component installer to compare with the published checksums (repeatable).",
)
@click.option(
    "--timeout",
    type=Seconds(min=0.1, min_open=False, max=120.0),
    default=5.0,
    show_default=True,
    show_envvar=True,
    metavar="SECONDS",
    help="Time each network check may take; the whole run stops after max(14, 2.8 × this).",
)
@output_options
def check(
    groups: tuple[str, ...],
    offline: bool,
    installers: tuple[Path, ...],
    timeout: float,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Check everything reading the card and the web job depend on.

    Each check reports pass, warn, fail or skip (skipped when a check it needs did not
    pass), with a fix for warnings and failures. The official component's checks warn at
    worst: nhicard's direct agent works without it.
    """
    from nhicard.envcheck.plan import (
        CheckOptions,
        LoadedProfile,
        budget_for,
        load_profile,
        make_env,
        plan_checks,
    )

    app = get_app()
    fmt = pick_format(fmt, as_json)
    wants_profile = "network" in groups or "clock" in groups or "agent" in groups
    loaded = load_profile(app.profile) if wants_profile else LoadedProfile(None)
    origin = "https://cloudicweb.nhi.gov.tw"
    ca_bundle = None
    if loaded.targets is not None:
        ca_bundle = loaded.targets.ca_bundle
        origin = loaded.targets.agent_origin or origin
    options = CheckOptions(
        groups=groups,
        offline=offline,
        installers=installers,
        reader=app.reader,
        profile=app.profile,
        agent=AgentSettings(app.agent_url, app.agent, origin, ca_bundle, app.agent_url_given),
        timeout=timeout,
    )
    checks = plan_checks(options, loaded)
    if fmt == "table" and app.stderr_is_tty:
        app.info(T("檢查中…", "Checking…"))
    results = run_checks(checks, make_env(options, loaded), budget=budget_for(timeout))
    if fmt == "table":
        click.echo(render_table(results, app.lang))
    elif fmt == "json":
        emit(env_report(results, app.lang), fmt)
    else:
        emit([check_record(r, app.lang) for r in results], fmt)
    failures = sum(1 for r in results if r.status == FAIL)
    if failures:
        raise ChecksFailed(
            T("環境檢查發現 {n} 項失敗", "the environment check found {n} failure(s)").format(
                n=failures
            ),
            hint=T(
                "依照各項的建議處理後,再執行一次 nhicard env check。",
                "Follow the fix of each failed check, then run nhicard env check again.",
            ),
        )
