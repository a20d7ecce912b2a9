"""Run inside private mount + network namespaces (``unshare --mount --net``) by
``tests/e2e/test_e2e_browser_agent_install.py``; not a test module itself.

Inside: loopback up; ``/etc/hosts`` and the system CA store replaced by the test's copies
(bind mounts, so the machine's own files are never touched); the sandbox SAM; an HTTPS page
at ``https://cloudicweb.nhi.gov.tw`` (port 443) whose script behaves like the real pages;
``nhicard agent install --no-service``; ``agent serve`` on the real ports 7777/59001/59002;
headless Chromium trusting only the NSS database in the temp HOME; ``agent status``; then
``agent uninstall``. Prints one JSON object with what it saw (the test asserts on it).

Usage: python agent_browser_scenario.py CONFIG.json
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PAGE = """<!doctype html>
<html lang="zh-TW"><head><meta charset="utf-8"><title>健保卡網路服務註冊</title></head>
<body>
<h2>健保卡網路服務註冊 (test page)</h2>
<input type="hidden" id="hidBasic"><input type="hidden" id="hidVersion">
<input type="hidden" id="hidRandom"><input type="hidden" id="hidSign">
<p id="lblMessage"></p>
<iframe sandbox="allow-scripts" src="/frame.html" title="ad"></iframe>
<script>
var results = {ws: {}, http: {}, https: {}, iframe: null, alerts: []};
var pending = 4;
function finish() { if (--pending === 0) { window.done = true; } }
window.addEventListener("message", function (e) {
  if (e.data && e.data.iframe) { results.iframe = e.data.iframe; finish(); }
});

// the WebSocket, opened on load as the registration page does:
// GetBasic -> GetVersion -> GetRandom -> H_Sign?Random=<version><random>
function wsPath() {
  var r = results.ws, ws = new WebSocket("wss://iccert.nhi.gov.tw:7777/echo");
  ws.onopen = function () { ws.send("GetBasic"); };
  ws.onerror = function () { r.error = "socket error"; };
  ws.onclose = function () { if (!r.done) { r.done = true; finish(); } };
  ws.onmessage = function (ev) {
    var d = String(ev.data), i = d.indexOf(":");
    if (i < 0) { r.code = d; results.alerts.push("[" + d + "]"); r.done = true; ws.close(); finish(); return; }
    var cmd = d.substring(0, i), val = d.substring(i + 1);
    if (cmd === "GetBasic") {
      document.getElementById("hidBasic").value = val; r.basic = val; ws.send("GetVersion");
    } else if (cmd === "GetVersion") {
      document.getElementById("hidVersion").value = val; r.version = val; ws.send("GetRandom");
    } else if (cmd === "GetRandom") {
      document.getElementById("hidRandom").value = val; r.random = val;
      ws.send("H_Sign?Random=" + r.version + val);
    } else if (cmd === "H_Sign") {
      document.getElementById("hidSign").value = val; r.sign = val;
      document.getElementById("lblMessage").textContent = val.length === 256 ? "OK" : "bad sign";
      r.done = true; ws.close(); finish();
    }
  };
}

// the status bitmap as nhiicc.host.js reads it: per pixel blue, green, red; zeros skipped
function readStatus(base, name) {
  return new Promise(function (resolve, reject) {
    var img = new Image();
    img.crossOrigin = "Anonymous";
    img.onload = function () {
      var c = document.createElement("canvas");
      c.width = img.width; c.height = img.height;
      var ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      var px = ctx.getImageData(0, 0, img.width, 1).data, s = "";
      for (var i = 0; i < px.length; i += 4) {
        if (px[i + 2]) s += String.fromCharCode(px[i + 2]);
        if (px[i + 1]) s += String.fromCharCode(px[i + 1]);
        if (px[i]) s += String.fromCharCode(px[i]);
      }
      try { resolve(JSON.parse(s)); } catch (e) { reject("not JSON: " + s); }
    };
    img.onerror = function () { reject("image failed"); };
    img.src = base + name + "?tick=" + Date.now();
  });
}

// the HTTP API as jQuery $.post sends it: a JSON string with a form content type
async function httpPath(base, r) {
  async function post(call, body) {
    var resp = await fetch(base + call, {
      method: "POST", body: body === undefined ? "" : JSON.stringify(body),
      headers: {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}});
    return await resp.json();
  }
  try {
    var v = await post("GetVersion");
    r.version = v.version;
    var b = await post("GetBasic");
    r.basic = [b.card_no, b.as_id, b.name, b.birthday, b.sex, b.card_termination].join(",");
    var rn = await post("GetRandom");
    r.random = rn.random;
    var s = await post("SignHC", {random: v.version + rn.random});
    r.sign = s.sign; r.sign_result = s.result;
    r.status = await readStatus(base, "GetStatus.bmp");
    r.card_status = await readStatus(base, "GetCardStatus.bmp");
  } catch (e) { r.error = String(e); }
  finish();
}

window.onload = function () {
  wsPath();
  httpPath("http://localhost:59001/api/", results.http)
    .then(function () { return httpPath("https://localhost:59002/api/", results.https); });
};
</script>
</body></html>
"""

# an advertisement's sandboxed iframe on the same page: Origin "null"
FRAME = """<!doctype html><html><head><meta charset="utf-8"></head><body><script>
var out = {}, n = 3;
function done() { if (--n === 0) { parent.postMessage({iframe: out}, "*"); } }
var ws = new WebSocket("wss://iccert.nhi.gov.tw:7777/echo");
ws.onopen = function () { ws.send("GetBasic"); };
ws.onmessage = function (e) { out.ws = String(e.data); };
ws.onclose = function () { out.ws_closed = true; done(); };
fetch("http://localhost:59001/api/GetBasic", {method: "POST", body: "",
  headers: {"Content-Type": "application/x-www-form-urlencoded"}})
  .then(function (r) { return r.text(); })
  .then(function (t) { out.http = "read: " + t; done(); }, function () { out.http = "refused"; done(); });
var img = new Image();
img.crossOrigin = "Anonymous";
img.onload = function () { out.bmp = "loaded"; done(); };
img.onerror = function () { out.bmp = "refused"; done(); };
img.src = "http://localhost:59001/api/GetCardStatus.bmp?tick=1";
</script></body></html>
"""


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True)


def loopback_up() -> None:
    """``ip link set lo up`` without iproute2: the SIOCGIFFLAGS / SIOCSIFFLAGS ioctls."""
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14s", b"lo", 0, bytes(14))
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, bytes(14)))


def nss_listing(db: Path) -> str:
    return subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}"], check=True, capture_output=True, text=True
    ).stdout


def store_listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = {"/test.html": PAGE, "/frame.html": FRAME}.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def page_server(cert: str, key: str, address: str = "127.0.0.1") -> Iterator[None]:
    """The page over HTTPS on ``address``:443 until the block ends."""
    server = http.server.ThreadingHTTPServer((address, 443), PageHandler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def nhicard(cfg: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cfg["nhicard"], *args], capture_output=True, text=True, timeout=120, check=False
    )


def wait_port(port: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agent serve exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    out: dict[str, Any] = {}
    loopback_up()
    sh("mount", "--bind", cfg["hosts"], "/etc/hosts")
    sh("mount", "--bind", cfg["ssl_certs"], "/etc/ssl/certs")
    sh("mount", "--bind", cfg["local_cas"], "/usr/local/share/ca-certificates")
    nssdb = Path(cfg["home"]) / ".pki" / "nssdb"
    before = {
        "hosts": Path("/etc/hosts").read_text(),
        "nss": nss_listing(nssdb),
        "local_cas": store_listing(Path("/usr/local/share/ca-certificates")),
        "ssl_certs": store_listing(Path("/etc/ssl/certs")),
    }

    from nhicard.sandbox.data import load_data
    from nhicard.sandbox.keys import SandboxKeys
    from nhicard.sandbox.sam import SamServer

    keys = SandboxKeys.load_or_create(Path(cfg["sam_dir"]))
    with SamServer(load_data(), keys).serve_in_thread() as sam:
        profile = Path(cfg["work"]) / "profile.toml"
        profile.write_text(
            f'extends = "real"\n[sam]\nhost = "127.0.0.1"\nport = {sam.port}\nwrap_key = "{keys.wrap_key.hex()}"\n'
        )
        done = nhicard(cfg, "--lang", "en", "agent", "install", "--no-service", "--json")
        out["install"] = {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        out["hosts_installed"] = Path("/etc/hosts").read_text()
        out["nss_installed"] = nss_listing(nssdb)
        serve = subprocess.Popen(
            [cfg["nhicard"], "--profile", str(profile), "-r", cfg["reader"], "-v", "agent",
             "serve"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            for port in (7777, 59001, 59002):
                wait_port(port, serve)
            st = nhicard(cfg, "agent", "status", "--json")
            out["status"] = {"rc": st.returncode, "doc": json.loads(st.stdout or "{}")}
            with page_server(cfg["page_cert"], cfg["page_key"]):
                out["page"] = run_browser()
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
    after = {
        "hosts": Path("/etc/hosts").read_text(),
        "nss": nss_listing(nssdb),
        "local_cas": store_listing(Path("/usr/local/share/ca-certificates")),
        "ssl_certs": store_listing(Path("/etc/ssl/certs")),
    }
    out["before"], out["after"] = before, after
    print(json.dumps(out))


def run_browser() -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_context(locale="zh-TW").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            console: list[str] = []
            page.on("console", lambda msg: console.append(msg.text))
            page.goto("https://cloudicweb.nhi.gov.tw/test.html")
            try:
                page.wait_for_function("window.done === true", timeout=60_000)
            except Exception as exc:  # noqa: BLE001 - report what the page had so far
                errors.append(f"timeout: {exc}")
            results = page.evaluate("results")
            shot = os.environ.get("NHICARD_SCENARIO_SHOT")
            if shot:
                page.screenshot(path=shot, full_page=True)
            return {"results": results, "errors": errors, "console": console,
                    "hidSign": page.eval_on_selector("#hidSign", "e => e.value")}  # fmt: skip
        finally:
            browser.close()


if __name__ == "__main__":
    main()
