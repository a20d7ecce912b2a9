"""``agent serve`` and ``agent install`` where the machine's files cannot be written or used
(issue 23, item 5): a state dir on a full disk, a read-only hosts file, a damaged NSS
database. Each is a local file nhicard cannot write: exit 2, the path and the system's reason
said, no "internal error", and nothing half done: no partial key or certificate, no backup
beside the hosts file, the NSS database and the hosts file unchanged byte for byte. Through
the real CLI in private mount namespaces (root, ``unshare``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nhicard.agent.serve.install import BACKUP_SUFFIX, HOSTS_LINE
from tests.support.bad_environment import (
    full_disk_setup,
    new_nssdb,
    nssdb_state,
    read_only_setup,
    run_nhicard_in_private_mounts,
)
from tests.support.ports import free_port
from tests.support.private_mounts import require_private_mounts

HOSTS = b"127.0.0.1 localhost\r\n::1 localhost ip6-localhost\r\n# no newline at the end"


@pytest.fixture(autouse=True)
def _private_mounts() -> None:
    require_private_mounts()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def install_args(hosts: Path, db: Path) -> list[str]:
    return ["agent", "install", "--hosts-file", str(hosts), "--nssdb", str(db), "--no-service"]


@pytest.mark.parametrize("room_kib", [0, 4])
def test_agent_serve_with_the_state_dir_on_a_full_disk(tmp_path: Path, room_kib: int) -> None:
    """Room for nothing, or for the key but not the certificate: either way exit 2, the file
    named, and nothing left in the certificate directory (looked at inside the namespace:
    the tmpfs ends with it)."""
    full = tmp_path / "full"
    tls_dir = full / "state" / "agent-tls"
    left = tmp_path / "left.txt"
    env = {"NHICARD_STATE_DIR": str(full / "state")}
    done = run_nhicard_in_private_mounts(
        [full_disk_setup(full, room_kib=room_kib)],
        "--lang", "en", "agent", "serve", "--port", str(free_port()),
        after=[f"ls -A {tls_dir} > {left} 2>&1"], env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    failed = (
        "private key file “" + str(tls_dir / "server-key.pem")
        if room_kib == 0
        else "certificate file “" + str(tls_dir / "server.pem")
    )
    assert f"Error: cannot write the {failed}”: No space left on device" in done.stderr
    assert "point NHICARD_STATE_DIR at a writable place" in done.stderr  # where else
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert left.read_text() == ""  # no key without its certificate, no temp file


def test_agent_serve_on_a_full_disk_in_chinese(tmp_path: Path) -> None:
    full = tmp_path / "full"
    env = {"NHICARD_STATE_DIR": str(full / "state")}
    done = run_nhicard_in_private_mounts(
        [full_disk_setup(full)], "--lang", "zh-TW", "agent", "serve", "--port",
        str(free_port()), env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    key = full / "state" / "agent-tls" / "server-key.pem"
    assert f"無法寫入私鑰檔「{key}」" in done.stderr and "NHICARD_STATE_DIR" in done.stderr
    assert "內部錯誤" not in done.stderr


def test_agent_install_with_a_read_only_hosts_file_changes_nothing(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_bytes(HOSTS)
    db = new_nssdb(tmp_path / "nssdb")
    before = nssdb_state(db)
    assert before[1] is not None
    env = {"NHICARD_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path / "home")}
    done = run_nhicard_in_private_mounts(
        [read_only_setup(hosts)], "--lang", "en", *install_args(hosts, db), env=env
    )
    assert done.returncode == 2, done.stderr
    assert f"Error: cannot write the hosts file “{hosts}”: Read-only file system" in done.stderr
    assert "read-only file system: add '127.0.0.1 iccert.nhi.gov.tw" in done.stderr
    assert "internal error" not in done.stderr and "done:" not in done.stderr
    assert hosts.read_bytes() == HOSTS
    # no backup, no temp file, not even a certificate: refused before any change
    assert listing(tmp_path) == ["hosts", "nssdb"]
    assert not Path(f"{hosts}{BACKUP_SUFFIX}").exists()
    assert nssdb_state(db) == before  # byte for byte: the CA was never added

    in_chinese = run_nhicard_in_private_mounts(
        [read_only_setup(hosts)], "--lang", "zh-TW", *install_args(hosts, db), env=env
    )
    assert in_chinese.returncode == 2, in_chinese.stderr
    assert f"無法寫入hosts 檔「{hosts}」" in in_chinese.stderr and "唯讀" in in_chinese.stderr
    assert hosts.read_bytes() == HOSTS and nssdb_state(db) == before

    # writable again: the same command installs, and the line is there
    done = run_nhicard_in_private_mounts([], "--lang", "en", *install_args(hosts, db), env=env)
    assert done.returncode == 0, done.stderr
    assert HOSTS_LINE.encode() in hosts.read_bytes()


@pytest.mark.parametrize("damage", ["junk", "truncated"])
def test_agent_install_with_a_damaged_nss_database_changes_nothing(
    tmp_path: Path, damage: str
) -> None:
    db = new_nssdb(tmp_path / "nssdb")
    if damage == "junk":
        (db / "cert9.db").write_bytes(os.urandom(4096))
        (db / "key4.db").write_bytes(os.urandom(4096))
    else:
        (db / "cert9.db").write_bytes((db / "cert9.db").read_bytes()[:100])
    before = nssdb_state(db)
    assert before[1] is None  # certutil cannot read it either
    hosts = tmp_path / "hosts"
    hosts.write_bytes(HOSTS)
    env = {"NHICARD_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path / "home")}
    done = run_nhicard_in_private_mounts([], "--lang", "en", *install_args(hosts, db), env=env)
    assert done.returncode == 2, done.stderr
    assert f"Error: cannot use the NSS database “{db}”" in done.stderr
    assert "SEC_ERROR_BAD_DATABASE" in done.stderr  # certutil's own words
    assert f"certutil -L -d sql:{db}" in done.stderr  # how to look at it
    assert "internal error" not in done.stderr
    assert nssdb_state(db) == before  # not even a pkcs11.txt added
    assert hosts.read_bytes() == HOSTS and listing(tmp_path) == ["hosts", "nssdb"]
    in_chinese = run_nhicard_in_private_mounts(
        [], "--lang", "zh-TW", *install_args(hosts, db), env=env
    )
    assert in_chinese.returncode == 2 and f"無法使用 NSS 資料庫「{db}」" in in_chinese.stderr
