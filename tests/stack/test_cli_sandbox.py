"""``nhicard sandbox up|status|down`` as a user runs them: the installed CLI, the real server
process on free loopback ports, HTTPS with the sandbox CA, and SQLite state kept across runs."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup

from nhicard.agent.sam.encrypt import encrypt_password
from nhicard.sandbox.keys import SandboxKeys, sign_h_sign
from nhicard.sandbox.store import RegistrationStore
from tests.support.cli import run_nhicard
from tests.support.ports import free_port_base, port_free, process_alive

KEYS = ["nhi_url", "ecpa_url", "elearn_url", "smtp", "maildir", "ca_bundle", "sam", "readers",
        "agent_origin", "pid"]  # fmt: skip
CARD, ID_NUMBER, NAME, PASSWORD = "000012345678", "A123456789", "王小明", "Secret123"
TAIPEI = timezone(timedelta(hours=8))
EN = {"NHICARD_LANG": "en"}


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "sandbox"
    yield directory
    run_nhicard("sandbox", "down", "--dir", str(directory))  # never leave a server behind


def up(
    directory: Path, base: int, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_nhicard(
        "sandbox", "up", "--dir", str(directory), "--port-base", str(base), "--format", "json",
        *extra, env=env,
    )  # fmt: skip


def register_directly(directory: Path) -> None:
    """A verified registration written into the running sandbox's SQLite store."""
    store = RegistrationStore.open(directory)
    try:
        now = datetime.now(UTC)
        store.apply(
            card_number=CARD, id_number=ID_NUMBER, name=NAME, password=PASSWORD,
            email="wang@example.test", phone="02-23456789", mobile="0912345678", now=now,
        )  # fmt: skip
        store.complete_verification(store.issue_link(CARD, now), now)
    finally:
        store.close()


def ecpa_login(endpoints: dict[str, Any], directory: Path) -> str:
    """The eCPA NHI-card chain against the running server, signing as its SAM would; the
    name eCPA's home shows."""
    keys = SandboxKeys.load(directory)
    verify = ssl.create_default_context(cafile=endpoints["ca_bundle"])
    xhr = {"X-Requested-With": "XMLHttpRequest"}
    with httpx.Client(verify=verify, timeout=10, base_url=endpoints["ecpa_url"]) as client:
        client.get("/webform/clogin.aspx").raise_for_status()
        random = client.post("/Home/GetNHIRandom", headers=xhr).text
        body = {
            "basic": f"{CARD},{ID_NUMBER},{NAME},0640101,M,0",
            "version": "0001",
            "random": random,
            "sign": sign_h_sign(keys.sam_private_key, CARD, "0001" + random),
            "password": encrypt_password(CARD, PASSWORD, datetime.now(TAIPEI).date()),
            "ApID": "CrossHRD",
            "loginType": "3",
        }
        ticket = client.post("/Home/GetApTicketNHI", data=body, headers=xhr).text
        assert ticket.isalnum() and ticket.isupper(), ticket
        home = client.get("/webform/home.aspx")
        return str(BeautifulSoup(home.text, "html.parser").select_one("#lblUserName").text)


def test_up_status_down_up_keeps_users(sandbox_dir: Path) -> None:
    base = free_port_base()
    started = up(sandbox_dir, base, "--no-card")
    assert started.returncode == 0, started.stderr
    endpoints = json.loads(started.stdout)
    assert list(endpoints) == KEYS
    pid = endpoints["pid"]
    assert endpoints == {
        "nhi_url": f"https://127.0.0.1:{base}",
        "ecpa_url": f"https://127.0.0.1:{base + 1}",
        "elearn_url": f"https://127.0.0.1:{base + 2}",
        "smtp": f"127.0.0.1:{base + 3}",
        "maildir": str((sandbox_dir / "maildir").resolve()),
        "ca_bundle": str((sandbox_dir / "ca.pem").resolve()),
        "sam": f"127.0.0.1:{base + 4}",
        "readers": [],
        "agent_origin": [f"https://127.0.0.1:{base}", f"https://127.0.0.1:{base + 1}"],
        "pid": pid,
    }
    assert json.loads((sandbox_dir / "endpoints.json").read_text()) == endpoints
    assert process_alive(pid)

    status = run_nhicard("sandbox", "status", "--dir", str(sandbox_dir), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "up": True,
        "pid": pid,
        "dir": str(sandbox_dir.resolve()),
        "parts": [
            {"part": "nhi", "address": endpoints["nhi_url"], "state": "up"},
            {"part": "ecpa", "address": endpoints["ecpa_url"], "state": "up"},
            {"part": "elearn", "address": endpoints["elearn_url"], "state": "up"},
            {"part": "smtp", "address": endpoints["smtp"], "state": "up"},
            {"part": "sam", "address": endpoints["sam"], "state": "up"},
        ],
    }

    # idempotent: already up → the same endpoints, exit 0, options that differ named
    other = free_port_base()
    again = up(sandbox_dir, other, "--no-card", env=EN)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == endpoints
    assert f"already running (process {pid}" in again.stderr
    assert "--port-base not applied" in again.stderr and "sandbox down" in again.stderr
    assert port_free(other)

    register_directly(sandbox_dir)
    assert ecpa_login(endpoints, sandbox_dir) == NAME

    down = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout) == {
        "status": "stopped",
        "pid": pid,
        "dir": str(sandbox_dir.resolve()),
    }
    assert not process_alive(pid)
    assert all(port_free(p) for p in range(base, base + 5))
    assert not (sandbox_dir / "endpoints.json").exists()
    assert not (sandbox_dir / "server.pid").exists()

    stopped = run_nhicard("sandbox", "status", "--dir", str(sandbox_dir), "--json")
    assert stopped.returncode == 0, stopped.stderr  # "is it up?" answered: no
    doc = json.loads(stopped.stdout)
    assert (doc["up"], doc["pid"]) == (False, None)
    assert {p["state"] for p in doc["parts"]} == {"down"}
    assert "not running" in stopped.stderr or "並未執行" in stopped.stderr

    restarted = up(sandbox_dir, base, "--no-card")
    assert restarted.returncode == 0, restarted.stderr
    endpoints = json.loads(restarted.stdout)
    assert endpoints["pid"] != pid
    assert ecpa_login(endpoints, sandbox_dir) == NAME  # the user survived the restart

    final = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
    assert json.loads(final.stdout)["status"] == "stopped"
    assert not process_alive(endpoints["pid"])
    assert all(port_free(p) for p in range(base, base + 5))
    nothing = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json", env=EN)
    assert nothing.returncode == 0
    assert json.loads(nothing.stdout)["status"] == "not-running"
    assert "The sandbox is not running." in nothing.stderr


def test_up_table_output_and_env_dir(tmp_path: Path) -> None:
    directory = tmp_path / "from-env"
    env = {"NHICARD_SANDBOX_DIR": str(directory)}
    base = free_port_base()
    try:
        started = run_nhicard(
            "sandbox", "up", "--no-card", "--port-base", str(base), "--format", "table", env=env
        )
        assert started.returncode == 0, started.stderr
        rows = dict(line.split(None, 1) for line in started.stdout.splitlines())
        assert list(rows) == KEYS
        assert rows["ecpa_url"] == f"https://127.0.0.1:{base + 1}"
        assert rows["readers"] == "-"
        assert rows["agent_origin"] == f"https://127.0.0.1:{base}; https://127.0.0.1:{base + 1}"
        assert (directory / "endpoints.json").exists()
    finally:
        stopped = run_nhicard("sandbox", "down", env=env)
    assert stopped.returncode == 0
    assert not (directory / "server.pid").exists()


def test_busy_port_refused_before_starting(sandbox_dir: Path) -> None:
    base = free_port_base()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 3))
        busy.listen(1)
        result = up(sandbox_dir, base, "--no-card")
    assert result.returncode == 7
    assert f"{base + 3}" in result.stderr and "--port-base" in result.stderr
    assert not (sandbox_dir / "server.pid").exists()


def test_bad_data_file_is_a_usage_error(sandbox_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "people.toml"
    bad.write_text('[[card]]\ncard_number = "123"\n', "utf-8")
    result = up(sandbox_dir, free_port_base(), "--no-card", "--data", str(bad))
    assert result.returncode == 2
    assert "people.toml" in result.stderr
    assert result.stdout == ""


def test_stale_pid_file_does_not_block_up(sandbox_dir: Path) -> None:
    sandbox_dir.mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    (sandbox_dir / "server.pid").write_text(f"{gone.pid}\n")
    (sandbox_dir / "endpoints.json").write_text('{"pid": 1}')
    base = free_port_base()
    started = up(sandbox_dir, base, "--no-card")
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    assert int((sandbox_dir / "server.pid").read_text()) == pid
    down = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
    assert json.loads(down.stdout)["pid"] == pid
    deadline = time.monotonic() + 5
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(pid)


@pytest.mark.pcsc
def test_up_with_virtual_card_on_vpcd(pcsc: Any, sandbox_dir: Path) -> None:
    base = free_port_base()
    started = up(sandbox_dir, base)
    assert started.returncode == 0, started.stderr
    endpoints = json.loads(started.stdout)
    assert endpoints["readers"] == ["Virtual PCD 00 00"]
    status = run_nhicard("sandbox", "status", "--dir", str(sandbox_dir), "--json")
    assert status.returncode == 0, status.stderr
    assert {"part": "card", "address": "Virtual PCD 00 00", "state": "up"} in json.loads(
        status.stdout
    )["parts"]
    card = run_nhicard("--reader", "Virtual PCD 00 00", "card", "read", "--json")
    assert card.returncode == 0, card.stderr
    assert json.loads(card.stdout)["card_number"] == CARD
    down = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir))
    assert down.returncode == 0
    from nhicard.pcsc.readers import list_readers

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = {r.name: r.state for r in list_readers(probe=None)}
        if states.get("Virtual PCD 00 00") == "empty":
            break
        time.sleep(0.1)
    assert states.get("Virtual PCD 00 00") == "empty"


def test_card_without_pcsc_fails_fast_with_hint(sandbox_dir: Path, tmp_path: Path) -> None:
    env = {"PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")}
    started = time.monotonic()
    result = run_nhicard(
        "sandbox", "up", "--dir", str(sandbox_dir), "--port-base", str(free_port_base()), env=env
    )
    assert result.returncode in (3, 4), result.stderr
    assert "--no-card" in result.stderr
    assert time.monotonic() - started < 15
    assert not (sandbox_dir / "server.pid").exists()


def test_down_then_up_ten_times_in_a_row(pcsc: Any, sandbox_dir: Path) -> None:
    """`sandbox down` returns only once the server has exited and its ports are free, so an
    `up` right after it always works: ten rounds, with the virtual card on vpcd each time."""
    base = free_port_base()
    for round_no in range(10):
        started = up(sandbox_dir, base)
        assert started.returncode == 0, (round_no, started.stderr)
        endpoints = json.loads(started.stdout)
        assert endpoints["readers"] == ["Virtual PCD 00 00"]
        down = run_nhicard("sandbox", "down", "--dir", str(sandbox_dir), "--json")
        assert down.returncode == 0, (round_no, down.stderr)
        assert json.loads(down.stdout)["pid"] == endpoints["pid"]
        # asked the moment `down` returned: nothing may still be running or listening
        assert not process_alive(endpoints["pid"]), round_no
        assert all(port_free(p) for p in range(base, base + 5)), round_no


# -- the guided tour: what to type next, a missing extra, a refused return URL ---------------
def next_steps(stderr: str) -> list[str]:
    """The indented command lines `sandbox up` prints after its "Next" line."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("Next,", "接下來")))
    return [line.strip() for line in lines[start + 1 :] if line.startswith("  ")]


@pytest.mark.parametrize(
    ("lang", "account_line", "no_card_line"),
    [
        ("en", "The eCPA account ming.wang has the password Ecpa-135790",
         "The sandbox has no virtual card (--no-card)"),
        ("zh-TW", "人事服務網帳號 ming.wang 的密碼(沙盒測試資料):Ecpa-135790",
         "沙盒沒有虛擬健保卡(--no-card)"),
    ],
)  # fmt: skip
def test_up_ends_with_the_next_commands(
    sandbox_dir: Path, lang: str, account_line: str, no_card_line: str
) -> None:
    started = run_nhicard(
        "--lang", lang, "sandbox", "up", "--dir", str(sandbox_dir), "--no-card",
        "--port-base", str(free_port_base()), "--format", "json",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    endpoints = json.loads(started.stdout)  # stdout stays one JSON document
    elearn = endpoints["elearn_url"].rstrip("/")
    assert next_steps(started.stderr) == [
        "export NHICARD_PROFILE=sandbox",
        f"export NHICARD_SANDBOX_DIR={sandbox_dir}",  # not the default dir: say where it is
        "nhicard register --household-id F1234567 --city 臺北市 --district 大安區 "
        "--village 龍門里 --neighborhood 5 --email ming@example.com --phone 02-23456789 "
        "--mobile 0912345678",
        f"nhicard verify-email --maildir {endpoints['maildir']} --wait 15",
        f"nhicard ecpa login --return-url {elearn}/sso_verify.php",
        f"nhicard ecpa login --account ming.wang --return-url {elearn}/sso_verify.php",
    ]
    assert account_line in started.stderr and no_card_line in started.stderr
    # what it tells is true: that account and password, and that return URL, are accepted
    proc = run_nhicard(
        "--profile", "sandbox", "ecpa", "login", "--account", "ming.wang", "--return-url",
        f"{elearn}/sso_verify.php", "--json",
        env={"NHICARD_SANDBOX_DIR": str(sandbox_dir), "NHICARD_PASSWORD": "Ecpa-135790"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["url"] == f"{elearn}/mooc/index.php"

    quiet = run_nhicard("-q", "sandbox", "up", "--dir", str(sandbox_dir), "--format", "json")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout) == endpoints


def test_the_readme_return_url_is_refused_with_a_hint_that_works(sandbox_dir: Path) -> None:
    """The real site's e-learning address, copied against the sandbox: refused before the
    password is used, and the hint names the address this sandbox accepts, not that one."""
    started = up(sandbox_dir, free_port_base(), "--no-card")
    assert started.returncode == 0, started.stderr
    elearn = json.loads(started.stdout)["elearn_url"].rstrip("/")
    refused = "https://elearn.hrd.gov.tw/sso_verify.php"
    env = {"NHICARD_SANDBOX_DIR": str(sandbox_dir), "NHICARD_PASSWORD": "Ecpa-135790", **EN}
    proc = run_nhicard(
        "--profile", "sandbox", "ecpa", "login", "--account", "ming.wang", "--return-url",
        refused, "--json", env=env,
    )  # fmt: skip
    assert proc.returncode == 8, proc.stderr
    assert f"does not accept the return URL {refused}" in proc.stderr
    hint = proc.stderr.split(f"the return URL {refused}", 1)[1]
    assert refused not in hint
    assert f"{elearn}/sso_verify.php" in hint


BLOCK_EXTRA = """
import importlib.abc, sys
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


@pytest.mark.parametrize("blocked", [("uvicorn",), ("uvicorn", "starlette", "jinja2", "aiosmtpd")])
def test_without_the_sandbox_extra_up_names_the_install_command(
    sandbox_dir: Path, tmp_path: Path, blocked: tuple[str, ...]
) -> None:
    """The [sandbox] extra's modules hidden (a sitecustomize that refuses to import them, as
    if they were not installed): exit 2, both install commands, both languages, no
    traceback, nothing started."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_EXTRA.format(blocked=set(blocked)), "utf-8")
    import os

    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    for lang, said in (("en", "needs the optional nhicard[sandbox] extra; missing: "),
                       ("zh-TW", "沙盒需要選用套件組 nhicard[sandbox],目前缺少:")):  # fmt: skip
        proc = up(sandbox_dir, free_port_base(), "--no-card", env={"PYTHONPATH": path,
                  "NHICARD_LANG": lang})  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert said + ", ".join(blocked) in proc.stderr
        assert "pipx inject nhicard 'nhicard[sandbox]'" in proc.stderr
        assert "pip install 'nhicard[sandbox]'" in proc.stderr
        assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr
        assert proc.stdout == ""
    assert not (sandbox_dir / "server.pid").exists()
    status = run_nhicard("sandbox", "status", "--dir", str(sandbox_dir), "--json")
    assert json.loads(status.stdout)["up"] is False


# -- a journal belongs to the sandbox it was made against ----------------------------------
REGISTER_ARGS = (
    "--household-id", "F1234567", "--city", "台北", "--district", "大安", "--village", "龍門",
    "--neighborhood", "5", "--email", "ming@example.com", "--phone", "02-23456789",
    "--mobile", "0912345678", "--yes", "--json",
)  # fmt: skip


def mails(endpoints: dict[str, Any]) -> list[Path]:
    maildir = Path(endpoints["maildir"])
    return [p for sub in ("new", "cur") for p in (maildir / sub).glob("*") if p.is_file()]


@pytest.mark.pcsc
def test_register_on_a_new_sandbox_starts_afresh_and_the_mail_comes(
    pcsc: Any, sandbox_dir: Path, tmp_path: Path
) -> None:
    """register; sandbox down; the sandbox dir deleted; sandbox up: the old journal (same
    state dir) belongs to the deleted sandbox, so register says so, applies again and the
    mail comes; verify-email then works. Restarted without deleting, the site still has
    the application: nothing is sent again (resumed)."""
    import shutil

    base = free_port_base()
    env = {
        "NHICARD_SANDBOX_DIR": str(sandbox_dir), "NHICARD_STATE_DIR": str(tmp_path / "state"),
        "NHICARD_PASSWORD": PASSWORD, **EN,
    }  # fmt: skip
    head = ("--profile", "sandbox", "--agent", "direct")

    def register() -> subprocess.CompletedProcess[str]:
        return run_nhicard(*head, "register", *REGISTER_ARGS, env=env)

    first = up(sandbox_dir, base)
    assert first.returncode == 0, first.stderr
    done = register()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "submitted", "email": "ming@example.com",
                                       "resumed": False}  # fmt: skip
    assert len(mails(json.loads(first.stdout))) == 1

    # the same sandbox, restarted: its store still holds the application
    assert run_nhicard("sandbox", "down", "--dir", str(sandbox_dir)).returncode == 0
    same = up(sandbox_dir, base)
    assert same.returncode == 0, same.stderr
    resumed = register()
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed"] is True
    assert len(mails(json.loads(same.stdout))) == 1  # nothing sent again

    # a new sandbox: deleted and started again
    assert run_nhicard("sandbox", "down", "--dir", str(sandbox_dir)).returncode == 0
    shutil.rmtree(sandbox_dir)
    fresh = up(sandbox_dir, base)
    assert fresh.returncode == 0, fresh.stderr
    endpoints = json.loads(fresh.stdout)
    assert mails(endpoints) == []
    again = register()
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"status": "submitted", "email": "ming@example.com",
                                        "resumed": False}  # fmt: skip
    assert "was made against another instance of the site" in again.stderr
    assert "starting afresh" in again.stderr
    assert len(mails(endpoints)) == 1  # the new sandbox got it and mailed the link
    verified = run_nhicard(
        *head, "verify-email", "--maildir", endpoints["maildir"], "--wait", "15", "--json",
        env=env,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout) == {"status": "verified"}
