"""``pcsc.usb`` and the naming of a reader's holder, against fake sysfs, ``/proc`` and driver
trees built in ``tmp_path``: every cause of a USB reader PC/SC does not list (held by a
program, no driver, a device the driver does not know, pcscd started before the driver), the
plain cases (all listed, nothing plugged in, not Linux, no USB visible), and one whole
``env check --only pcsc --json`` run through the private pcscd with the fake trees injected."""

from __future__ import annotations

import json
import os
import plistlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nhicard.cli import main as main_mod
from nhicard.core.i18n import T, Text
from nhicard.envcheck import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    CheckEnv,
    CheckResult,
    pcsc_usb,
    run_checks,
    usb,
    warned,
)
from nhicard.envcheck import card as card_group
from nhicard.envcheck import pcsc as pcsc_group
from nhicard.pcsc import codes
from nhicard.pcsc.readers import ReaderInfo, ReaderState

ACS = (0x072F, 0xB100, "ACS", "ACR39U ICC Reader", "ACS ACR39U ICC Reader")
CASTLES = (
    0x0CA6,
    0x00A0,
    "Castles",
    "EZCCID Smart Card Reader",
    "CASTLES EZCCID Smart Card Reader",
)
NODE = "/dev/bus/usb/001/004"


# -- fake trees ----------------------------------------------------------------------------
@dataclass
class Machine:
    """A fake Linux: ``sys`` (sysfs), ``proc`` and one pcsc-lite driver directory."""

    root: Path

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    @property
    def drivers(self) -> Path:
        return self.root / "drivers"

    @property
    def usb(self) -> Path:
        return self.sys / "bus" / "usb" / "devices"

    def plug(
        self,
        sysname: str,
        vendor: int,
        product: int,
        manufacturer: str | None = None,
        name: str | None = None,
        *,
        serial: str | None = None,
        bus: int = 1,
        dev: int = 4,
        classes: tuple[str, ...] = ("0b",),
    ) -> None:
        """A USB device whose interfaces have ``classes`` (``0b``: smart card)."""
        device = self.usb / sysname
        device.mkdir(parents=True)
        attrs = {
            "idVendor": f"{vendor:04x}",
            "idProduct": f"{product:04x}",
            "busnum": str(bus),
            "devnum": str(dev),
            "manufacturer": manufacturer,
            "product": name,
            "serial": serial,
        }
        for key, value in attrs.items():
            if value is not None:
                (device / key).write_text(value + "\n")
        for i, cls in enumerate(classes):
            interface = self.usb / f"{sysname}:1.{i}"
            interface.mkdir()
            (interface / "bInterfaceClass").write_text(cls + "\n")

    def driver(
        self,
        entries: list[tuple[int, int, str]],
        bundle: str = "ifd-ccid.bundle",
        *,
        class_driver: bool = True,
    ) -> Path:
        doc: dict[str, object] = {
            "CFBundleExecutable": "libccid.so",
            "ifdVendorID": [f"0x{v:04X}" for v, _, _ in entries],
            "ifdProductID": [f"0x{p:04X}" for _, p, _ in entries],
            "ifdFriendlyName": [n for _, _, n in entries],
        }
        if class_driver:
            doc["CFBundleName"] = "CCIDCLASSDRIVER"
        path = self.drivers / bundle / "Contents" / "Info.plist"
        path.parent.mkdir(parents=True)
        path.write_bytes(plistlib.dumps(doc))
        return path

    def process(self, pid: int, comm: str, *links: str) -> None:
        """A process with descriptors linking to ``links`` (and a /dev/null first)."""
        fd = self.proc / str(pid) / "fd"
        fd.mkdir(parents=True)
        (self.proc / str(pid) / "comm").write_text(comm + "\n")
        for i, target in enumerate(("/dev/null", *links)):
            os.symlink(target, fd / str(i))

    def env(self, names: list[str], system: str = "linux", **stand_ins: Any) -> CheckEnv:
        env = CheckEnv(
            platform=SimpleNamespace(NAME=system),  # type: ignore[arg-type] # what the checks read
            sysfs_root=self.sys,
            proc_root=self.proc,
            pcsc_driver_dirs=(self.drivers,),
            timeout=5,
            **stand_ins,
        )
        env.memo("reader-names", lambda: list(names))  # what PC/SC lists, as pcsc.py asks it
        return env


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    m = Machine(tmp_path)
    m.usb.mkdir(parents=True)
    m.proc.mkdir()
    m.drivers.mkdir()
    return m


def usb_check(m: Machine, names: list[str], system: str = "linux") -> CheckResult:
    (result,) = run_checks(pcsc_usb.checks(), m.env(names, system))
    return result


def plug_acs(m: Machine, sysname: str = "1-2", **kw: object) -> None:
    m.plug(sysname, *ACS[:4], **kw)  # type: ignore[arg-type]


def both(text: Text | None) -> str:
    """Both languages of a fix, to look for a command that must be in each."""
    assert text is not None
    return f"{text.zh}\n{text.en}"


# -- pass ----------------------------------------------------------------------------------
def test_every_usb_reader_listed_passes(machine: Machine) -> None:
    plug_acs(machine, serial="R1")
    machine.plug("1-3", 0x046D, 0xC52B, "Logitech", "USB Receiver", classes=("03", "03"))
    machine.plug("2-1", *CASTLES[:4], bus=2, dev=7, classes=("ff", "0b"))
    machine.driver([(ACS[0], ACS[1], ACS[4]), (CASTLES[0], CASTLES[1], CASTLES[4])])
    names = [
        "CASTLES EZCCID Smart Card Reader 00 00",
        "ACS ACR39U ICC Reader (R1) 00 00",
        "Virtual PCD 00 00",
    ]
    r = usb_check(machine, names)
    assert r.status == PASS, r
    assert (r.summary.en, r.summary.zh) == (
        "every card reader on USB is listed by PC/SC (2)",
        "USB 上的 2 台讀卡機都已由 PC/SC 列出",
    )
    assert r.detail == (
        "ACS ACR39U ICC Reader (072f:b100) = 'ACS ACR39U ICC Reader (R1) 00 00'; "
        "Castles EZCCID Smart Card Reader (0ca6:00a0) = 'CASTLES EZCCID Smart Card Reader 00 00'"
    )


def test_real_sysfs_layout_with_symlinks(machine: Machine) -> None:
    """In sysfs the entries of bus/usb/devices link into the device tree."""
    tree = machine.sys / "devices" / "pci0000:00" / "usb3" / "3-1"
    (tree / "3-1:1.0").mkdir(parents=True)
    (tree / "3-1:1.0" / "bInterfaceClass").write_text("0b\n")
    for key, value in {
        "idVendor": "072f",
        "idProduct": "b100",
        "product": "ACR39U ICC Reader",
    }.items():
        (tree / key).write_text(value + "\n")
    os.symlink(tree / "3-1:1.0", machine.usb / "3-1:1.0")  # no link for the device itself
    (found,) = usb.ccid_devices(machine.sys) or []
    assert (found.sysname, found.ids, found.node) == ("3-1", "072f:b100", None)


def test_no_usb_reader_but_pcsc_lists_others_passes(machine: Machine) -> None:
    machine.plug("1-3", 0x046D, 0xC52B, "Logitech", "USB Receiver", classes=("03",))
    r = usb_check(machine, ["Virtual PCD 00 00", "Virtual PCD 00 01"])
    assert (r.status, r.summary.en) == (
        PASS,
        "no CCID reader on USB; PC/SC lists 2 other reader(s)",
    )
    assert r.detail == "Virtual PCD 00 00; Virtual PCD 00 01"


# -- nothing plugged in, not Linux, no USB visible ------------------------------------------
def test_nothing_on_usb_and_nothing_in_pcsc_says_plug_in(machine: Machine) -> None:
    r = usb_check(machine, [])
    assert (r.status, r.summary.en) == (FAIL, "no card reader on USB or in PC/SC")
    assert r.summary.zh == "USB 上沒有讀卡機,PC/SC 也沒有列出任何讀卡機"
    assert "Plug in the reader (USB)" in both(r.fix) and "請插上讀卡機(USB)" in both(r.fix)


@pytest.mark.parametrize("system", ["windows", "macos"])
def test_other_systems_skip(machine: Machine, system: str) -> None:
    plug_acs(machine)
    r = usb_check(machine, [], system)
    assert (r.status, r.summary.en, r.summary.zh) == (
        SKIP,
        "checked on Linux only (sysfs)",
        "只在 Linux 檢查(sysfs)",
    )


def test_no_usb_in_sysfs_skips(tmp_path: Path) -> None:
    m = Machine(tmp_path)  # no sys/bus/usb at all (a container)
    r = usb_check(m, [])
    assert r.status == SKIP
    assert r.summary.en == f"USB devices cannot be seen here (no {m.usb})"


# -- on USB, not in PC/SC: the four causes -------------------------------------------------
def test_driver_missing_says_install_libccid(machine: Machine) -> None:
    plug_acs(machine)
    r = usb_check(machine, [])
    assert r.status == FAIL
    assert (
        r.summary.en
        == "ACS ACR39U ICC Reader (072f:b100) is on USB but no CCID driver is installed"
    )
    assert r.summary.zh == "USB 上有 ACS ACR39U ICC Reader (072f:b100),但沒有安裝 CCID 驅動程式"
    fix = both(r.fix)
    for part in ("sudo apt install libccid", "sudo dnf install pcsc-lite-ccid", "restart pcscd"):
        assert fix.count(part) == 2, part  # in both languages
    assert r.detail == "ACS ACR39U ICC Reader (072f:b100): no readable driver list"


def test_unreadable_driver_list_counts_as_missing_and_says_why(machine: Machine) -> None:
    plug_acs(machine)
    bad = machine.drivers / "ifd-ccid.bundle" / "Contents" / "Info.plist"
    bad.parent.mkdir(parents=True)
    os.symlink("/nonexistent/libccid_Info.plist", bad)  # Debian's link, its target removed
    r = usb_check(machine, [])
    assert r.status == FAIL and "libccid" in both(r.fix)
    assert f"{bad}: [Errno 2]" in r.detail


def test_device_not_in_the_drivers_list_is_named(machine: Machine) -> None:
    machine.plug("1-4", 0x1FC9, 0x0117, "NXP", "Mystery Reader")
    machine.driver([(ACS[0], ACS[1], ACS[4])])
    r = usb_check(machine, [])
    assert r.status == FAIL
    assert r.summary.en == (
        "NXP Mystery Reader (1fc9:0117) is not in the CCID driver's list of supported readers"
    )
    assert r.summary.zh == "NXP Mystery Reader (1fc9:0117) 不在 CCID 驅動程式支援的讀卡機清單中"
    assert "The CCID driver does not know 1fc9:0117: update libccid" in both(r.fix)
    assert "CCID 驅動程式不認得 1fc9:0117" in both(r.fix)
    assert r.detail == (
        f"NXP Mystery Reader (1fc9:0117): 1fc9:0117 in none of "
        f"{machine.drivers / 'ifd-ccid.bundle' / 'Contents' / 'Info.plist'}"
    )


def test_unlisted_reader_warns_when_pcsc_has_another(machine: Machine) -> None:
    machine.plug("1-4", 0x1FC9, 0x0117, "NXP", "Mystery Reader")
    plug_acs(machine, "1-5", dev=9)
    machine.driver([(ACS[0], ACS[1], ACS[4])])
    r = usb_check(machine, ["ACS ACR39U ICC Reader 00 00"])
    assert r.status == WARN
    assert r.detail.endswith("; ACS ACR39U ICC Reader (072f:b100) = 'ACS ACR39U ICC Reader 00 00'")


def test_supported_but_unlisted_says_restart_pcscd(machine: Machine) -> None:
    plug_acs(machine)
    machine.driver([(ACS[0], ACS[1], ACS[4])])
    r = usb_check(machine, ["Virtual PCD 00 00"])
    assert r.status == WARN
    assert (
        r.summary.en
        == "the driver supports ACS ACR39U ICC Reader (072f:b100) but PC/SC does not list it"
    )
    assert "sudo systemctl restart pcscd, then replug the reader" in both(r.fix)
    assert "PC/SC 服務可能在驅動程式安裝前就已啟動" in both(r.fix)
    assert r.detail == (
        "ACS ACR39U ICC Reader (072f:b100): listed by ifd-ccid.bundle as 'ACS ACR39U ICC Reader'"
    )


def test_two_identical_readers_one_listed(machine: Machine) -> None:
    plug_acs(machine, "1-2", dev=4)
    plug_acs(machine, "1-3", dev=5)
    machine.driver([(ACS[0], ACS[1], ACS[4])])
    r = usb_check(machine, ["ACS ACR39U ICC Reader 00 00"])
    assert r.status == WARN  # each PC/SC name stands for one device only
    assert r.summary.en.startswith("the driver supports ACS ACR39U ICC Reader")


def test_held_by_scdaemon_names_it_and_says_how_to_stop_it(machine: Machine) -> None:
    plug_acs(machine, bus=1, dev=4)
    machine.driver([(ACS[0], ACS[1], ACS[4])])
    machine.process(1, "systemd", "/dev/bus/usb/001/003")  # another device
    machine.process(812, "pcscd", NODE)  # pcscd's own hold is not a culprit
    machine.process(4321, "scdaemon", "socket:[123]", NODE)
    machine.process(4400, "bash", "/dev/pts/0")
    r = usb_check(machine, [])
    assert r.status == FAIL
    assert r.summary.en == (
        "ACS ACR39U ICC Reader (072f:b100) is on USB but PC/SC does not list it: "
        "scdaemon (pid 4321) holds it"
    )
    assert r.summary.zh == (
        "USB 上有 ACS ACR39U ICC Reader (072f:b100),但 PC/SC 沒有列出:scdaemon (pid 4321) 占用它"
    )
    assert r.fix is not None
    assert r.fix.en == (
        "scdaemon (pid 4321) holds the reader; stop it (gpgconf --kill scdaemon) or set "
        "disable-ccid in ~/.gnupg/scdaemon.conf (so it goes through PC/SC), then replug the "
        "reader."
    )
    assert "gpgconf --kill scdaemon" in r.fix.zh and "disable-ccid" in r.fix.zh
    assert r.detail == f"ACS ACR39U ICC Reader (072f:b100): {NODE} open in scdaemon (pid 4321)"


def test_held_by_another_program_and_several_unlisted(machine: Machine) -> None:
    plug_acs(machine, "1-2", dev=4)
    machine.plug("1-4", 0x1FC9, 0x0117, "NXP", "Mystery Reader", dev=6)
    machine.driver([(ACS[0], ACS[1], ACS[4])])
    machine.process(5000, "mLNHIICC", NODE)
    r = usb_check(machine, [])
    assert r.status == FAIL
    assert r.summary.en == (
        "2 card readers on USB are not listed by PC/SC: ACS ACR39U ICC Reader (072f:b100), "
        "NXP Mystery Reader (1fc9:0117)"
    )
    assert r.fix is not None
    assert r.fix.en.startswith(
        "mLNHIICC (pid 5000) has the reader's USB device open; close that program, then "
        "replug the reader. The CCID driver does not know 1fc9:0117"
    )


def test_a_pcscd_hold_alone_is_not_reported(machine: Machine) -> None:
    plug_acs(machine)
    machine.driver([(ACS[0], ACS[1], ACS[4])])
    machine.process(812, "pcscd", NODE)
    r = usb_check(machine, ["Virtual PCD 00 00"])
    assert r.summary.en.startswith("the driver supports")


# -- the parts -----------------------------------------------------------------------------
LIBCCID_STYLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>CFBundleName</key>
\t<string>CCIDCLASSDRIVER</string>
\t<!-- Possible values for ifdCapabilities bits
\t1: IFD_GENERATE_HOTPLUG
\t-->
\t<key>ifdVendorID</key>
\t<array>
\t\t<string>0x072F</string>
\t\t<string>0x0CA6</string>
\t\t<string>0xZZZZ</string>
\t</array>
\t<key>ifdProductID</key>
\t<array>
\t\t<string>0xB100</string>
\t\t<string>0x00A0</string>
\t\t<string>0x0001</string>
\t</array>
\t<key>ifdFriendlyName</key>
\t<array>
\t\t<string>ACS ACR39U ICC Reader</string>
\t\t<string>CASTLES EZCCID Smart Card Reader</string>
\t\t<string>Broken</string>
\t</array>
</dict>
</plist>
"""


def test_parse_info_plist_in_libccids_shape() -> None:
    table = usb.parse_info_plist(LIBCCID_STYLE, "ifd-ccid.bundle")
    assert table == {
        (0x072F, 0xB100): usb.DriverEntry("ifd-ccid.bundle", "ACS ACR39U ICC Reader", True),
        (0x0CA6, 0x00A0): usb.DriverEntry(
            "ifd-ccid.bundle", "CASTLES EZCCID Smart Card Reader", True
        ),
    }


@pytest.mark.parametrize(
    "data, why",
    [
        (b"<plist><dict>", "not XML"),
        (plistlib.dumps({"ifdVendorID": ["0x1"], "ifdProductID": []}), "same length"),
        (plistlib.dumps(["not", "a", "dict"]), "not a dictionary"),
        (
            b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaa">]>'
            b"<plist><dict><key>x</key><string>&a;</string></dict></plist>",
            "entity",
        ),
    ],
)
def test_parse_info_plist_refuses_other_shapes(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        usb.parse_info_plist(data, "x.bundle")


def test_a_specific_driver_wins_over_the_class_driver(machine: Machine) -> None:
    machine.driver([(ACS[0], ACS[1], "ACS class name")], "ifd-ccid.bundle")
    # read after the class driver (bundles in name order), and still preferred, as by pcscd
    machine.driver([(ACS[0], ACS[1], "ACS vendor name")], "ifd-vendor.bundle", class_driver=False)
    drivers = usb.read_drivers([machine.drivers, machine.root / "absent"])
    (entry,) = drivers.entries.values()
    assert (entry.bundle, entry.name, entry.class_driver) == (
        "ifd-vendor.bundle",
        "ACS vendor name",
        False,
    )
    assert len(drivers.files) == 2 and drivers.problems == ()


def test_an_oversized_info_plist_is_not_read(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = machine.driver([(ACS[0], ACS[1], ACS[4])])
    monkeypatch.setattr(usb, "PLIST_CAP", 100)
    drivers = usb.read_drivers([machine.drivers])
    assert drivers.entries == {} and drivers.files == ()
    assert drivers.problems == (f"{path}: larger than 100 bytes",)


def test_device_strings_are_cleaned_and_attributes_bounded(machine: Machine) -> None:
    machine.plug("1-2", 0x072F, 0xB100, "AC\x1bS\x00", "R" * 500)
    (machine.usb / "1-2" / "serial").write_bytes(b"\xff\xfe12\n")
    (device,) = usb.ccid_devices(machine.sys) or []
    assert device.manufacturer == "AC S"
    assert device.name == "R" * usb.MAX_TEXT
    assert device.serial == "\ufffd\ufffd12"
    big = machine.root / "big"
    big.write_bytes(b"x" * 100_000)
    assert usb.read_attr(big) == "x" * usb.ATTR_CAP


def test_a_device_without_ids_is_left_out(machine: Machine) -> None:
    plug_acs(machine)
    (machine.usb / "1-2" / "idProduct").unlink()  # unplugged while we looked
    assert usb.ccid_devices(machine.sys) == []


def test_match_names_without_the_driver_uses_product_and_serial() -> None:
    a = usb.UsbReader("1-2", 1, 2, "Maker", "Desk Reader", "S1")
    b = usb.UsbReader("1-3", 1, 3, "Maker", "", "XYZ9")
    c = usb.UsbReader("1-4", 1, 4, "Maker", "Absent Reader")
    names = ["Vendor Desk Reader 00 00", "Odd name (XYZ9) 00 00", "Virtual PCD 00 00"]
    assert usb.match_names([a, b, c], names, usb.Drivers({})) == {
        "1-2": "Vendor Desk Reader 00 00",
        "1-3": "Odd name (XYZ9) 00 00",
    }


def test_device_holders_skips_pcscd_and_counts_what_it_may_not_read(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine.process(10, "scdaemon", NODE)
    machine.process(11, "pcscd", NODE)
    machine.process(12, "other", "/dev/bus/usb/002/002")
    machine.process(13, "secret", NODE)
    (machine.proc / "self").mkdir()
    (machine.proc / "99").mkdir()  # a process that ended: no fd directory
    real_listdir = os.listdir

    def listdir(path: object) -> list[str]:
        if str(path).endswith("/13/fd"):
            raise PermissionError(13, "Permission denied")  # another user's process
        return real_listdir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(usb.os, "listdir", listdir)
    holders = usb.device_holders([NODE, "/dev/bus/usb/009/009"], machine.proc)
    assert holders.of(NODE) == (usb.Holder(10, "scdaemon"),)
    assert holders.of("/dev/bus/usb/009/009") == () and holders.of(None) == ()
    assert holders.hidden == 1
    assert "1 process(es) of other users not inspected" in usb.hidden_note(holders)


def test_device_holders_stops_at_its_descriptor_budget(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine.process(10, "many", *["/dev/null"] * 5)
    machine.process(20, "scdaemon", NODE)
    monkeypatch.setattr(usb, "MAX_FDS", 4)
    assert usb.device_holders([NODE], machine.proc).by_node == {}
    monkeypatch.setattr(usb, "MAX_FDS", 100)
    assert usb.device_holders([NODE], machine.proc).of(NODE) == (usb.Holder(20, "scdaemon"),)


# -- naming the holder where a busy reader is reported ---------------------------------------
HELD = warned(T("占用", "held"), T("關閉其他程式。", "Close the other program."), "Reader X")


def test_name_holders_names_a_usb_holder(machine: Machine) -> None:
    plug_acs(machine)
    machine.process(4321, "scdaemon", NODE)
    out = usb.name_holders(machine.env([]), HELD)
    assert out.status == WARN and out.summary == HELD.summary
    assert out.fix is not None
    assert out.fix.en.startswith("scdaemon (pid 4321) holds the reader; stop it")
    assert out.fix.en.endswith(" Close the other program.")
    assert out.fix.zh.endswith("關閉其他程式。")
    assert (
        out.detail
        == f"Reader X; scdaemon (pid 4321) has {NODE} (ACS ACR39U ICC Reader (072f:b100)) open"
    )


def test_name_holders_points_at_a_running_scdaemon(machine: Machine) -> None:
    plug_acs(machine)
    machine.process(4321, "scdaemon", "socket:[1]")  # through PC/SC: no USB node open
    out = usb.name_holders(machine.env([]), HELD)
    assert out.fix is not None
    assert out.fix.en.startswith(
        "scdaemon (pid 4321) is running and may hold the card through PC/SC: run gpgconf "
        "--kill scdaemon, or add pcsc-shared to ~/.gnupg/scdaemon.conf."
    )
    assert "pcsc-shared" in out.fix.zh
    assert out.detail == "Reader X; scdaemon (pid 4321) is running"


def test_name_holders_leaves_the_finding_alone_when_nothing_is_known(machine: Machine) -> None:
    plug_acs(machine)
    machine.process(4400, "bash", "/dev/pts/0")
    assert usb.name_holders(machine.env([]), HELD) is HELD
    machine.process(4321, "scdaemon", NODE)
    assert usb.name_holders(machine.env([], "windows"), HELD) is HELD  # the OS cannot tell


def reader_info(name: str) -> ReaderInfo:
    return ReaderInfo(0, name, ReaderState.IN_USE, b"\x3b\x00", "nhi", T("健保卡", "NHI card"))


def test_card_select_names_the_holder_of_a_sharing_violation(machine: Machine) -> None:
    plug_acs(machine)
    machine.process(4321, "scdaemon", NODE)
    name = "ACS ACR39U ICC Reader 00 00"

    def connect(reader: str) -> object:
        raise codes.sharing_violation(reader)

    env = machine.env(
        [name],
        list_readers=lambda: [reader_info(name)],
        choose_card_reader=lambda spec: name,
        connect_card=connect,
    )
    results = {r.id: r for r in run_checks(card_group.checks(), env)}
    select = results["card.select"]
    assert select.status == FAIL
    assert select.summary.en == f"the card in “{name}” is in use by another program"
    assert select.fix is not None
    assert select.fix.en.startswith("scdaemon (pid 4321) holds the reader")
    assert "Close the other program using the reader" in select.fix.en
    assert select.detail.startswith("SCARD_E_SHARING_VIOLATION (0x8010000B); scdaemon (pid 4321)")


def test_pcsc_exclusive_names_the_holder(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    from nhicard.pcsc import readers as pcsc_readers

    plug_acs(machine)
    machine.process(4321, "scdaemon", NODE)
    name = "ACS ACR39U ICC Reader 00 00"

    def connect(reader: str) -> object:
        raise codes.sharing_violation(reader)

    monkeypatch.setattr(pcsc_readers, "connect_card", connect)
    env = machine.env([name], list_readers=lambda: [reader_info(name)])
    finding = pcsc_group.check_exclusive(env)
    assert finding.status == WARN
    assert finding.fix is not None
    assert finding.fix.en.startswith("scdaemon (pid 4321) holds the reader")
    assert "HIS" in finding.fix.en
    assert f"scdaemon (pid 4321) has {NODE}" in finding.detail


# -- the whole command -----------------------------------------------------------------------
@pytest.mark.pcsc
def test_env_check_json_with_fake_trees(
    machine: Machine,
    pcsc: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The private pcscd lists its virtual readers; the fake USB has a reader scdaemon holds."""
    plug_acs(machine)
    machine.driver([(ACS[0], ACS[1], ACS[4])])
    machine.process(4321, "scdaemon", NODE)
    monkeypatch.setattr(usb, "SYSFS_ROOT", machine.sys)
    monkeypatch.setattr(usb, "PROC_ROOT", machine.proc)
    monkeypatch.setattr(usb, "DRIVER_DIRS", (machine.drivers,))
    docs = {}
    for lang in ("en", "zh-TW"):
        with pytest.raises(SystemExit) as exc:
            main_mod.main(["--lang", lang, "env", "check", "--only", "pcsc", "--json"])
        assert exc.value.code == 0  # a warning only
        docs[lang] = json.loads(capsys.readouterr().out)
    checks = {c["id"]: c for c in docs["en"]["checks"]}
    assert [c["id"] for c in docs["en"]["checks"]][-1] == "pcsc.usb"
    assert checks["pcsc.readers"]["status"] == "pass"
    found = checks["pcsc.usb"]
    assert (found["group"], found["status"]) == ("pcsc", "warn")
    assert found["summary"] == (
        "ACS ACR39U ICC Reader (072f:b100) is on USB but PC/SC does not list it: "
        "scdaemon (pid 4321) holds it"
    )
    assert "gpgconf --kill scdaemon" in found["fix"]
    assert (
        found["detail"] == f"ACS ACR39U ICC Reader (072f:b100): {NODE} open in scdaemon (pid 4321)"
    )
    zh = {c["id"]: c for c in docs["zh-TW"]["checks"]}["pcsc.usb"]
    assert zh["summary"].startswith("USB 上有 ACS ACR39U ICC Reader (072f:b100),但 PC/SC 沒有列出")
    assert "停止它(gpgconf --kill scdaemon)" in zh["fix"]
    assert docs["en"]["summary"]["warn"] >= 1
