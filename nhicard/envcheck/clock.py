"""Group ``clock``: the local clock against the sites' ``Date`` headers, and the time zone.

EnCrypt (the card-password encryption) keys on the *local* date, which the sites compare
with the date in Asia/Taipei (nhi-agent.md): a wrong clock or time zone breaks card+password
logins, and so does a login started just before midnight.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, tzinfo

from nhicard.core.clock import TAIPEI
from nhicard.core.i18n import T, Text
from nhicard.envcheck import Check, CheckEnv, Finding, failed, passed, skipped, warned
from nhicard.envcheck.probes import ProbeError, SiteProbe
from nhicard.envcheck.targets import now_utc, probe_site, targets_of

GROUP = "clock"
WARN_AFTER = 60.0  # seconds
FAIL_AFTER = 300.0
MIDNIGHT_MARGIN = timedelta(minutes=10)

CLOCK_FIX = T(
    "校正電腦時間:開啟自動設定時間(Windows:設定 → 時間與語言 → 自動設定時間;"
    "Linux:sudo timedatectl set-ntp true;macOS:系統設定 → 一般 → 日期與時間)。",
    "Correct the computer's clock: turn on automatic time (Windows: Settings → Time & "
    "language → Set time automatically; Linux: sudo timedatectl set-ntp true; macOS: System "
    "Settings → General → Date & Time).",
)
TZ_FIX = T(
    "把時區設為台北(UTC+8):Windows 設定 → 時間與語言 → 時區;"
    "Linux:sudo timedatectl set-timezone Asia/Taipei;macOS:系統設定 → 一般 → 日期與時間。",
    "Set the time zone to Taipei (UTC+8): Windows Settings → Time & language → Time zone; "
    "Linux: sudo timedatectl set-timezone Asia/Taipei; macOS: System Settings → General → "
    "Date & Time.",
)


def _first_dated_probe(env: CheckEnv) -> tuple[SiteProbe | None, list[str]]:
    """Probe every site at once; the first answer carrying a Date header wins."""
    sites = targets_of(env).sites
    answers: list[SiteProbe] = []
    errors: list[str] = []
    cond = threading.Condition()

    def one(site_index: int) -> None:
        site = sites[site_index]
        try:
            probe = probe_site(env, site)
            with cond:
                if probe.server_date is not None:
                    answers.append(probe)
                else:
                    errors.append(f"{site.url}: no Date header")
                cond.notify_all()
        except ProbeError as err:
            with cond:
                errors.append(f"{site.url}: {err.kind}")
                cond.notify_all()

    for i in range(len(sites)):
        threading.Thread(target=one, args=(i,), daemon=True, name="envcheck:clock").start()
    deadline = time.monotonic() + env.timeout
    with cond:
        while not answers and len(errors) < len(sites):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            cond.wait(left)
        return (answers[0] if answers else None), list(errors)


def check_offset(env: CheckEnv) -> Finding:
    if not targets_of(env).sites:
        return skipped(T("設定檔沒有網站可比對時間", "the profile has no site to compare with"))
    probe, errors = _first_dated_probe(env)
    if probe is None or probe.server_date is None:
        return skipped(
            T(
                "沒有網站回應,無法比對時間",
                "no site answered: the clock could not be compared",
            ),
            "; ".join(errors) or "timeout",
        )
    offset = (probe.local_time - probe.server_date).total_seconds()
    # the Date header is truncated to whole seconds: take its middle
    offset -= 0.5
    detail = (
        f"{probe.url}: Date {probe.server_date.isoformat()}, local "
        f"{probe.local_time.astimezone(UTC).isoformat(timespec='seconds')}, offset {offset:+.0f} s"
    )
    size = abs(offset)
    if size > FAIL_AFTER:
        return failed(_offset_text(offset), CLOCK_FIX, detail)
    if size > WARN_AFTER:
        return warned(_offset_text(offset), CLOCK_FIX, detail)
    return passed(
        T("電腦時間正確(誤差 {s} 秒)", "the clock is right (within {s} s)").format(s=f"{size:.0f}"),
        detail,
    )


def _offset_text(offset: float) -> Text:
    seconds = f"{abs(offset):.0f}"
    if offset > 0:
        return T("電腦時間快了 {s} 秒", "the clock is {s} s ahead").format(s=seconds)
    return T("電腦時間慢了 {s} 秒", "the clock is {s} s behind").format(s=seconds)


def local_zone(env: CheckEnv) -> tzinfo:
    zone = env.local_tz
    if zone is not None:
        return zone
    local = datetime.now().astimezone().tzinfo
    return local if local is not None else UTC


def _fmt_offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def mismatch_window(local_offset: timedelta | None) -> tuple[str, str] | None:
    """The daily hours, in local time and in Taipei time, during which the local date is not
    Taipei's (``("16:00–24:00", "00:00–08:00")`` for UTC); None when the zone keeps Taipei's
    offset."""
    local = int((local_offset or timedelta()).total_seconds() // 60)
    ahead = int(TAIPEI.utcoffset(None).total_seconds() // 60) - local  # Taipei minus local
    if ahead == 0:
        return None
    size = min(abs(ahead), 24 * 60)
    if ahead > 0:  # Taipei has already reached tomorrow
        return (f"{_hhmm(24 * 60 - size)}–24:00", f"00:00–{_hhmm(size)}")
    return (f"00:00–{_hhmm(size)}", f"{_hhmm(24 * 60 - size)}–24:00")


def encrypt_path(env: CheckEnv) -> tuple[bool, str]:
    """Whether the EnCrypt that ``--agent`` resolves to keys on the *local* date, and which
    agent that is. The official component (``nhiicc``, or ``auto`` when the component answers)
    uses the computer's date; nhicard's ``direct`` agent uses the Asia/Taipei date."""
    settings = env.agent
    kind = settings.kind
    if kind == "direct":
        return False, "--agent direct"
    if kind == "nhiicc":
        return True, "--agent nhiicc (the official component)"

    from nhicard.envcheck.agent import auto_asks, reachable_offline

    if not auto_asks(env):
        return False, "--agent auto: the hosts file has no line for the component, direct is used"
    if env.offline and not reachable_offline(settings.host):
        return True, (
            "--agent auto: offline, the component was not asked; the hosts file maps it, "
            "so it is used when it runs"
        )

    def probe() -> bool:
        injected = env.component_answers  # tests: a callable standing for the probe
        if injected is not None:
            return bool(injected())
        from nhicard.agent.client.factory import PROBE_TIMEOUT, probe_component

        answered = probe_component(
            settings.url,
            origin=settings.origin,
            ca_bundle=settings.ca_bundle,
            timeout=PROBE_TIMEOUT,
        )
        return answered.ok

    if env.memo("clock:component-answers", probe):
        return True, "--agent auto: the official component answers, so it is used"
    return False, "--agent auto: the official component does not answer, direct is used"


COMPENSATES = T(
    "nhicard 的 direct 讀卡代理以台北日期計算 EnCrypt,不受影響;在瀏覽器用官方元件登入時才會失敗。",
    "nhicard's direct agent computes EnCrypt with the Taipei date and is not affected; "
    "logins through the official component (in a browser) fail.",
)


def check_timezone(env: CheckEnv) -> Finding:
    now = now_utc(env)
    local = now.astimezone(local_zone(env))
    taipei = now.astimezone(TAIPEI)
    zone = f"{local.tzname() or '?'} ({_fmt_offset(local.utcoffset())})"
    window = mismatch_window(local.utcoffset())
    detail = (
        f"local {local.isoformat(timespec='seconds')} {zone}; "
        f"Asia/Taipei {taipei.isoformat(timespec='seconds')}"
    )
    hours = (
        T(
            "每天本機時間 {l}(台北時間 {t})本機日期與台北不同",
            "every day from {l} local time ({t} in Taipei) the local date is not Taipei's",
        ).format(l=window[0], t=window[1])
        if window is not None
        else None
    )
    if local.date() != taipei.date():
        local_date, agent = encrypt_path(env)
        detail += f"; {agent}"
        dates = T(
            "本機日期 {ld} 與台北日期 {td} 不同", "the local date {ld} differs from Taipei's {td}"
        )
        dates = dates.format(ld=local.date().isoformat(), td=taipei.date().isoformat())
        if local_date:
            return failed(
                Text(
                    f"{dates.zh}:官方元件的健保卡+密碼登入(EnCrypt)現在會失敗",
                    f"{dates.en}: card+password logins through the official component "
                    "(EnCrypt) fail now",
                ),
                TZ_FIX,
                detail + (f"; {hours.en}" if hours is not None else ""),
            )
        return warned(
            Text(
                f"{dates.zh}:官方元件的健保卡+密碼登入(EnCrypt)現在會失敗"
                + (f"({hours.zh})" if hours is not None else "")
                + ";nhicard 已自動改用台北日期",
                f"{dates.en}: card+password logins through the official component (EnCrypt) "
                "fail now"
                + (f" ({hours.en})" if hours is not None else "")
                + "; nhicard compensates with the Taipei date",
            ),
            Text(f"{COMPENSATES.zh}{TZ_FIX.zh}", f"{COMPENSATES.en} {TZ_FIX.en}"),
            detail,
        )
    midnight = datetime.combine(taipei.date() + timedelta(days=1), datetime.min.time(), TAIPEI)
    since_midnight = taipei - midnight + timedelta(days=1)
    if midnight - taipei <= MIDNIGHT_MARGIN or since_midnight <= MIDNIGHT_MARGIN:
        return warned(
            T(
                "台北時間接近午夜({t}):EnCrypt 金鑰依日期而定,跨日時登入可能失敗",
                "it is near midnight in Taipei ({t}): EnCrypt keys depend on the date, a "
                "login across midnight may fail",
            ).format(t=taipei.strftime("%H:%M")),
            T("等到台北時間 00:10 以後再登入。", "Log in after 00:10 Taipei time."),
            detail,
        )
    if window is not None and hours is not None:
        local_date, agent = encrypt_path(env)
        detail += f"; {agent}"
        summary = Text(
            f"時區為 {zone},不是台北時間:{hours.zh},那時官方元件的健保卡+密碼登入(EnCrypt)會失敗",
            f"the time zone is {zone}, not Taipei's: {hours.en}, and card+password logins "
            "through the official component (EnCrypt) fail then",
        )
        if local_date:
            return warned(summary, TZ_FIX, detail)
        return warned(
            Text(f"{summary.zh};nhicard 已自動改用台北日期", f"{summary.en}; nhicard compensates"),
            Text(f"{COMPENSATES.zh}{TZ_FIX.zh}", f"{COMPENSATES.en} {TZ_FIX.en}"),
            detail,
        )
    return passed(T("時區:{z}(台北時間)", "time zone: {z} (Taipei time)").format(z=zone), detail)


def _offline(env: CheckEnv) -> Finding:
    return skipped(T("略過:離線模式(--offline)", "skipped: offline mode (--offline)"), "offline")


def checks(*, offline: bool) -> list[Check]:
    return [
        Check("clock.offset", GROUP, _offline if offline else check_offset),
        Check("clock.timezone", GROUP, check_timezone),
    ]
