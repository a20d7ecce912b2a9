"""Runs a Python program in this process and writes its peak RSS (kB) to a file at exit.

    python peak_rss.py OUTFILE PROGRAM [ARG...]

The peak is ``VmHWM`` of /proc/self/status: the high-water mark of this process's memory
since its exec. (``wait4``/``getrusage`` peaks would also count the parent's memory copied
into the child before its exec, which hides the difference between small programs.)
Both nhicard's entry script and the baselines run under this same wrapper.
"""

from __future__ import annotations

import atexit
import runpy
import sys


def peak_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def write_peak(outfile: str) -> None:
    with open(outfile, "w", encoding="ascii") as out:
        out.write(f"{peak_rss_kb()}\n")


def main() -> None:
    outfile, program, *args = sys.argv[1:]
    sys.argv = [program, *args]
    # an exit handler, not ``finally``: nhicard's script ends the process itself once its
    # exit handlers have run (nhicard.cli.fast_exit.end_process), so code after it never runs
    atexit.register(write_peak, outfile)
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main()
