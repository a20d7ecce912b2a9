"""A scripted machine for agent install: commands answered from a script, files under a temporary root."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from nhicard.agent.serve.install import Machine, Result


class Script:
    """A runner that records argv and answers from rules (first match by prefix); calls no
    rule matches go to ``fallback`` (the real runner for certutil, say)."""

    def __init__(self, fallback: Callable[[Sequence[str]], Result] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.rules: list[tuple[list[str], Result]] = []
        self.fallback = fallback

    def on(self, prefix: Sequence[str], result: Result) -> Script:
        self.rules.insert(0, (list(prefix), result))
        return self

    def __call__(self, argv: Sequence[str]) -> Result:
        argv = list(argv)
        self.calls.append(argv)
        for prefix, result in self.rules:
            if argv[: len(prefix)] == prefix:
                return result
        if self.fallback is not None:
            return self.fallback(argv)
        return Result(0, "")


def machine(tmp_path: Path, system: str = "linux", **kw: object) -> Machine:
    hosts = tmp_path / "hosts"
    if not hosts.exists():
        hosts.write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
    defaults: dict[str, object] = {
        "system": system,
        "home": tmp_path / "home",
        "state_dir": tmp_path / "state",
        "hosts_file": hosts,
        "uid": 501,
        "serve_command": SERVE,
        "which": lambda tool: f"/usr/bin/{tool}",
        "resolve": lambda host: ["127.0.0.1"],
    }
    return Machine(**{**defaults, **kw})  # type: ignore[arg-type]


SERVE = ["/opt/nhicard/bin/nhicard", "agent", "serve"]
