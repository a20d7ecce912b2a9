"""One "start the PC/SC service" hint: the platform's, given by every error and check."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhicard import platform
from nhicard.agent.errors import OFFICIAL_CODES
from nhicard.pcsc import codes
from tests.support.cli import run_nhicard

PACKAGE = Path(__file__).resolve().parents[2] / "nhicard"


@pytest.mark.parametrize(("system", "name"), [("linux", "linux"), ("darwin", "macos")])
def test_pcsc_errors_give_the_platform_wording(system: str, name: str) -> None:
    fix = platform.get(name).pcsc_service_fix()
    assert codes.service_hint(system) == fix
    assert codes.service_unavailable(system=system).hint == fix
    assert codes.translate(codes.SCARD_E_NO_SERVICE, system=system).hint == fix


def test_the_official_component_pcsc_code_gives_the_same_hint() -> None:
    assert OFFICIAL_CODES["7001"].hint == codes.service_hint()


def test_one_place_words_starting_pcscd() -> None:
    homes = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "systemctl start pcscd" in p.read_text("utf-8")
    )
    assert homes == ["platform/linux.py"]


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_reader_list_without_pcscd_says_it_like_env_check(lang: str) -> None:
    env = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    r = run_nhicard("--lang", lang, "reader", "list", "--json", env=env)
    assert r.returncode == 3
    fix = platform.get("linux").pcsc_service_fix().render(lang)
    assert r.stderr.splitlines()[-1].endswith(fix)
