"""The one start-up/shut-down trick left: ending the process without the interpreter's
finalization.

It serves the "interpreter finalization (module teardown and GC) after ``main()``" row of
``benchmarks/README.md`` (≈ 65–75 ms a web command → ≈ 5 ms; the "exit" column of the
``make profile-job`` tables). Nothing of the finalization is visible outside the process
unless something in it is still watching: so the trick steps aside whenever it could not be
faithful (see :func:`end_process`).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def observed() -> bool:
    """A profiler or tracer is active (``python -m cProfile``, ``trace``, a debugger,
    coverage): it reports when the interpreter exits, so the interpreter must exit."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+: cProfile, coverage use it
    if monitoring is None:
        return False
    return any(monitoring.get_tool(tool) is not None for tool in range(6))


def end_process(code: object) -> NoReturn:
    """End the process with exit status ``code`` as the interpreter would — other threads
    waited for, ``atexit`` handlers run, stdout and stderr flushed — but without its
    finalization, which tears down every imported module and collects all their objects
    (≈ 65-75 ms for a web command; nothing of it is visible outside the process).

    Falls back to the interpreter's own exit when that cannot be done faithfully: a profiler
    or tracer active (:func:`observed`), a code that is not a number (printed by the
    interpreter), a non-daemon thread still running, or a stream that cannot be flushed (the
    interpreter reports that and exits 120)."""
    if code is None:
        code = 0
    if not isinstance(code, int) or not -(2**31) <= code < 2**31 or observed():
        raise SystemExit(code)
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        raise SystemExit(code)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython; runs them once
    if run_exit_handlers is None:
        raise SystemExit(code)
    run_exit_handlers()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    os._exit(code & 0xFF)  # what exit(code) leaves of it
