"""``nhicard ecpa login`` as a subprocess against the running sandbox: the virtual card on the
private pcscd's vpcd, the direct agent, the sandbox SAM, eCPA and the e-learning relying party
over HTTPS. Registrations are put into the sandbox store directly (the register and
verify-email commands have their own tests and the whole job is in test_job_e2e.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.cli import run_nhicard
from tests.support.flow_kit import PASSWORD, login_row, register_verified
from tests.support.register_kit import agent_service  # noqa: F401
from tests.support.sandbox_fixture import SandboxServer, sandbox, sandbox_server  # noqa: F401


def register(sb: SandboxServer, password: str = PASSWORD) -> None:
    register_verified(sb, password)


def login(
    sb: SandboxServer, *args: str, password: str | None = PASSWORD, lang: str = "en"
) -> subprocess.CompletedProcess[str]:
    env = sb.env()
    if password is not None:
        env["NHICARD_PASSWORD"] = password
    return run_nhicard(
        "--profile", "sandbox", "--agent", "direct", "--lang", lang, "ecpa", "login", "--json",
        *args, env=env,
    )  # fmt: skip


def test_login_lands_on_ecpa_home(sandbox: SandboxServer) -> None:  # noqa: F811
    register(sandbox)
    done = login(sandbox)
    assert done.returncode == 0, done.stderr
    ecpa = sandbox.endpoints["ecpa_url"].rstrip("/")
    assert json.loads(done.stdout) == {
        "status": "logged-in",
        "name": "王小明",
        "url": f"{ecpa}/webform/home.aspx",
    }
    assert PASSWORD not in done.stdout + done.stderr
    assert login_row(sandbox) == (0, 0, None, 0)


def test_return_url_continues_into_elearning(sandbox: SandboxServer) -> None:  # noqa: F811
    register(sandbox)
    elearn = sandbox.endpoints["elearn_url"].rstrip("/")
    done = login(sandbox, "--return-url", f"{elearn}/sso_verify.php")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "status": "logged-in",
        "name": "王小明",
        "url": f"{elearn}/mooc/index.php",  # sso_verify → sso_home.php?ssoid= → here
    }


def test_unregistered_return_url_is_refused_before_the_card(sandbox: SandboxServer) -> None:  # noqa: F811
    register(sandbox)
    done = login(sandbox, "--return-url", "https://127.0.0.1:1/sso_verify.php")
    assert done.returncode == 8, done.stderr
    assert "does not accept the return URL" in done.stderr
    assert "not a registered application" in done.stderr
    assert done.stdout == ""
    assert login_row(sandbox) is None  # no password was sent


def test_wrong_password_is_sent_once_and_exits_9(sandbox: SandboxServer) -> None:  # noqa: F811
    register(sandbox)
    done = login(sandbox, password="Wrong-999")
    assert done.returncode == 9, done.stderr
    assert "Wrong NHI card password; 2 attempt(s) left." in done.stderr
    assert "never retries" in done.stderr
    assert done.stdout == ""
    assert login_row(sandbox) == (1, 0, None, 0)  # one POST, one failure counted
    zh = login(sandbox, password="Wrong-999", lang="zh-TW")
    assert zh.returncode == 9
    assert "健保卡密碼錯誤,您還可以再嘗試 1 次" in zh.stderr
    assert login_row(sandbox) == (2, 0, None, 0)


def test_three_wrong_runs_lock_and_the_lock_says_until_when(sandbox: SandboxServer) -> None:  # noqa: F811
    register(sandbox)
    codes = [login(sandbox, password="Wrong-999").returncode for _ in range(3)]
    assert codes == [9, 9, 9]
    failures, locks, locked_until, revoked = login_row(sandbox) or (0, 0, None, 0)
    assert (failures, locks, revoked) == (3, 1, 0) and locked_until is not None
    until = datetime.fromtimestamp(locked_until, UTC).astimezone()
    locked = login(sandbox)  # even the right password is refused while locked
    assert locked.returncode == 9
    assert "locked until" in locked.stderr
    taipei = until.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Taipei"))
    assert taipei.strftime("%Y-%m-%d %H:%M:%S") in locked.stderr
    assert "Wait until the lock ends" in locked.stderr


def test_unregistered_card_exits_8(sandbox: SandboxServer) -> None:  # noqa: F811
    done = login(sandbox)
    assert done.returncode == 8, done.stderr
    assert "not registered for online services" in done.stderr
    assert "nhicard register" in done.stderr


def test_password_length_checked_before_anything(sandbox: SandboxServer) -> None:  # noqa: F811
    register(sandbox)
    done = login(sandbox, password="short")
    assert done.returncode == 2, done.stderr
    assert "8009" in done.stderr
    assert login_row(sandbox) is None


def test_no_password_source_is_a_usage_error(sandbox: SandboxServer) -> None:  # noqa: F811
    done = login(sandbox, password=None)
    assert done.returncode == 2
    assert "NHICARD_PASSWORD" in done.stderr


def test_cookie_jar_is_private_and_works_with_curl(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    register(sandbox)
    jar = tmp_path / "cookies.txt"
    jar.write_text("old content")
    os.chmod(jar, 0o644)
    elearn = sandbox.endpoints["elearn_url"].rstrip("/")
    done = login(sandbox, "--return-url", f"{elearn}/sso_verify.php", "--cookie-jar", str(jar))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(jar.stat().st_mode) == 0o600
    text = jar.read_text()
    assert text.startswith("# Netscape HTTP Cookie File")
    names = {line.split("\t")[5] for line in text.splitlines() if "\t" in line}
    assert names == {"ECPA_SessionId", "ELEARN_PHPSESSID"}
    assert not list(tmp_path.glob(".cookies.txt.*"))  # no temp file left behind
    ca = sandbox.endpoints["ca_bundle"]
    ecpa = sandbox.endpoints["ecpa_url"].rstrip("/")
    for url, shown in ((f"{ecpa}/webform/home.aspx", "王小明 您好"), (f"{elearn}/", "已登入")):
        page = subprocess.run(
            ["curl", "-sS", "--cacert", ca, "--cookie", str(jar), "-w", "\n%{http_code}", url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        body, _, code = page.stdout.rpartition("\n")
        assert code == "200", page.stderr
        assert shown in " ".join(body.replace("</span>", "").split()), body[:300]
    without = subprocess.run(
        ["curl", "-sS", "--cacert", ca, "-o", "/dev/null", "-w", "%{http_code}",
         f"{ecpa}/webform/home.aspx"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert without.stdout == "302"  # the jar is what signs curl in


def test_a_fresh_login_never_sends_stale_ecpa_cookies(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Stale eCPA cookies make the real site redirect (sites.md): every login starts from an
    empty jar, and --cookie-jar is replaced, never read back."""
    register(sandbox)
    jar = tmp_path / "cookies.txt"
    host = sandbox.endpoints["ecpa_url"].split("//", 1)[1].split(":", 1)[0]
    stale = "stale-session-0123456789abcdef"
    jar.write_text(f"{host}\tFALSE\t/\tTRUE\t0\tECPA_SessionId\t{stale}\n", "utf-8")
    done = login(sandbox, "-vv", "--cookie-jar", str(jar))
    assert done.returncode == 0, done.stderr
    assert stale not in done.stderr  # never sent (-vv traces the requests)
    text = jar.read_text("utf-8")
    assert stale not in text
    sessions = [line.split("\t")[6] for line in text.splitlines() if "\tECPA_SessionId\t" in line]
    assert len(sessions) == 1 and sessions[0] != stale


def test_cookie_jar_not_written_when_login_fails(sandbox: SandboxServer, tmp_path: Path) -> None:  # noqa: F811
    register(sandbox)
    jar = tmp_path / "cookies.txt"
    done = login(sandbox, "--cookie-jar", str(jar), password="Wrong-999")
    assert done.returncode == 9
    assert not jar.exists()


@pytest.mark.parametrize("profile", ["real"])
def test_real_profile_says_the_chain_is_not_public(profile: str) -> None:
    done = run_nhicard(
        "--profile", profile, "--lang", "en", "ecpa", "login", "--json",
        env={"NHICARD_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert done.returncode == 11, done.stderr
    assert "NHI-card chain is not public" in done.stderr
    assert "--account" in done.stderr and "--profile sandbox" in done.stderr


# -- the account/password column (the recorded chain) ------------------------------------
ACCOUNT, ACCOUNT_PASSWORD = "ming.wang", "Ecpa-135790"  # nhicard/sandbox/default_data.toml


def account_login(
    sb: SandboxServer, *args: str, password: str = ACCOUNT_PASSWORD, lang: str = "en"
) -> subprocess.CompletedProcess[str]:
    """No card agent at all: the account column must not touch the card."""
    return run_nhicard(
        "--profile", "sandbox", "--agent", "nhiicc", "--agent-url", "wss://127.0.0.1:1/echo",
        "--lang", lang, "ecpa", "login", "--json", "--account", ACCOUNT, *args,
        env=sb.env() | {"NHICARD_PASSWORD": password},
    )  # fmt: skip


def test_account_column_lands_on_home_without_a_card(sandbox: SandboxServer) -> None:  # noqa: F811
    done = account_login(sandbox)
    assert done.returncode == 0, done.stderr
    ecpa = sandbox.endpoints["ecpa_url"].rstrip("/")
    assert json.loads(done.stdout) == {
        "status": "logged-in",
        "name": "王小明",
        "url": f"{ecpa}/webform/home.aspx",
    }
    assert ACCOUNT_PASSWORD not in done.stdout + done.stderr


def test_account_column_continues_into_elearning_with_cookie_jar(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    elearn = sandbox.endpoints["elearn_url"].rstrip("/")
    jar = tmp_path / "jar.txt"
    done = account_login(
        sandbox, "--return-url", f"{elearn}/sso_verify.php", "--cookie-jar", str(jar)
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "status": "logged-in",
        "name": "王小明",
        "url": f"{elearn}/mooc/index.php",
    }
    assert stat.S_IMODE(jar.stat().st_mode) == 0o600
    names = {line.split("\t")[5] for line in jar.read_text().splitlines() if "\t" in line}
    assert names == {"ECPA_SessionId", "ELEARN_PHPSESSID"}
    assert ACCOUNT_PASSWORD not in done.stderr + jar.read_text()


def test_account_wrong_password_sent_once_exits_9_then_locks(sandbox: SandboxServer) -> None:  # noqa: F811
    sandbox.use("# a server of its own: the lock stays with it\n")
    # GetApTicketV2 answers as recorded: an empty body (wrong) or "0" (here: locked)
    first = account_login(sandbox, password="Wrong-000")
    assert first.returncode == 9, first.stderr
    flat = " ".join(first.stderr.split())
    assert (
        "eCPA refused the login (GetApTicketV2): wrong password, or the login is locked "
        "(the site answered an empty body)"
    ) in flat
    assert "never retries" in flat and "10 minutes" in flat and first.stdout == ""
    assert "Wrong-000" not in first.stderr
    second = account_login(sandbox, password="Wrong-000", lang="zh-TW")
    assert second.returncode == 9
    assert "密碼錯誤或登入已鎖定" in second.stderr and "不會自動重試" in second.stderr
    third = account_login(sandbox, password="Wrong-000")
    assert third.returncode == 9 and "the site answered '0'" in third.stderr
    locked = account_login(sandbox)  # even the right password, while locked
    assert locked.returncode == 9 and "the site answered '0'" in locked.stderr


def test_unknown_account_exits_9(sandbox: SandboxServer) -> None:  # noqa: F811
    done = run_nhicard(
        "--profile", "sandbox", "--lang", "en", "ecpa", "login", "--account", "nobody",
        env=sandbox.env() | {"NHICARD_PASSWORD": ACCOUNT_PASSWORD},
    )  # fmt: skip
    assert done.returncode == 9, done.stderr
    assert "No such account" in done.stderr


def test_saved_pages_are_redacted_and_requests_counted(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    register(sandbox)
    pages = tmp_path / "pages"
    done = run_nhicard(
        "--profile", "sandbox", "--agent", "direct", "--lang", "en", "-v", "ecpa", "login",
        "--json", "--save-pages", str(pages),
        env=sandbox.env() | {"NHICARD_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # login page, GetNHIRandom, GetApTicketNHI, EnterTwoWayLog, EnterApplicationTwoWay, home
    assert "HTTP requests: 6" in done.stderr
    saved = sorted(p.name for p in pages.iterdir())
    assert saved == ["01-ecpa-login.html", "02-ecpa-home.html"]
    home = (pages / "02-ecpa-home.html").read_text("utf-8")
    assert "王*明" in home and "王小明" not in home
    for path in pages.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert PASSWORD not in path.read_text("utf-8")


def test_login_through_the_nhiicc_agent_service(
    sandbox: SandboxServer,  # noqa: F811
    agent_service: str,  # noqa: F811
) -> None:
    """The official component's commands (GetBasic, GetVersion, H_Sign, EnCrypt) over WSS, as
    `nhicard agent serve` answers them with the virtual card."""
    register(sandbox)
    done = run_nhicard(
        "--profile", "sandbox", "--agent", "nhiicc", "--agent-url", agent_service, "-v",
        "--lang", "en", "ecpa", "login", "--json",
        env=sandbox.env() | {"NHICARD_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "王小明"
    assert "card agent: nhiicc" in done.stderr


def test_password_prompt_on_a_terminal(sandbox: SandboxServer) -> None:  # noqa: F811
    """stdin and stderr on a pseudo-terminal: one hidden prompt (no confirmation)."""
    import pty
    import select
    import time

    from tests.support.cli import nhicard_executable

    register(sandbox)
    master, slave = pty.openpty()
    env = {**os.environ, **sandbox.env(), "LANG": "C.UTF-8"}
    env.pop("NHICARD_PASSWORD", None)
    proc = subprocess.Popen(
        [nhicard_executable(), "--profile", "sandbox", "--agent", "direct", "--lang", "en",
         "ecpa", "login", "--json"],
        stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    asked = False
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        if not asked and b"NHI card registration password" in seen:
            asked = True
            os.write(master, (PASSWORD + "\n").encode())
    out = proc.stdout.read() if proc.stdout else b""
    proc.wait(timeout=10)
    os.close(master)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert asked and "Repeat" not in text and PASSWORD not in text
    assert json.loads(out)["status"] == "logged-in"
    assert "Signing in to eCPA" in text  # progress on a terminal


def test_account_password_never_in_the_trace_or_saved_pages(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    pages = tmp_path / "pages"
    done = run_nhicard(
        "--profile", "sandbox", "--lang", "en", "-vv", "ecpa", "login", "--account", ACCOUNT,
        "--save-pages", str(pages), "--json",
        env=sandbox.env() | {"NHICARD_PASSWORD": ACCOUNT_PASSWORD},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "POST" in done.stderr and "/Home/GetApTicketV2" in done.stderr  # traced
    assert ACCOUNT_PASSWORD not in done.stdout + done.stderr
    assert "A123456789" not in done.stderr  # GetUID's answer is masked too
    assert sorted(p.name for p in pages.iterdir()) == ["01-ecpa-login.html", "02-ecpa-home.html"]
    for path in pages.iterdir():
        assert ACCOUNT_PASSWORD not in path.read_text("utf-8")
