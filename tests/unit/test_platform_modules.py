"""The per-OS modules of ``nhicard.platform``: each tested on any OS with injected inputs
(environment, command runner, a fake root)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from typing import Any

import pytest

from nhicard import platform
from nhicard.core.i18n import Text
from nhicard.envcheck import platforms as envcheck_platforms
from nhicard.platform import RUNNING, STOPPED, UNKNOWN, linux, macos, windows
from nhicard.platform.base import Platform, Result, decode_output, run_command

MODULES = (linux, macos, windows)
TEXT_FUNCS = (
    "pcsc_service_fix",
    "pcsc_library_fix",
    "pyscard_fix",
    "reader_driver_fix",
    "trusted_roots_note",
    "hosts_editor",
)


@pytest.mark.parametrize(
    ("system", "module"),
    [("linux", linux), ("win32", windows), ("darwin", macos), ("freebsd14", linux)],
)
def test_the_platform_module_is_chosen_by_sys_platform(system: str, module: Any) -> None:
    assert platform.get(platform.name_of(system)) is module
    assert platform.current(system) is module
    assert platform.name_of(system) == module.NAME


def test_this_computer_and_unknown_names() -> None:
    assert platform.current() is platform.get(platform.name_of(sys.platform))
    assert tuple(m.NAME for m in MODULES) == platform.NAMES
    with pytest.raises(ValueError, match="win32"):
        platform.get("win32")  # one naming: sys.platform values are not platform names


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_every_module_has_the_whole_interface(module: Any) -> None:
    names = [n for n in vars(Platform) if not n.startswith("_")] + list(Platform.__annotations__)
    assert [n for n in names if not hasattr(module, n)] == []
    assert module.HOSTS_NEWLINE in (b"\n", b"\r\n")
    assert module.TRUST_STORES


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.NAME)
def test_every_platform_gives_bilingual_advice(module: Any) -> None:
    for name in TEXT_FUNCS:
        text = getattr(module, name)()
        assert isinstance(text, Text)
        assert text.zh and text.en and text.zh != text.en
    hosts = envcheck_platforms.hosts_fix(module, {"SystemRoot": r"D:\Win"})
    assert "iccert.nhi.gov.tw" in hosts.zh and "iccert.nhi.gov.tw" in hosts.en
    assert module.hosts_editor().en in hosts.en
    assert module.component_download_url().startswith("https://cloudicweb.nhi.gov.tw/cloudic/")


# -- running the OS's tools ------------------------------------------------------------------


def printing(data: bytes) -> list[str]:
    """A command that writes ``data`` to its stdout as raw bytes."""
    return [sys.executable, "-c", f"import sys; sys.stdout.buffer.write({data!r})"]


def test_run_command_decodes_in_the_given_code_page() -> None:
    zh = "        狀態               : 4  RUNNING\n"
    crlf = zh.replace("\n", "\r\n").encode("cp950")  # as sc.exe writes it
    assert run_command(printing(crlf), encoding="cp950").stdout == zh
    fr = "        ÉTAT               : 1  STOPPED\n"
    assert run_command(printing(fr.encode("cp850")), encoding="cp850").stdout == fr
    utf8 = "狀態 : 4  RUNNING\n"  # a console switched to code page 65001
    assert run_command(printing(utf8.encode()), encoding="cp950").stdout == utf8


def test_decoding_never_fails() -> None:
    assert decode_output(b"\xff\xfe\x81", "cp950") == "\ufffd\ufffd\ufffd"
    assert decode_output(b"\xc9TAT", "no-such-codec") == "\xc9TAT"


def test_run_command_reports_a_missing_program_and_a_timeout() -> None:
    missing = run_command(["/nonexistent/sc-binary"])
    assert (missing.returncode, missing.stderr) == (127, "/nonexistent/sc-binary: not found")
    slow = run_command([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)
    assert slow.returncode == 124 and "timed out" in slow.stderr


# -- Linux ------------------------------------------------------------------------------
def test_linux_socket_path_honours_pcsclite_csock_name() -> None:
    assert linux.pcsc_socket_path({}) == Path("/run/pcscd/pcscd.comm")
    assert linux.pcsc_socket_path({"PCSCLITE_CSOCK_NAME": "/tmp/x.comm"}) == Path("/tmp/x.comm")


def test_linux_service_missing_socket_is_stopped(tmp_path: Path) -> None:
    state = linux.pcsc_service_state({"PCSCLITE_CSOCK_NAME": str(tmp_path / "no.comm")})
    assert state.state == STOPPED
    assert state.detail == f"{tmp_path / 'no.comm'}: no such socket"


def test_linux_service_listening_socket_is_running(tmp_path: Path) -> None:
    path = tmp_path / "pcscd.comm"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(str(path))
        srv.listen(1)
        state = linux.pcsc_service_state({"PCSCLITE_CSOCK_NAME": str(path)})
    assert (state.state, state.detail) == (RUNNING, f"{path}: accepting connections")


def test_linux_service_dead_socket_is_stopped_and_plain_file_unknown(tmp_path: Path) -> None:
    dead = tmp_path / "dead.comm"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(dead))
    srv.close()  # the socket file stays, nobody listens (pcscd crashed)
    state = linux.pcsc_service_state({"PCSCLITE_CSOCK_NAME": str(dead)})
    assert state.state == STOPPED
    assert "refused" in state.detail.lower()
    plain = tmp_path / "plain"
    plain.write_text("x")
    state = linux.pcsc_service_state({"PCSCLITE_CSOCK_NAME": str(plain)})
    assert (state.state, state.detail) == (UNKNOWN, f"{plain}: exists but is not a socket")


def test_linux_fixes_name_the_commands() -> None:
    assert "systemctl start pcscd" in linux.pcsc_service_fix().en
    assert "systemctl start pcscd" in linux.pcsc_service_fix().zh
    assert "libccid" in linux.reader_driver_fix().en
    assert "libccid" in linux.reader_driver_fix().zh
    assert linux.hosts_file_path({}) == Path("/etc/hosts")
    assert linux.component_install_dir({}) == Path("/usr/local/share/NHIICC")


def test_linux_tells_a_pcscd_that_asks_polkit(tmp_path: Path) -> None:
    """pcsc-lite 2 as Debian 13 ships it installs its polkit policy; a build without the
    policy file still links libpolkit; Debian 12's pcscd has neither."""
    debian13, built, debian12 = tmp_path / "d13", tmp_path / "built", tmp_path / "d12"
    policy = debian13 / linux.POLKIT_POLICY
    policy.parent.mkdir(parents=True)
    policy.write_text("<policyconfig/>")
    for root, needed in ((built, b"libpolkit-gobject-1.so.0"), (debian12, b"libsystemd.so.0")):
        program = root / "usr/sbin/pcscd"
        program.parent.mkdir(parents=True)
        program.write_bytes(b"\x7fELF\x00" + needed + b"\x00libc.so.6\x00")
    assert linux.pcsc_asks_polkit(debian13)
    assert linux.pcsc_asks_polkit(built)
    assert not linux.pcsc_asks_polkit(debian12)
    assert not linux.pcsc_asks_polkit(tmp_path / "no-pcscd")
    assert not macos.pcsc_asks_polkit(debian13) and not windows.pcsc_asks_polkit(debian13)


def test_hosts_by_hand_per_os() -> None:
    line, mark = "127.0.0.1 x # added by y", "# added by y"
    add = linux.hosts_command(Path("/etc/hosts"), line, mark, removing=False)
    assert add == "echo '127.0.0.1 x # added by y' | sudo tee -a /etc/hosts"
    remove = macos.hosts_command(Path("/etc/hosts"), line, mark, removing=True)
    assert remove == "sudo sed -i.bak '/added by y/d' /etc/hosts"
    assert windows.hosts_command(PureWindowsPath(r"C:\h"), line, mark, removing=False) is None


# -- Windows ----------------------------------------------------------------------------
# `sc query SCardSvr` as each UI language prints it: the labels are translated, the numbers
# and the state names after them are not; SERVICE_NAME stays English.
SC_EN_RUNNING = """
SERVICE_NAME: SCardSvr
        TYPE               : 20  WIN32_SHARE_PROCESS
        STATE              : 4  RUNNING
                                (STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)
        WIN32_EXIT_CODE    : 0  (0x0)
        SERVICE_EXIT_CODE  : 0  (0x0)
        CHECKPOINT         : 0x0
        WAIT_HINT          : 0x0
"""
SC_ZH_TW_RUNNING = """
SERVICE_NAME: SCardSvr
        類型               : 20  WIN32_SHARE_PROCESS
        狀態               : 4  RUNNING
                                (STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)
        WIN32_EXIT_CODE    : 0  (0x0)
        SERVICE_EXIT_CODE  : 0  (0x0)
        檢查點             : 0x0
        WAIT_HINT          : 0x0
"""
SC_ZH_TW_STOPPED = """
SERVICE_NAME: SCardSvr
        類型               : 20  WIN32_SHARE_PROCESS
        狀態               : 1  STOPPED
        WIN32_EXIT_CODE    : 1077  (0x435)
        SERVICE_EXIT_CODE  : 0  (0x0)
        檢查點             : 0x0
        WAIT_HINT          : 0x0
"""
SC_FR_STOPPED = """
SERVICE_NAME: SCardSvr
        TYPE               : 20  WIN32_SHARE_PROCESS
        ÉTAT               : 1  STOPPED
        WIN32_EXIT_CODE    : 1077  (0x435)
        SERVICE_EXIT_CODE  : 0  (0x0)
        POINT_DE_CONTRÔLE  : 0x0
        WAIT_HINT          : 0x0
"""
SC_DE_RUNNING = """
SERVICE_NAME: SCardSvr
        TYP                : 20  WIN32_SHARE_PROCESS
        STATUS             : 4  RUNNING
                                (STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)
        WIN32_EXITCODE     : 0  (0x0)
        SERVICE_EXITCODE   : 0  (0x0)
        CHECKPOINT         : 0x0
        WAIT_HINT          : 0x0
"""
SC_PT_STOP_PENDING = """
SERVICE_NAME: SCardSvr
        TIPO               : 20  WIN32_SHARE_PROCESS
        ESTADO             : 3  STOP_PENDING
                                (NOT_STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)
        WIN32_EXIT_CODE    : 0  (0x0)
"""
# Should a Windows ever translate the state names too, the state is still the second field.
SC_NAMES_TRANSLATED = """
SERVICE_NAME: SCardSvr
        類型               : 20  WIN32_共用處理程序
        狀態               : 1  已停止
"""
SC_MISSING = (
    "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\n\nThe specified service does not exist."
)


@pytest.mark.parametrize(
    ("output", "state"),
    [
        (SC_EN_RUNNING, RUNNING),
        (SC_ZH_TW_RUNNING, RUNNING),
        (SC_ZH_TW_STOPPED, STOPPED),
        (SC_FR_STOPPED, STOPPED),
        (SC_DE_RUNNING, RUNNING),
        (SC_PT_STOP_PENDING, UNKNOWN),
        (SC_NAMES_TRANSLATED, STOPPED),
        (SC_EN_RUNNING.replace("\n", "\r\n"), RUNNING),
        (SC_MISSING, UNKNOWN),
        ("", UNKNOWN),
    ],
    ids=[
        "en",
        "zh-TW",
        "zh-TW-stopped",
        "fr",
        "de",
        "pt-pending",
        "names-translated",
        "crlf",
        "missing",
        "empty",
    ],
)
def test_windows_parses_sc_query_in_any_language(output: str, state: str) -> None:
    assert windows.parse_sc_query(output) == state


def test_windows_service_state_runs_sc_query() -> None:
    seen: list[list[str]] = []

    def run(argv: Sequence[str]) -> Result:
        seen.append(list(argv))
        return Result(0, SC_ZH_TW_STOPPED)

    state = windows.pcsc_service_state({}, run=run)
    assert seen == [["sc", "query", "SCardSvr"]]
    assert state.state == STOPPED
    assert state.detail == "sc query SCardSvr (exit 0): 狀態               : 1  STOPPED"


def test_windows_service_state_from_a_zh_tw_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """sc.exe on a zh-TW Windows writes cp950 into the pipe: decoded, then parsed."""
    data = SC_ZH_TW_RUNNING.replace("\n", "\r\n").encode("cp950")
    monkeypatch.setattr("nhicard.platform.base.output_encoding", lambda: "cp950")
    state = windows.pcsc_service_state({}, run=lambda argv: run_command(printing(data)))
    assert state.state == RUNNING
    assert "狀態               : 4  RUNNING" in state.detail


def test_windows_service_missing_is_unknown() -> None:
    state = windows.pcsc_service_state({}, run=lambda argv: Result(1060, SC_MISSING))
    assert state.state == UNKNOWN
    assert state.detail.startswith("sc query SCardSvr (exit 1060): [SC] EnumQueryServicesStatus")


def test_windows_paths_and_fixes() -> None:
    assert windows.hosts_file_path({"SystemRoot": r"D:\Win"}) == PureWindowsPath(
        r"D:\Win\System32\drivers\etc\hosts"
    )
    assert windows.hosts_file_path({}) == PureWindowsPath(r"C:\Windows\System32\drivers\etc\hosts")
    assert "sc start SCardSvr" in windows.pcsc_service_fix().en
    assert "sc start SCardSvr" in windows.pcsc_service_fix().zh
    assert r"D:\Win" in envcheck_platforms.hosts_fix(windows, {"SystemRoot": r"D:\Win"}).zh
    assert windows.component_install_dir({}) is None
    assert windows.component_download_url().endswith("/Setup.zip")
    assert windows.HOSTS_NEWLINE == b"\r\n"


# -- macOS ------------------------------------------------------------------------------
def test_macos_pcsc_is_built_in() -> None:
    state = macos.pcsc_service_state({})
    assert state.state == RUNNING
    assert "built into macOS" in state.detail
    assert macos.hosts_file_path({}) == Path("/etc/hosts")
    assert macos.component_install_dir({}) is None
    assert macos.component_download_url().endswith("/mac.Install1.zip")
