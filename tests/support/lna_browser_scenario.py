"""Run inside private mount + network namespaces (``unshare --mount --net``) by
``tests/e2e/test_e2e_browser_lna_policy.py``; not a test module itself.

Chromium's Local Network Access, both states. Inside: loopback up; ``/etc/hosts``, the
system CA store and ``/etc/chromium`` replaced by the test's copies (bind mounts: the
machine's own files are never touched); the real-page-shaped test page of
``agent_browser_scenario`` served at ``https://cloudicweb.nhi.gov.tw`` on 127.0.0.2:443,
which Chromium is told is a PUBLIC address (``--ip-address-space-overrides``);
``agent serve`` on 127.0.0.1 (7777/59001/59002). The page is loaded once after ``agent
install --no-service`` (no policy: Local Network Access blocks it), then once after ``agent
install --no-service --browser-policy``; then ``agent status`` and ``agent uninstall``.
Prints one JSON object with what it saw.

Usage: python lna_browser_scenario.py CONFIG.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent_browser_scenario import (  # type: ignore[import-not-found]  # a sibling script
    loopback_up,
    nhicard,
    nss_listing,
    page_server,
    sh,
    wait_port,
)

PAGE_ADDRESS = "127.0.0.2"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--ip-address-space-overrides={PAGE_ADDRESS}:443=public",
]


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its content (hex), every directory as ``<dir>``."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = "<dir>" if p.is_dir() else p.read_bytes().hex()
    return out


def run_browser(wait_ms: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(locale="zh-TW").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            console: list[str] = []
            page.on("console", lambda msg: console.append(msg.text))
            page.goto("https://cloudicweb.nhi.gov.tw/test.html")
            try:
                page.wait_for_function("window.done === true", timeout=wait_ms)
                finished = True
            except Exception:  # noqa: BLE001 - report what the page had so far
                finished = False
            return {
                "finished": finished,
                "results": page.evaluate("results"),
                "errors": errors,
                "console": console,
                "hidBasic": page.eval_on_selector("#hidBasic", "e => e.value"),
            }
        finally:
            browser.close()


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    out: dict[str, Any] = {}
    loopback_up()
    sh("mount", "--bind", cfg["hosts"], "/etc/hosts")
    sh("mount", "--bind", cfg["ssl_certs"], "/etc/ssl/certs")
    sh("mount", "--bind", cfg["local_cas"], "/usr/local/share/ca-certificates")
    sh("mount", "--bind", cfg["etc_chromium"], "/etc/chromium")
    etc_chromium = Path("/etc/chromium")
    nssdb = Path(cfg["home"]) / ".pki" / "nssdb"
    before = {"chromium": tree(etc_chromium), "hosts": Path("/etc/hosts").read_text()}

    from nhicard.sandbox.data import load_data
    from nhicard.sandbox.keys import SandboxKeys
    from nhicard.sandbox.sam import SamServer

    keys = SandboxKeys.load_or_create(Path(cfg["sam_dir"]))
    with SamServer(load_data(), keys).serve_in_thread() as sam:
        profile = Path(cfg["work"]) / "profile.toml"
        profile.write_text(
            f'extends = "real"\n[sam]\nhost = "127.0.0.1"\nport = {sam.port}\n'
            f'wrap_key = "{keys.wrap_key.hex()}"\n'
        )
        done = nhicard(cfg, "--lang", "en", "agent", "install", "--no-service", "--json")
        out["install"] = {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        out["nss_installed"] = nss_listing(nssdb)
        serve = subprocess.Popen(
            [cfg["nhicard"], "--profile", str(profile), "-r", cfg["reader"], "-v", "agent",
             "serve"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            for port in (7777, 59001, 59002):
                wait_port(port, serve)
            with page_server(cfg["page_cert"], cfg["page_key"], PAGE_ADDRESS):
                out["blocked"] = run_browser(20_000)
                done = nhicard(
                    cfg, "--lang", "en", "agent", "install", "--no-service", "--browser-policy",
                    "--json",
                )  # fmt: skip
                out["policy_install"] = {
                    "rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
                }  # fmt: skip
                out["policy_files"] = tree(etc_chromium)
                st = nhicard(cfg, "agent", "status", "--json")
                out["status"] = {"rc": st.returncode, "doc": json.loads(st.stdout or "{}")}
                out["allowed"] = run_browser(60_000)
        finally:
            serve.terminate()
            try:
                serve.wait(10)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
            out["serve_log"] = serve.stderr.read() if serve.stderr else ""
        gone = nhicard(cfg, "--lang", "en", "agent", "uninstall", "--json")
        out["uninstall"] = {"rc": gone.returncode, "stdout": gone.stdout, "stderr": gone.stderr}
    out["before"] = before
    out["after"] = {"chromium": tree(etc_chromium), "hosts": Path("/etc/hosts").read_text()}
    out["euid"] = os.geteuid()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
