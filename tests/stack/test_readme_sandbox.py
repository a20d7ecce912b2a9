"""The READMEs' "Try it in the sandbox" block runs as it stands, and stays in step with the
demo (``tests/demo.sh``) and with what ``sandbox up`` tells to run next.

The block uses the defaults a person has (ports 8440-8444, vpcd on 35963, the state dir under
``~/.local/state``), so it runs in private mount and network namespaces with a pcscd of its
own (``tests/support/readme_sandbox_scenario.py``): nothing else on the machine is touched or
in the way."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import ROOT, nhicard_executable
from tests.support.readme_sandbox_scenario import readme_block
from tests.support.stack import have_real_pcsc

SCENARIO = ROOT / "tests" / "support" / "readme_sandbox_scenario.py"
PASSWORD = "Pw-135791"


def commands(block: str) -> list[list[str]]:
    """The block's command lines as words (continuations joined, comments dropped)."""
    text = block.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in text.splitlines() if line.strip()]


def demo_commands() -> list[list[str]]:
    """The nhicard commands the demo runs as its steps (``step "title" nhicard …``)."""
    text = (ROOT / "tests" / "demo.sh").read_text("utf-8").replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        match = re.match(r'\s*step "[^"]*"\s+(nhicard .*?)(?:\s*\|\|.*)?$', line)
        if match:
            found.append(shlex.split(match.group(1)))
    return found


def without(words: list[str], *dropped: str) -> list[str]:
    """``words`` without the options named (each with its value)."""
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in dropped:
            skip = True
        else:
            out.append(word)
    return out


def test_both_readmes_have_the_same_block_and_it_is_the_demo() -> None:
    en = readme_block(ROOT / "README.md")
    assert readme_block(ROOT / "README.zh-TW.md") == en
    block = [c for c in commands(en) if c[0] == "nhicard"]
    demo = demo_commands()
    # the demo's env check is a diagnosis, not a step of the job; the block ends with down
    assert [c[:3] for c in block[:-1]] == [c[:3] for c in demo if c[1:3] != ["env", "check"]]
    assert block[-1] == ["nhicard", "sandbox", "down"]
    by_name = {tuple(c[1:3]): c for c in block}
    for step in demo:
        if step[1] in ("register", "verify-email", "ecpa"):
            mine = by_name[tuple(step[1:3])]
            theirs = without(step, "--format", "--maildir", "--return-url")
            assert without(mine, "--maildir", "--return-url") == theirs
    assert "export NHICARD_PROFILE=sandbox" in en  # as the demo exports it


@pytest.mark.skipif(have_real_pcsc() is not None, reason=str(have_real_pcsc()))
def test_the_readme_block_runs_against_a_fresh_sandbox(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "work": str(tmp_path), "readme": str(ROOT / "README.md"), "password": PASSWORD,
        "bin": str(Path(nhicard_executable()).parent),
    }))  # fmt: skip
    done = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", sys.executable,
         str(SCENARIO), str(config)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["rc"] == 0, out["stderr"][-4000:]
    results = [json.loads(d) for d in re.findall(r"^\{.*?^\}", out["stdout"], re.M | re.S)]
    assert results[0]["nhi_url"] == "https://127.0.0.1:8440"  # sandbox up: its endpoints
    assert results[1]["card_number"] == "000012345678"  # card read (reader list is a list)
    done_steps = [r for r in results if "status" in r]
    statuses = [r["status"] for r in done_steps]
    assert statuses == ["submitted", "verified", "logged-in", "stopped"], out["stdout"]
    assert done_steps[2]["url"] == "https://127.0.0.1:8442/mooc/index.php"
    assert done_steps[2]["name"] == "王小明"
    assert PASSWORD not in out["stdout"] + out["stderr"]

    # what `sandbox up` said to run next is what the README shows (~ for the home)
    told = [
        line.strip().replace(str(tmp_path / "home"), "~")
        for line in out["stderr"].splitlines()
        if line.startswith("  nhicard ") or line.startswith("  export ")
    ]
    block = readme_block(ROOT / "README.md")
    for line in block.replace("\\\n", " ").splitlines():
        if line.startswith(("export ", "nhicard verify-email", "nhicard ecpa login")):
            assert line in told, (line, told)
