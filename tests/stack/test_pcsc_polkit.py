"""pcsc-lite 2 with polkit (Debian 13's pcscd): a client that polkit refuses, or that pcscd
cannot ask polkit about, gets exit 3 and a message that says so, with the rule that grants
it; and the rule nhicard prints does grant it.

Each test starts a private pcscd with polkit on (tests/support/stack.py) and runs the installed
``nhicard`` as users without root and without the grant: ``nobody`` and ``daemon``. pcscd
asks polkit about a client's effective uid (SO_PEERCRED), so dropping to those uids is all it
takes; polkit always lets root in once it can be asked. Skipped where pcscd is built without
polkit (pcsc-lite before 2.0, as Debian 12's 1.9.9)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nhicard.pcsc import polkit
from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.stack import (
    POLKIT_DAEMON,
    POLKIT_UNREACHABLE,
    PcscStack,
    have_polkit_pcscd,
    have_real_pcsc,
)

pytestmark = pytest.mark.pcsc

SLOT0 = "Virtual PCD 00 00"
REFUSED_SUMMARY = {
    "en": "PC/SC refused this program: polkit did not authorize it to use PC/SC",
    "zh-TW": "PC/SC 服務拒絕了這個程式:polkit 未授權它使用 PC/SC",
}
CONTEXT_DETAIL = "SCARD_W_SECURITY_VIOLATION (0x8010006A) during SCardEstablishContext"
ERROR = {"en": "Error: ", "zh-TW": "錯誤: "}
REFUSED = {
    lang: f"{ERROR[lang]}{text} ({CONTEXT_DETAIL})" for lang, text in REFUSED_SUMMARY.items()
}
CARD_REFUSED = {
    "en": f"Error: PC/SC refused this program the card in “{SLOT0}”: polkit did not authorize it",
    "zh-TW": f"錯誤: PC/SC 服務拒絕這個程式使用讀卡機「{SLOT0}」中的卡片:polkit 未授權",
}
WHAT_TO_DO = {
    "en": ("Hint: ", "Run it from the local desktop session", "have an administrator save"),
    "zh-TW": ("建議: ", "請在本機桌面的工作階段中執行", "請系統管理員把下面的規則存成"),
}
RULE_RE = re.compile(r"^// /etc/polkit-1/rules\.d/.*?^\}\);$", re.MULTILINE | re.DOTALL)


def need_polkit_pcscd(daemon: bool = False) -> None:
    if have_real_pcsc() and os.environ.get("CI"):
        pytest.fail(f"the real PC/SC stack is required in CI: {have_real_pcsc()}")
    why = have_polkit_pcscd(daemon)
    if why:
        pytest.skip(why)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temp dir other users can reach (pytest's own are root's alone): the pcscd socket
    and a home for the unprivileged runs live in it."""
    path = Path(tempfile.mkdtemp(prefix="nhicard-polkit-"))
    path.chmod(0o755)
    home = path / "home"
    home.mkdir()
    home.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_user(
    user: str, stack: PcscStack, home: Path, lang: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``nhicard --lang LANG ARGS`` as ``user`` (no supplementary groups), with an
    environment of its own: only PATH, the locale, its home and state dirs, the stack's."""
    entry = pwd.getpwnam(user)
    mine = home / user
    mine.mkdir(mode=0o700, exist_ok=True)
    os.chown(mine, entry.pw_uid, entry.pw_gid)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "HOME": str(mine),
        "NHICARD_STATE_DIR": str(mine / "state"),
        **{f"XDG_{k}_HOME": str(mine / k.lower()) for k in ("STATE", "DATA", "CONFIG", "CACHE")},
        **stack.env(),
    }
    return subprocess.run(
        [nhicard_executable(), "--lang", lang, *args],
        env=env,
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
    )


def need_runnable_as(user: str, stack: PcscStack, home: Path) -> None:
    """The unprivileged user must be able to run this nhicard at all (its venv readable)."""
    proc = as_user(user, stack, home, "en", "--version")
    if proc.returncode != 0:
        why = f"{user} cannot run {nhicard_executable()}: {proc.stderr.strip()[-300:]}"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@contextlib.contextmanager
def started(workdir: Path, mode: str) -> Iterator[PcscStack]:
    stack = PcscStack(workdir, polkit=mode)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def root_readers(stack: PcscStack) -> list[dict[str, Any]]:
    proc = run_nhicard("--lang", "en", "reader", "list", "--json", env=stack.env())
    assert proc.returncode == 0, proc.stderr
    readers: list[dict[str, Any]] = json.loads(proc.stdout)
    return readers


@contextlib.contextmanager
def card_inserted(stack: PcscStack) -> Iterator[str]:
    """The first sandbox card in slot 0 of ``stack`` until the block ends; yields its
    number. Readiness is seen through root, whom polkit always lets in."""
    from nhicard.sandbox.data import load_data
    from nhicard.sandbox.vcard import FaultSpec, VirtualCard
    from nhicard.sandbox.vpcd import VpcdCardClient

    record = load_data().cards[0]
    client = VpcdCardClient(VirtualCard(record, FaultSpec.parse("")), port=stack.slot_port(0))
    thread, stop = client.start_thread()
    try:
        deadline = time.monotonic() + 15
        while {r["name"]: r["state"] for r in root_readers(stack)}.get(SLOT0) != "present":
            assert time.monotonic() < deadline, "the virtual card did not show up"
            time.sleep(0.1)
        yield record.card_number
    finally:
        stop.set()
        client.disconnect()
        thread.join(5)


def assert_refused(proc: subprocess.CompletedProcess[str], lang: str, user: str) -> None:
    """Exit 3; what happened (the message naming polkit and the code) and what to do (the
    desktop session, or the rule for ``user`` granting both actions, printed whole)."""
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == REFUSED[lang]
    hint, desktop, admin = WHAT_TO_DO[lang]
    assert lines[1].startswith(hint) and desktop in lines[1] and admin in lines[1]
    assert polkit.RULES_PATH in lines[1]
    assert f"{polkit.ACCESS_PCSC}" in lines[1] and f"{polkit.ACCESS_CARD}" in lines[1]
    assert "\n".join(lines[2:]) == polkit.rule_text(user).rstrip("\n")
    assert "reinsert" not in proc.stderr.lower() and "重新插" not in proc.stderr


def assert_env_check_refused(check: subprocess.CompletedProcess[str], lang: str) -> None:
    """env check: pcscd runs (pass), pcsc.context fails with the same words and the rule for
    ``nobody`` as its fix, and the reader checks are skipped."""
    assert check.returncode == 10, check.stderr
    found = {c["id"]: c for c in json.loads(check.stdout)["checks"]}
    assert found["pcsc.service"]["status"] == "pass"  # pcscd runs; it refuses
    context = found["pcsc.context"]
    assert context["status"] == "fail"
    assert context["summary"] == REFUSED_SUMMARY[lang]
    assert context["detail"] == CONTEXT_DETAIL
    assert WHAT_TO_DO[lang][1] in context["fix"]
    assert context["fix"].endswith(polkit.rule_text("nobody").rstrip("\n"))
    assert found["pcsc.readers"]["status"] == "skip"


def printed_rule(proc: subprocess.CompletedProcess[str]) -> str:
    match = RULE_RE.search(proc.stderr)
    assert match, proc.stderr
    return match.group(0) + "\n"


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_without_polkitd_every_client_is_refused_with_the_fix(open_dir: Path, lang: str) -> None:
    """pcscd cannot ask polkit (no polkitd, no system bus): it refuses everyone, root too —
    which is why PcscStack starts pcscd with --disable-polkit by default. (env check is
    tried against polkitd below: pcscd 2.3.3 in this state segfaults now and then when a
    bare connect, as env check's service probe makes, meets a refused client.)"""
    need_polkit_pcscd()
    with started(open_dir / "pcsc", POLKIT_UNREACHABLE) as stack:
        need_runnable_as("nobody", stack, open_dir / "home")
        assert_refused(
            as_user("nobody", stack, open_dir / "home", lang, "reader", "list"), lang, "nobody"
        )
        assert_refused(
            as_user("nobody", stack, open_dir / "home", lang, "card", "read"), lang, "nobody"
        )
        root = run_nhicard("--lang", lang, "reader", "list", env=stack.env())
        assert root.returncode == 3, root.stderr
        assert root.stderr.splitlines()[0] == REFUSED[lang]
        log = stack.log.read_text(errors="replace")
    assert "polkit_authority_get_sync failed" in log
    assert "Rejected unauthorized PC/SC client" in log


def test_polkitd_refuses_a_user_without_the_grant_and_the_printed_rule_grants_it(
    open_dir: Path,
) -> None:
    """With polkitd answering and its default policy (only the local active session), a
    user outside any session is refused; the rule nhicard printed for that user, installed
    as is, lets that user (and no other) read the card."""
    need_polkit_pcscd(daemon=True)
    home = open_dir / "home"
    with started(open_dir / "pcsc", POLKIT_DAEMON) as stack:
        need_runnable_as("nobody", stack, home)
        refused = {lang: as_user("nobody", stack, home, lang, "reader", "list") for lang in REFUSED}
        for lang, proc in refused.items():
            assert_refused(proc, lang, "nobody")
            assert_env_check_refused(
                as_user("nobody", stack, home, lang, "env", "check", "--only", "pcsc", "--json"),
                lang,
            )
        assert "is NOT authorized for action: access_pcsc" in stack.log.read_text(errors="replace")
        assert root_readers(stack)[0]["name"] == SLOT0  # polkitd answers: root is let in

        (stack.polkit_rules / polkit.RULES_FILE).write_text(printed_rule(refused["en"]))
        stack.restart()
        with card_inserted(stack) as card_number:
            listed = as_user("nobody", stack, home, "en", "reader", "list", "--json")
            assert listed.returncode == 0, listed.stderr
            assert [r["name"] for r in json.loads(listed.stdout)][0] == SLOT0
            read = as_user("nobody", stack, home, "en", "card", "read", "--json")
            assert read.returncode == 0, read.stderr
            assert json.loads(read.stdout)["card_number"] == card_number
            other = as_user("daemon", stack, home, "en", "card", "read")
        assert_refused(other, "en", "daemon")


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_a_user_granted_pcsc_but_not_the_card_is_told_which_card(open_dir: Path, lang: str) -> None:
    """pcscd asks twice: access_pcsc for the context, access_card (with the reader's name)
    for SCardConnect. Refused only the second, ``card read`` names the reader."""
    need_polkit_pcscd(daemon=True)
    home = open_dir / "home"
    stack = PcscStack(open_dir / "pcsc", polkit=POLKIT_DAEMON)
    stack.polkit_rules.mkdir(parents=True)
    (stack.polkit_rules / "49-test-pcsc-only.rules").write_text(
        "polkit.addRule(function(action, subject) {\n"
        f'    if (action.id == "{polkit.ACCESS_PCSC}" && subject.user == "nobody") {{\n'
        "        return polkit.Result.YES;\n"
        "    }\n"
        "});\n"
    )
    stack.start()
    try:
        need_runnable_as("nobody", stack, home)
        with card_inserted(stack):
            proc = as_user("nobody", stack, home, lang, "card", "read")
    finally:
        stack.stop()
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(CARD_REFUSED[lang])
    assert "SCARD_W_SECURITY_VIOLATION (0x8010006A) during SCardConnect" in lines[0]
    assert "\n".join(lines[2:]) == polkit.rule_text("nobody").rstrip("\n")
    assert "is NOT authorized for action: access_card" in stack.log.read_text(errors="replace")
