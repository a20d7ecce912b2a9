"""Helpers for end-to-end tests in Debian's Chromium (Playwright for Python): the chromium
requirement (skip locally, fail in CI), trust of the sandbox's TLS key, ``nhicard agent serve``
as a subprocess, and numbered screenshots kept as test artefacts."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nhicard.net import certs
from tests.support.cli import ROOT, nhicard_executable
from tests.support.ports import wait_listening

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
ARTIFACTS = ROOT / "artifacts"


def require_browser() -> ModuleType:
    """``playwright.sync_api`` when Chromium and Playwright are there. Missing: the test is
    skipped on a developer machine, but fails when ``CI`` is set (CI must run it)."""
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"Debian chromium ({CHROMIUM}) is not installed")
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        missing.append("Playwright for Python is not installed")
    if missing:
        why = "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"the browser test is required in CI: {why}")
        pytest.skip(why)
    return sync_api


def spki_pin(cert_pem: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate, as Chromium's
    ``--ignore-certificate-errors-spki-list`` wants it."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def launch_chromium(playwright: Any, *, trusted_cert: Path) -> Any:
    """Headless Chromium that accepts exactly the key of ``trusted_cert``.

    Trusting the sandbox CA properly would need an NSS database (``certutil``, not installed
    here). Instead of ``ignore_https_errors`` / ``--ignore-certificate-errors`` (which accept
    ANY certificate), the sandbox server key is pinned with
    ``--ignore-certificate-errors-spki-list``: the NHI site, eCPA, e-learning and the agent's
    WSS all present that key; any other certificate still fails."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki_pin(trusted_cert)}"],
    )


@contextlib.contextmanager
def agent_serve(
    port: int, reader: str, env: Mapping[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``nhicard --profile sandbox --reader READER agent serve --port PORT`` until the block
    ends (SIGTERM, then SIGKILL of that one process)."""
    proc = subprocess.Popen(
        [nhicard_executable(), "--profile", "sandbox", "--reader", reader,
         "agent", "serve", "--port", str(port), "--http-port", "0", "--https-port", "0"],
        env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_listening(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()


class Screenshots:
    """Numbered full-page screenshots ``01-name.png``, … in ``artifacts/<subdir>/`` of the
    repository (gitignored); earlier runs' pictures there are removed first."""

    def __init__(self, subdir: str) -> None:
        self.dir = ARTIFACTS / subdir
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.count = 0
        self.paths: list[Path] = []

    def take(self, page: Any, name: str) -> Path:
        self.count += 1
        path = self.dir / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)
        return path


def require_private_browser(what: str) -> None:
    """Root and the tools a browser test in private namespaces needs (certutil, unshare,
    mount, update-ca-certificates): skipped without them, failed under ``CI``."""
    require_browser()
    if os.geteuid() != 0:
        pytest.skip("private mount and network namespaces need root")
    for tool in ("certutil", "unshare", "mount", "update-ca-certificates"):
        if shutil.which(tool) is None:
            if os.environ.get("CI"):
                pytest.fail(f"the {what} browser test is required in CI: no {tool}")
            pytest.skip(f"{tool} is not installed")


def page_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA (trusted by the test, like the real site's public CA) and the page's
    certificate for cloudicweb.nhi.gov.tw: the CA, the certificate and its key (PEM files)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = certs.new_key(), certs.new_key()
    ca = certs.make_ca(ca_key, certs.name("test web CA"), valid_from=now - dt.timedelta(hours=1),
                       valid_until=now + dt.timedelta(days=2))  # fmt: skip
    leaf = certs.issue_server_cert(
        ca, ca_key, key, common_name="cloudicweb.nhi.gov.tw", hosts=["cloudicweb.nhi.gov.tw"],
        valid_from=now - dt.timedelta(hours=1), valid_until=now + dt.timedelta(days=1),
    )  # fmt: skip
    paths = directory / "web-ca.pem", directory / "page.pem", directory / "page-key.pem"
    paths[0].write_bytes(certs.certificate_pem(ca))
    paths[1].write_bytes(certs.certificate_pem(leaf))
    paths[2].write_bytes(certs.private_key_pem(key))
    return paths


def trusting_home(home: Path, web_ca: Path) -> None:
    """A HOME whose NSS database (what Chromium trusts) trusts ``web_ca``."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{nssdb}"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "test web CA", "-t", "C,,",
                    "-i", str(web_ca)], check=True)  # fmt: skip


def trust_store_copies(directory: Path) -> tuple[Path, Path]:
    """Copies of /etc/ssl/certs and /usr/local/share/ca-certificates, to bind over the real
    ones in a private mount namespace."""
    ssl_certs, local_cas = directory / "ssl-certs", directory / "local-cas"
    shutil.copytree("/etc/ssl/certs", ssl_certs, symlinks=True)
    shutil.copytree("/usr/local/share/ca-certificates", local_cas, symlinks=True)
    return ssl_certs, local_cas
