"""The GB/T 2260 administrative division table: provinces, cities and counties.

Loaded from ``config/regions.csv`` (built by ``scripts/build_regions.py`` from the jionlp
and cpca packages' data). Codes are 6-digit strings; a county's chain is county → city →
province, a city's is city → province.

>>> t = RegionTable.load()
>>> t.chain("330106")
('330106', '330100', '330000')
>>> t.full_name("330106")
'浙江省杭州市西湖区'
>>> t.level("420100"), t.parent("420100")
('city', '420000')
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from schemas.errors import ReferenceDataError

__all__ = ["LEVELS", "Region", "RegionTable"]

LEVELS = ("province", "city", "county")
NATIONAL = "000000"  # the scope code of a nation-wide aggregate


@dataclass(frozen=True, slots=True)
class Region:
    """One division: ``code`` (6 digits), Chinese ``name``, ``level``, ``parent`` code
    (``""`` for a province) and its seat's ``lon``/``lat`` in degrees (WGS-84, approximate)."""

    code: str
    name: str
    level: str
    parent: str
    lon: float
    lat: float


@dataclass(frozen=True)
class RegionTable:
    """All divisions by code, with the hierarchy precomputed for O(1) look-ups on the hot path."""

    regions: dict[str, Region]
    chains: dict[str, tuple[str, ...]] = field(repr=False)
    kids: dict[str, tuple[str, ...]] = field(repr=False)
    slots: dict[str, tuple[str, str, str]] = field(repr=False, default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> RegionTable:
        """Read the table; raises ``ReferenceDataError`` when the file is missing or malformed."""
        if path is None:
            from config import DIR

            path = DIR / "regions.csv"
        try:
            with path.open(encoding="utf-8", newline="") as f:
                regions = {
                    r["code"]: Region(r["code"], r["name"], r["level"], r["parent_code"],
                                      float(r["longitude"] or "nan"), float(r["latitude"] or "nan"))
                    for r in csv.DictReader(f)
                }
        except (OSError, KeyError, ValueError) as exc:
            raise ReferenceDataError(str(path), f"cannot read region table: {exc}") from exc
        if not regions:
            raise ReferenceDataError(str(path), "region table is empty")
        chains: dict[str, tuple[str, ...]] = {}
        kids: dict[str, list[str]] = {}
        for code, region in regions.items():
            chain, cur = [code], region.parent
            while cur:
                chain.append(cur)
                cur = regions[cur].parent if cur in regions else ""
            chains[code] = tuple(chain)
            if region.parent:
                kids.setdefault(region.parent, []).append(code)
        slots = {}
        for code, chain in chains.items():
            by_level = {regions[c].level: c for c in chain}
            slots[code] = (by_level.get("county", ""), by_level.get("city", ""), by_level.get("province", ""))
        return cls(regions, chains, {k: tuple(sorted(v)) for k, v in kids.items()}, slots)

    def __contains__(self, code: object) -> bool:
        return code in self.regions

    def __len__(self) -> int:
        return len(self.regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self.regions.values())

    def get(self, code: str) -> Region | None:
        return self.regions.get(code)

    def chain(self, code: str) -> tuple[str, ...]:
        """``code`` and its ancestors, nearest first; ``()`` for an unknown code."""
        return self.chains.get(code, ())

    def levels(self, code: str) -> tuple[str, str, str]:
        """``(county, city, province)`` codes of ``code``'s chain, ``""`` where a level is absent."""
        return self.slots.get(code, ("", "", ""))

    def parent(self, code: str) -> str:
        r = self.regions.get(code)
        return r.parent if r else ""

    def children(self, code: str) -> tuple[str, ...]:
        return self.kids.get(code, ())

    def level(self, code: str) -> str:
        r = self.regions.get(code)
        return r.level if r else ""

    def name(self, code: str) -> str:
        if code == NATIONAL:
            return "全国"
        r = self.regions.get(code)
        return r.name if r else code

    def province(self, code: str) -> str:
        chain = self.chains.get(code)
        return chain[-1] if chain else ""

    def full_name(self, code: str) -> str:
        """Province + city + county names, skipping a municipality's repeated name."""
        parts: list[str] = []
        for c in reversed(self.chain(code)):
            n = self.regions[c].name
            if not parts or not n.startswith(parts[-1].rstrip("市")):
                parts.append(n)
        return "".join(parts)

    def distance_km(self, a: str, b: str) -> float:
        """Great-circle distance between two divisions' seats (haversine), ``inf`` if unknown."""
        ra, rb = self.regions.get(a), self.regions.get(b)
        if ra is None or rb is None or math.isnan(ra.lat) or math.isnan(rb.lat):
            return math.inf
        p1, p2 = math.radians(ra.lat), math.radians(rb.lat)
        dp, dl = p2 - p1, math.radians(rb.lon - ra.lon)
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))
