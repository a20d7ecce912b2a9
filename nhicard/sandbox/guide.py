"""What to type after ``nhicard sandbox up``: the job of the manual against this sandbox.

The commands are those of the README's "Try it in the sandbox" block and ``tests/demo.sh``,
filled in from the running sandbox (its Maildir, its e-learning relying party) and from its
data (the first card's household, that person's eCPA account). Only the standard library
and :mod:`nhicard.sandbox.data` are used: this runs in the CLI process, not the server.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the contact details the demo and the README use (any well-formed values are accepted)
EMAIL, PHONE, MOBILE = "ming@example.com", "02-23456789", "0912345678"
VERIFY_WAIT = 15  # seconds verify-email waits for the mail, as in the demo


@dataclass(frozen=True)
class EcpaAccount:
    account: str
    password: str  # sandbox test data (default_data.toml), not a secret of anyone


@dataclass(frozen=True)
class NextSteps:
    commands: tuple[str, ...]  # shell lines, in order
    account: EcpaAccount | None  # for ``ecpa login --account``
    card: bool  # a virtual card sits in a reader (register needs one)


_PLAIN = re.compile(r"[\w@%+=:,./-]+")  # \w: CJK letters too, nothing the shell treats


def quote(word: str) -> str:
    """``word`` as one shell word, quoted only when it has to be (臺北市 stays as it is)."""
    return word if _PLAIN.fullmatch(word) else shlex.quote(word)


def return_url(endpoints: Mapping[str, Any]) -> str:
    """The e-learning sign-on address this sandbox's eCPA accepts as ``--return-url``."""
    return str(endpoints.get("elearn_url") or "").rstrip("/") + "/sso_verify.php"


def _account_of(extra: Mapping[str, Any], id_number: str | None) -> EcpaAccount | None:
    ecpa = extra.get("ecpa")
    rows = ecpa.get("account") if isinstance(ecpa, dict) else None
    if not isinstance(rows, list):
        return None
    usable = [r for r in rows if isinstance(r, dict) and r.get("account") and r.get("password")]
    chosen = next((r for r in usable if r.get("id_number") == id_number), None)
    chosen = chosen or (usable[0] if usable else None)
    if chosen is None:
        return None
    return EcpaAccount(str(chosen["account"]), str(chosen["password"]))


def next_steps(
    endpoints: Mapping[str, Any],
    *,
    data_file: Path | None,
    sandbox_dir: Path,
    default_dir: Path,
) -> NextSteps:
    """The commands that run the whole job against the sandbox described by ``endpoints``."""
    from nhicard.core.errors import NhicardError
    from nhicard.sandbox.data import SandboxData, load_data

    try:
        data = load_data(data_file)
    except NhicardError:
        data = SandboxData(cards=(), households=())
    q = quote
    lines = ["export NHICARD_PROFILE=sandbox"]
    if Path(sandbox_dir).resolve() != Path(default_dir).resolve():
        lines.append(f"export NHICARD_SANDBOX_DIR={q(str(sandbox_dir))}")
    person = data.cards[0] if data.cards else None
    household = data.household_of(person.id_number) if person else None
    if household is not None:
        lines.append(
            f"nhicard register --household-id {q(household.household_id)} "
            f"--city {q(household.city)} --district {q(household.district)} "
            f"--village {q(household.village)} --neighborhood {household.neighborhood} "
            f"--email {EMAIL} --phone {PHONE} --mobile {MOBILE}"
        )
    maildir = str(endpoints.get("maildir") or Path(sandbox_dir) / "maildir")
    lines.append(f"nhicard verify-email --maildir {q(maildir)} --wait {VERIFY_WAIT}")
    back = q(return_url(endpoints))
    lines.append(f"nhicard ecpa login --return-url {back}")
    account = _account_of(data.extra, person.id_number if person else None)
    if account is not None:
        lines.append(f"nhicard ecpa login --account {q(account.account)} --return-url {back}")
    return NextSteps(tuple(lines), account, bool(endpoints.get("readers")))
