"""Groups ``system`` and ``installer`` with injected facts and real files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from nhicard import __version__
from nhicard.envcheck import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    CheckEnv,
    run_checks,
    system,
)
from nhicard.envcheck import installer as inst
from nhicard.envcheck.settings import PublishedInstaller
from nhicard.platform import linux as platform_linux
from nhicard.platform import windows as platform_windows


def env(**stand_ins: Any) -> CheckEnv:
    return CheckEnv(platform=platform_linux, timeout=2, **stand_ins)


def test_system_checks_report_versions() -> None:
    e = env(
        pyscard_version=lambda: "2.3.1",
        pcsc_library=lambda: ("libpcsclite.so.1", "libpcsclite.so.1 (pcsc-lite 2.0)"),
    )
    results = {r.id: r for r in run_checks(system.checks(), e)}
    assert [r.status for r in results.values()] == [PASS] * 5
    assert results["system.nhicard"].summary.en == f"nhicard {__version__}"
    assert results["system.pyscard"].summary.en == "pyscard 2.3.1"
    assert (
        results["system.pcsc-library"].summary.en
        == "PC/SC library: libpcsclite.so.1 (pcsc-lite 2.0)"
    )
    assert (
        results["system.pcsc-library"].summary.zh == "PC/SC 函式庫:libpcsclite.so.1 (pcsc-lite 2.0)"
    )


def test_missing_pyscard_and_library_fail_with_per_os_fixes() -> None:
    e = env(pyscard_version=lambda: None, pcsc_library=lambda: (None, "library not found"))
    results = {r.id: r for r in run_checks(system.checks(), e)}
    py, lib = results["system.pyscard"], results["system.pcsc-library"]
    assert (py.status, lib.status) == (FAIL, FAIL)
    assert py.fix == platform_linux.pyscard_fix()
    assert "pip install pyscard" in py.fix.zh and "pip install pyscard" in py.fix.en
    assert lib.fix is not None and "libpcsclite1" in lib.fix.zh and "libpcsclite1" in lib.fix.en
    win = CheckEnv(platform=platform_windows, pcsc_library=lambda: (None, ""), timeout=2)
    assert system.check_pcsc_library(win).fix == platform_windows.pcsc_library_fix()


def test_old_python_and_unknown_os() -> None:
    old = system.check_python(env(python_version=(3, 9, 1)))
    assert old.status == FAIL
    assert old.summary.en == "Python 3.9.1 is too old (3.11 or later needed)"
    assert old.fix is not None and "3.11" in old.fix.zh
    odd = system.check_os(env(sys_platform="sunos5", os_description="SunOS-5.11"))
    assert odd.status == WARN
    assert odd.summary.en == "operating system SunOS-5.11 is not tested"
    assert odd.fix is not None and odd.fix.zh and odd.fix.en


# -- installer --------------------------------------------------------------------------
def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_digests_are_md5_and_sha256(tmp_path: Path) -> None:
    content = b"x" * 200_000
    path = write(tmp_path, "Setup.zip", content)
    d = inst.digest_file(path, chunk=4096)
    assert d == inst.FileDigests(
        hashlib.md5(content).hexdigest(), hashlib.sha256(content).hexdigest(), 200_000
    )


def test_published_table_matches_sites_md() -> None:
    assert [(p.name, p.md5) for p in inst.PUBLISHED] == [
        ("Setup.zip", "7bd0cbd294519a231ee847e3fc001cc3"),
        ("Setup.msi", "1ad54b0583ea21881cbeb658ccc3a64d"),
        ("Setup.zip", "515be7de5bce446177fee8a6e0665093"),
        ("Setup.msi", "4d4c0cb9b81ca1dae6e186f7143e5cc8"),
    ]
    assert inst.find_published("515BE7DE5BCE446177FEE8A6E0665093") == inst.PUBLISHED[2]
    assert inst.find_published("0" * 32) is None


def test_matching_installer_passes_naming_the_file(tmp_path: Path) -> None:
    content = b"official installer bytes"
    path = write(tmp_path, "download (1).msi", content)
    table = (PublishedInstaller("Setup.msi", hashlib.md5(content).hexdigest()),)
    results = run_checks(inst.checks([path]), env(published_installers=table))
    assert [(r.id, r.status) for r in results] == [("installer.checksum.1", PASS)]
    r = results[0]
    assert r.summary.en == "download (1).msi is the published Setup.msi (MD5 matches)"
    assert r.summary.zh == "download (1).msi 是官方公布的 Setup.msi(MD5 相符)"
    assert hashlib.sha256(content).hexdigest() in r.detail
    assert r.fix is None


def test_mismatching_installer_fails_do_not_run(tmp_path: Path) -> None:
    good = write(tmp_path, "Setup.zip", b"good")
    bad = write(tmp_path, "Setup2.zip", b"tampered")
    table = (PublishedInstaller("Setup.zip", hashlib.md5(b"good").hexdigest()),)
    results = run_checks(inst.checks([good, bad]), env(published_installers=table))
    assert [(r.id, r.status) for r in results] == [
        ("installer.checksum.1", PASS),
        ("installer.checksum.2", FAIL),
    ]
    r = results[1]
    assert r.summary.en == "Setup2.zip does not match any published checksum: do not run this file"
    assert r.fix is not None
    assert "請勿執行此檔案" in r.fix.zh and "Do not run this file" in r.fix.en
    assert hashlib.md5(b"tampered").hexdigest() in r.detail


def test_unreadable_installer_fails(tmp_path: Path) -> None:
    r = inst.check_installer(tmp_path / "missing.msi", env())
    assert r.status == FAIL
    assert r.summary.en == "cannot read the installer missing.msi"
    assert r.fix is not None and r.fix.zh and r.fix.en


def test_no_installer_given_is_one_skip() -> None:
    results = run_checks(inst.checks([]), env())
    assert [(r.id, r.status) for r in results] == [("installer.checksum", SKIP)]
    assert results[0].summary.en == "no installer given (--installer FILE)"


@pytest.mark.parametrize("module", [platform_linux, platform_windows])
def test_pyscard_fix_follows_the_platform(module: object) -> None:
    r = system.check_pyscard(CheckEnv(platform=module, pyscard_version=lambda: None))
    assert r.fix == module.pyscard_fix()  # type: ignore[attr-defined]
