"""The sandbox registration store: SQLite under the sandbox directory.

What the NHI registration site and eCPA share: registrations (password only as a salted
scrypt hash), the single-use verification-link tokens, the login failure / lock / revocation
counters, and the single-use randoms of signed agent requests.

Lockout rule (sites.md): three wrong passwords lock the card's online service for ten minutes;
the third lock revokes it. A correct password resets the failure count, not the lock count.
Every time argument is an aware datetime (naive ones are taken as UTC).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from nhicard.core.errors import SiteRejected
from nhicard.core.i18n import T

STORE_FILE = "registrations.sqlite3"
MAX_FAILURES = 3
LOCK_DURATION = timedelta(minutes=10)
MAX_LOCKS = 3
DEFAULT_LINK_TTL = timedelta(hours=24)
# Salted scrypt, as quality.md asks, at sandbox strength: the store (a 0600 file) holds only
# the made-up people of the sandbox data, so a hash costs ≈ 2 ms instead of the ≈ 80-130 ms
# that N = 2**14 cost on every register and every login.
# check_password reads N from the stored value, so stores made with N = 2**14 still work.
SCRYPT_N = 2**10
SCRYPT_R = 8
SCRYPT_P = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    card_number TEXT PRIMARY KEY,
    id_number TEXT NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    mobile TEXT NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    verified_at REAL
);
CREATE TABLE IF NOT EXISTS links (
    token_hash TEXT PRIMARY KEY,
    card_number TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE TABLE IF NOT EXISTS logins (
    card_number TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    locks INTEGER NOT NULL DEFAULT 0,
    locked_until REAL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS nonces (
    value TEXT PRIMARY KEY,
    used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
INSTANCE_KEY = "instance"


class AlreadyRegistered(SiteRejected):
    """The card already has a verified registration."""

    def __init__(self) -> None:
        super().__init__(
            T("此健保卡已完成網路服務註冊。", "This NHI card is already registered."),
            reason="already-registered",
        )


@dataclass(frozen=True)
class Registration:
    """One card's registration (without the password hash)."""

    card_number: str
    id_number: str
    name: str
    email: str
    phone: str
    mobile: str
    verified: bool
    created_at: datetime
    verified_at: datetime | None


@dataclass(frozen=True)
class AuthResult:
    """The outcome of one password check."""

    ok: bool
    attempts_left: int
    locked_until: datetime | None
    revoked: bool


class LinkState(StrEnum):
    VALID = "valid"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LinkCheck:
    """What a verification-link token is worth at a given moment."""

    state: LinkState
    card_number: str | None = None
    expires_at: datetime | None = None


def _ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def hash_password(password: str, *, n: int = SCRYPT_N, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (hex) of ``password`` with a fresh 16-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison of ``password`` against a :func:`hash_password` value."""
    try:
        kind, n, r, p, salt_hex, digest_hex = stored.split("$")
        if kind != "scrypt":
            return False
        expected = bytes.fromhex(digest_hex)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class RegistrationStore:
    """The SQLite store; safe to use from several threads of one process."""

    def __init__(self, path: Path, *, scrypt_n: int = SCRYPT_N) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._scrypt_n = scrypt_n
        self._lock = threading.RLock()
        # 0600 before the first byte, whatever the umask: SQLite gives the -wal and -shm
        # files (hashes, IDs, names, e-mails too) the database file's mode
        # Never an extra descriptor on an existing database: closing one drops every POSIX
        # lock this process holds on the file, an open connection's too, and another process
        # then writes over its WAL (pages of one table landed in another).
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        self.path.chmod(0o600)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        # who this store is: made once with the store, kept across restarts, new when the
        # sandbox directory (or this file) is deleted; the NHI site serves it so that a run
        # journal can tell a registration made against another instance of the site
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
            (INSTANCE_KEY, secrets.token_hex(16)),
        )
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (INSTANCE_KEY,)).fetchone()
        self.instance_id: str = str(row[0])
        for suffix in ("-wal", "-shm"):  # left by an older version with a wider mode
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").chmod(0o600)
        self._dummy_hash = hash_password(secrets.token_hex(8), n=scrypt_n)

    @classmethod
    def open(cls, directory: Path, **kw: int) -> RegistrationStore:
        """The store of a sandbox directory (``registrations.sqlite3``)."""
        return cls(Path(directory) / STORE_FILE, **kw)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- registrations ---------------------------------------------------------------------
    def _row_to_registration(self, row: tuple[object, ...]) -> Registration:
        (card, id_number, name, email, phone, mobile, verified, created, verified_at) = row
        return Registration(
            card_number=str(card),
            id_number=str(id_number),
            name=str(name),
            email=str(email),
            phone=str(phone),
            mobile=str(mobile),
            verified=bool(verified),
            created_at=_dt(float(created)) or datetime.fromtimestamp(0, UTC),  # type: ignore[arg-type]
            verified_at=_dt(verified_at),  # type: ignore[arg-type]
        )

    def get_application(self, card_number: str) -> Registration | None:
        """The card's registration, verified or still waiting for its link."""
        with self._lock:
            row = self._db.execute(
                "SELECT card_number, id_number, name, email, phone, mobile, verified,"
                " created_at, verified_at FROM registrations WHERE card_number = ?",
                (card_number,),
            ).fetchone()
        return self._row_to_registration(row) if row else None

    def get_registration(self, card_number: str) -> Registration | None:
        """The card's registration once its link was followed (else None)."""
        found = self.get_application(card_number)
        return found if found is not None and found.verified else None

    def is_registered(self, card_number: str) -> bool:
        return self.get_registration(card_number) is not None

    def apply(
        self,
        *,
        card_number: str,
        id_number: str,
        name: str,
        password: str,
        email: str,
        phone: str,
        mobile: str,
        now: datetime,
    ) -> Registration:
        """Record an application (pending until its link is followed). A new application
        replaces a pending one and voids that one's links. Raises :class:`AlreadyRegistered`."""
        hashed = hash_password(password, n=self._scrypt_n)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT verified FROM registrations WHERE card_number = ?", (card_number,)
                ).fetchone()
                if row and row[0]:
                    raise AlreadyRegistered()
                self._db.execute(
                    "UPDATE links SET used_at = ? WHERE card_number = ? AND used_at IS NULL",
                    (_ts(now), card_number),
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO registrations (card_number, id_number, name,"
                    " password_hash, email, phone, mobile, verified, created_at, verified_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, NULL)",
                    (card_number, id_number, name, hashed, email, phone, mobile, _ts(now)),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        found = self.get_application(card_number)
        assert found is not None
        return found

    # -- verification links ----------------------------------------------------------------
    def issue_link(self, card_number: str, now: datetime, ttl: timedelta = DEFAULT_LINK_TTL) -> str:
        """A new single-use token for the card's pending application."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO links (token_hash, card_number, issued_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (_token_hash(token), card_number, _ts(now), _ts(now + ttl)),
            )
        return token

    def check_link(self, token: str, now: datetime) -> LinkCheck:
        """The token's state, without using it up."""
        with self._lock:
            row = self._db.execute(
                "SELECT card_number, expires_at, used_at FROM links WHERE token_hash = ?",
                (_token_hash(token),),
            ).fetchone()
        if row is None:
            return LinkCheck(LinkState.UNKNOWN)
        card, expires, used = row
        expires_at = _dt(expires)
        if used is not None:
            return LinkCheck(LinkState.USED, card, expires_at)
        if _ts(now) >= float(expires):
            return LinkCheck(LinkState.EXPIRED, card, expires_at)
        return LinkCheck(LinkState.VALID, card, expires_at)

    def complete_verification(self, token: str, now: datetime) -> LinkCheck:
        """Use the token up and mark its card's registration verified, atomically. Returns
        the token's state before (VALID means the registration is now complete)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                check = self.check_link(token, now)
                if check.state is LinkState.VALID:
                    self._db.execute(
                        "UPDATE links SET used_at = ? WHERE token_hash = ?",
                        (_ts(now), _token_hash(token)),
                    )
                    self._db.execute(
                        "UPDATE registrations SET verified = 1, verified_at = ?"
                        " WHERE card_number = ?",
                        (_ts(now), check.card_number),
                    )
                    self._db.execute(
                        "DELETE FROM logins WHERE card_number = ?", (check.card_number,)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return check

    # -- passwords ---------------------------------------------------------------------------
    def _password_hash(self, card_number: str) -> str | None:
        row = self._db.execute(
            "SELECT password_hash FROM registrations WHERE card_number = ? AND verified = 1",
            (card_number,),
        ).fetchone()
        return str(row[0]) if row else None

    def authenticate(self, card_number: str, password: str, now: datetime) -> AuthResult:
        """Check a password under the lockout rule (3 wrong → locked 10 min; 3 locks →
        revoked). A card without a verified registration never authenticates."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = self._authenticate(card_number, password, _ts(now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return result

    def _authenticate(self, card_number: str, password: str, now: float) -> AuthResult:
        stored = self._password_hash(card_number)
        if stored is None:
            check_password(password, self._dummy_hash)  # same cost as a real check
            return AuthResult(False, MAX_FAILURES, None, False)
        row = self._db.execute(
            "SELECT failures, locks, locked_until, revoked FROM logins WHERE card_number = ?",
            (card_number,),
        ).fetchone()
        failures, locks, locked_until, revoked = row if row else (0, 0, None, 0)
        if revoked:
            return AuthResult(False, 0, None, True)
        if locked_until is not None and now < float(locked_until):
            return AuthResult(False, 0, _dt(locked_until), False)
        if locked_until is not None:  # the lock has run out: a fresh round of attempts
            failures, locked_until = 0, None
        if check_password(password, stored):
            self._save_login(card_number, 0, locks, None, False)
            return AuthResult(True, MAX_FAILURES, None, False)
        failures += 1
        if failures < MAX_FAILURES:
            self._save_login(card_number, failures, locks, None, False)
            return AuthResult(False, MAX_FAILURES - failures, None, False)
        locks += 1
        if locks >= MAX_LOCKS:
            self._save_login(card_number, failures, locks, None, True)
            return AuthResult(False, 0, None, True)
        until = now + LOCK_DURATION.total_seconds()
        self._save_login(card_number, failures, locks, until, False)
        return AuthResult(False, 0, _dt(until), False)

    def _save_login(
        self, card: str, failures: int, locks: int, locked_until: float | None, revoked: bool
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO logins (card_number, failures, locks, locked_until, revoked)"
            " VALUES (?, ?, ?, ?, ?)",
            (card, failures, locks, locked_until, int(revoked)),
        )

    # -- single-use randoms ------------------------------------------------------------------
    def claim_nonce(self, value: str, now: datetime) -> bool:
        """True the first time ``value`` is claimed, False ever after."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO nonces (value, used_at) VALUES (?, ?)", (value, _ts(now))
                )
            except sqlite3.IntegrityError:
                return False
        return True
