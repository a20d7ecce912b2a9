"""Group ``agent``: the official component's own root CA (``agent.official-ca``).

The 2024 Linux installer (20240710.1) makes a CA ``CN=O=nhi-localhost-ca`` that is valid for
**30 days only**, beside a 50-year ``localhost`` server certificate, in
``/usr/local/share/NHIICC/cert/{NHIRootCA.crt,NHIServerCert.crt,NHIServerCert.key}``; a month
after install the browsers stop trusting the component ("SSL certificate problem") and
「讀取」 stops working (nhi-agent.md). ``fail`` when the CA has expired, ``warn`` when it
expires within :data:`EXPIRY_WARNING`, each with the fix and the Firefox step (delete the
old ``nhi-localhost-ca`` before importing the new one). Where the Windows and macOS builds
keep their CA is not published: ``skip`` there.

:func:`installed_build` tells the other agent checks that a 2024 build is installed (its CA
file is there), for the hints that differ per build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nhicard.core.clock import utc_now
from nhicard.core.i18n import T, Text
from nhicard.envcheck import Check, CheckEnv, Finding, failed, passed, skipped, warned

GROUP = "agent"
CA_FILE = Path("cert") / "NHIRootCA.crt"  # under the component's install directory
CA_2024_ORGANISATION = "nhi-localhost-ca"
EXPIRY_WARNING = timedelta(days=7)
MAX_CA_BYTES = 64 * 1024


@dataclass(frozen=True)
class OfficialCa:
    """The official CA file as read: where, its validity, its subject."""

    path: Path
    not_before: datetime
    not_after: datetime
    subject: str
    organisations: tuple[str, ...]

    @property
    def is_2024(self) -> bool:
        return CA_2024_ORGANISATION in self.organisations or CA_2024_ORGANISATION in self.subject


def ca_path(env: CheckEnv) -> Path | None:
    """Where this OS's official component keeps its CA, or None when not published."""
    if env.official_ca_file is not None:
        return env.official_ca_file
    where = env.platform.component_install_dir(env.environ)
    return Path(where) / CA_FILE if where is not None else None


def read_ca(path: Path) -> OfficialCa:
    """The certificate in ``path`` (PEM or DER); OSError or ValueError when unreadable."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    with path.open("rb") as fh:
        data = fh.read(MAX_CA_BYTES + 1)
    if len(data) > MAX_CA_BYTES:
        raise ValueError(f"larger than {MAX_CA_BYTES} bytes: not a certificate")
    cert = (
        x509.load_pem_x509_certificate(data)
        if b"-----BEGIN" in data
        else x509.load_der_x509_certificate(data)
    )
    orgs = tuple(
        str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )
    return OfficialCa(
        path, cert.not_valid_before_utc, cert.not_valid_after_utc, cert.subject.rfc4514_string(),
        orgs,
    )  # fmt: skip


def _now(env: CheckEnv) -> datetime:
    now = (env.now or utc_now)()
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def official_ca(env: CheckEnv) -> OfficialCa | None:
    """The official CA of this run (read once), None when there is no such file."""

    def compute() -> OfficialCa | None:
        path = ca_path(env)
        if path is None or not path.exists():
            return None
        return read_ca(path)

    found: OfficialCa | None = env.memo("agent:official-ca", compute)
    return found


def installed_build(env: CheckEnv) -> str | None:
    """``"2024"`` when the 2024 component's CA file is on this computer, else None (not
    installed, an older build, or an OS where the file's place is not published)."""
    try:
        ca = official_ca(env)
    except (OSError, ValueError):
        return None
    return "2024" if ca is not None and ca.is_2024 else None


def renew_fix(path: Path) -> Text:
    """How to get a fresh CA, and the Firefox step."""
    return T(
        f"重新安裝官方元件(2024 版安裝程式每次會產生新的根憑證,有效期只有 30 天),再把新的 "
        f"{path} 匯入瀏覽器;Firefox 要先在「設定 → 隱私權與安全性 → 憑證 → 檢視憑證 → 憑證機構」"
        f"刪除舊的 {CA_2024_ORGANISATION},才能匯入新的。不需要官方元件時,nhicard 內建的 direct "
        "讀卡代理或 nhicard agent serve 都不受影響。",
        f"Reinstall the official component (the 2024 installer makes a new root CA each time, "
        f"valid for 30 days only), then import the new {path} into the browsers; in Firefox, "
        f"first delete the old {CA_2024_ORGANISATION} (Settings → Privacy & Security → "
        "Certificates → View Certificates → Authorities), or the new one cannot be imported. "
        "If you do not need the official component, nhicard's direct agent and nhicard agent "
        "serve are not affected.",
    )


def check_official_ca(env: CheckEnv) -> Finding:
    path = ca_path(env)
    if path is None:
        return skipped(
            T(
                "此作業系統的官方元件根憑證位置未公開",
                "where the official component keeps its root CA is not published for this OS",
            )
        )
    try:
        ca = official_ca(env)
    except (OSError, ValueError) as exc:
        return warned(
            T("無法讀取官方元件的根憑證 {p}", "cannot read the official component's CA {p}").format(
                p=str(path)
            ),
            renew_fix(path),
            f"{path}: {getattr(exc, 'strerror', None) or exc}",
        )
    if ca is None:
        return skipped(
            T(
                "沒有 {p}(未安裝 2024 版官方元件)",
                "no {p} (the 2024 official component is not installed)",
            ).format(p=str(path))
        )
    now = _now(env)
    until = ca.not_after.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    detail = (
        f"{path}: subject {ca.subject}; valid {ca.not_before.date().isoformat()} → {until} "
        f"({(ca.not_after - ca.not_before).days} days)"
    )
    if now >= ca.not_after:
        return failed(
            T(
                "官方元件的根憑證已於 {u} 過期:瀏覽器不再信任元件,「讀取」沒有反應",
                "the official component's root CA expired on {u}: browsers no longer trust the "
                "component and 「讀取」 does nothing",
            ).format(u=until),
            renew_fix(path),
            detail,
        )
    if now < ca.not_before:
        return warned(
            T(
                "官方元件的根憑證要到 {s} 才生效:電腦時間可能不對",
                "the official component's root CA is valid only from {s}: the clock may be wrong",
            ).format(s=ca.not_before.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")),
            T("請校正電腦時間(見 clock.offset)。", "Correct the clock (see clock.offset)."),
            detail,
        )
    left = ca.not_after - now
    if left <= EXPIRY_WARNING:
        days = max(0, left.days)
        return warned(
            T(
                "官方元件的根憑證將於 {u} 過期(剩 {d} 天)",
                "the official component's root CA expires on {u} ({d} day(s) left)",
            ).format(u=until, d=days),
            renew_fix(path),
            detail,
        )
    return passed(
        T(
            "官方元件的根憑證有效至 {u}(剩 {d} 天)",
            "the official component's root CA is valid until {u} ({d} days left)",
        ).format(u=until, d=left.days),
        detail,
    )


def checks() -> list[Check]:
    return [Check("agent.official-ca", GROUP, check_official_ca)]
