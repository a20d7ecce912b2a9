"""Linux: the USB smart-card readers the kernel sees, the CCID driver's list, and the programs
that hold a reader's USB device open.

- :func:`ccid_devices` reads sysfs (``/sys/bus/usb/devices``): a device with an interface of
  class ``0b`` (smart card, CCID) is a reader, whether or not PC/SC lists it;
- :func:`read_drivers` reads the ``Info.plist`` of every ``*.bundle`` in pcsc-lite's driver
  directories: the vendor/product ids a driver claims and the name pcscd gives such a reader
  (a reader's PC/SC name starts with it);
- :func:`device_holders` scans ``/proc/*/fd`` for processes with a reader's device node
  (``/dev/bus/usb/BBB/DDD``) open: GnuPG's scdaemon with its own CCID driver is the classic
  one. Processes we may not inspect (other users', unless root) are counted, not guessed.

Every root is an argument (tests build fake trees); every read is bounded. :func:`name_holders`
adds the holders to a finding about a reader held by another program (``pcsc.exclusive``,
``card.select``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from nhicard.core.i18n import T, Text
from nhicard.envcheck import CheckEnv, Finding

SYSFS_ROOT = Path("/sys")
PROC_ROOT = Path("/proc")
# pcsc-lite's compiled-in drop directories: Debian/Ubuntu, Fedora, a build from source
DRIVER_DIRS = (
    Path("/usr/lib/pcsc/drivers"),
    Path("/usr/lib64/pcsc/drivers"),
    Path("/usr/local/lib/pcsc/drivers"),
)
CCID_CLASS = 0x0B
CLASS_DRIVER = "CCIDCLASSDRIVER"  # libccid's CFBundleName; a specific driver wins over it
PCSC_DAEMONS = frozenset({"pcscd"})  # holding the reader is their job

ATTR_CAP = 4096  # bytes read of one sysfs or /proc attribute (a page at most)
PLIST_CAP = 4 << 20  # bytes of one Info.plist (libccid's is about 200 KB)
MAX_USB_ENTRIES = 2048  # entries of /sys/bus/usb/devices looked at
MAX_FDS = 200_000  # descriptors looked at over all processes
MAX_TEXT = 80  # characters kept of a device's strings


def read_attr(path: Path, cap: int = ATTR_CAP) -> str | None:
    """A small text attribute, stripped; None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            raw = f.read(cap)
    except OSError:
        return None
    return raw.decode("utf-8", "replace").strip()


def clean(text: str | None) -> str:
    """A device-supplied string made safe to print: printable characters only, bounded."""
    if not text:
        return ""
    kept = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(kept.split())[:MAX_TEXT]


def _int(text: str | None, base: int) -> int | None:
    if not text:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


@dataclass(frozen=True)
class UsbReader:
    """A USB device with a smart-card (CCID) interface."""

    sysname: str  # e.g. "1-2"
    vendor: int
    product: int
    manufacturer: str = ""
    name: str = ""  # the device's product string
    serial: str = ""
    busnum: int | None = None
    devnum: int | None = None

    @property
    def ids(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"

    @property
    def node(self) -> str | None:
        """Its device node, as ``/proc/PID/fd`` links show it."""
        if self.busnum is None or self.devnum is None:
            return None
        return f"/dev/bus/usb/{self.busnum:03d}/{self.devnum:03d}"

    @property
    def label(self) -> str:
        """``ACS ACR39U ICC Reader (072f:b100)``: maker and product strings, then the ids."""
        if self.manufacturer and self.name.startswith(self.manufacturer):
            text = self.name
        else:
            text = f"{self.manufacturer} {self.name}".strip()
        return f"{text} ({self.ids})" if text else self.ids


def usb_devices_dir(sysfs_root: Path) -> Path:
    return sysfs_root / "bus" / "usb" / "devices"


def ccid_devices(sysfs_root: Path = SYSFS_ROOT) -> list[UsbReader] | None:
    """The USB devices with a CCID interface, by sysfs name; None when sysfs shows no USB."""
    base = usb_devices_dir(sysfs_root)
    try:
        entries = sorted(os.listdir(base))[:MAX_USB_ENTRIES]
    except OSError:
        return None
    devices: dict[str, Path] = {}
    for entry in entries:
        device, colon, _ = entry.partition(":")
        if not colon or _int(read_attr(base / entry / "bInterfaceClass"), 16) != CCID_CLASS:
            continue
        where = base / device
        if not (where / "idVendor").exists():  # the interface's parent directory is the device
            where = (base / entry).resolve().parent
        devices.setdefault(where.name, where)
    out = []
    for sysname, where in sorted(devices.items()):
        reader = _device(sysname, where)
        if reader is not None:
            out.append(reader)
    return out


def _device(sysname: str, where: Path) -> UsbReader | None:
    vendor = _int(read_attr(where / "idVendor"), 16)
    product = _int(read_attr(where / "idProduct"), 16)
    if vendor is None or product is None:
        return None  # unplugged while we looked, or not a device
    return UsbReader(
        sysname,
        vendor,
        product,
        clean(read_attr(where / "manufacturer")),
        clean(read_attr(where / "product")),
        clean(read_attr(where / "serial")),
        _int(read_attr(where / "busnum"), 10),
        _int(read_attr(where / "devnum"), 10),
    )


# -- the drivers' lists --------------------------------------------------------------------
@dataclass(frozen=True)
class DriverEntry:
    """One reader a driver claims: the bundle and the name pcscd gives the reader."""

    bundle: str
    name: str
    class_driver: bool


@dataclass(frozen=True)
class Drivers:
    """What pcscd's driver bundles claim, the ``Info.plist`` files read, and those that
    could not be read."""

    entries: Mapping[tuple[int, int], DriverEntry]
    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def find(self, reader: UsbReader) -> DriverEntry | None:
        return self.entries.get((reader.vendor, reader.product))


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def parse_info_plist(data: bytes, bundle: str) -> dict[tuple[int, int], DriverEntry]:
    """The (vendor, product) → entry table of one driver's ``Info.plist``; ValueError when it
    is not a plist of that shape."""
    import plistlib
    from xml.parsers.expat import ExpatError

    try:
        doc = plistlib.loads(data, fmt=plistlib.FMT_XML)
    except ExpatError as exc:
        raise ValueError(f"not XML: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a dictionary")
    vendors = _as_list(doc.get("ifdVendorID"))
    products = _as_list(doc.get("ifdProductID"))
    names = _as_list(doc.get("ifdFriendlyName"))
    if not vendors or len(vendors) != len(products):
        raise ValueError("no ifdVendorID/ifdProductID list of the same length")
    class_driver = doc.get("CFBundleName") == CLASS_DRIVER
    out: dict[tuple[int, int], DriverEntry] = {}
    for i, (v, p) in enumerate(zip(vendors, products, strict=True)):
        vendor, product = _int(v, 16), _int(p, 16)
        if vendor is None or product is None:
            continue
        name = clean(names[i]) if i < len(names) else ""
        out.setdefault((vendor, product), DriverEntry(bundle, name, class_driver))
    return out


def read_drivers(dirs: Iterable[Path] = DRIVER_DIRS) -> Drivers:
    """Every bundle's list, as pcscd would pick: a specific driver before the class driver."""
    entries: dict[tuple[int, int], DriverEntry] = {}
    files: list[str] = []
    problems: list[str] = []
    for directory in dirs:
        try:
            bundles = sorted(p for p in directory.iterdir() if p.name.endswith(".bundle"))
        except OSError:
            continue
        for bundle in bundles:
            plist = bundle / "Contents" / "Info.plist"
            try:
                with open(plist, "rb") as f:
                    data = f.read(PLIST_CAP + 1)
                if len(data) > PLIST_CAP:
                    raise ValueError(f"larger than {PLIST_CAP} bytes")
                table = parse_info_plist(data, bundle.name)
            except (OSError, ValueError) as exc:
                problems.append(f"{plist}: {exc}")
                continue
            files.append(str(plist))
            for key, entry in table.items():
                old = entries.get(key)
                if old is None or (old.class_driver and not entry.class_driver):
                    entries[key] = entry
    return Drivers(entries, tuple(files), tuple(problems))


# -- PC/SC's names -------------------------------------------------------------------------
def match_names(
    readers: Sequence[UsbReader], names: Sequence[str], drivers: Drivers
) -> dict[str, str]:
    """sysname → the PC/SC reader name that is that device, each name used once.

    pcscd names a USB reader ``<driver's name> [<interface>] (<serial>) NN NN``; without the
    driver's name (not in a list we could read) the device's product string and its serial
    are tried."""
    free = list(names)
    out: dict[str, str] = {}
    for reader in readers:
        for kind, value in _name_keys(reader, drivers.find(reader)):
            hit = next((n for n in free if _fits(n, kind, value)), None)
            if hit is not None:
                out[reader.sysname] = hit
                free.remove(hit)
                break
    return out


def _name_keys(reader: UsbReader, entry: DriverEntry | None) -> list[tuple[str, str]]:
    if entry is not None and entry.name:
        return [("prefix", entry.name)]
    keys = []
    if reader.name:
        keys.append(("part", reader.name.lower()))
    if reader.serial:
        keys.append(("part", f"({reader.serial.lower()})"))
    return keys


def _fits(name: str, kind: str, value: str) -> bool:
    return name.startswith(value) if kind == "prefix" else value in name.lower()


# -- who holds a device node ---------------------------------------------------------------
@dataclass(frozen=True)
class Holder:
    pid: int
    comm: str

    def __str__(self) -> str:
        return f"{self.comm} (pid {self.pid})"


@dataclass(frozen=True)
class Holders:
    """node → processes that have it open; ``hidden``: processes we may not inspect."""

    by_node: Mapping[str, tuple[Holder, ...]]
    hidden: int = 0

    def of(self, node: str | None) -> tuple[Holder, ...]:
        return self.by_node.get(node, ()) if node else ()


def _pids(proc_root: Path) -> list[int]:
    try:
        return sorted(int(n) for n in os.listdir(proc_root) if n.isdigit())
    except OSError:
        return []


def process_name(proc_root: Path, pid: int) -> str:
    return clean(read_attr(proc_root / str(pid) / "comm", 64)) or "?"


def device_holders(
    nodes: Iterable[str], proc_root: Path = PROC_ROOT, *, ignore: Iterable[str] = PCSC_DAEMONS
) -> Holders:
    """The processes (other than ``ignore`` by name) with one of ``nodes`` open."""
    wanted = set(nodes)
    skip = set(ignore)
    found: dict[str, list[Holder]] = {}
    hidden = 0
    budget = MAX_FDS
    if not wanted:
        return Holders({})
    for pid in _pids(proc_root):
        if budget <= 0:
            break
        fd_dir = proc_root / str(pid) / "fd"
        try:
            fds = os.listdir(fd_dir)
        except PermissionError:
            hidden += 1
            continue
        except OSError:  # gone meanwhile
            continue
        hits = set()
        for fd in fds[:budget]:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            if target in wanted:
                hits.add(target)
        budget -= len(fds)
        if not hits:
            continue
        comm = process_name(proc_root, pid)
        if comm in skip:
            continue
        for node in sorted(hits):
            found.setdefault(node, []).append(Holder(pid, comm))
    return Holders({k: tuple(v) for k, v in found.items()}, hidden)


def running(proc_root: Path, comm: str) -> list[Holder]:
    """The processes named ``comm`` (``/proc/PID/comm`` is readable for every process)."""
    return [Holder(pid, comm) for pid in _pids(proc_root) if process_name(proc_root, pid) == comm]


# -- texts ---------------------------------------------------------------------------------
def holder_fix(holder: Holder) -> Text:
    """What to do about a program that holds a reader's USB device."""
    if holder.comm == "scdaemon":
        return T(
            f"scdaemon(pid {holder.pid})占用讀卡機:停止它(gpgconf --kill scdaemon),"
            "或在 ~/.gnupg/scdaemon.conf 加入 disable-ccid(改經 PC/SC 使用讀卡機),"
            "然後重新插拔讀卡機。",
            f"scdaemon (pid {holder.pid}) holds the reader; stop it (gpgconf --kill scdaemon) "
            "or set disable-ccid in ~/.gnupg/scdaemon.conf (so it goes through PC/SC), then "
            "replug the reader.",
        )
    return T(
        f"{holder.comm}(pid {holder.pid})直接開啟了讀卡機的 USB 裝置;關閉該程式後重新插拔讀卡機。",
        f"{holder.comm} (pid {holder.pid}) has the reader's USB device open; close that "
        "program, then replug the reader.",
    )


def scdaemon_fix(holder: Holder) -> Text:
    """scdaemon runs but holds no USB device: it may hold the card through PC/SC."""
    return T(
        f"scdaemon(pid {holder.pid})正在執行,可能透過 PC/SC 獨占卡片:執行 gpgconf --kill "
        "scdaemon,或在 ~/.gnupg/scdaemon.conf 加入 pcsc-shared。",
        f"scdaemon (pid {holder.pid}) is running and may hold the card through PC/SC: run "
        "gpgconf --kill scdaemon, or add pcsc-shared to ~/.gnupg/scdaemon.conf.",
    )


def joined(texts: Iterable[Text | None]) -> Text | None:
    """Several fixes as one text, each once, in order."""
    kept: list[Text] = []
    for t in texts:
        if t is not None and t not in kept:
            kept.append(t)
    if not kept:
        return None
    return Text("".join(t.zh for t in kept), " ".join(t.en for t in kept))


# -- shared by the checks ------------------------------------------------------------------
def on_linux(env: CheckEnv) -> bool:
    """Whether this run looks at a Linux computer (setting ``platform``, else this one)."""
    name = getattr(env.platform, "NAME", None)
    return (name or ("linux" if sys.platform.startswith("linux") else sys.platform)) == "linux"


def sysfs_root(env: CheckEnv) -> Path:
    return Path(env.sysfs_root or SYSFS_ROOT)


def proc_root(env: CheckEnv) -> Path:
    return Path(env.proc_root or PROC_ROOT)


def env_devices(env: CheckEnv) -> list[UsbReader] | None:
    result: list[UsbReader] | None = env.memo("usb-ccid", lambda: ccid_devices(sysfs_root(env)))
    return result


def env_drivers(env: CheckEnv) -> Drivers:
    dirs = env.pcsc_driver_dirs or DRIVER_DIRS
    result: Drivers = env.memo("usb-drivers", lambda: read_drivers(dirs))
    return result


def env_holders(env: CheckEnv) -> Holders:
    def compute() -> Holders:
        nodes = [d.node for d in env_devices(env) or [] if d.node]
        return device_holders(nodes, proc_root(env))

    result: Holders = env.memo("usb-holders", compute)
    return result


def hidden_note(holders: Holders) -> str:
    if not holders.hidden:
        return ""
    return f"{holders.hidden} process(es) of other users not inspected (run as root to see them)"


def name_holders(env: CheckEnv, finding: Finding) -> Finding:
    """``finding`` about a reader held by another program, with that program named where
    the OS tells: a process with a reader's USB device open, else a running scdaemon."""
    if not on_linux(env):
        return finding
    devices = env_devices(env) or []
    holders = env_holders(env)
    fixes: list[Text] = []
    notes: list[str] = []
    for device in devices:
        for h in holders.of(device.node):
            fixes.append(holder_fix(h))
            notes.append(f"{h} has {device.node} ({device.label}) open")
    if not fixes:
        for h in running(proc_root(env), "scdaemon"):
            fixes.append(scdaemon_fix(h))
            notes.append(f"{h} is running")
    if not fixes:
        return finding
    detail = "; ".join(x for x in (finding.detail, *notes, hidden_note(holders)) if x)
    return replace(finding, fix=joined([*fixes, finding.fix]), detail=detail)
