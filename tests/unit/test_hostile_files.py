"""Bad files and directories given to the CLI (issues 14 and 23): sandbox data of the wrong
types, card names that do not fit the card, ``--dir`` / ``--save-pages`` that are devices or
cannot take files, and files that never end (``/dev/zero``, an endless FIFO) or are huge as
``--profile``, ``extends``, ``--password-file`` or ``--data`` (read with a size limit, under
``prlimit --as``). Each is a usage error (exit 2) naming the file — never exit 1."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from pathlib import Path

import pytest

from nhicard.core.errors import UsageError
from nhicard.core.files import read_limited
from nhicard.core.i18n import T
from nhicard.sandbox.data import name_bytes, parse_data
from tests.support.cli import run_nhicard
from tests.support.limited_run import prlimit_path, run_nhicard_limited

CARD = """[[card]]
card_number = "000099999999"
name = {name}
id_number = "A123456789"
birth_date = 1990-01-01
issue_date = 2020-01-01
"""

BAD_DATA = [
    ('card = "x"', "card: must be an array of tables"),
    ("card = [1]", "card: must be an array of tables"),
    (CARD.format(name='"' + "😀" * 21 + '"'), "card[0].name:"),
    (CARD.format(name='"' + "王" * 11 + '"'), "does not fit the card's 20 bytes"),
    (CARD.format(name='["x"]'), "card[0].name: must be a string"),
    (CARD.format(name='"王"').replace("birth_date = 1990-01-01\n", ""), "card[0].birth_date"),
    (CARD.format(name='"王"').replace('"A123456789"', "[1]"), "card[0].id_number"),
    (
        '[[household]]\nhousehold_id = "F1"\ncity = "x"\ndistrict = "y"\nvillage = "z"\n'
        "neighborhood = [1]",
        "household[0].neighborhood",
    ),
    ("household = 3", "household: must be an array of tables"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_DATA)
def test_sim_card_data_errors_name_file_table_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    data = tmp_path / "people.toml"
    data.write_text(text, encoding="utf-8")
    proc = run_nhicard("--lang", "en", "sim", "card", "--data", str(data), "--port", "1")
    assert proc.returncode == 2, proc.stderr
    assert f"sandbox data file {data} is invalid" in proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_sandbox_up_refuses_bad_data_before_starting(tmp_path: Path) -> None:
    data = tmp_path / "people.toml"
    data.write_text("card = [1]", encoding="utf-8")
    proc = run_nhicard(
        "--lang", "zh-TW", "sandbox", "up", "--dir", str(tmp_path / "sb"), "--data", str(data),
        "--no-card", "--port-base", "1024",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "沙盒資料檔" in proc.stderr and "card" in proc.stderr


def test_names_are_measured_in_card_bytes() -> None:
    assert name_bytes("林峯") == 4
    assert name_bytes("王" * 10) == 20
    assert name_bytes("😀") is None or name_bytes("😀") == 1
    with pytest.raises(UsageError):
        parse_data({"card": [{"card_number": "0" * 12, "name": "王" * 11, "id_number":
                    "A123456789", "birth_date": "1990-01-01", "issue_date": "2020-01-01"}]})  # fmt: skip


@pytest.mark.parametrize("target", ["/dev/null", "/proc/self"])
def test_sandbox_up_dir_that_cannot_take_files(target: str) -> None:
    proc = run_nhicard(
        "--lang", "en", "sandbox", "up", "--dir", target, "--no-card", "--port-base", "1024"
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert target in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("target", ["/dev/null", "/proc/self"])
def test_save_pages_target_that_cannot_take_files(target: str) -> None:
    proc = run_nhicard(
        "--lang", "en", "register", "--save-pages", target, "--household-id", "F1234567",
        "--city", "x", "--district", "y", "--village", "z", "--neighborhood", "1",
        "--email", "a@example.com", "--phone", "1", "--mobile", "1", "--dry-run",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--save-pages" in proc.stderr and "cannot write files in" in proc.stderr


@pytest.mark.parametrize("kind", ["device", "fifo", "symlink"])
def test_cookie_jar_target_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    import os
    import stat

    if kind == "device":
        target = Path("/dev/full")
    elif kind == "fifo":
        target = tmp_path / "jar"
        os.mkfifo(target)
    else:
        target = tmp_path / "jar"
        target.symlink_to(tmp_path / "elsewhere.txt")
    before = os.lstat(target)
    proc = run_nhicard(
        "--lang", "en", "ecpa", "login", "--cookie-jar", str(target),
        env={"NHICARD_PASSWORD": "Pw-246810"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "exists and is not a regular file; not replacing it" in proc.stderr
    after = os.lstat(target)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode)


def test_write_cookie_jar_itself_refuses_a_fifo(tmp_path: Path) -> None:
    import os

    from nhicard.flows.cookie_jar import write_cookie_jar

    target = tmp_path / "jar"
    os.mkfifo(target)
    with pytest.raises(UsageError, match="not a regular file"):
        write_cookie_jar(target, [])
    assert not target.is_file()


GOOD_CARD = CARD.format(name='"王小明"')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('faults = "x"', "[faults] must be a table"),
        ("[faults]\ncard = 5", "faults.card must be a string or a table"),
        ('[faults.nhi]\nslow_seconds = "a"', "faults.nhi.slow_seconds must be a number"),
        ("[faults.nhi]\nerror_status = [1]", "faults.nhi.error_status must be a number"),
        ('[faults.card]\n"000012345678" = 3', "faults.card.000012345678 must be a fault string"),
        ("settings = 3", "[settings] must be a table"),
        ("[settings]\nlink_ttl_hours = 1e300", "settings.link_ttl_hours must be a number"),
    ],
)
def test_sandbox_up_data_faults_and_settings_errors_name_file_table_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    data = tmp_path / "people.toml"
    data.write_text(text + "\n" + GOOD_CARD, encoding="utf-8")
    proc = run_nhicard(
        "--lang", "en", "sandbox", "up", "--dir", str(tmp_path / "sb"), "--data", str(data),
        "--no-card", "--port-base", "1024",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"sandbox data file {data} is invalid" in proc.stderr and expected in proc.stderr


def test_profile_and_directory_names_with_a_nul_byte_are_refused(tmp_path: Path) -> None:
    from nhicard.cli.params import probe_writable
    from nhicard.sites.loader import resolve_profile
    from nhicard.sites.model import ProfileError

    with pytest.raises(ProfileError, match="not valid"):
        resolve_profile("bad\x00name.toml")
    assert probe_writable(tmp_path / "a\x00b") == "not a valid path"


def test_card_verify_report_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "report.csv"
    os.mkfifo(fifo)
    proc = run_nhicard("--lang", "en", "card", "verify", "--report", str(fifo), timeout=20)
    assert proc.returncode == 2, proc.stderr
    assert "is not a card verify report (not a regular file)" in proc.stderr


# -- issue 23: files read with a size limit --------------------------------------------------

LIMITED = 600 * 1024 * 1024  # address space: reading /dev/zero whole ends in MemoryError
REGISTER_DRY = (
    "register", "--household-id", "F1234567", "--city", "臺北市", "--district", "大安區",
    "--village", "龍門里", "--neighborhood", "5", "--email", "ming@example.com",
    "--phone", "02-23456789", "--mobile", "0912345678", "--dry-run",
)  # fmt: skip
NEEDS_PRLIMIT = pytest.mark.skipif(prlimit_path() is None, reason="prlimit is not installed")


def _refused(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr, proc.stderr
    assert "MemoryError" not in proc.stderr and "internal error" not in proc.stderr


@NEEDS_PRLIMIT
@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_dev_zero_as_profile_is_refused(tmp_path: Path, lang: str) -> None:
    env = {"NHICARD_PASSWORD": "Pw-246810", "NHICARD_STATE_DIR": str(tmp_path / "state")}
    proc = run_nhicard_limited(
        "--lang", lang, "--agent", "direct", "--profile", "/dev/zero", *REGISTER_DRY,
        address_space=LIMITED, env=env,
    )  # fmt: skip
    expected = {
        "en": "site profile /dev/zero is too large: over the limit of 1 MiB",
        "zh-TW": "網站設定檔 /dev/zero 太大:超過 1 MiB 的上限",
    }[lang]
    _refused(proc, expected)


@NEEDS_PRLIMIT
def test_dev_zero_as_extends_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text('extends = "/dev/zero"\n', encoding="utf-8")
    env = {"NHICARD_PASSWORD": "Pw-246810", "NHICARD_STATE_DIR": str(tmp_path / "state")}
    proc = run_nhicard_limited(
        "--lang", "en", "--agent", "direct", "--profile", str(profile), *REGISTER_DRY,
        address_space=LIMITED, env=env,
    )  # fmt: skip
    _refused(proc, "site profile /dev/zero is too large: over the limit of 1 MiB")


@NEEDS_PRLIMIT
def test_dev_zero_as_password_file_is_refused(tmp_path: Path) -> None:
    env = {"NHICARD_STATE_DIR": str(tmp_path / "state")}
    proc = run_nhicard_limited(
        "--lang", "en", "--profile", "sandbox", "ecpa", "login", "--password-file", "/dev/zero",
        address_space=LIMITED, env=env,
    )  # fmt: skip
    _refused(proc, "password file /dev/zero is too large: over the limit of 64 KiB")


@NEEDS_PRLIMIT
def test_dev_zero_as_sandbox_data_is_refused(tmp_path: Path) -> None:
    proc = run_nhicard_limited(
        "--lang", "en", "sandbox", "up", "--dir", str(tmp_path / "sb"), "--data", "/dev/zero",
        "--no-card", "--port-base", "1024", address_space=LIMITED,
    )  # fmt: skip
    _refused(proc, "sandbox data file /dev/zero is too large: over the limit of 4 MiB")


@NEEDS_PRLIMIT
def test_dev_zero_as_sim_card_data_is_refused() -> None:
    proc = run_nhicard_limited(
        "--lang", "en", "sim", "card", "--data", "/dev/zero", "--port", "1",
        address_space=LIMITED,
    )  # fmt: skip
    _refused(proc, "sandbox data file /dev/zero is too large: over the limit of 4 MiB")


@pytest.mark.timeout(60)
def test_a_fifo_that_never_ends_as_profile_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "endless.toml"
    os.mkfifo(fifo)

    def feed() -> None:
        with contextlib.suppress(OSError), open(fifo, "wb") as out:
            while True:
                out.write(b"# " + b"x" * 65_000 + b"\n")

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    env = {"NHICARD_PASSWORD": "Pw-246810", "NHICARD_STATE_DIR": str(tmp_path / "state")}
    proc = run_nhicard(
        "--lang", "en", "--agent", "direct", "--profile", str(fifo), *REGISTER_DRY, env=env
    )  # fmt: skip
    _refused(proc, f"site profile {fifo} is too large: over the limit of 1 MiB")
    writer.join(10)
    assert not writer.is_alive()  # the reader closed the pipe: the writer got EPIPE


def test_a_big_sparse_data_file_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "people.toml"
    with open(data, "wb") as fh:
        fh.truncate(5 * 1024**3)  # 5 GiB of nothing, on no disk
    proc = run_nhicard("--lang", "en", "sim", "card", "--data", str(data), "--port", "1")
    _refused(proc, f"sandbox data file {data} is too large: over the limit of 4 MiB")


def test_read_limited_takes_exactly_the_limit(tmp_path: Path) -> None:
    what = T("測試檔", "test file")
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_limited(path, 100, what) == b"x" * 100
    with pytest.raises(UsageError) as caught:
        read_limited(path, 99, what)
    assert caught.value.reason == "file-too-large"
    assert caught.value.message.en == f"test file {path} is too large: over the limit of 99 bytes"
    assert caught.value.message.zh == f"測試檔 {path} 太大:超過 99 bytes 的上限"
    with pytest.raises(FileNotFoundError):
        read_limited(tmp_path / "missing", 100, what)


def test_a_password_file_under_the_limit_still_works(tmp_path: Path) -> None:
    """Only the first line counts; a file of 64 KiB with a long tail is still read."""
    secret = tmp_path / "pw"
    secret.write_text("Pw-246810\n" + "#" * (64 * 1024 - 10), encoding="utf-8")
    proc = run_nhicard(
        "--lang", "en", "--profile", str(tmp_path / "missing.toml"), "ecpa", "login",
        "--password-file", str(secret),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "site profile" in proc.stderr and "not found" in proc.stderr  # got past the password
