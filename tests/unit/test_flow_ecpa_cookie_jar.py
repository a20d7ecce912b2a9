"""The Netscape cookie file: the format curl and Python's MozillaCookieJar read back, mode
0600 from the first byte, atomic replacement, and a clear error for an unwritable place."""

from __future__ import annotations

import os
import stat
from http.cookiejar import Cookie, MozillaCookieJar
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import UsageError
from nhicard.flows.cookie_jar import cookie_line, netscape_text, write_cookie_jar


def cookie(
    name: str = "ECPA_SessionId",
    value: str = "abc",
    domain: str = "127.0.0.1",
    *,
    path: str = "/",
    secure: bool = True,
    expires: int | None = None,
    httponly: bool = True,
    dot: bool = False,
) -> Cookie:
    return Cookie(
        0, name, value, None, False, domain, dot, domain.startswith("."), path, True, secure,
        expires, expires is None, None, None, {"HttpOnly": ""} if httponly else {},
    )  # fmt: skip


def test_lines_as_curl_writes_them() -> None:
    assert cookie_line(cookie()) == "#HttpOnly_127.0.0.1\tFALSE\t/\tTRUE\t0\tECPA_SessionId\tabc"
    assert (
        cookie_line(
            cookie(
                "a",
                "b",
                ".example.test",
                secure=False,
                expires=2000000000,
                httponly=False,
                dot=True,
            )
        )  # fmt: skip
        == ".example.test\tTRUE\t/\tFALSE\t2000000000\ta\tb"
    )


def test_httpx_cookies_from_set_cookie_headers(tmp_path: Path) -> None:
    jar = httpx.Cookies()
    request = httpx.Request("GET", "https://127.0.0.1:8441/webform/home.aspx")
    response = httpx.Response(
        200,
        request=request,
        headers=[
            ("set-cookie", "ECPA_SessionId=s1; Path=/; Secure; HttpOnly; SameSite=Lax"),
            ("set-cookie", "lang=zh; Path=/webform; Max-Age=3600"),
        ],
    )
    jar.extract_cookies(response)
    path = tmp_path / "jar.txt"
    assert write_cookie_jar(path, jar.jar) == 2
    lines = [line for line in path.read_text().splitlines() if "\t" in line]
    assert "#HttpOnly_127.0.0.1\tFALSE\t/\tTRUE\t0\tECPA_SessionId\ts1" in lines
    (lang,) = [line for line in lines if "\tlang\t" in line]
    assert lang.startswith("127.0.0.1\tFALSE\t/webform\tFALSE\t") and lang.endswith("\tzh")


def test_mode_0600_and_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "jar.txt"
    path.write_text("old")
    os.chmod(path, 0o644)
    old_inode = path.stat().st_ino
    write_cookie_jar(path, [cookie()])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != old_inode  # replaced, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["jar.txt"]


def test_umask_cannot_widen_the_mode(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_cookie_jar(tmp_path / "jar.txt", [])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "jar.txt").stat().st_mode) == 0o600


def test_unwritable_place_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        write_cookie_jar(tmp_path / "missing-dir" / "jar.txt", [cookie()])
    assert exit_code_for(err.value) == 2 and "missing-dir" in err.value.message.en
    assert not (tmp_path / "missing-dir").exists()


TOKEN = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";,="), min_size=1,
    max_size=20,
)  # fmt: skip


@settings(max_examples=200)
@given(
    name=TOKEN,
    value=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    domain=st.sampled_from(["127.0.0.1", "localhost.local", ".example.test", "ecpa.dgpa.gov.tw"]),
    path=st.sampled_from(["/", "/webform", "/a/b"]),
    secure=st.booleans(),
    expires=st.none() | st.integers(1, 2**31),
)
def test_round_trip_through_mozilla_cookie_jar(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    value: str,
    domain: str,
    path: str,
    secure: bool,
    expires: int | None,
) -> None:
    original = cookie(name, value, domain, path=path, secure=secure, expires=expires,
                      httponly=False, dot=domain.startswith("."))  # fmt: skip
    target = tmp_path_factory.mktemp("jar") / "jar.txt"
    write_cookie_jar(target, [original])
    back = MozillaCookieJar(str(target))
    back.load(ignore_discard=True, ignore_expires=True)
    (read,) = list(back)
    assert (read.name, read.value.strip(), read.domain, read.path, read.secure) == (
        name,
        value.strip(),
        domain,
        path,
        secure,
    )
    assert read.expires == expires or (expires is None and not read.expires)


def test_header_names_the_format() -> None:
    assert netscape_text([]).startswith("# Netscape HTTP Cookie File\n")
