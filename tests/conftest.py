"""Shared fixtures. Integration tests run the installed ``nhicard`` against real parts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.cli import run_nhicard
from tests.support.stack import PcscStack, VirtualCardSlots, have_real_pcsc

# Property tests judge what a function returns, never how fast: hypothesis's default 200 ms
# deadline per example and its too-slow health check fail on a loaded machine, not on a bug
# (tests/unit/test_cli_fuzz.py has its own hang limit for whole commands). A test's own
# @settings sets its example count; one that suppresses another health check adds it to
# settings.default.suppress_health_check.
settings.register_profile("nhicard", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nhicard")


@pytest.fixture(scope="session")
def user_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """XDG dirs in a temp dir, so tests never read or write the real user's state."""
    base = tmp_path_factory.mktemp("xdg")
    env = {}
    for var in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        d = base / var.lower()
        d.mkdir()
        env[var] = str(d)
    return env


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_dirs(user_dirs: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in user_dirs}
    os.environ.update(user_dirs)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def pcsc_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscStack]:
    """One private pcscd + vpcd for the session; its env is set for this process too."""
    why = have_real_pcsc()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the real PC/SC stack is required in CI: {why}")
        pytest.skip(why)
    stack = PcscStack(tmp_path_factory.mktemp("pcsc"))
    stack.start()
    old = {k: os.environ.get(k) for k in stack.env()}
    os.environ.update(stack.env())
    yield stack
    stack.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def pcsc(pcsc_stack: PcscStack) -> PcscStack:
    """The session's pcscd, restarted if an earlier test stopped it."""
    if not pcsc_stack.running:
        pcsc_stack.start()
    return pcsc_stack


@pytest.fixture
def nhicard() -> object:
    """``nhicard(*args, env=…, input=…)`` → CompletedProcess."""
    return run_nhicard


@pytest.fixture
def virtual_cards(pcsc: PcscStack) -> Iterator[VirtualCardSlots]:
    """Insert virtual cards into the private pcscd's vpcd slots; all removed afterwards."""
    slots = VirtualCardSlots(pcsc)
    yield slots
    slots.remove_all()


@pytest.fixture(scope="session")
def _dovecot_stopping() -> Iterator[list[object]]:
    """Dovecot servers told to stop (each takes ~1 s to exit); reaped at session end."""
    stopping: list[object] = []
    yield stopping
    for server in stopping:
        server.reap()  # type: ignore[attr-defined]


@pytest.fixture
def dovecot_factory(
    tmp_path_factory: pytest.TempPathFactory, _dovecot_stopping: list[object]
) -> Iterator[object]:
    """``dovecot_factory(maildir=None, **kw)`` → a started ``tests.support.dovecot.DovecotServer``
    (a real Dovecot on 127.0.0.1, free ports); every server is stopped after the test.
    Pass an existing Maildir (e.g. the sandbox's ``DIR/Maildir``) and ``cert``/``key``/
    ``ca_pem`` to serve it with the sandbox's certificate."""
    from tests.support.dovecot import DovecotServer, dovecot_unavailable

    why = dovecot_unavailable()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"Dovecot is required in CI: {why}")
        pytest.skip(why)
    servers: list[DovecotServer] = []

    def start(maildir: Path | None = None, **kw: object) -> DovecotServer:
        server = DovecotServer(tmp_path_factory.mktemp("dovecot"), maildir, **kw)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop(wait=False)
        _dovecot_stopping.append(server)


@pytest.fixture
def dovecot(dovecot_factory: object) -> object:
    """A started Dovecot serving a fresh, empty Maildir (``.maildir``) over imaps and
    STARTTLS; ``.url()``, ``.password``, ``.ca_pem``, ``.deliver(raw)``."""
    return dovecot_factory()  # type: ignore[operator]
