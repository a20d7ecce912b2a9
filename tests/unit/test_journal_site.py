"""A run journal belongs to the site instance it was made against (flows/journal.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nhicard.flows.journal import Journal, SiteIdentity

CARD = "000012345678"
SANDBOX_A = SiteIdentity("https://127.0.0.1:8440", "a" * 32)
SANDBOX_A_MOVED = SiteIdentity("https://127.0.0.1:9440", "a" * 32)  # same store, other ports
SANDBOX_B = SiteIdentity("https://127.0.0.1:8440", "b" * 32)  # deleted and made again
REAL = SiteIdentity("https://cloudicweb.nhi.gov.tw")


def submitted_on(state: Path, site: SiteIdentity | None) -> Journal:
    journal = Journal.open("register", CARD, state_dir=state, site=site)
    journal.record("submitting", durable=True, email="ming@example.com")
    journal.record("submitted", email="ming@example.com")
    return journal


def test_the_site_is_written_with_the_steps(tmp_path: Path) -> None:
    journal = submitted_on(tmp_path, SANDBOX_A)
    doc = json.loads(journal.path.read_text("utf-8"))
    assert doc["site"] == {"origin": "https://127.0.0.1:8440", "instance": "a" * 32}
    assert set(doc["steps"]) == {"submitting", "submitted"}


@pytest.mark.parametrize(
    ("made_on", "opened_on", "kept"),
    [
        (SANDBOX_A, SANDBOX_A, True),
        (SANDBOX_A, SANDBOX_A_MOVED, True),  # the instance decides, not the port
        (SANDBOX_A, SANDBOX_B, False),  # a new sandbox: its store never got it
        (SANDBOX_A, REAL, False),  # the sandbox's steps say nothing about the real site
        (REAL, SANDBOX_A, False),
        (REAL, REAL, True),
        (REAL, SiteIdentity("https://CLOUDICWEB.nhi.gov.tw"), True),
        (REAL, SiteIdentity("https://other.example.tw"), False),
    ],
)
def test_steps_count_only_on_the_same_site_instance(
    tmp_path: Path, made_on: SiteIdentity, opened_on: SiteIdentity, kept: bool
) -> None:
    submitted_on(tmp_path, made_on)
    again = Journal.open("register", CARD, state_dir=tmp_path, site=opened_on)
    assert again.done("submitted") is kept
    assert again.done("submitting") is kept
    if kept:
        assert again.superseded is None and again.facts["email"] == "ming@example.com"
    else:
        assert again.facts == {}
        assert again.superseded is not None
        assert again.superseded.site == made_on
        assert set(again.superseded.steps) == {"submitting", "submitted"}


def test_a_new_instance_writes_over_the_old_journal(tmp_path: Path) -> None:
    submitted_on(tmp_path, SANDBOX_A)
    fresh = Journal.open("register", CARD, state_dir=tmp_path, site=SANDBOX_B)
    fresh.record("submitting", durable=True, email="ming@example.com")
    doc = json.loads(fresh.path.read_text("utf-8"))
    assert doc["site"]["instance"] == "b" * 32 and set(doc["steps"]) == {"submitting"}
    back = Journal.open("register", CARD, state_dir=tmp_path, site=SANDBOX_A)
    assert not back.done("submitting")  # A's journal is gone: B's says nothing about A


def test_a_journal_from_before_sites_were_recorded_is_kept(tmp_path: Path) -> None:
    """No site in the file (an older nhicard): its steps still count — a possible second
    submission weighs more — and the next write records the site."""
    legacy = submitted_on(tmp_path, None)
    assert "site" not in json.loads(legacy.path.read_text("utf-8"))
    again = Journal.open("register", CARD, state_dir=tmp_path, site=SANDBOX_A)
    assert again.done("submitted") and again.superseded is None
    again.record("submitted", email="ming@example.com")
    assert json.loads(again.path.read_text("utf-8"))["site"]["instance"] == "a" * 32


def test_opened_without_a_site_takes_the_journal_and_keeps_its_site(tmp_path: Path) -> None:
    submitted_on(tmp_path, SANDBOX_A)
    plain = Journal.open("register", CARD, state_dir=tmp_path)
    assert plain.done("submitted") and plain.site == SANDBOX_A
    plain.forget("submitted")
    assert json.loads(plain.path.read_text("utf-8"))["site"] == SANDBOX_A.to_json()


@pytest.mark.parametrize(
    "doc", [None, "x", {"instance": "a"}, {"origin": 5}, [], {"origin": "https://h", "instance": 3}]
)
def test_a_malformed_site_record_is_read_as_none_or_origin_only(doc: object) -> None:
    found = SiteIdentity.from_json(doc)
    if isinstance(doc, dict) and isinstance(doc.get("origin"), str):
        assert found == SiteIdentity("https://h", None)
    else:
        assert found is None
