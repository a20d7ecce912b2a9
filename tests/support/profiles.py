"""A site profile for tests: the sandbox profile's data written out with overrides."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_sandbox(directory: Path, **overrides: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sam_wrap_key.hex").write_text(WRAP + "\n")
    endpoints = {
        "nhi_url": "https://127.0.0.1:18440",
        "ecpa_url": "https://127.0.0.1:18441",
        "elearn_url": "https://127.0.0.1:18442",
        "smtp": "127.0.0.1:18443",
        "maildir": str(directory / "maildir"),
        "ca_bundle": str(directory / "ca.pem"),
        "sam": "127.0.0.1:18444",
        "readers": ["Virtual PCD 00 00"],
        "agent_origin": ["https://127.0.0.1:18440", "https://127.0.0.1:18441"],
        "pid": os.getpid(),
    }
    endpoints.update(overrides)
    (directory / "endpoints.json").write_text(json.dumps(endpoints))
    return directory


WRAP = "00112233445566778899aabbccddeeff0011223344556677"
