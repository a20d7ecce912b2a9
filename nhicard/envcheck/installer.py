"""Group ``installer``: is a downloaded component installer the published file?

The registration site publishes MD5 checksums of the official component's installers
(sites.md). We compute MD5 (to compare) and SHA-256 (to report) of each ``--installer FILE``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from nhicard.core.i18n import T
from nhicard.envcheck import Check, CheckEnv, Finding, failed, passed, skipped
from nhicard.envcheck.settings import PublishedInstaller

GROUP = "installer"


PUBLISHED: tuple[PublishedInstaller, ...] = (
    PublishedInstaller("Setup.zip", "7bd0cbd294519a231ee847e3fc001cc3"),
    PublishedInstaller("Setup.msi", "1ad54b0583ea21881cbeb658ccc3a64d"),
    PublishedInstaller("Setup.zip", "515be7de5bce446177fee8a6e0665093"),
    PublishedInstaller("Setup.msi", "4d4c0cb9b81ca1dae6e186f7143e5cc8"),
)


@dataclass(frozen=True)
class FileDigests:
    md5: str
    sha256: str
    size: int


def digest_file(path: Path, chunk: int = 1 << 16) -> FileDigests:
    """MD5 and SHA-256 (lowercase hex) and size of a file, read in chunks."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            md5.update(block)
            sha.update(block)
            size += len(block)
    return FileDigests(md5.hexdigest(), sha.hexdigest(), size)


def find_published(
    md5: str, table: tuple[PublishedInstaller, ...] = PUBLISHED
) -> PublishedInstaller | None:
    md5 = md5.lower()
    return next((p for p in table if p.md5.lower() == md5), None)


DO_NOT_RUN = T(
    "請勿執行此檔案:它與官方公布的校驗碼不符(下載不完整或遭竄改)。請從健保署網站重新下載。",
    "Do not run this file: it does not match the published checksums (incomplete download or "
    "tampered with). Download it again from the NHI site.",
)


def check_installer(path: Path, env: CheckEnv) -> Finding:
    table: tuple[PublishedInstaller, ...] = env.published_installers or PUBLISHED
    try:
        digests = digest_file(path)
    except OSError as exc:
        return failed(
            T("無法讀取安裝檔 {name}", "cannot read the installer {name}").format(name=path.name),
            T("請確認檔案路徑與讀取權限。", "Check the file's path and permissions."),
            f"{path}: {exc.strerror or exc}",
        )
    detail = f"{path}: {digests.size} bytes, MD5 {digests.md5}, SHA-256 {digests.sha256}"
    match = find_published(digests.md5, table)
    if match is None:
        return failed(
            T(
                "{name} 與官方公布的校驗碼不符:請勿執行此檔案",
                "{name} does not match any published checksum: do not run this file",
            ).format(name=path.name),
            DO_NOT_RUN,
            detail,
        )
    return passed(
        T(
            "{name} 是官方公布的 {official}(MD5 相符)",
            "{name} is the published {official} (MD5 matches)",
        ).format(name=path.name, official=match.name),
        detail,
    )


def _nothing_given(env: CheckEnv) -> Finding:
    return skipped(
        T("未指定安裝檔(--installer FILE)", "no installer given (--installer FILE)"),
    )


def checks(files: list[Path]) -> list[Check]:
    if not files:
        return [Check("installer.checksum", GROUP, _nothing_given)]
    return [
        Check(
            f"installer.checksum.{n}",
            GROUP,
            partial(check_installer, path),
            timeout=60.0,
        )
        for n, path in enumerate(files, start=1)
    ]
