"""A full disk (ENOSPC) while writing a ``card verify`` report, saved pages or the state dir
(issue 14): the command says which file could not be written and why and still prints the
card's result; a ``card verify`` whose report lost records ends with exit 2, whatever the
card's result, and a site-changed error keeps its exit 11; register submits nothing it could
not journal (issue 23). The CLI runs in a private mount namespace with a
tiny, filled tmpfs (``unshare --mount``; needs root, like the private pcscd)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import nhicard_executable
from tests.support.register_kit import ARGS, PASSWORD
from tests.support.sandbox_fixture import SandboxServer, sandbox, sandbox_server  # noqa: F401
from tests.support.stack import VirtualCardSlots

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare"
)


def on_full_disk(
    full: Path, *args: str, env: dict[str, str] | None = None, umask: str = "022"
) -> subprocess.CompletedProcess[str]:
    """``nhicard ARGS`` with a 16 KB tmpfs on ``full`` that is already full."""
    full.mkdir(parents=True, exist_ok=True)
    command = " ".join(shlex.quote(a) for a in [nhicard_executable(), *args])
    script = (
        f"mount -t tmpfs -o size=16k tmpfs {shlex.quote(str(full))} && "
        f"mkdir -p {shlex.quote(str(full / 'pages'))} && "
        f"(dd if=/dev/zero of={shlex.quote(str(full / 'fill'))} bs=1k count=64 2>/dev/null;"
        f" true) && umask {umask} && exec {command}"
    )
    full_env = dict(os.environ) | {"LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"} | (env or {})
    full_env.pop("NHICARD_LANG", None)
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_card_verify_report_on_a_full_disk_keeps_the_result(
    virtual_cards: VirtualCardSlots,  # noqa: F811
    tmp_path: Path,
) -> None:
    virtual_cards.insert()
    report = tmp_path / "full" / "report.csv"
    done = on_full_disk(
        tmp_path / "full", "--lang", "en", "-r", "0", "card", "verify", "--report", str(report),
        "--json",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr  # not 0: the card's record is not in the report
    assert json.loads(done.stdout)["result"] == "ok"  # the card's result is still printed
    assert (
        f"Error: could not write the report file “{report}”: No space left on device; "
        "1 result(s) are not in it" in done.stderr
    )
    assert "Hint: Free some space on that disk, or choose another place." in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_card_verify_watch_report_on_a_full_disk_in_chinese(
    virtual_cards: VirtualCardSlots,  # noqa: F811
    tmp_path: Path,
) -> None:
    virtual_cards.insert()
    report = tmp_path / "full" / "report.jsonl"
    done = on_full_disk(
        tmp_path / "full", "--lang", "zh-TW", "-r", "0", "card", "verify", "--watch",
        "--count", "1", "--report", str(report), "--format", "jsonl",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["result"] == "ok"
    assert f"無法寫入報告檔「{report}」" in done.stderr and "1 筆結果未寫入" in done.stderr
    # the summary comes first, the error that sets the exit status last
    assert done.stderr.rstrip().splitlines()[-2].startswith("錯誤: 無法寫入報告檔")
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_site_changed_with_pages_on_a_full_disk_is_still_exit_11(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    sandbox.use('[faults.nhi]\nrelabel = { "下一步 Next" = "繼續 Continue" }\n')
    full = tmp_path / "full"
    env = {**sandbox.env(), "NHICARD_STATE_DIR": str(full / "state"), "NHICARD_PASSWORD": PASSWORD}
    done = on_full_disk(
        full, "--profile", "sandbox", "--agent", "direct", "--lang", "en", "register", *ARGS,
        "--json", "--dry-run", "--save-pages", str(full / "pages"), env=env,
    )  # fmt: skip
    assert done.returncode == 11, done.stderr
    assert "the site may have changed" in done.stderr
    assert f"could not save the page in {full / 'pages'}: No space left on device" in done.stderr
    assert "Traceback" not in done.stderr


def test_register_with_the_state_dir_on_a_full_disk_submits_nothing(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The final submit cannot be repeated safely, so it is made only once "submitting" is
    on disk (fsync'd): a rerun must be able to know that it may have happened (issue 23)."""
    full = tmp_path / "full"
    env = {**sandbox.env(), "NHICARD_STATE_DIR": str(full / "state"), "NHICARD_PASSWORD": PASSWORD}
    done = on_full_disk(
        full, "--profile", "sandbox", "--agent", "direct", "--lang", "en", "register", *ARGS,
        "--json", "--yes", env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "No space left on device" in done.stderr
    assert "Free some disk space (or point NHICARD_STATE_DIR at a writable place)" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert sandbox.application("000012345678") is None and not sandbox.mails()
    in_chinese = on_full_disk(
        full, "--profile", "sandbox", "--agent", "direct", "--lang", "zh-TW", "register", *ARGS,
        "--json", "--yes", env=env,
    )  # fmt: skip
    assert in_chinese.returncode == 2 and "請先釋出磁碟空間" in in_chinese.stderr
    assert sandbox.application("000012345678") is None


def test_ecpa_cookie_jar_on_a_full_disk_keeps_the_login_and_says_what_was_lost(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The login succeeded: it is printed; the jar that could not be written is an I/O
    error (exit 2) naming the file and the reason, and no partial jar is left."""
    full = tmp_path / "full"
    jar = full / "jar.txt"
    env = {**sandbox.env(), "NHICARD_PASSWORD": "Ecpa-135790"}  # the sandbox's account
    for lang, said in (
        ("en", f"logged in, but cannot write the cookie file “{jar}”: No space left on device"),
        ("zh-TW", f"已登入,但無法寫入cookie 檔「{jar}」:No space left on device"),
    ):
        done = on_full_disk(
            full, "--profile", "sandbox", "--agent", "nhiicc", "--agent-url",
            "wss://127.0.0.1:1/echo", "--lang", lang, "ecpa", "login", "--json",
            "--account", "ming.wang", "--cookie-jar", str(jar), env=env,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert json.loads(done.stdout)["status"] == "logged-in"
        assert said in done.stderr
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert not jar.exists()  # the tmpfs is gone with its namespace; nothing escaped it


def test_results_to_stdout_on_a_full_disk_are_an_io_error(
    virtual_cards: VirtualCardSlots,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`card read --json > FILE` on a full disk: the card is read, its results cannot be
    written, and the command says so (exit 2), never exit 0 with an empty file. Slot 1: this
    module's sandbox keeps its own card on slot 0."""
    virtual_cards.insert(slot=1)
    full = tmp_path / "full"
    full.mkdir()
    command = " ".join(shlex.quote(a) for a in [nhicard_executable(), "--lang", "en", "-r", "1",
                                                 "card", "read", "--json"])  # fmt: skip
    script = (
        f"mount -t tmpfs -o size=16k tmpfs {shlex.quote(str(full))} && "
        f"(dd if=/dev/zero of={shlex.quote(str(full / 'fill'))} bs=1k count=64 2>/dev/null;"
        f" true) && {command} > {shlex.quote(str(full / 'card.json'))}"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=dict(os.environ) | {"LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot write to standard output, the results are lost: No space left on device" in (
        done.stderr
    )
    assert "internal error" not in done.stderr
