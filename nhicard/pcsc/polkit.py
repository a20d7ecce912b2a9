"""pcsc-lite's polkit actions, and the rule that grants them to one user.

pcsc-lite built with polkit (Debian 13, Fedora, Arch) asks polkit whether each client may
use PC/SC (``access_pcsc``) and each card (``access_card``). polkit's default policy allows
only the local, active desktop session: a login service, an SSH session or a cron job is
refused, and so is every client when pcscd cannot reach polkit. This module is the one home
of the two action ids and of the rule text that an administrator installs to grant them.
"""

from __future__ import annotations

import getpass
import json
import os
import re

ACCESS_PCSC = "org.debian.pcsc-lite.access_pcsc"
ACCESS_CARD = "org.debian.pcsc-lite.access_card"
ACTIONS = (ACCESS_PCSC, ACCESS_CARD)

RULES_DIR = "/etc/polkit-1/rules.d"
RULES_FILE = "49-nhicard-pcsc.rules"
RULES_PATH = f"{RULES_DIR}/{RULES_FILE}"

# POSIX portable user names plus what useradd accepts (a trailing $ for machine accounts).
_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")


def valid_user(user: str) -> bool:
    """Whether ``user`` looks like a login name (so the rule cannot be bent by it)."""
    return bool(_USER_NAME.fullmatch(user)) and len(user) <= 256


def rule_text(user: str) -> str:
    """The polkit rule (JavaScript, for ``RULES_PATH``) granting ``user`` both actions.

    ValueError when ``user`` is not a plausible login name."""
    if not valid_user(user):
        raise ValueError(f"not a user name: {user!r}")
    actions = " ||\n         ".join(f"action.id == {json.dumps(a)}" for a in ACTIONS)
    return (
        f"// {RULES_PATH}: let {user} use PC/SC readers and cards (nhicard)\n"
        "polkit.addRule(function(action, subject) {\n"
        f"    if (({actions}) &&\n"
        f"        subject.user == {json.dumps(user)}) {{\n"
        "        return polkit.Result.YES;\n"
        "    }\n"
        "});\n"
    )


def current_user() -> str | None:
    """The name of the user this process runs as (the one pcscd asks polkit about: its
    effective uid, whatever ``$USER`` says after su or setpriv), or None when it has none."""
    geteuid = getattr(os, "geteuid", None)
    try:
        if geteuid is not None:
            import pwd

            user = pwd.getpwuid(geteuid()).pw_name
        else:
            user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        return None
    return user if valid_user(user) else None
