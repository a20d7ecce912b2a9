"""Timing hooks for ``profile_job.py``, run inside the measured processes.

    python benchmarks/profile_hooks.py client OUT.json ARGS…   # nhicard ARGS… with hooks
    python benchmarks/profile_hooks.py server OUT.jsonl ARGS…  # the sandbox server with hooks

``client`` runs ``nhicard.cli.main.run()`` with exclusive timers (time inside a nested one is
not counted again in the outer one) around imports (``importlib._bootstrap._find_and_load``),
profile loading (``nhicard.sites.loader.resolve_profile``), HTTP (``httpx.Client.send``) and the
direct agent's card calls (``DirectAgent``: SAM sessions and APDUs), and writes them with the
process's clock readings to OUT.json when ``end_process`` is reached. ``server`` runs
``nhicard.sandbox.server.main`` with every site's ASGI app timed: one JSON line per request
(site, method, path, monotonic start and end). Both use ``time.monotonic()``, one clock for
every process of the machine, so the driver lines them up with its own readings.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # before anything else is imported

import functools  # noqa: E402
import importlib._bootstrap as bootstrap  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

CPROFILE_ENV = "NHICARD_PROFILE_CPROFILE"  # client: also write cProfile stats to this file
AGENT_METHODS = ("get_version", "get_random", "get_basic", "h_sign", "secure_get_basic")


class Timers:
    """Exclusive time per category: entering one pauses the one it runs inside."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._stack: list[list[Any]] = []  # [category, resumed_at]

    def enter(self, category: str) -> None:
        now = time.monotonic()
        if self._stack:
            top = self._stack[-1]
            self.totals[top[0]] = self.totals.get(top[0], 0.0) + now - top[1]
        self._stack.append([category, now])
        self.counts[category] = self.counts.get(category, 0) + 1

    def leave(self) -> None:
        now = time.monotonic()
        category, resumed = self._stack.pop()
        self.totals[category] = self.totals.get(category, 0.0) + now - resumed
        if self._stack:
            self._stack[-1][1] = now

    def wrap(self, category: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(category)
            try:
                return func(*args, **kwargs)
            finally:
                self.leave()

        return timed


def client(out: Path, argv: list[str]) -> None:
    timers = Timers()
    http_spans: list[tuple[float, float]] = []
    original_find_and_load = bootstrap._find_and_load  # type: ignore[attr-defined]
    depth = [0]

    def patch(name: str, module: Any) -> None:
        if name == "httpx":
            send = module.Client.send

            @functools.wraps(send)
            def timed_send(*args: Any, **kwargs: Any) -> Any:
                began = time.monotonic()
                try:
                    return timers.wrap("http", send)(*args, **kwargs)
                finally:
                    http_spans.append((began, time.monotonic()))

            module.Client.send = timed_send
        elif name == "nhicard.sites.loader":
            module.resolve_profile = timers.wrap("profile", module.resolve_profile)
        elif name == "nhicard.agent.client.direct":
            for method in AGENT_METHODS:
                setattr(
                    module.DirectAgent,
                    method,
                    timers.wrap("agent", getattr(module.DirectAgent, method)),
                )

    def find_and_load(name: str, import_: Any) -> Any:
        outer = depth[0] == 0
        if outer:
            timers.enter("imports")
        depth[0] += 1
        try:
            module = original_find_and_load(name, import_)
        finally:
            depth[0] -= 1
            if outer:
                timers.leave()
        patch(name, module)
        return module

    bootstrap._find_and_load = find_and_load  # type: ignore[attr-defined]
    profiler = None
    if os.environ.get(CPROFILE_ENV):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    sys.argv = ["nhicard", *argv]
    from nhicard.cli import main as cli_main

    end_process = getattr(cli_main, "end_process", None)

    def record_then_end(code: object) -> Any:
        ended = time.monotonic()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ[CPROFILE_ENV])
        report = {
            "started": STARTED,
            "main_returned": ended,
            "totals": timers.totals,
            "counts": timers.counts,
            "http_spans": http_spans,
        }
        out.write_text(json.dumps(report), encoding="utf-8")
        return end_process(code) if end_process is not None else None

    if hasattr(cli_main, "run"):
        cli_main.end_process = record_then_end  # type: ignore[assignment]
        cli_main.run()
    else:  # a revision before ``run``/``end_process``: main() ends with SystemExit
        try:
            cli_main.main()
        except SystemExit as exc:
            record_then_end(exc.code)
            raise


def server(out: Path, argv: list[str]) -> int:
    from nhicard.sandbox import server as sandbox_server

    log = out.open("a", encoding="utf-8", buffering=1)
    original_init = sandbox_server.HttpsSite.__init__

    def init(self: Any, name: str, app: Any, *args: Any, **kwargs: Any) -> None:
        async def timed_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            began = time.monotonic()
            try:
                await app(scope, receive, send)
            finally:
                if scope.get("type") == "http":
                    record = {
                        "site": name,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "start": began,
                        "end": time.monotonic(),
                    }
                    log.write(json.dumps(record) + "\n")

        original_init(self, name, timed_app, *args, **kwargs)

    sandbox_server.HttpsSite.__init__ = init  # type: ignore[method-assign]
    return sandbox_server.main(argv)


def main() -> int:
    role, out, *argv = sys.argv[1:]
    if role == "client":
        client(Path(out), argv)
        return 0
    if role == "server":
        return server(Path(out), argv)
    raise SystemExit(f"unknown role {role!r}: client or server")


if __name__ == "__main__":
    sys.exit(main())
