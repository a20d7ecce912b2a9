"""Full and closed standard streams (issue 23, item 5): results that cannot be written are an
I/O error naming standard output (exit 2, never 0 and never "internal error"); a full or
closed stderr never changes the command's own exit status; a closed stdin is an I/O error.
The real CLI runs with its streams redirected by the shell (``> /dev/full``, ``>&-``)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from nhicard.cli.streams import STDOUT, ClosedStream, stream_failed
from nhicard.core.errors import LocalIOError
from tests.support.cli import nhicard_executable, user_environment

NO_PCSC = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


def shell(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``nhicard`` inside ``bash -c`` (with pipefail) so the shell's redirections apply;
    stderr is captured unless ``command`` redirects it itself."""
    script = command.replace("NHICARD", shlex.quote(nhicard_executable()))
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        env=user_environment({**NO_PCSC, **(env or {})}),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "cannot write to standard output, the results are lost: No space left on device"),
        ("zh-TW", "無法寫入標準輸出,結果已遺失:No space left on device"),
    ],
)
def test_results_to_a_full_device_are_an_io_error(lang: str, expected: str) -> None:
    done = shell(f"NHICARD --lang {lang} completion bash > /dev/full")
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "internal error" not in done.stderr and "內部錯誤" not in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_version_and_help_to_a_full_device_are_an_io_error() -> None:
    for args in ("--version", "--help", "env check --help"):
        done = shell(f"NHICARD --lang en {args} > /dev/full")
        assert done.returncode == 2, (args, done.stderr)
        assert "cannot write to standard output" in done.stderr, args


def test_results_to_a_closed_stdout_are_an_io_error() -> None:
    done = shell("NHICARD --lang en completion fish >&-")
    assert done.returncode == 2, done.stderr
    assert "cannot write to standard output, the results are lost: Bad file descriptor" in (
        done.stderr
    )
    assert "internal error" not in done.stderr and "NoneType" not in done.stderr


def test_a_command_that_prints_no_results_runs_with_stdout_closed() -> None:
    """Closing stdout is an error only when results are lost: a command with nothing to
    print keeps its own exit status (here: no PC/SC service, exit 3)."""
    done = shell("NHICARD --lang en -r 0 card read --wait 0.1 >&-")
    assert done.returncode == 3, done.stderr
    assert "standard output" not in done.stderr


@pytest.mark.parametrize("redirect", ["2>/dev/full", "2>&-"])
def test_a_full_or_closed_stderr_keeps_the_exit_status(redirect: str) -> None:
    done = shell(f"exec 3>&1; NHICARD --lang en -r 0 card read {redirect} >/dev/null; echo rc=$?")
    assert done.stdout.strip() == "rc=3", done.stdout + done.stderr


def test_a_closed_stdin_for_password_stdin_is_an_io_error() -> None:
    done = shell(
        "NHICARD --lang en --profile real ecpa login --password-stdin <&-",
        env={"NHICARD_PASSWORD": ""},
    )
    assert done.returncode == 2, done.stderr
    assert "cannot read standard input: Bad file descriptor" in done.stderr
    assert "Give it through a pipe or a file" in done.stderr
    assert "internal error" not in done.stderr and "NoneType" not in done.stderr


def test_pipe_closed_by_the_reader_is_still_quiet() -> None:
    """A reader that went away (``| head``; here ``true``, gone before nhicard has started)
    is not an error: exit 0, nothing on stderr."""
    done = shell("NHICARD --lang en completion bash | true; echo rc=$?")
    assert done.stdout.strip() == "rc=0"
    assert done.returncode == 0 and done.stderr == ""


def test_closed_stream_object_raises_the_io_error() -> None:
    stream = ClosedStream(STDOUT)
    with pytest.raises(LocalIOError) as info:
        stream.write("x")
    assert info.value.reason == "io-error"
    assert "Bad file descriptor" in info.value.message.en
    error = stream_failed(STDOUT, OSError(28, os.strerror(28)))
    assert error.hint is not None and "Free some space" in error.hint.en
