"""The one reader and writer of the sandbox's ``endpoints.json`` and SAM wrap key."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NetworkError, UsageError
from nhicard.sandbox.supervisor import ENDPOINT_KEYS
from nhicard.sites.sandbox_endpoints import (
    SandboxEndpoints,
    endpoints_file,
    load_endpoints,
    load_wrap_key,
    peek_endpoints,
    write_endpoints,
)

FULL = SandboxEndpoints(
    nhi_url="https://127.0.0.1:8440",
    ecpa_url="https://127.0.0.1:8441",
    elearn_url="https://127.0.0.1:8442",
    smtp="127.0.0.1:8443",
    maildir="/x/maildir",
    ca_bundle="/x/ca.pem",
    sam="127.0.0.1:8444",
    readers=("Virtual PCD 00 00",),
    agent_origins=("https://127.0.0.1:8440", "https://127.0.0.1:8441"),
    pid=os.getpid(),
)


def test_written_then_read_back(tmp_path: Path) -> None:
    path = write_endpoints(tmp_path, FULL)
    assert path == endpoints_file(tmp_path) == tmp_path / "endpoints.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    doc = json.loads(path.read_text("utf-8"))
    assert tuple(doc) == ENDPOINT_KEYS  # the keys and order `sandbox up` prints
    assert doc["agent_origin"] == ["https://127.0.0.1:8440", "https://127.0.0.1:8441"]
    assert load_endpoints(tmp_path) == FULL == peek_endpoints(path)
    assert (FULL.sam_host, FULL.sam_port) == ("127.0.0.1", "8444")
    assert SandboxEndpoints(sam="[::1]:8444").sam_host == "::1"


def test_load_refuses_what_a_profile_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(NetworkError) as absent:
        load_endpoints(tmp_path / "absent")
    assert exit_code_for(absent.value) == 7 and absent.value.reason == "sandbox-not-running"
    assert "sandbox not running" in absent.value.message.en
    (tmp_path / "endpoints.json").write_text("[1]")
    with pytest.raises(NetworkError, match="sandbox not running") as not_object:
        load_endpoints(tmp_path)
    assert "not a JSON object" in (not_object.value.detail or "")
    (tmp_path / "endpoints.json").write_text(json.dumps({"sam": "127.0.0.1:1"}))
    with pytest.raises(NetworkError) as partial:
        load_endpoints(tmp_path)
    assert "missing nhi_url, ecpa_url, ca_bundle" in (partial.value.detail or "")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_endpoints(tmp_path, dataclasses.replace(FULL, pid=gone.pid))
    with pytest.raises(NetworkError) as stale:
        load_endpoints(tmp_path)
    assert "has exited" in (stale.value.detail or "")
    # peeking (agent serve's origin list, sandbox status) never raises
    assert peek_endpoints(tmp_path / "absent.json") is None
    (tmp_path / "endpoints.json").write_text("{broken")
    assert peek_endpoints(tmp_path / "endpoints.json") is None


@given(st.dictionaries(st.sampled_from([*ENDPOINT_KEYS, "other"]), st.from_type(object)))
def test_any_document_gives_endpoints_or_none(doc: dict[str, object]) -> None:
    got = SandboxEndpoints.from_json(doc)
    assert all(isinstance(getattr(got, k), str) for k in ("nhi_url", "sam", "ca_bundle"))
    assert got.pid is None or isinstance(got.pid, int)


def test_wrap_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="missing"):
        load_wrap_key(tmp_path)
    (tmp_path / "sam_wrap_key.hex").write_text("ab" * 24 + "\n")
    assert load_wrap_key(tmp_path) == b"\xab" * 24
    (tmp_path / "sam_wrap_key.hex").write_text("abcd")
    with pytest.raises(UsageError, match="not 24 bytes") as short:
        load_wrap_key(tmp_path)
    assert exit_code_for(short.value) == 2 and "sandbox up" in short.value.hint.en  # type: ignore[union-attr]
