"""The ``nhicard`` script ends without the interpreter's finalization only when nothing is
watching it (issue 21): under ``python -m cProfile`` the profile is printed, under a tracer
the interpreter's own exit runs; otherwise the exit status and the output are the same."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from nhicard.cli import fast_exit
from tests.support.cli import ROOT


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_cprofile_of_the_cli_prints_its_profile() -> None:
    done = python("-m", "cProfile", "-s", "cumtime", "-m", "nhicard.cli.main", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("nhicard ")  # the command's own output
    assert "function calls" in done.stdout and "Ordered by: cumulative time" in done.stdout


def test_cprofile_keeps_the_commands_exit_status_and_still_prints() -> None:
    done = python("-m", "cProfile", "-m", "nhicard.cli.main", "--lang", "en", "--no-such-option")
    assert "No such option" in done.stderr
    assert "function calls" in done.stdout


def test_without_a_profiler_the_exit_status_and_output_are_the_commands() -> None:
    done = python("-m", "nhicard.cli.main", "--lang", "en", "--no-such-option")
    assert done.returncode == 2 and "No such option" in done.stderr and done.stdout == ""
    shown = python("-m", "nhicard.cli.main", "--version")
    assert shown.returncode == 0 and shown.stdout.startswith("nhicard ")


@pytest.fixture
def traced() -> Iterator[None]:
    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: None)
    try:
        yield
    finally:
        sys.settrace(previous)


def test_a_tracer_or_profiler_makes_it_the_interpreters_exit(traced: None) -> None:
    assert fast_exit.observed()
    with pytest.raises(SystemExit) as ended:
        fast_exit.end_process(3)
    assert ended.value.code == 3


def test_a_profiler_is_seen() -> None:
    previous = sys.getprofile()
    sys.setprofile(lambda frame, event, arg: None)
    try:
        assert fast_exit.observed()
    finally:
        sys.setprofile(previous)
