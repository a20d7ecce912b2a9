"""The typed, frozen settings of an ``env check`` run and the closed sets as ``StrEnum``s:
built in one place, variants by ``dataclasses.replace`` (with fresh memos), and the JSON
output carrying the same strings as before."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nhicard import platform
from nhicard.cli.records import env_report
from nhicard.core.i18n import T
from nhicard.envcheck import PASS, STATUSES, CheckEnv, CheckResult, Status, passed
from nhicard.envcheck.plan import CheckOptions, LoadedProfile, make_env
from nhicard.envcheck.probes import ProbeKind
from nhicard.envcheck.settings import NetworkTargets
from nhicard.pcsc.events import EventKind
from nhicard.sandbox.supervisor import PartState, PartStatus

linux = platform.get("linux")


def test_settings_are_frozen_and_replace_starts_afresh() -> None:
    env = CheckEnv(platform=linux, environ={}, reader="0", timeout=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.reader = "1"  # type: ignore[misc]
    assert env.memo("fact", lambda: 1) == 1
    variant = dataclasses.replace(env, offline=True)
    assert (variant.reader, variant.timeout, variant.offline) == ("0", 2, True)
    assert variant.memo("fact", lambda: 2) == 2  # its own memo
    assert env.memo("fact", lambda: 3) == 1


def test_make_env_is_the_one_place_options_become_settings() -> None:
    options = CheckOptions(offline=True, reader="ACS", profile="sandbox", timeout=3.0)
    env = make_env(options, LoadedProfile(None), platform=linux, environ={"A": "b"})
    assert (env.offline, env.reader, env.profile_name, env.timeout) == (True, "ACS", "sandbox", 3)
    assert env.targets == NetworkTargets("sandbox", ())
    assert (env.platform, env.environ, env.profile_sam) == (linux, {"A": "b"}, None)


def test_closed_sets_keep_their_strings_in_json() -> None:
    assert [s.value for s in STATUSES] == ["pass", "warn", "fail", "skip"]
    assert passed(T("好", "ok")).status is Status.PASS is PASS
    doc = env_report([CheckResult("system.os", "system", PASS, T("好", "ok"))], "en")
    text = json.dumps(doc)
    assert '"status": "pass"' in text and '"pass": 1' in text
    assert json.dumps([EventKind.READER_ADDED, ProbeKind.TLS_UNTRUSTED, PartState.UP]) == (
        '["reader-added", "tls-untrusted", "up"]'
    )
    assert PartStatus("nhi", "", PartState.of(False)).to_record()["state"] == "down"
    assert f"{ProbeKind.DNS}: x" == "dns: x"
