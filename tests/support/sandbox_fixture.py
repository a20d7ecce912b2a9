"""A running sandbox server process for a test module, shared by its flow tests.

``sandbox_server`` (module scope: its virtual card holds vpcd slot 0, which other modules use
for their own cards, so it must be gone before the next module starts) starts
``python -m nhicard.sandbox.server`` through the supervisor, with its virtual card on the private pcscd's vpcd slot 0 (the session's
``pcsc_stack`` exports ``NHICARD_VPCD_PORT``, which the server reads), on free ports, with the
built-in people plus :data:`BASE_EXTRA`. ``sandbox`` (per test) gives that server back with
the default data and an empty registration store and Maildir.

A test that needs faults calls ``sandbox.use(extra_toml)``: the server is restarted with the
built-in data plus those TOML tables (``[faults.nhi]`` …), in the same directory; the next
test that asks for ``sandbox`` gets the default data back.

Use the fixtures in a test module by naming them there (no import shadowing for ruff)::

    from tests.support import sandbox_fixture
    sandbox_server = sandbox_fixture.sandbox_server
    sandbox = sandbox_fixture.sandbox
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from nhicard.sandbox import supervisor
from nhicard.sandbox.store import STORE_FILE, Registration, RegistrationStore
from tests.support.ports import free_port_base

# A second 龍門 village in 臺北市大安區, so that "龍門" is ambiguous (龍門里 / 龍門村).
BASE_EXTRA = """
[[household]]
household_id = "Q7777777"
city = "臺北市"
district = "大安區"
village = "龍門村"
neighborhood = 1
members = ["Z299999990"]
"""


def default_data_text() -> str:
    return resources.files("nhicard.sandbox").joinpath("default_data.toml").read_text("utf-8")


class SandboxServer:
    """One sandbox server process at a time in ``directory``; restarted when the data
    (faults) asked for differ from the running one's."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.extra: str | None = None
        self.endpoints: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def use(self, extra_toml: str = "") -> dict[str, Any]:
        """Make sure the server runs with the built-in data + BASE_EXTRA + ``extra_toml``."""
        if self.extra == extra_toml and supervisor.read_pid(self.dir) is not None:
            return self.endpoints
        self.stop()
        text = default_data_text() + "\n" + BASE_EXTRA + "\n" + extra_toml + "\n"
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        data_file = self.dir.parent / f"data-{digest}.toml"
        data_file.write_text(text, "utf-8")
        self.endpoints = supervisor.start(
            self.dir, data_file=data_file, port_base=free_port_base(), card=True
        )
        self.extra = extra_toml
        return self.endpoints

    def stop(self) -> None:
        supervisor.stop(self.dir)
        self.extra = None

    # -- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every registration, link and login counter; empty the Maildir."""
        with sqlite3.connect(self.dir / STORE_FILE, timeout=10) as db:
            db.execute("DELETE FROM registrations")
            db.execute("DELETE FROM links")
            db.execute("DELETE FROM logins")
        for sub in ("new", "cur", "tmp"):
            for path in (self.maildir / sub).glob("*"):
                path.unlink(missing_ok=True)

    @property
    def maildir(self) -> Path:
        return Path(self.endpoints.get("maildir") or self.dir / "maildir")

    def mails(self) -> list[Path]:
        """Files of the mails the site sent (the Maildir's new/ and cur/)."""
        return sorted(p for p in self.maildir.rglob("*") if p.is_file() and p.parent.name in
                      ("new", "cur"))  # fmt: skip

    def application(self, card_number: str = "000012345678") -> Registration | None:
        """The card's registration as the site stored it (pending or verified)."""
        store = RegistrationStore.open(self.dir)
        try:
            return store.get_application(card_number)
        finally:
            store.close()

    def verify(self, card_number: str = "000012345678") -> None:
        """Complete the card's pending registration, as following the mail's link would."""
        from datetime import UTC, datetime

        store = RegistrationStore.open(self.dir)
        try:
            now = datetime.now(UTC)
            store.complete_verification(store.issue_link(card_number, now), now)
        finally:
            store.close()

    def env(self) -> dict[str, str]:
        """Environment for ``nhicard --profile sandbox`` subprocesses."""
        return {"NHICARD_SANDBOX_DIR": str(self.dir)}


@pytest.fixture(scope="module")
def sandbox_server(
    pcsc_stack: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxServer]:
    """The module's sandbox server (see the module docstring)."""
    server = SandboxServer(tmp_path_factory.mktemp("sandbox") / "sb")
    old = os.environ.get("NHICARD_SANDBOX_DIR")
    os.environ["NHICARD_SANDBOX_DIR"] = str(server.dir)
    try:
        server.use("")
        yield server
    finally:
        server.stop()
        if old is None:
            os.environ.pop("NHICARD_SANDBOX_DIR", None)
        else:
            os.environ["NHICARD_SANDBOX_DIR"] = old


@pytest.fixture
def sandbox(sandbox_server: SandboxServer, pcsc: Any) -> SandboxServer:
    """The session's sandbox with the default data, no registrations and no mail."""
    sandbox_server.use("")
    sandbox_server.reset()
    return sandbox_server
