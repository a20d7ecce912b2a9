"""Check ``pcsc.usb`` (Linux): every smart-card reader on USB is one PC/SC lists.

A CCID reader on USB that PC/SC does not list has one of four causes, told apart here:
another program holds its USB device (scdaemon's own CCID driver); no CCID driver is
installed (``libccid`` / ``pcsc-lite-ccid``); the driver's list lacks its vendor:product; or
pcscd was started before the driver was installed. No reader on USB and none in PC/SC: plug
one in. Sysfs, ``/proc`` and the driver directories are settings (``sysfs_root``,
``proc_root``, ``pcsc_driver_dirs``) so tests use fake trees."""

from __future__ import annotations

from dataclasses import dataclass

from nhicard.core.errors import NhicardError
from nhicard.core.i18n import T, Text
from nhicard.envcheck import Check, CheckEnv, Finding, failed, passed, skipped, warned
from nhicard.envcheck.pcsc import error_finding, reader_names
from nhicard.envcheck.usb import (
    Drivers,
    Holders,
    UsbReader,
    env_devices,
    env_drivers,
    env_holders,
    hidden_note,
    holder_fix,
    joined,
    match_names,
    on_linux,
    sysfs_root,
    usb_devices_dir,
)

GROUP = "pcsc"

HELD = "held"
NO_DRIVER = "no-driver"
UNKNOWN_DEVICE = "unknown-device"
RESTART = "restart"

PLUG_IN = T(
    "請插上讀卡機(USB),稍候數秒再試;仍看不到時換一個 USB 埠或換一條線。",
    "Plug in the reader (USB) and wait a few seconds; if it still does not show, try another "
    "USB port or cable.",
)
NO_DRIVER_FIX = T(
    "安裝 CCID 驅動程式:sudo apt install libccid(Fedora:sudo dnf install pcsc-lite-ccid),"
    "然後 sudo systemctl restart pcscd 並重新插拔讀卡機。",
    "Install the CCID driver: sudo apt install libccid (Fedora: sudo dnf install "
    "pcsc-lite-ccid), then sudo systemctl restart pcscd and replug the reader.",
)
UNKNOWN_DEVICE_FIX = T(
    "CCID 驅動程式不認得 {ids}:更新 libccid(新版支援更多讀卡機)、安裝讀卡機廠商的 Linux "
    "驅動程式,或改用 CCID 驅動程式支援清單(https://ccid.apdu.fr/)上的讀卡機。",
    "The CCID driver does not know {ids}: update libccid (newer versions support more "
    "readers), install the reader maker's Linux driver, or use a reader on the CCID "
    "driver's list (https://ccid.apdu.fr/).",
)
RESTART_FIX = T(
    "PC/SC 服務可能在驅動程式安裝前就已啟動:sudo systemctl restart pcscd,然後重新插拔讀卡機。",
    "The PC/SC service was probably started before the driver was installed: "
    "sudo systemctl restart pcscd, then replug the reader.",
)


@dataclass(frozen=True)
class Unlisted:
    """A CCID reader on USB that PC/SC does not list, and why."""

    device: UsbReader
    cause: str
    summary: Text
    fix: Text
    note: str


def diagnose(device: UsbReader, drivers: Drivers, holders: Holders) -> Unlisted:
    """Why PC/SC does not list ``device``: the first cause that applies, in this order."""
    label = device.label
    held = holders.of(device.node)
    if held:
        names = ", ".join(str(h) for h in held)
        return Unlisted(
            device,
            HELD,
            T(
                "USB 上有 {d},但 PC/SC 沒有列出:{h} 占用它",
                "{d} is on USB but PC/SC does not list it: {h} holds it",
            ).format(d=label, h=names),
            joined(holder_fix(h) for h in held) or RESTART_FIX,
            f"{label}: {device.node} open in {names}",
        )
    if not drivers.files:
        return Unlisted(
            device,
            NO_DRIVER,
            T(
                "USB 上有 {d},但沒有安裝 CCID 驅動程式",
                "{d} is on USB but no CCID driver is installed",
            ).format(d=label),
            NO_DRIVER_FIX,
            f"{label}: no readable driver list"
            + (f" ({'; '.join(drivers.problems)})" if drivers.problems else ""),
        )
    entry = drivers.find(device)
    if entry is None:
        return Unlisted(
            device,
            UNKNOWN_DEVICE,
            T(
                "{d} 不在 CCID 驅動程式支援的讀卡機清單中",
                "{d} is not in the CCID driver's list of supported readers",
            ).format(d=label),
            UNKNOWN_DEVICE_FIX.format(ids=device.ids),
            f"{label}: {device.ids} in none of {', '.join(drivers.files)}",
        )
    return Unlisted(
        device,
        RESTART,
        T(
            "驅動程式支援 {d},但 PC/SC 沒有列出它",
            "the driver supports {d} but PC/SC does not list it",
        ).format(d=label),
        RESTART_FIX,
        f"{label}: listed by {entry.bundle} as '{entry.name}'",
    )


def check_usb(env: CheckEnv) -> Finding:
    if not on_linux(env):
        return skipped(T("只在 Linux 檢查(sysfs)", "checked on Linux only (sysfs)"))
    devices = env_devices(env)
    if devices is None:
        where = usb_devices_dir(sysfs_root(env))
        return skipped(
            T("這裡看不到 USB 裝置(沒有 {p})", "USB devices cannot be seen here (no {p})").format(
                p=where
            )
        )
    try:
        names = reader_names(env)
    except NhicardError as err:
        return error_finding(err)
    if not devices:
        if not names:
            return failed(
                T(
                    "USB 上沒有讀卡機,PC/SC 也沒有列出任何讀卡機",
                    "no card reader on USB or in PC/SC",
                ),
                PLUG_IN,
            )
        return passed(
            T(
                "USB 上沒有 CCID 讀卡機;PC/SC 列出 {n} 台其他讀卡機",
                "no CCID reader on USB; PC/SC lists {n} other reader(s)",
            ).format(n=len(names)),
            "; ".join(names),
        )
    drivers = env_drivers(env)
    matched = match_names(devices, names, drivers)
    listed = [f"{d.label} = '{matched[d.sysname]}'" for d in devices if d.sysname in matched]
    missing = [d for d in devices if d.sysname not in matched]
    if not missing:
        return passed(
            T(
                "USB 上的 {n} 台讀卡機都已由 PC/SC 列出",
                "every card reader on USB is listed by PC/SC ({n})",
            ).format(n=len(devices)),
            "; ".join(listed),
        )
    holders = env_holders(env)
    found = [diagnose(d, drivers, holders) for d in missing]
    detail = "; ".join(x for x in (*(u.note for u in found), *listed, hidden_note(holders)) if x)
    if len(found) == 1:
        summary = found[0].summary
    else:
        summary = T(
            "USB 上有 {n} 台讀卡機 PC/SC 沒有列出:{d}",
            "{n} card readers on USB are not listed by PC/SC: {d}",
        ).format(n=len(found), d=", ".join(u.device.label for u in found))
    fix = joined(u.fix for u in found)
    if not names:  # nothing PC/SC could use
        return failed(summary, fix, detail)
    return warned(summary, fix, detail)


def checks() -> list[Check]:
    return [Check("pcsc.usb", GROUP, check_usb, needs=("pcsc.context",))]
