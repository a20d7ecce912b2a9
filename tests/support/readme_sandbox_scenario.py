"""Run inside private mount + network namespaces (``unshare --mount --net``) by
``tests/stack/test_readme_sandbox.py``; not a test module itself.

Inside: loopback up, so the README's fixed ports (the sandbox's 8440-8444, vpcd's 35963) are
free whatever else runs on the machine; a private pcscd with vpcd on its default port (as a
user's system pcscd has); a fresh HOME, no ``NHICARD_*`` or ``XDG_*`` variable, so every
default applies. Then the README's "Try it in the sandbox" block runs as it stands in
``bash -euo pipefail``; the card password comes from ``NHICARD_PASSWORD`` (where a person
types it at the prompt). Prints one JSON object: the block's exit code, stdout and stderr.

Usage: python readme_sandbox_scenario.py CONFIG.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.agent_browser_scenario import loopback_up  # noqa: E402
from tests.support.stack import PcscStack  # noqa: E402

VPCD_DEFAULT_PORT = 35963  # Debian's vpcd reader.conf, and nhicard's default
BEGIN, END = "<!-- sandbox-tour:begin -->", "<!-- sandbox-tour:end -->"


def readme_block(readme: Path) -> str:
    """The shell block between the markers, without its fence lines."""
    text = readme.read_text("utf-8")
    inner = text.split(BEGIN, 1)[1].split(END, 1)[0].strip().splitlines()
    assert inner[0].startswith("```") and inner[-1] == "```", inner
    return "\n".join(inner[1:-1]) + "\n"


def block_env(home: Path, bin_dir: str, stack: PcscStack, password: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NHICARD_", "XDG_", "PCSCLITE_")) and k != "HOME"
    }
    env.update(
        HOME=str(home),
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        LANG="C.UTF-8",
        PYTHONIOENCODING="utf-8",
        PCSCLITE_CSOCK_NAME=str(stack.socket),  # where a system pcscd's socket would be
        NHICARD_PASSWORD=password,
    )
    return env


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text("utf-8"))
    work = Path(config["work"])
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    loopback_up()
    stack = PcscStack(work / "pcscd", port=VPCD_DEFAULT_PORT)
    stack.start()
    env = block_env(home, config["bin"], stack, config["password"])
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", readme_block(Path(config["readme"]))],
            env=env, capture_output=True, text=True, timeout=240, cwd=str(home),
        )  # fmt: skip
    finally:
        subprocess.run(["nhicard", "sandbox", "down"], env=env, capture_output=True, timeout=60)
        stack.stop()
    print(json.dumps({"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}))


if __name__ == "__main__":
    main()
