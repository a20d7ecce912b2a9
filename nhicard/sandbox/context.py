"""What every sandbox app shares: :class:`SandboxContext`.

One context per sandbox server process: the directory, the people (data), the registration
store, the SAM keys, the endpoints (URLs of the parts), the fault switches, the clock, the
secret that signs WebForms state and SSO tokens, the settings, and the household registry.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nhicard.agent import COMPONENT_PORT
from nhicard.core.atomicfile import create_file_once
from nhicard.core.clock import Clock, utc_now
from nhicard.core.errors import UsageError
from nhicard.core.i18n import T
from nhicard.sandbox.data import SandboxData, load_data
from nhicard.sandbox.faults import SandboxFaults
from nhicard.sandbox.keys import SandboxKeys
from nhicard.sandbox.registry import HouseholdRegistry
from nhicard.sandbox.store import DEFAULT_LINK_TTL, RegistrationStore

STATE_SECRET_FILE = "state_secret.key"
DEFAULT_AGENT_URL = f"wss://127.0.0.1:{COMPONENT_PORT}/echo"
DEFAULT_SESSION_TIMEOUT = timedelta(minutes=20)
DEFAULT_MAIL_SENDER = "cloudic-noreply@nhi.sandbox.invalid"


@dataclass(frozen=True)
class SiteSettings:
    """The ``[settings]`` table of the sandbox data (all optional)."""

    link_ttl: timedelta = DEFAULT_LINK_TTL
    session_timeout: timedelta = DEFAULT_SESSION_TIMEOUT
    agent_url: str = DEFAULT_AGENT_URL
    mail_sender: str = DEFAULT_MAIL_SENDER

    @classmethod
    def parse(cls, table: Any, endpoints: Mapping[str, Any]) -> SiteSettings:
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            raise _bad_settings("[settings] must be a table")
        spans: dict[str, timedelta] = {}
        for key, unit, default in (
            ("link_ttl_hours", "hours", 24),
            ("session_timeout_minutes", "minutes", 20),
        ):
            value = table.get(key, default)
            try:
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise TypeError
                spans[key] = timedelta(**{unit: float(value)})
            except (TypeError, ValueError, OverflowError):
                raise _bad_settings(f"settings.{key} must be a number, not {value!r:.40}") from None
        ttl, timeout = spans["link_ttl_hours"], spans["session_timeout_minutes"]
        if ttl <= timedelta(0) or timeout <= timedelta(0):
            raise _bad_settings("link_ttl_hours and session_timeout_minutes must be > 0")
        agent_url = str(table.get("agent_url") or endpoints.get("agent_url") or DEFAULT_AGENT_URL)
        if not agent_url.startswith(("wss://", "ws://")):
            raise _bad_settings(f"agent_url must be a ws:// or wss:// URL: {agent_url!r}")
        sender = str(table.get("mail_sender") or DEFAULT_MAIL_SENDER)
        return cls(ttl, timeout, agent_url, sender)


def _bad_settings(what: str) -> UsageError:
    return UsageError(
        T("沙盒資料的 [settings] 設定有誤:{what}", "the sandbox data's [settings] table is "
          "invalid: {what}").format(what=what)
    )  # fmt: skip


def load_state_secret(directory: Path) -> bytes:
    """The directory's 32-byte secret (created once, mode 0600)."""
    path = Path(directory) / STATE_SECRET_FILE
    if not path.exists():
        create_file_once(path, secrets.token_bytes(32))
    secret = path.read_bytes()
    if len(secret) != 32:
        raise UsageError(
            T("沙盒金鑰檔 {path} 損毀", "sandbox secret file {path} is damaged").format(
                path=str(path)
            ),
            hint=T("刪除該檔案後重新啟動沙盒。", "Delete the file and start the sandbox again."),
        )
    return secret


@dataclass
class SandboxContext:
    """Everything the sandbox apps share (see the module docstring)."""

    dir: Path
    data: SandboxData
    store: RegistrationStore
    keys: SandboxKeys
    endpoints: dict[str, Any]
    faults: SandboxFaults
    clock: Clock
    state_secret: bytes = field(repr=False)
    settings: SiteSettings = field(default_factory=SiteSettings)
    registry: HouseholdRegistry = field(default_factory=HouseholdRegistry.builtin)

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        data: SandboxData | None = None,
        endpoints: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        store: RegistrationStore | None = None,
    ) -> SandboxContext:
        """The context of a sandbox directory (keys, secret and store created if missing)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        data = data if data is not None else load_data(None)
        eps = dict(endpoints or {})
        return cls(
            dir=d,
            data=data,
            store=store if store is not None else RegistrationStore.open(d),
            keys=SandboxKeys.load_or_create(d),
            endpoints=eps,
            faults=SandboxFaults.from_data(data.extra),
            clock=clock or utc_now,
            state_secret=load_state_secret(d),
            settings=SiteSettings.parse(data.extra.get("settings"), eps),
            registry=HouseholdRegistry.from_data(data),
        )

    def now(self) -> datetime:
        """The clock's time, always aware (naive values are taken as UTC)."""
        moment = self.clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def close(self) -> None:
        self.store.close()
