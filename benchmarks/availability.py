"""Whether an nhicard command exists yet (figures of commands still being built are skipped
with a clear line instead of failing)."""

from __future__ import annotations

from benchmarks.environment import nhicard_executable
from benchmarks.measure import Command, run_process


def missing_command(env: dict[str, str], *commands: tuple[str, ...]) -> str | None:
    """None when ``nhicard <command> --help`` exits 0 for every command, else the first
    missing one as ``nhicard <command>``."""
    for words in commands:
        run = run_process(Command("help", (nhicard_executable(), *words, "--help"), env))
        if run.returncode != 0:
            return "nhicard " + " ".join(words)
    return None
