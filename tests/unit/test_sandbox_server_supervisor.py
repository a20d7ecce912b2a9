"""The supervisor's pid-file handling, port checks and stopping, with stand-in processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nhicard.core.errors import NetworkError, UsageError
from nhicard.sandbox import supervisor
from tests.support.ports import free_port_base


def stand_in_server(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A sleeping process whose command line names the server module, as the real one does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", supervisor.SERVER_MODULE],
        start_new_session=True,
    )
    (tmp_path / supervisor.PID_FILE).write_text(f"{proc.pid}\n")
    return proc


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_no_pid_file_means_not_running(tmp_path: Path) -> None:
    assert supervisor.read_pid(tmp_path) is None


@pytest.mark.parametrize("content", ["garbage\n", "", "-5\n"])
def test_unreadable_pid_file_is_removed(tmp_path: Path, content: str) -> None:
    (tmp_path / supervisor.PID_FILE).write_text(content)
    assert supervisor.read_pid(tmp_path) is None
    assert not (tmp_path / supervisor.PID_FILE).exists()


def test_pid_of_dead_process_is_stale(tmp_path: Path) -> None:
    (tmp_path / supervisor.PID_FILE).write_text(f"{dead_pid()}\n")
    (tmp_path / supervisor.ENDPOINTS_FILE).write_text("{}")
    assert supervisor.read_pid(tmp_path) is None
    assert not (tmp_path / supervisor.PID_FILE).exists()
    assert not (tmp_path / supervisor.ENDPOINTS_FILE).exists()


def test_pid_of_another_program_is_stale_and_left_alone(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / supervisor.PID_FILE).write_text(f"{other.pid}\n")
        assert supervisor.read_pid(tmp_path) is None
        assert supervisor.stop(tmp_path) is None
        assert other.poll() is None  # never signalled
    finally:
        other.kill()
        other.wait()


def test_second_start_refused_then_stop_ends_exactly_that_process(tmp_path: Path) -> None:
    proc = stand_in_server(tmp_path)
    try:
        assert supervisor.read_pid(tmp_path) == proc.pid
        with pytest.raises(UsageError) as info:
            supervisor.start(tmp_path, port_base=1024, card=False)
        assert info.value.reason == "already-running"
        assert str(proc.pid) in info.value.message.en
        assert "sandbox down" in info.value.hint.en
        assert supervisor.stop(tmp_path, timeout=5) == proc.pid
        assert proc.wait(timeout=5) is not None
        assert not (tmp_path / supervisor.PID_FILE).exists()
        assert supervisor.stop(tmp_path) is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_busy_port_is_named(tmp_path: Path) -> None:
    base = free_port_base()  # the ports below the busy one are free (others run tests too)
    port = base + 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen(1)
        with pytest.raises(NetworkError) as info:
            supervisor.check_ports_free(base)
    assert info.value.reason == "port-in-use"
    assert str(port) in info.value.message.en
    assert "--port-base" in info.value.hint.en


def test_port_left_in_time_wait_by_the_last_down_counts_as_free() -> None:
    """`down` then `up` at once: the closed server's port sits in TIME_WAIT, not in use."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the server side closes first: its end of the connection enters TIME_WAIT
    server.close()
    client.close()
    for other in range(port + 1, port + supervisor.PART_COUNT):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", other))
            except OSError:
                pytest.skip(f"port {other} is taken by another program")
    supervisor.check_ports_free(port)  # must not raise


def test_status_of_stopped_sandbox(tmp_path: Path) -> None:
    current = supervisor.status(tmp_path)
    assert not current.running and not current.all_up
    assert [p.to_record() for p in current.parts] == [
        {"part": name, "address": "", "state": "down"}
        for name in ("nhi", "ecpa", "elearn", "smtp", "sam")
    ]


def test_status_probes_what_endpoints_name(tmp_path: Path) -> None:
    proc = stand_in_server(tmp_path)
    try:
        endpoints = {"nhi_url": "https://127.0.0.1:1", "readers": []}
        (tmp_path / supervisor.ENDPOINTS_FILE).write_text(json.dumps(endpoints))
        seen: list[tuple[dict[str, object], Path]] = []

        def probe(ep: dict[str, object], d: Path) -> tuple[supervisor.PartStatus, ...]:
            seen.append((dict(ep), d))
            return (supervisor.PartStatus("nhi", "https://127.0.0.1:1", supervisor.PartState.UP),)

        current = supervisor.status(tmp_path, probe=probe)  # type: ignore[arg-type]
        assert current.pid == proc.pid and current.all_up
        assert seen == [(endpoints, tmp_path.resolve())]
    finally:
        proc.kill()
        proc.wait()


def test_real_probes_say_down_for_closed_ports(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    address = f"127.0.0.1:{port}"
    started = time.monotonic()
    assert not supervisor.probe_https(f"https://{address}", "/nonexistent-ca.pem")
    assert not supervisor.probe_smtp(address)
    assert not supervisor.probe_sam(address, b"k" * 24)
    assert time.monotonic() - started < 5


def test_start_reports_server_that_exits(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[card]]\ncard_number = 'x'\n")
    with pytest.raises(UsageError) as info:
        supervisor.start(tmp_path / "sb", data_file=bad, port_base=1024, card=False)
    assert "bad.toml" in info.value.message.en
