"""Output to a console whose encoding cannot show every character (issue 14): a Windows console
in cp950 and the card of 林峯 (峯 is HKSCS, not in cp950). What can be printed is printed, the
rest replaced, and JSON stays valid and complete with ``\\u`` escapes. Through the real
pcscd + virtual card."""

from __future__ import annotations

import io
import json
import os
import subprocess

import pytest

from nhicard.cli.output import json_text, stream_takes_unicode
from tests.support.cli import nhicard_executable
from tests.support.stack import VirtualCardSlots

LIN_FENG = "000023456789"


def run_in(encoding: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ) | {"PYTHONIOENCODING": encoding, "LANG": "C.UTF-8"}
    env.pop("NHICARD_LANG", None)
    return subprocess.run([nhicard_executable(), *args], env=env, capture_output=True, timeout=60)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_on_a_cp950_console_is_valid_with_escapes(
    virtual_cards: VirtualCardSlots,  # noqa: F811
    fmt: str,
) -> None:
    virtual_cards.insert(LIN_FENG)
    done = run_in("cp950", "-r", "0", "card", "read", "--format", fmt)
    assert done.returncode == 0, done.stderr.decode("cp950", "replace")
    assert b"\\u6797\\u5cef" in done.stdout
    record = json.loads(done.stdout.decode("ascii"))
    assert record["name"] == "林峯"


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_text_on_a_cp950_console_replaces_what_it_cannot_show(
    virtual_cards: VirtualCardSlots,  # noqa: F811
    fmt: str,
) -> None:
    virtual_cards.insert(LIN_FENG)
    done = run_in("cp950", "-r", "0", "card", "read", "--format", fmt)
    assert done.returncode == 0, done.stderr.decode("cp950", "replace")
    text = done.stdout.decode("cp950")
    assert "林?" in text and "F126112341" in text
    assert b"Traceback" not in done.stderr


def test_messages_on_an_ascii_console_in_chinese(virtual_cards: VirtualCardSlots) -> None:  # noqa: F811
    virtual_cards.insert(LIN_FENG)
    done = run_in("ascii", "--lang", "zh-TW", "-r", "0", "card", "verify", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "ok"
    assert b"Traceback" not in done.stderr and b"UnicodeEncodeError" not in done.stderr


def test_utf8_stream_keeps_characters_as_they_are() -> None:
    assert stream_takes_unicode(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert not stream_takes_unicode(io.TextIOWrapper(io.BytesIO(), encoding="cp950"))
    assert json_text({"n": "峯"}) in ('{"n": "峯"}', '{"n": "\\u5cef"}')
