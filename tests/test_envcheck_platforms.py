"""Per-OS support modules of ``env check``: each tested on any OS with injected inputs."""

from __future__ import annotations

import socket
from pathlib import Path, PureWindowsPath
from typing import Any

import pytest

from nhicard.envcheck import platform_linux, platform_macos, platform_windows
from nhicard.envcheck.platforms import RUNNING, STOPPED, UNKNOWN, current, module_for
from nhicard.i18n import Text

MODULES = (platform_linux, platform_macos, platform_windows)
TEXT_FUNCS = (
    "pcsc_service_fix",
    "pcsc_library_fix",
    "pyscard_fix",
    "reader_driver_fix",
    "trusted_roots_note",
)


@pytest.mark.parametrize(
    ("system", "module"),
    [
        ("linux", platform_linux),
        ("win32", platform_windows),
        ("darwin", platform_macos),
        ("freebsd14", platform_linux),
    ],
)
def test_the_platform_module_is_chosen_by_sys_platform(system: str, module: Any) -> None:
    assert module_for(system) is module
    assert current(system) is module


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_every_platform_gives_bilingual_advice(module: Any) -> None:
    for name in TEXT_FUNCS:
        text = getattr(module, name)()
        assert isinstance(text, Text)
        assert text.zh and text.en and text.zh != text.en
    hosts = module.hosts_fix({"SystemRoot": r"D:\Win"})
    assert "iccert.nhi.gov.tw" in hosts.zh and "iccert.nhi.gov.tw" in hosts.en
    assert module.component_download_url().startswith("https://cloudicweb.nhi.gov.tw/cloudic/")


# -- Linux ------------------------------------------------------------------------------
def test_linux_socket_path_honours_pcsclite_csock_name() -> None:
    assert platform_linux.pcsc_socket_path({}) == Path("/run/pcscd/pcscd.comm")
    assert platform_linux.pcsc_socket_path({"PCSCLITE_CSOCK_NAME": "/tmp/x.comm"}) == Path(
        "/tmp/x.comm"
    )


def test_linux_service_missing_socket_is_stopped(tmp_path: Path) -> None:
    state = platform_linux.pcsc_service_state({"PCSCLITE_CSOCK_NAME": str(tmp_path / "no.comm")})
    assert state.state == STOPPED
    assert state.detail == f"{tmp_path / 'no.comm'}: no such socket"


def test_linux_service_listening_socket_is_running(tmp_path: Path) -> None:
    path = tmp_path / "pcscd.comm"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(str(path))
        srv.listen(1)
        state = platform_linux.pcsc_service_state({"PCSCLITE_CSOCK_NAME": str(path)})
    assert (state.state, state.detail) == (RUNNING, f"{path}: accepting connections")


def test_linux_service_dead_socket_is_stopped_and_plain_file_unknown(tmp_path: Path) -> None:
    dead = tmp_path / "dead.comm"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(dead))
    srv.close()  # the socket file stays, nobody listens (pcscd crashed)
    state = platform_linux.pcsc_service_state({"PCSCLITE_CSOCK_NAME": str(dead)})
    assert state.state == STOPPED
    assert "refused" in state.detail.lower()
    plain = tmp_path / "plain"
    plain.write_text("x")
    state = platform_linux.pcsc_service_state({"PCSCLITE_CSOCK_NAME": str(plain)})
    assert (state.state, state.detail) == (UNKNOWN, f"{plain}: exists but is not a socket")


def test_linux_fixes_name_the_commands() -> None:
    assert "systemctl start pcscd" in platform_linux.pcsc_service_fix().en
    assert "systemctl start pcscd" in platform_linux.pcsc_service_fix().zh
    assert "libccid" in platform_linux.reader_driver_fix().en
    assert "libccid" in platform_linux.reader_driver_fix().zh
    assert platform_linux.hosts_file_path({}) == Path("/etc/hosts")
    assert platform_linux.component_install_dir({}) == Path("/usr/local/share/NHIICC")


# -- Windows ----------------------------------------------------------------------------
SC_RUNNING = """
SERVICE_NAME: SCardSvr
        TYPE               : 20  WIN32_SHARE_PROCESS
        STATE              : 4  RUNNING
                                (STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)
        WIN32_EXIT_CODE    : 0  (0x0)
"""
SC_STOPPED_ZH = """
SERVICE_NAME: SCardSvr
        TYPE               : 20  WIN32_SHARE_PROCESS
        STATE              : 1  STOPPED
        WIN32_EXIT_CODE    : 1077  (0x435)
"""
SC_MISSING = (
    "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\n\nThe specified service does not exist."
)


@pytest.mark.parametrize(
    ("output", "state"),
    [(SC_RUNNING, RUNNING), (SC_STOPPED_ZH, STOPPED), (SC_MISSING, UNKNOWN), ("", UNKNOWN)],
)
def test_windows_parses_sc_query(output: str, state: str) -> None:
    assert platform_windows.parse_sc_query(output) == state


def test_windows_service_state_runs_sc_query() -> None:
    seen: list[list[str]] = []

    def run(argv: Any) -> tuple[int, str]:
        seen.append(list(argv))
        return 0, SC_STOPPED_ZH

    state = platform_windows.pcsc_service_state({}, run=run)
    assert seen == [["sc", "query", "SCardSvr"]]
    assert state.state == STOPPED
    assert state.detail == "sc query SCardSvr (exit 0): STATE              : 1  STOPPED"


def test_windows_run_command_reports_a_missing_program() -> None:
    status, text = platform_windows.run_command(["/nonexistent/sc-binary"])
    assert status == -1 and text


def test_windows_paths_and_fixes() -> None:
    assert platform_windows.hosts_file_path({"SystemRoot": r"D:\Win"}) == PureWindowsPath(
        r"D:\Win\System32\drivers\etc\hosts"
    )
    assert platform_windows.hosts_file_path({}) == PureWindowsPath(
        r"C:\Windows\System32\drivers\etc\hosts"
    )
    assert "sc start SCardSvr" in platform_windows.pcsc_service_fix().en
    assert "sc start SCardSvr" in platform_windows.pcsc_service_fix().zh
    assert r"D:\Win" in platform_windows.hosts_fix({"SystemRoot": r"D:\Win"}).zh
    assert platform_windows.component_install_dir({}) is None
    assert platform_windows.component_download_url().endswith("/Setup.zip")


# -- macOS ------------------------------------------------------------------------------
def test_macos_pcsc_is_built_in() -> None:
    state = platform_macos.pcsc_service_state({})
    assert state.state == RUNNING
    assert "built into macOS" in state.detail
    assert platform_macos.hosts_file_path({}) == Path("/etc/hosts")
    assert platform_macos.component_install_dir({}) is None
    assert platform_macos.component_download_url().endswith("/mac.Install1.zip")
