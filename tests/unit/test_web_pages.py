"""Saved pages: redaction (no secret survives in the file), atomic 0600 files, numbering."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import quote

from nhicard.web.page import Page
from nhicard.web.pages import PageSaver, redact_html, write_private
from nhicard.web.redact import Redactor, mask_secret

SECRETS = {
    "password": "Pw-123456",
    "name": "王小明",
    "id": "A123456789",
    "date": "0640101",
    "email": "ming@example.com",
    "phone": "0223456789",
    "card": "000012345678",
}
HTML = f"""<html><body><form method="post">
<input type="hidden" name="__VIEWSTATE" value="/wEPDwUKLTk{SECRETS["name"]}xNjY=">
<input type="hidden" name="__EVENTVALIDATION" value="EVdata">
<input type="hidden" name="hidBasic" value="{SECRETS["card"]},{SECRETS["id"]},{SECRETS["name"]},{SECRETS["date"]},M,0">
<input type="hidden" name="hidSign" value="ABCDEF0123">
<input type="password" name="txtPwd" value="{SECRETS["password"]}">
<input type="text" name="txtMail" value="{SECRETS["email"]}">
<textarea name="note">call {SECRETS["phone"]} or B223456789</textarea>
<span id="lblName">{SECRETS["name"]}</span> 您好 <p>{SECRETS["id"]}</p>
<a href="/x?mail={quote(SECRETS["email"])}">link</a>
<script>var who = "{SECRETS["name"]}";</script>
</form></body></html>"""


def redactor() -> Redactor:
    r = Redactor()
    for kind, value in SECRETS.items():
        r.add_secret(value, kind)
    r.add_hidden_fields(["hidBasic", "hidSign"])
    return r


def test_no_secret_survives_in_the_saved_file(tmp_path: Path) -> None:
    saver = PageSaver(tmp_path / "pages", redactor())
    path = saver.save(Page("https://x/", 200, HTML), "apply form")
    saved = path.read_text("utf-8")
    for value in [*SECRETS.values(), quote(SECRETS["email"]), "B223456789", "EVdata", "ABCDEF0123"]:
        assert value not in saved, value
    assert "王*明" in saved and "A12****789" in saved and "B22****789" in saved
    assert 'name="txtPwd" type="password" value=""' in saved
    assert "[redacted 10 chars]" in saved  # hidSign
    assert "m***@example.com" in saved
    assert path.name == "01-apply-form.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_numbering_continues_and_raw_html_accepted(tmp_path: Path) -> None:
    saver = PageSaver(tmp_path, Redactor())
    assert saver.save("<p>a</p>", "login").name == "01-login.html"
    assert saver.save("<p>b</p>", "步驟/terms").name == "02-terms.html"
    assert PageSaver(tmp_path, Redactor()).save("<p>c</p>", "x").name == "03-x.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "01-login.html",
        "02-terms.html",
        "03-x.html",
    ]


def test_write_private_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.html"
    write_private(target, b"one")
    write_private(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["f.html"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_masks_and_field_values() -> None:
    r = redactor()
    assert mask_secret("0912345678", "phone") == "*******678"
    assert mask_secret("x", "password") == "***"
    assert r.field_value("txtPwd", "abc", is_password=True) == "***"
    assert r.field_value("HIDBASIC", "abcdef") == "[6 chars]"
    assert r.field_value("q", "王小明") == "王*明"
    assert redact_html("<p>A123456789</p>", Redactor()) == "<p>A12****789</p>"
