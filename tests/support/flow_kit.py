"""Helpers for the verify-email / ecpa login tests against the session's sandbox server.

``register_verified`` puts a verified registration with a known password into the sandbox
store; ``apply_pending`` records a pending application and has the site's own mailer send
its verification mail over SMTP to the sandbox's sink (so it lands in the sandbox Maildir,
as after ``nhicard register``); ``inject`` drops a hand-made mail into that Maildir.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nhicard.sandbox.mailer import build_verification_mail, send_mail
from nhicard.sandbox.nhi_site import VERIFY_PATH
from nhicard.sandbox.store import STORE_FILE, RegistrationStore
from tests.support.cli import run_nhicard
from tests.support.sandbox_fixture import SandboxServer

PASSWORD = "Pw-246810"
CARD_A = "000012345678"  # 王小明, the sandbox server's own card on vpcd slot 0
CARD_B = "000023456789"  # 林峯
PEOPLE = {CARD_A: ("A123456789", "王小明"), CARD_B: ("F126112341", "林峯")}
EMAIL = "ming@example.com"


def _store(sb: SandboxServer) -> RegistrationStore:
    return RegistrationStore.open(sb.dir)


def _apply(store: RegistrationStore, card: str, password: str, now: datetime) -> None:
    id_number, name = PEOPLE[card]
    store.apply(
        card_number=card,
        id_number=id_number,
        name=name,
        password=password,
        email=EMAIL,
        phone="0223456789",
        mobile="0912345678",
        now=now,
    )


def register_verified(sb: SandboxServer, password: str = PASSWORD, card: str = CARD_A) -> None:
    """A verified registration of ``card`` with ``password``."""
    store = _store(sb)
    try:
        _apply(store, card, password, datetime.now(UTC))
    finally:
        store.close()
    sb.verify(card)


def link_url(sb: SandboxServer, token: str) -> str:
    base = str(sb.endpoints["nhi_url"]).rstrip("/")
    return f"{base}{VERIFY_PATH}?token={quote(token, safe='')}"


def apply_pending(
    sb: SandboxServer,
    card: str = CARD_A,
    *,
    password: str = PASSWORD,
    issued: datetime | None = None,
    send: bool = True,
) -> str:
    """A pending application of ``card``; its verification link (issued at ``issued``,
    default now) is mailed through the sandbox's SMTP sink unless ``send`` is False.
    Returns the link."""
    now = datetime.now(UTC)
    issued = issued or now
    store = _store(sb)
    try:
        _apply(store, card, password, now)
        token = store.issue_link(card, issued)
    finally:
        store.close()
    link = link_url(sb, token)
    if send:
        mail = build_verification_mail(
            to=EMAIL,
            name=PEOPLE[card][1],
            link=link,
            sender="cloudic-noreply@nhi.sandbox.invalid",
            now=issued,
            expires_at=issued + timedelta(hours=24),
        )
        host, _, port = str(sb.endpoints["smtp"]).rpartition(":")
        count = len(sb.mails())
        send_mail(mail, host, int(port))
        wait_for(lambda: len(sb.mails()) > count, "the sandbox sink stored the mail")
    return link


def inject(sb: SandboxServer, message: EmailMessage | bytes, *, when: float | None = None) -> Path:
    """Drop one mail into the sandbox Maildir's ``new/`` (as a delivery agent would)."""
    raw = message if isinstance(message, bytes) else message.as_bytes()
    stamp = int(when if when is not None else time.time())
    for sub in ("new", "cur", "tmp"):
        (sb.maildir / sub).mkdir(parents=True, exist_ok=True)
    name = f"{stamp}.M{time.time_ns() % 10**9}P{os.getpid()}.test"
    tmp = sb.maildir / "tmp" / name
    tmp.write_bytes(raw)
    final = sb.maildir / "new" / name
    os.rename(tmp, final)
    return final


def wait_for(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def is_verified(sb: SandboxServer, card: str = CARD_A) -> bool:
    found = sb.application(card)
    return bool(found and found.verified)


def login_row(sb: SandboxServer, card: str = CARD_A) -> tuple[Any, ...] | None:
    """``(failures, locks, locked_until, revoked)`` of the card's login counter."""
    with sqlite3.connect(sb.dir / STORE_FILE, timeout=10) as db:
        row = db.execute(
            "SELECT failures, locks, locked_until, revoked FROM logins WHERE card_number = ?",
            (card,),
        ).fetchone()
    return tuple(row) if row else None


def nhicard_sandbox(
    sb: SandboxServer,
    *args: str,
    env: dict[str, str] | None = None,
    lang: str = "en",
    reader: str | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    """``nhicard --profile sandbox --agent direct --lang LANG [-r READER] ARGS…``."""
    full = sb.env() | (env or {})
    head = ["--profile", "sandbox", "--agent", "direct", "--lang", lang]
    if reader is not None:
        head += ["-r", reader]
    return run_nhicard(*head, *args, env=full, timeout=timeout)
