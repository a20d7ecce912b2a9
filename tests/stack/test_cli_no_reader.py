"""pcscd running with no reader at all (the "no reader" fault of quality.md), through the
installed CLI and a private pcscd whose reader.conf.d is empty: an empty list, exit 4 with a
bilingual message and hint, and env check's readers check failing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.support.cli import run_nhicard
from tests.support.stack import PcscStack, have_real_pcsc

pytestmark = pytest.mark.pcsc

HINT_EN = (
    "Hint: Plug in the reader (USB), wait a few seconds and retry; check with"
    " `nhicard reader list`."
)


@pytest.fixture(scope="module")
def no_reader_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of a private pcscd that has no reader."""
    why = have_real_pcsc()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the real PC/SC stack is required in CI: {why}")
        pytest.skip(why)
    stack = PcscStack(tmp_path_factory.mktemp("pcsc-empty"), readers=False)
    stack.start()
    try:
        yield stack.env()
    finally:
        stack.stop()


def test_reader_list_is_empty_and_says_so(no_reader_env: dict[str, str]) -> None:
    proc = run_nhicard("--lang", "en", "reader", "list", "--json", env=no_reader_env)
    assert (proc.returncode, json.loads(proc.stdout)) == (0, [])
    zh = run_nhicard("--lang", "zh-TW", "reader", "list", env=no_reader_env)
    assert zh.returncode == 0 and "沒有找到讀卡機" in zh.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("card", "read", "--json"),
        ("card", "verify", "--json"),
        ("card", "verify", "--watch", "--count", "1", "--timeout", "1"),
    ],
)
def test_card_commands_exit_4(no_reader_env: dict[str, str], command: tuple[str, ...]) -> None:
    proc = run_nhicard("--lang", "en", *command, env=no_reader_env)
    assert (proc.returncode, proc.stdout) == (4, "")
    assert proc.stderr.splitlines() == ["Error: no smart card reader found", HINT_EN]
    zh = run_nhicard("--lang", "zh-TW", *command, env=no_reader_env)
    assert zh.returncode == 4
    assert zh.stderr.splitlines() == [
        "錯誤: 找不到讀卡機",
        "建議: 請插上讀卡機(USB),稍候數秒再試;用 `nhicard reader list` 檢查。",
    ]


def test_env_check_fails_the_readers_check(no_reader_env: dict[str, str]) -> None:
    proc = run_nhicard(
        "--lang", "en", "env", "check", "--offline", "--only", "pcsc", "--json", env=no_reader_env
    )
    assert proc.returncode == 10, proc.stderr
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["pcsc.service"]["status"] == "pass"
    assert checks["pcsc.readers"]["status"] == "fail"
    assert checks["pcsc.readers"]["fix"]
