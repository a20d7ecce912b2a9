"""The cheap look-ups behind ``nhicard --version``: distribution and PC/SC library versions."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from nhicard.pcsc.library import (
    _dpkg_version,
    installed_version,
    pcsc_library_description,
    pcsc_library_name,
)


def test_agrees_with_importlib_metadata_for_installed_distributions() -> None:
    for dist in ("pyscard", "click", "nhicard"):
        assert installed_version(dist) == version(dist)


def test_absent_distribution_is_none() -> None:
    assert installed_version("no-such-distribution-xyz") is None


def test_reads_dist_info_with_dashes_normalised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "foo_bar-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.2.3\n\nbody\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "missing"), str(tmp_path)])
    assert installed_version("foo-bar") == "1.2.3"
    assert installed_version("foo") is None


def test_dpkg_version_reads_the_named_package_only(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        "Package: libpcsclite1-dev\nVersion: 9.9\n\n"
        "Package: libpcsclite1\nStatus: install ok installed\nVersion: 1.9.9-2\n\n"
        "Package: zz\nVersion: 1\n"
    )
    assert _dpkg_version("libpcsclite1", str(status)) == "1.9.9-2"
    assert _dpkg_version("zz", str(status)) == "1"
    assert _dpkg_version("absent", str(status)) is None
    assert _dpkg_version("libpcsclite1", str(tmp_path / "missing")) is None


def test_description_names_the_library() -> None:
    name = pcsc_library_name()
    assert name is not None  # libpcsclite is installed wherever these tests run
    assert pcsc_library_description().startswith(name)
