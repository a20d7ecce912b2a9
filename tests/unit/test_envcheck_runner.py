"""The check runner: order, prerequisites (skip, never fail), deadlines, budget, memo, JSON."""

from __future__ import annotations

import threading

import pytest

from nhicard.cli.records import env_report
from nhicard.core.errors import CardAbsent
from nhicard.core.i18n import T
from nhicard.envcheck import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    Check,
    CheckEnv,
    CheckResult,
    Finding,
    failed,
    passed,
    run_checks,
    skipped,
    summarize,
    warned,
)

OK = T("好", "fine")
BAD = T("壞", "broken")
FIX = T("修好它", "fix it")


def const(finding: Finding):  # type: ignore[no-untyped-def]
    return lambda env: finding


def statuses(results: list[CheckResult]) -> list[tuple[str, str]]:
    return [(r.id, r.status) for r in results]


def test_results_keep_the_given_order_and_prerequisites_skip() -> None:
    checks = [
        Check("a.one", "a", const(passed(OK))),
        Check("a.two", "a", const(failed(BAD, FIX)), needs=("a.one",)),
        Check("a.three", "a", const(passed(OK)), needs=("a.two",)),
        Check("a.four", "a", const(passed(OK)), needs=("a.three",)),
        Check("a.five", "a", const(warned(OK, FIX)), needs=("a.one",)),
        Check("a.six", "a", const(passed(OK)), needs=("a.five",)),
    ]
    results = run_checks(checks, CheckEnv(timeout=2))
    assert statuses(results) == [
        ("a.one", PASS),
        ("a.two", FAIL),
        ("a.three", SKIP),
        ("a.four", SKIP),
        ("a.five", WARN),
        ("a.six", PASS),
    ]
    assert results[2].detail == "needs a.two"
    assert results[2].summary.en == "skipped: prerequisite 'a.two' did not pass"
    assert results[3].summary.zh == "略過:先決檢查「a.three」未通過"


def test_blocking_warning_skips_dependents_and_non_blocking_skip_does_not() -> None:
    checks = [
        Check("w", "g", const(warned(OK, FIX, blocking=True))),
        Check("after-w", "g", const(passed(OK)), needs=("w",)),
        Check("s", "g", const(Finding(SKIP, OK, blocking=False))),
        Check("after-s", "g", const(passed(OK)), needs=("s",)),
    ]
    assert statuses(run_checks(checks, CheckEnv(timeout=2))) == [
        ("w", WARN),
        ("after-w", SKIP),
        ("s", SKIP),
        ("after-s", PASS),
    ]


def test_needs_outside_the_list_are_ignored() -> None:
    checks = [Check("card.present", "card", const(passed(OK)), needs=("pcsc.readers",))]
    assert statuses(run_checks(checks, CheckEnv(timeout=2))) == [("card.present", PASS)]


def test_a_hanging_check_times_out_and_the_others_finish() -> None:
    release = threading.Event()

    def hang(env: CheckEnv) -> Finding:
        release.wait(30)
        return passed(OK)

    checks = [
        Check("net.slow", "net", hang, timeout=0.2),
        Check("net.after", "net", const(passed(OK)), needs=("net.slow",)),
        Check("net.other", "net", const(passed(OK))),
    ]
    try:
        results = run_checks(checks, CheckEnv(timeout=5), grace=0.1)
    finally:
        release.set()
    assert statuses(results) == [("net.slow", FAIL), ("net.after", SKIP), ("net.other", PASS)]
    assert results[0].detail == "timeout"
    assert results[0].summary.en == "timed out: no result within 0.2 s"
    assert results[0].fix is not None and "proxy" in results[0].fix.en
    assert "Proxy" in results[0].fix.zh


def test_the_budget_stops_the_whole_run() -> None:
    release = threading.Event()

    def hang(env: CheckEnv) -> Finding:
        release.wait(30)
        return passed(OK)

    checks = [
        Check("x.hang", "x", hang, timeout=60),
        Check("x.after", "x", const(passed(OK)), needs=("x.hang",)),
        Check("x.quick", "x", const(passed(OK))),
    ]
    try:
        results = run_checks(checks, CheckEnv(timeout=60), budget=0.3)
    finally:
        release.set()
    assert statuses(results) == [("x.hang", FAIL), ("x.after", SKIP), ("x.quick", PASS)]
    assert results[1].detail == "budget"


def test_independent_checks_run_at_the_same_time() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def meet(env: CheckEnv) -> Finding:
        barrier.wait()  # only returns when all three run concurrently
        return passed(OK)

    checks = [Check(f"p.{i}", "p", meet) for i in range(3)]
    assert [r.status for r in run_checks(checks, CheckEnv(timeout=5))] == [PASS] * 3


def test_a_crashing_check_is_a_failed_line() -> None:
    def bug(env: CheckEnv) -> Finding:
        raise KeyError("oops")

    def typed(env: CheckEnv) -> Finding:
        raise CardAbsent(T("沒有卡", "no card"), hint=T("插卡", "insert it"), detail="slot 0")

    results = run_checks([Check("b", "g", bug), Check("t", "g", typed)], CheckEnv(timeout=2))
    assert results[0].status == FAIL
    assert results[0].detail == "KeyError: 'oops'"
    assert results[0].summary.en == "the check itself failed (this is a bug)"
    assert (results[1].status, results[1].summary.en, results[1].detail) == (
        FAIL,
        "no card",
        "slot 0",
    )
    assert results[1].fix == T("插卡", "insert it")


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        run_checks([Check("a", "g", const(passed(OK)))] * 2, CheckEnv())
    with pytest.raises(ValueError, match="after it"):
        run_checks(
            [Check("a", "g", const(passed(OK)), needs=("b",)), Check("b", "g", const(passed(OK)))],
            CheckEnv(),
        )


def test_memo_computes_once_across_threads_and_remembers_errors() -> None:
    env = CheckEnv()
    calls: list[int] = []
    gate = threading.Event()

    def compute() -> int:
        gate.wait(2)
        calls.append(1)
        return 42

    out: list[int] = []
    threads = [
        threading.Thread(target=lambda: out.append(env.memo("k", compute))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)
    assert out == [42] * 4 and calls == [1]

    def boom() -> int:
        calls.append(2)
        raise OSError("down")

    for _ in range(2):
        with pytest.raises(OSError, match="down"):
            env.memo("e", boom)
    assert calls == [1, 2]


def test_report_json_shape_in_each_language() -> None:
    results = [
        CheckResult("system.os", "system", PASS, T("作業系統", "operating system"), "linux"),
        CheckResult("pcsc.service", "pcsc", FAIL, BAD, "socket", FIX),
        CheckResult("card.present", "card", SKIP, skipped(OK).summary),
    ]
    assert env_report(results, "en") == {
        "checks": [
            {
                "id": "system.os",
                "group": "system",
                "status": "pass",
                "summary": "operating system",
                "detail": "linux",
                "fix": None,
            },
            {
                "id": "pcsc.service",
                "group": "pcsc",
                "status": "fail",
                "summary": "broken",
                "detail": "socket",
                "fix": "fix it",
            },
            {
                "id": "card.present",
                "group": "card",
                "status": "skip",
                "summary": "fine",
                "detail": "",
                "fix": None,
            },
        ],
        "summary": {"pass": 1, "warn": 0, "fail": 1, "skip": 1},
    }
    assert env_report(results, "zh-TW")["checks"][1]["fix"] == "修好它"
    assert summarize([]) == {"pass": 0, "warn": 0, "fail": 0, "skip": 0}
