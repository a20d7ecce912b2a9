"""The household registry and the address drop-down options."""

from __future__ import annotations

import json
from importlib import resources

from nhicard.sandbox.data import load_data
from nhicard.sandbox.nhi_address import AddressOptions
from nhicard.sandbox.registry import (
    HouseholdAddress,
    HouseholdMatch,
    HouseholdRegistry,
    canonical_place,
)


def registry() -> HouseholdRegistry:
    return HouseholdRegistry.from_data(load_data(None))


def test_all_22_cities_and_their_districts_with_the_mit_notice() -> None:
    reg = registry()
    assert len(reg.cities()) == 22
    assert sum(len(c.districts) for c in reg.cities()) == len(
        json.loads(resources.files("nhicard.sandbox").joinpath("tw_districts.json").read_text())[
            "districts"
        ]
    )
    doc = json.loads(resources.files("nhicard.sandbox").joinpath("tw_districts.json").read_text())
    assert "MIT" in doc["license"] and "Yeh-Yung Chang" in doc["license"]
    assert [d.name for d in reg.districts("台北市")][:2] == ["中正區", "大同區"]
    assert reg.find_district("臺中市", "大安區") is not None  # 大安區 exists in two cities


def test_tai_spelling_and_spaces() -> None:
    assert canonical_place(" 台 中市") == "臺中市"
    reg = registry()
    assert reg.find_city("台東縣") is reg.find_city("臺東縣") is not None
    assert reg.has_village("台北市", "大安區", "龍門里")


def test_villages_with_near_duplicates_and_from_the_data() -> None:
    reg = registry()
    assert {"中正里", "中興里"} <= set(reg.villages("臺北市", "中正區"))
    assert "福安里" in reg.villages("臺中市", "西屯區") and "福林里" in reg.villages(
        "臺中市", "西屯區"
    )
    assert reg.villages("連江縣", "南竿鄉") == ()
    assert reg.villages("火星市", "大安區") == ()


def test_household_check() -> None:
    reg = registry()
    home = HouseholdAddress("台北市", "大安區", "龍門里", 5)
    assert reg.check("A123456789", "f123 4567", home) is HouseholdMatch.OK
    assert reg.check("A123456789", "F7654321", home) is HouseholdMatch.UNKNOWN_HOUSEHOLD
    assert reg.check("F126112341", "F1234567", home) is HouseholdMatch.NOT_A_MEMBER
    for wrong in (
        HouseholdAddress("臺北市", "大安區", "龍坡里", 5),
        HouseholdAddress("臺北市", "大安區", "龍門里", 6),
        HouseholdAddress("臺中市", "大安區", "龍門里", 5),
    ):
        assert reg.check("A123456789", "F1234567", wrong) is HouseholdMatch.ADDRESS_MISMATCH


def test_option_codes_round_trip() -> None:
    options = AddressOptions(registry())
    city = dict((label, code) for code, label in options.cities())["臺北市"]
    district = dict((label, code) for code, label in options.districts(city))["大安區"]
    village = dict((label, code) for code, label in options.villages(district))["龍門里"]
    assert options.resolve(city, district, village) == ("臺北市", "大安區", "龍門里")
    other_city = dict((label, code) for code, label in options.cities())["臺中市"]
    assert options.resolve(other_city, district, village) is None
    assert options.resolve(city, district, "") is None
    assert options.districts("99") == [] and options.villages("9901") == []
