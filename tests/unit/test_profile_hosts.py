"""Where the password and forms may go (issue 14): a profile that extends ``real`` (or
``sandbox``) may not move a site to plain http or another host unless the user says
``--allow-profile-hosts`` (then a warning names the host); and whatever a page's form action
or a 307 redirect says, a form goes only to the profile's hosts — through the installed CLI
and a real HTTPS server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.web.browser import Browser, BrowserPolicy
from nhicard.web.errors import ForeignFormTarget
from tests.support.cli import run_nhicard
from tests.support.https import make_ca, make_leaf
from tests.support.profiles import write_sandbox
from tests.support.register_kit import REGISTER

PASSWORD = "Pw-246810"


def register_with(profile: Path, *lead: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_nhicard(
        "--lang", "en", *lead, "--profile", str(profile), "--agent", "direct", *REGISTER,
        env={"NHICARD_PASSWORD": PASSWORD, **(env or {})},
    )  # fmt: skip


def test_real_derived_profile_with_http_is_refused_without_the_flag(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        'extends = "real"\nallow_http = true\n[nhi]\nbase_url = "http://127.0.0.1:1/cloudic/system/"\n'
    )
    refused = register_with(profile)
    assert refused.returncode == 2, refused.stderr
    assert "derives from real but would send the password and forms to 127.0.0.1" in refused.stderr
    assert "over unencrypted http" in refused.stderr and "--allow-profile-hosts" in refused.stderr
    allowed = register_with(profile, "--allow-profile-hosts")
    assert "warning: the password and forms go to 127.0.0.1 (over unencrypted http)" in (
        allowed.stderr
    )
    assert allowed.returncode == 7, allowed.stderr  # then it really tries (nothing listens)


def test_real_derived_profile_on_another_host_in_chinese(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('extends = "real"\n[ecpa]\nbase_url = "https://ecpa.example.net/"\n')
    refused = run_nhicard(
        "--lang", "zh-TW", "--profile", str(profile), *REGISTER,
        env={"NHICARD_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "ecpa.example.net" in refused.stderr and "不是健保署的正式網站" in refused.stderr


def test_sandbox_derived_profile_off_this_machine_is_refused(tmp_path: Path) -> None:
    sandbox_dir = write_sandbox(tmp_path / "sb")
    profile = tmp_path / "p.toml"
    profile.write_text(
        'extends = "sandbox"\n[nhi]\nbase_url = "https://evil.example/cloudic/system/"\n'
    )
    refused = register_with(profile, env={"NHICARD_SANDBOX_DIR": str(sandbox_dir)})
    assert refused.returncode == 2, refused.stderr
    assert "evil.example (which is not on this machine)" in refused.stderr


def test_the_real_profile_itself_and_env_check_are_unaffected(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        'extends = "real"\n[nhi]\nbase_url = "https://127.0.0.1:1/cloudic/system/"\n'
    )
    done = run_nhicard("--profile", str(profile), "env", "check", "--offline", "--json")
    assert "derives from real" not in done.stderr


# -- form targets ---------------------------------------------------------------------------
class Site(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    posts: list[str] = []

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        port = self.server.server_address[1]
        action = {"/foreign": f"https://localhost:{port}/steal", "/redirecting": "/post"}
        form = (
            f'<form method="post" action="{action.get(self.path, "/post")}">'
            '<input name="pw" type="password" value=""><input type="submit" name="go" value="Go">'
            "</form>"
        )
        self._send(200, f"<html><body>{form}</body></html>".encode())

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        Site.posts.append(f"{self.headers.get('Host')}{self.path}")
        if self.path == "/post" and "redirect" in (self.headers.get("Referer") or ""):
            port = self.server.server_address[1]
            self._send(307, headers={"Location": f"https://localhost:{port}/steal"})
            return
        self._send(200, b"<html><body>ok</body></html>")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    import ssl

    d = tmp_path_factory.mktemp("site")
    ca_key, ca_cert, ca_path = make_ca(d)
    cert, key = make_leaf(d, ca_key, ca_cert, "site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", str(ca_path)
    server.shutdown()
    server.server_close()
    thread.join(5)


def _submit(site: tuple[str, str], path: str) -> None:
    url, ca = site
    policy = BrowserPolicy(ca_bundle=ca, form_hosts=("127.0.0.1",))
    with Browser(policy) as browser:
        page = browser.open(f"{url}{path}")
        form = page.form()
        form["pw"] = PASSWORD
        browser.submit(form.submission("go"))


def test_form_action_to_another_host_is_not_sent(site: tuple[str, str]) -> None:
    Site.posts.clear()
    with pytest.raises(ForeignFormTarget) as caught:
        _submit(site, "/foreign")
    assert exit_code_for(caught.value) == 11
    assert "refusing to send a form to localhost" in caught.value.message.en
    assert Site.posts == []  # nothing left the machine towards the other host


def test_307_redirect_of_a_form_to_another_host_is_not_followed(site: tuple[str, str]) -> None:
    Site.posts.clear()
    with pytest.raises(ForeignFormTarget):
        _submit(site, "/redirecting")
    assert len(Site.posts) == 1 and Site.posts[0].endswith("/post")  # only the profile's host


def test_forms_to_the_profile_host_go_through(site: tuple[str, str]) -> None:
    Site.posts.clear()
    _submit(site, "/plain")
    assert len(Site.posts) == 1 and Site.posts[0].endswith("/post")
