"""Replacing personal data and secrets in traces and saved pages.

A :class:`Redactor` knows the run's secrets (the password, the user's name, birth date,
e-mail, phone numbers, ID and card numbers) and the names of form fields whose values must
never be shown (password inputs, the agent's hidden fields, ASP.NET state).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from nhicard.core.masking import mask_date, mask_id, mask_ids_in_text, mask_name
from nhicard.sites.model import SiteProfile

PASSWORD_MASK = "***"
SECRET_KINDS = ("password", "id", "name", "date", "email", "phone", "card", "other")
_DIGITS_RE = re.compile(r"\d")
# ASP.NET state: long opaque blobs that can carry what the page showed (names, IDs); traces
# show only their length, as saved pages do (same list as nhicard.web.aspnet.STATE_FIELDS)
STATE_FIELD_NAMES = frozenset(
    {"__viewstate", "__viewstategenerator", "__viewstateencrypted", "__eventvalidation",
     "__previouspage"}
)  # fmt: skip


def mask_secret(value: str, kind: str) -> str:
    """The mask shown in place of ``value`` (a kind of :data:`SECRET_KINDS`)."""
    if kind == "password":
        return PASSWORD_MASK
    if kind == "id":
        return mask_id(value) or ""
    if kind == "name":
        return mask_name(value) or ""
    if kind == "date":
        return mask_date(value) or ""
    if kind == "email":
        local, _, domain = value.partition("@")
        return (local[:1] + "***@" + domain) if domain else PASSWORD_MASK
    if kind in ("phone", "card"):
        return _DIGITS_RE.sub("*", value[:-3]) + value[-3:] if len(value) > 4 else "****"
    return PASSWORD_MASK


@dataclass
class Redactor:
    """Masks known secrets in text and hides the values of sensitive form fields."""

    secrets: dict[str, str] = field(default_factory=dict)  # value -> kind
    hidden_fields: set[str] = field(default_factory=set)  # lower-cased field names
    password_fields: set[str] = field(default_factory=set)
    # (form of a secret, its mask), longest secret first; made again after add_secret
    _replacements: list[tuple[str, str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def add_secret(self, value: str | None, kind: str = "other") -> None:
        """Remember a value to mask wherever it appears (single characters are ignored, as
        masking them would garble unrelated text)."""
        if value and len(value.strip()) >= 2 and value.strip() not in self.secrets:
            self.secrets[value.strip()] = kind if kind in SECRET_KINDS else "other"
            self._replacements = None

    def add_hidden_fields(self, names: Iterable[str]) -> None:
        self.hidden_fields.update(n.lower() for n in names)

    def is_hidden_field(self, name: str) -> bool:
        low = name.lower()
        return low in self.hidden_fields or low in self.password_fields

    def text(self, value: str) -> str:
        """``value`` with every known secret (plain, HTML-escaped or URL-encoded) masked, and
        every ID number masked."""
        if self._replacements is None:
            self._replacements = [
                (form, mask_secret(secret, self.secrets[secret]))
                for secret in sorted(self.secrets, key=len, reverse=True)
                for form in dict.fromkeys(
                    (secret, html.escape(secret), quote(secret), quote_plus(secret))
                )
                if form
            ]
        for form, mask in self._replacements:
            value = value.replace(form, mask)
        return mask_ids_in_text(value)

    def field_value(self, name: str, value: str, *, is_password: bool = False) -> str:
        """What a trace may show of one form field's value."""
        if is_password or name.lower() in self.password_fields:
            return PASSWORD_MASK
        if name.lower() in self.hidden_fields or name.lower() in STATE_FIELD_NAMES:
            return f"[{len(value)} chars]" if value else ""
        return self.text(value)


def redactor_for(profile: SiteProfile) -> Redactor:
    """A fresh :class:`Redactor` hiding ``profile``'s agent fields; add the run's secrets
    (name, ID, e-mail, …) with ``add_secret``."""
    redactor = Redactor()
    redactor.add_hidden_fields(profile.secret_fields())
    return redactor
