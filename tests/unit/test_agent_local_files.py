"""Local files that ``agent serve``/``agent install`` cannot write or use (issue 23, item 5):
certificate and key files (:mod:`nhicard.net.certs`, the one writer), the server certificate
as a whole set, the hosts file, an NSS database and the install record. Each is a
``LocalIOError`` (exit 2) naming the file; install refuses before any change what it can
see in advance and undoes what it made when a write fails later. The real CLI runs are in
tests/stack/test_agent_bad_environment.py."""

from __future__ import annotations

import datetime as dt
import errno
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from nhicard.agent.serve import install as inst
from nhicard.agent.serve import tls
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import LocalIOError
from nhicard.net import certs
from nhicard.platform import hosts as hosts_module
from nhicard.platform.base import Result
from tests.support.bad_environment import new_nssdb, nssdb_state
from tests.support.install_kit import Script, machine

needs_certutil = pytest.mark.skipif(
    shutil.which("certutil") is None, reason="certutil (libnss3-tools) is not installed"
)


def _full(*args: object, **kw: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_certificate_that_cannot_be_written_names_its_file(tmp_path: Path) -> None:
    path = tmp_path / "server-key.pem"
    path.mkdir()  # a folder where the file goes
    with pytest.raises(LocalIOError) as info:
        certs.write_private_key(path, certs.new_key())
    assert info.value.message.en == f"cannot write the private key file “{path}”: Is a directory"
    assert info.value.message.zh.startswith(f"無法寫入私鑰檔「{path}」")
    assert info.value.hint is not None and exit_code_for(info.value) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server-key.pem"]  # no temp file
    with pytest.raises(LocalIOError, match="the certificate file"):
        certs.write_certificate(path, _a_ca())


def _a_ca() -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return certs.make_ca(
        certs.new_key(), certs.name("t"), valid_from=now, valid_until=now + dt.timedelta(days=1)
    )


def test_a_full_disk_leaves_no_half_of_the_server_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is written, the certificate is not: the key is taken out again (without its
    certificate it is of no use, and the next run starts afresh)."""
    real = certs.replace_file
    monkeypatch.setattr(
        certs,
        "replace_file",
        lambda p, *a, **k: _full() if p.name == "server.pem" else real(p, *a, **k),
    )
    with pytest.raises(LocalIOError) as info:
        tls.ensure_server_certificate(tmp_path)
    assert f"“{tmp_path / 'server.pem'}”: No space left on device" in info.value.message.en
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.setattr(certs, "replace_file", real)
    assert tls.ensure_server_certificate(tmp_path).key_file.exists()  # room again: issued


def test_a_read_only_hosts_file_is_refused_before_any_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script()
    m = machine(tmp_path, nssdbs=[tmp_path / "db"], run=script)
    before = m.hosts_file.read_bytes()
    real_open = open

    def read_only(file: object, mode: str = "r", *a: object, **k: object):  # type: ignore[no-untyped-def]
        if str(file) == str(m.hosts_file) and "+" in mode:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(file, mode, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", read_only)
    with pytest.raises(inst.LocalFileFailed) as info:
        inst.install(m, service=False)
    err = info.value
    assert isinstance(err, LocalIOError) and isinstance(err, inst.InstallFailed)
    assert exit_code_for(err) == 2 and err.reason == "io-error"
    assert err.message.en == f"cannot write the hosts file “{m.hosts_file}”: Read-only file system"
    assert err.hint is not None and inst.HOSTS_LINE in err.hint.en and "唯讀" in err.hint.zh
    assert script.calls == [] and not m.tls_dir.exists()  # nothing asked of a store, no CA
    assert m.hosts_file.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts"]


@needs_certutil
def test_a_full_disk_at_the_hosts_file_undoes_the_ca_and_the_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = new_nssdb(tmp_path / "db")
    listed = nssdb_state(db)[1]
    m = machine(tmp_path, nssdbs=[db], run=inst.run_command, which=shutil.which)
    before = m.hosts_file.read_bytes()
    real = hosts_module.write_in_place
    calls: list[bytes] = []

    def half_written(path: Path, hosts: hosts_module.HostsFile) -> None:
        calls.append(hosts.to_bytes())
        if len(calls) == 1:  # the new content: half of it, then the disk is full
            Path(path).write_bytes(hosts.to_bytes()[:10])
            _full()
        real(path, hosts)  # the old content back

    monkeypatch.setattr(inst, "write_in_place", half_written)
    with pytest.raises(inst.LocalFileFailed) as info:
        inst.install(m, service=False)
    assert "No space left on device" in info.value.message.en and exit_code_for(info.value) == 2
    assert m.hosts_file.read_bytes() == before and calls[1] == before
    assert not Path(f"{m.hosts_file}{inst.BACKUP_SUFFIX}").exists()
    assert nssdb_state(db)[1] == listed  # the CA was added, then taken out
    assert not (m.state_dir / inst.STATE_FILE).exists()


@needs_certutil
def test_a_damaged_nss_database_is_refused_before_any_change(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    (db / "cert9.db").write_bytes(b"not a database" * 100)
    m = machine(tmp_path, nssdbs=[db], run=inst.run_command, which=shutil.which)
    with pytest.raises(inst.LocalFileFailed) as info:
        inst.install(m, service=False)
    assert info.value.message.en == f"cannot use the NSS database “{db}”"
    assert "SEC_ERROR_BAD_DATABASE" in (info.value.detail or "")
    assert exit_code_for(info.value) == 2 and info.value.hint is not None
    assert sorted(p.name for p in db.iterdir()) == ["cert9.db"]  # no pkcs11.txt either
    assert not m.tls_dir.exists()


def test_a_store_that_refuses_the_write_is_exit_2(tmp_path: Path) -> None:
    script = Script().on(["certutil", "-A"], Result(255, "", "SEC_ERROR_READ_ONLY"))
    m = machine(tmp_path, nssdbs=[tmp_path / "db"], run=script)
    with pytest.raises(inst.LocalFileFailed) as info:
        inst.install(m, service=False)
    assert info.value.message.en == f"cannot add the CA to the NSS database “{tmp_path / 'db'}”"
    assert exit_code_for(info.value) == 2


def test_an_install_record_that_cannot_be_written_undoes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unrecorded, uninstall would not know what to remove: nothing may stay."""
    m = machine(tmp_path, nssdbs=[])
    before = m.hosts_file.read_bytes()
    real = inst.replace_file
    monkeypatch.setattr(
        inst,
        "replace_file",
        lambda p, *a, **k: _full() if p.name == inst.STATE_FILE else real(p, *a, **k),
    )
    with pytest.raises(inst.LocalFileFailed) as info:
        inst.install(m, service=False)
    assert f"“{m.state_dir / inst.STATE_FILE}”" in info.value.message.en
    assert m.hosts_file.read_bytes() == before
    assert not Path(f"{m.hosts_file}{inst.BACKUP_SUFFIX}").exists()
