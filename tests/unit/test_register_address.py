"""The address register's confirmation shows: the site's names for the typed places."""

from __future__ import annotations

from nhicard.flows.register_input import RegistrationRequest, household_address, parse_request


def request() -> RegistrationRequest:
    return parse_request(
        household_id="F1234567", city="台北", district="大安", village="龍門里",
        neighborhood=5, email="ming@example.com", phone="02-23456789", mobile="0912345678",
    )  # fmt: skip


def test_the_resolved_names_are_shown() -> None:
    chosen = {"city": "臺北市", "district": "大安區", "village": "龍門里"}
    assert household_address(request(), chosen) == "臺北市大安區龍門里 5鄰"


def test_typed_words_stand_in_until_the_site_chose() -> None:
    assert household_address(request(), {"city": "臺北市"}) == "臺北市大安龍門里 5鄰"
