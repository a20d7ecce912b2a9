"""The options of the apply page's cascading drop-downs (縣市 → 鄉鎮市區 → 村里).

Option values are codes, as on the real page, so clients must choose by the visible text:
city ``NN`` (its position), district ``NNDD``, village ``NNDDVVV``.
"""

from __future__ import annotations

from nhicard.sandbox.registry import HouseholdRegistry


class AddressOptions:
    """Codes and labels of the address drop-downs, and the way back from codes to names."""

    def __init__(self, registry: HouseholdRegistry) -> None:
        self.registry = registry
        self._cities = [(f"{i + 1:02d}", c.name) for i, c in enumerate(registry.cities())]
        self._city_by_code = dict(self._cities)

    def cities(self) -> list[tuple[str, str]]:
        return list(self._cities)

    def districts(self, city_code: str) -> list[tuple[str, str]]:
        city = self._city_by_code.get(city_code)
        if city is None:
            return []
        return [
            (f"{city_code}{j + 1:02d}", d.name) for j, d in enumerate(self.registry.districts(city))
        ]

    def villages(self, district_code: str) -> list[tuple[str, str]]:
        names = self._names(district_code)
        if names is None:
            return []
        city, district = names
        return [
            (f"{district_code}{k + 1:03d}", v)
            for k, v in enumerate(self.registry.villages(city, district))
        ]

    def _names(self, district_code: str) -> tuple[str, str] | None:
        city_code = district_code[:2]
        city = self._city_by_code.get(city_code)
        if city is None:
            return None
        district = dict(self.districts(city_code)).get(district_code)
        return (city, district) if district else None

    def resolve(
        self, city_code: str, district_code: str, village_code: str
    ) -> tuple[str, str, str] | None:
        """(city, district, village) names of three consistent codes, else None."""
        if not district_code.startswith(city_code) or not village_code.startswith(district_code):
            return None
        names = self._names(district_code)
        village = dict(self.villages(district_code)).get(village_code)
        if names is None or village is None:
            return None
        return names[0], names[1], village
