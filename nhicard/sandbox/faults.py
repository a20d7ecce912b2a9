"""Fault switches of the sandbox, read from the sandbox data's ``[faults]`` table.

```toml
[faults]
card = "t0,delay=50"                 # every virtual card (vcard.FaultSpec syntax), or
# [faults.card] "000012345678" = "bad-auth"   one card

[faults.nhi]
error_step = "apply"                 # answer 5xx when this step's page is due
error_status = 503                   # default 500
error_times = 1                      # only the first N times (default: every time)
slow_step = "contact"                # answer this step's page late ...
slow_seconds = 3.0                   # ... by this long
maintenance = true                   # every page is the maintenance notice
expire_session_at = "contact"        # the session expires when this step is posted
reject_state_at = "contact"          # ASP.NET refuses this step's posted __VIEWSTATE (500)
reject_state_times = 1               # only the first N times (default: every time)
rename_controls = { btnSubmit = "btnGoOn" }      # a control renamed on every page
relabel = { "下一步 Next" = "繼續 Continue" }     # a visible caption changed
```
Steps: ``login``, ``terms``, ``apply``, ``contact``, ``sent``, ``verify``, ``done``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nhicard.core.errors import UsageError
from nhicard.core.i18n import T

STEPS = ("login", "terms", "apply", "contact", "sent", "verify", "done")


def _bad(what: str) -> UsageError:
    return UsageError(
        T("沙盒資料的 [faults] 設定有誤:{what}", "the sandbox data's [faults] table is invalid: {what}")
        .format(what=what),
        hint=T("可用的步驟:{steps}", "Known steps: {steps}").format(steps=", ".join(STEPS)),
    )  # fmt: skip


def _step(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if value not in STEPS:
        raise _bad(f"faults.nhi.{key} = {value!r}")
    return str(value)


def _str_map(value: Any, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise _bad(f"faults.nhi.{key} must be a table of strings")
    return dict(value)


@dataclass
class SiteFaults:
    """Faults of the NHI registration site."""

    error_step: str | None = None
    error_status: int = 500
    error_times: int | None = None
    slow_step: str | None = None
    slow_seconds: float = 0.0
    maintenance: bool = False
    expire_session_at: str | None = None
    reject_state_at: str | None = None
    reject_state_times: int | None = None
    rename_controls: dict[str, str] = field(default_factory=dict)
    relabel: dict[str, str] = field(default_factory=dict)
    _errors_given: int = 0
    _rejections_given: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(cls, table: Any) -> SiteFaults:
        if table is None:
            return cls()
        if not isinstance(table, Mapping):
            raise _bad("faults.nhi must be a table")
        unknown = set(table) - {
            "error_step", "error_status", "error_times", "slow_step", "slow_seconds",
            "maintenance", "expire_session_at", "reject_state_at", "reject_state_times",
            "rename_controls", "relabel",
        }  # fmt: skip
        if unknown:
            raise _bad("unknown key(s) " + ", ".join(sorted(unknown)))

        def number(key: str, kind: type[int] | type[float], default: Any = None) -> Any:
            value = table.get(key, default)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise _bad(f"faults.nhi.{key} must be a number, not {value!r:.40}")
            try:
                return kind(value)
            except (TypeError, ValueError, OverflowError):
                raise _bad(f"faults.nhi.{key} must be a number, not {value!r:.40}") from None

        status = number("error_status", int, 500)
        times = number("error_times", int)
        slow = number("slow_seconds", float, 0.0)
        rejections = number("reject_state_times", int)
        if not 500 <= status <= 599:
            raise _bad("error_status must be 500..599")
        return cls(
            error_step=_step(table.get("error_step"), "error_step"),
            error_status=status,
            error_times=times,
            slow_step=_step(table.get("slow_step"), "slow_step"),
            slow_seconds=max(0.0, slow),
            maintenance=bool(table.get("maintenance", False)),
            expire_session_at=_step(table.get("expire_session_at"), "expire_session_at"),
            reject_state_at=_step(table.get("reject_state_at"), "reject_state_at"),
            reject_state_times=rejections,
            rename_controls=_str_map(table.get("rename_controls"), "rename_controls"),
            relabel=_str_map(table.get("relabel"), "relabel"),
        )

    def error_for(self, step: str) -> int | None:
        """The 5xx status to answer instead of ``step``'s page, or None."""
        if self.error_step != step:
            return None
        with self._lock:
            if self.error_times is not None and self._errors_given >= self.error_times:
                return None
            self._errors_given += 1
        return self.error_status

    def delay_for(self, step: str) -> float:
        return self.slow_seconds if self.slow_step == step else 0.0

    def expires_at(self, step: str) -> bool:
        return self.expire_session_at == step

    def rejects_state(self, step: str) -> bool:
        """Whether the posted page state of ``step`` is refused (the ASP.NET error page)."""
        if self.reject_state_at != step:
            return False
        with self._lock:
            limit = self.reject_state_times
            if limit is not None and self._rejections_given >= limit:
                return False
            self._rejections_given += 1
        return True

    def control(self, name: str) -> str:
        """The name a control carries on the pages (renamed by a fault, else unchanged)."""
        return self.rename_controls.get(name, name)

    def label(self, caption: str) -> str:
        return self.relabel.get(caption, caption)


@dataclass
class SandboxFaults:
    """Every fault switch of the sandbox."""

    nhi: SiteFaults = field(default_factory=SiteFaults)
    card_specs: dict[str, str] = field(default_factory=dict)  # card number or "*" → spec

    @classmethod
    def from_data(cls, extra: Mapping[str, Any]) -> SandboxFaults:
        """From the sandbox data's extra tables (``SandboxData.extra``)."""
        table = extra.get("faults") or {}
        if not isinstance(table, Mapping):
            raise _bad("[faults] must be a table")
        card = table.get("card")
        specs: dict[str, str] = {}
        if isinstance(card, str):
            specs["*"] = card
        elif isinstance(card, Mapping):
            for number, spec in card.items():
                if not isinstance(spec, str):
                    raise _bad(f'faults.card.{number} must be a fault string such as "t0,delay=50"')
            specs = {str(k): str(v) for k, v in card.items()}
        elif card is not None:
            raise _bad("faults.card must be a string or a table")
        faults = cls(SiteFaults.parse(table.get("nhi")), specs)
        for number in faults.card_specs:
            faults.card_faults(number)  # refuse a bad spec now, not when the card starts
        return faults

    def card_faults(self, card_number: str) -> Any:
        """The :class:`nhicard.sandbox.vcard.FaultSpec` of one virtual card."""
        from nhicard.sandbox.vcard import FaultSpec

        return FaultSpec.parse(self.card_specs.get(card_number, self.card_specs.get("*")))
