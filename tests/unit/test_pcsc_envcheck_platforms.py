"""env check's group ``pcsc`` where PC/SC fails before any reader is reached, per OS, run here
with an injected platform and injected PC/SC answers (as a Windows PC or a refused pcsc-lite
client would give them).

Windows 8 and later start the Smart Card service when a reader is plugged in and stop it when
the last one is removed: "service stopped" or SCARD_E_NO_SERVICE there usually means "no
reader", so the report must say "plug in the reader" first, and the reader checks must run."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from nhicard.envcheck import CheckEnv, CheckResult, run_checks
from nhicard.envcheck import pcsc as pcsc_group
from nhicard.pcsc import codes, polkit
from nhicard.platform import RUNNING, STOPPED, UNKNOWN, ServiceState, current

SC_STOPPED = "sc query SCardSvr (exit 0): STATE : 1 STOPPED"


def platform(system: str, state: str, detail: str = SC_STOPPED) -> Any:
    """The real platform module of ``system`` with its service state answered."""
    real = current(system)
    names = {n: getattr(real, n) for n in dir(real) if not n.startswith("_")}
    names["pcsc_service_state"] = lambda environ: ServiceState(state, detail)
    return SimpleNamespace(**names)


def failing(code: int, during: str, system: str | None = None) -> Callable[[], Any]:
    """A PC/SC step that fails as pyscard's would; by default translated for this computer,
    so env check has to decide by the platform it was given, not by where the test runs."""

    def step() -> Any:
        raise codes.translate(code, during=during, system=system)

    return step


def run_group(plat: Any, **settings: Any) -> dict[str, CheckResult]:
    env = CheckEnv(platform=plat, environ={}, **settings, timeout=5)
    return {r.id: r for r in run_checks(pcsc_group.checks(), env)}


def statuses(results: dict[str, CheckResult]) -> dict[str, str]:
    return {k: r.status for k, r in results.items()}


NO_SERVICE = {
    "establish_context": failing(codes.SCARD_E_NO_SERVICE, "SCardEstablishContext"),
    "list_reader_names": failing(codes.SCARD_E_NO_SERVICE, "SCardEstablishContext"),
}


@pytest.mark.parametrize("state", [STOPPED, UNKNOWN, RUNNING])
def test_windows_without_a_reader_says_plug_in_the_reader_and_runs_the_reader_checks(
    state: str,
) -> None:
    """Whatever sc.exe said (stopped; a language we could not read; running a moment ago),
    SCARD_E_NO_SERVICE ends in one failure, pcsc.readers, whose fix starts with plugging
    in the reader and only then starting the service as administrator."""
    results = run_group(platform("win32", state), **NO_SERVICE)
    assert statuses(results) == {
        "pcsc.service": {STOPPED: "warn", UNKNOWN: "warn", RUNNING: "pass"}[state],
        "pcsc.context": "warn",
        "pcsc.readers": "fail",
        "pcsc.reader-state": "skip",
        "pcsc.exclusive": "skip",
    }
    readers = results["pcsc.readers"]
    assert readers.summary.en == (
        "no card reader found (the Windows Smart Card service is not running)"
    )
    assert readers.summary.zh == "找不到讀卡機(Windows「智慧卡」服務未執行)"
    assert readers.detail == "SCARD_E_NO_SERVICE (0x8010001D) during SCardEstablishContext"
    for check in ("pcsc.context", "pcsc.readers"):
        fix = results[check].fix
        assert fix is not None
        assert fix.en.startswith("Plug in the reader (USB) first")
        assert fix.zh.startswith("請先插上讀卡機(USB)")
        assert fix.en.index("sc start SCardSvr") > fix.en.index("If a reader is plugged in")
    context = results["pcsc.context"]
    assert context.summary.en == (
        "the Windows Smart Card service is not running: usually no reader is plugged in"
    )


def test_windows_service_stopped_is_a_warning_that_says_plug_in_first() -> None:
    results = run_group(platform("win32", STOPPED), **NO_SERVICE)
    service = results["pcsc.service"]
    assert service.summary.en == (
        "the Windows Smart Card service is stopped: usually no reader is plugged in"
    )
    assert service.summary.zh == "Windows「智慧卡」服務已停止:通常是因為沒有插上讀卡機"
    assert service.detail == SC_STOPPED
    assert service.fix is not None and service.fix.en.startswith("Plug in the reader (USB) first")


def test_windows_service_stopped_then_a_reader_appears() -> None:
    """sc.exe said stopped, then the reader was plugged in and the service started: the
    reader checks run and pass (nothing was skipped because of the first answer)."""
    results = run_group(
        platform("win32", STOPPED),
        establish_context=lambda: None,
        list_reader_names=lambda: ["Castles EZ100PU 00 00"],
        list_readers=lambda: [],
    )
    assert statuses(results) == {
        "pcsc.service": "warn",
        "pcsc.context": "pass",
        "pcsc.readers": "pass",
        "pcsc.reader-state": "pass",
        "pcsc.exclusive": "pass",
    }


def test_linux_service_stopped_still_fails_and_skips_the_rest() -> None:
    results = run_group(
        platform("linux", STOPPED, "/run/pcscd/pcscd.comm: no such socket"), **NO_SERVICE
    )
    assert statuses(results) == {
        "pcsc.service": "fail",
        "pcsc.context": "skip",
        "pcsc.readers": "skip",
        "pcsc.reader-state": "skip",
        "pcsc.exclusive": "skip",
    }


def test_linux_no_service_at_the_context_is_not_about_plugging_in() -> None:
    """pcscd answered the socket probe, then went away: a failure with pcscd's fix."""
    results = run_group(platform("linux", RUNNING, "accepting connections"), **NO_SERVICE)
    context = results["pcsc.context"]
    assert context.status == "fail"
    assert context.fix is not None and "systemctl start pcscd" in context.fix.en
    assert "Plug in" not in context.fix.en
    assert results["pcsc.readers"].status == "skip"


@pytest.mark.parametrize(
    "code", [codes.SCARD_F_INTERNAL_ERROR, codes.SCARD_F_COMM_ERROR, 0x80100099]
)
@pytest.mark.parametrize("system", ["linux", "win32", "darwin"])
def test_an_unknown_context_failure_names_the_code_with_a_service_fix(
    code: int, system: str
) -> None:
    results = run_group(
        platform(system, RUNNING, "running"),
        establish_context=failing(code, "SCardEstablishContext", system),
    )
    context = results["pcsc.context"]
    assert context.status == "fail"
    assert context.summary.en == "the PC/SC service reported an error"
    assert context.detail == f"{codes.code_name(code)} during SCardEstablishContext"
    assert context.fix is not None
    assert "reinsert" not in context.fix.en.lower() and "重新插卡" not in context.fix.zh
    assert results["pcsc.readers"].status == "skip"


def test_linux_refused_by_polkit_gives_the_rule_as_the_fix() -> None:
    refused = failing(codes.SCARD_W_SECURITY_VIOLATION, "SCardEstablishContext", "linux")
    results = run_group(
        platform("linux", RUNNING, "accepting connections"), establish_context=refused
    )
    context = results["pcsc.context"]
    assert context.status == "fail"
    assert context.summary.en == (
        "PC/SC refused this program: polkit did not authorize it to use PC/SC"
    )
    assert context.summary.zh == "PC/SC 服務拒絕了這個程式:polkit 未授權它使用 PC/SC"
    assert context.detail == "SCARD_W_SECURITY_VIOLATION (0x8010006A) during SCardEstablishContext"
    assert context.fix is not None
    user = polkit.current_user()
    assert user is not None
    for text in (context.fix.en, context.fix.zh):
        assert text.endswith(polkit.rule_text(user).rstrip("\n"))
    assert results["pcsc.readers"].status == "skip"
