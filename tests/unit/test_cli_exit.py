"""How the ``nhicard`` process ends (nhicard.cli.main.run / end_process): the exit status,
the output and the exit handlers are what the interpreter's own exit gives; only its
finalization is skipped. Each case runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.support.cli import ROOT


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("argv", "status"),
    [(["--version"], 0), (["no-such-command"], 2), (["--lang", "en", "reader"], 2)],
)
def test_run_gives_the_same_status_and_output_as_main(argv: list[str], status: int) -> None:
    code = f"""
        import sys
        sys.argv = ["nhicard", *{argv!r}]
        from nhicard.cli.main import {{name}}
        {{name}}()
    """
    via_run = run_python(code.format(name="run"))
    via_main = run_python(code.format(name="main"))
    assert via_run.returncode == via_main.returncode == status
    assert via_run.stdout == via_main.stdout
    assert via_run.stderr == via_main.stderr


def test_exit_handlers_run_and_buffered_output_is_flushed() -> None:
    result = run_python(
        """
        import atexit, sys
        from nhicard.cli.main import end_process
        atexit.register(lambda: print("handler ran"))
        sys.stdout.write("x" * 100000)  # stays in the buffer of a pipe
        end_process(3)
        """
    )
    assert result.returncode == 3
    assert result.stdout == "x" * 100000 + "handler ran\n"


@pytest.mark.parametrize(("code", "status"), [(None, 0), (True, 1), (256 + 7, 7), (-1, 255)])
def test_exit_codes_as_the_interpreter_gives_them(code: object, status: int) -> None:
    result = run_python(f"from nhicard.cli.main import end_process; end_process({code!r})")
    assert result.returncode == status


def test_a_text_code_and_a_running_thread_fall_back_to_the_interpreters_exit() -> None:
    text = run_python("from nhicard.cli.main import end_process; end_process('bye')")
    assert (text.returncode, text.stderr) == (1, "bye\n")
    thread = run_python(
        """
        import threading, time
        from nhicard.cli.main import end_process
        def late():
            time.sleep(0.3)
            print("thread finished")
        threading.Thread(target=late).start()
        end_process(0)
        """
    )
    assert (thread.returncode, thread.stdout) == (0, "thread finished\n")


def test_the_console_script_ends_through_run() -> None:
    scripts = (ROOT / "pyproject.toml").read_text("utf-8")
    assert 'nhicard = "nhicard.cli.main:run"' in scripts
