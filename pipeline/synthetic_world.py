"""The simulated world behind ``pipeline.simulator``: calendar, population, products, makers.

``load_profile`` reads ``config/simulator.yaml`` (volumes, profiles, census shares, texts);
``Clock`` turns run seconds into RFC 3339 strings in China Standard Time; ``SyntheticWorld``
holds where people live (leaf regions weighted by the 2020 census), the product categories
with their per-source weights and test items, and a few hundred branded makers with valid
USCCs registered in their home county. Everything random is drawn from the generator passed
in, so one seed gives one world.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from schemas.categories import Catalogue
from schemas.errors import ConfigError
from schemas.regions import RegionTable
from schemas.uscc import ALPHABET, make_uscc

__all__ = ["CST", "SOURCES", "CategoryProfile", "Clock", "Maker", "SyntheticWorld", "load_profile"]

CST = timezone(timedelta(hours=8))
SOURCES = ("complaint", "sampling", "enforcement", "opinion")  # the order of per-source weights
_DAY = 86400
_NAME_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "自治县",
                  "地区", "林区", "新区", "省", "市", "区", "县", "旗", "盟")


def load_profile(path: Path | None = None) -> dict[str, Any]:
    """Read the simulator data file (default ``config/simulator.yaml``).

    Raises ``ConfigError`` when it is missing, not YAML, or lacks a required section.
    """
    if path is None:
        from config import DIR

        path = DIR / "simulator.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), f"cannot read simulator profile: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), "simulator profile must be a mapping")
    for key in ("volumes", "province_population", "hour_profile", "weekday_profile", "calendar",
                "shares", "enterprises", "categories", "texts"):
        if key not in data:
            raise ConfigError(f"{path}:{key}", "required section is missing")
    return data


def short_name(name: str) -> str:
    """A division's name without its administrative suffix (``杭州市`` → ``杭州``), ≥ 2 characters."""
    for suffix in _NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


class Clock:
    """Run time (whole seconds since ``start``) as calendar facts in China Standard Time.

    ``start`` may carry any offset (naive is read as CST); output is always ``+08:00``.
    Formatting is two list look-ups, which keeps the simulator's hot loop cheap.
    """

    def __init__(self, start: datetime) -> None:
        local = start.replace(tzinfo=CST) if start.tzinfo is None else start.astimezone(CST)
        local = local.replace(microsecond=0)
        self.start = local
        self.midnight = local.replace(hour=0, minute=0, second=0)
        self.offset = int((local - self.midnight).total_seconds())  # seconds into the first local day
        self.hms = [f"T{h:02d}:{m:02d}:{s:02d}+08:00" for h in range(24) for m in range(60) for s in range(60)]
        self.dates: list[str] = []  # by local day index from the first day; grows on demand
        self._ymd: list[str] = []

    def _grow(self, n: int) -> None:
        for i in range(len(self.dates), n + 1):
            d = (self.midnight + timedelta(days=i)).date()
            self.dates.append(d.isoformat())
            self._ymd.append(d.strftime("%Y%m%d"))

    def stamp(self, t: int) -> str:
        """RFC 3339 string of run second ``t`` (before the run's first day too)."""
        a = t + self.offset
        i = a // _DAY
        if not 0 <= i < len(self.dates):
            if i < 0:
                return (self.midnight + timedelta(seconds=a)).isoformat()
            self._grow(i)
        return self.dates[i] + self.hms[a % _DAY]

    def ymd(self, t: int) -> str:
        """``YYYYMMDD`` of run second ``t``."""
        i = (t + self.offset) // _DAY
        if i >= len(self._ymd):
            self._grow(i)
        return self._ymd[i]

    def date(self, t: int) -> date:
        return (self.midnight + timedelta(seconds=t + self.offset)).date()

    def hour_of_day(self, t: int) -> int:
        return (t + self.offset) // 3600 % 24

    def at(self, day: int, local_second: int) -> int:
        """Run second of local time-of-day ``local_second`` within run day ``day`` (which spans
        ``[day·86400, (day+1)·86400)`` run seconds, whatever the start's time of day)."""
        return day * _DAY + (local_second - self.offset) % _DAY

    def day_of(self, d: date) -> float:
        """Run time in days of local midnight of ``d`` (may be negative or beyond the run)."""
        mid = datetime(d.year, d.month, d.day, tzinfo=CST)
        return (mid - self.start).total_seconds() / _DAY


@dataclass(frozen=True, slots=True)
class Maker:
    """A branded enterprise: ``uscc`` (registered in ``county``), Chinese ``name``, the
    ``categories`` it makes and its ``brands``."""

    uscc: str
    name: str
    county: str
    categories: tuple[str, ...]
    brands: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CategoryProfile:
    """A catalogue category with the simulator's data: ``weights`` per source (SOURCES order),
    background sampling ``fail_rate``, typical ``price`` (CNY), the ``industry`` word for makers'
    names, ``products``, consumers' ``problems``, ``failed_items``
    (item, standard, limit, measured values, severity) and ``injuries``: phrases by injury
    level (``minor``/``serious``/``fatal``) where the category has its own; ``names`` is the
    catalogue name followed by what people call it (the aliases), for posts."""

    code: str
    name_zh: str
    group: str
    vulnerable: bool
    safety_critical: bool
    weights: tuple[float, float, float, float]
    fail_rate: float
    price: float
    industry: str
    products: tuple[str, ...]
    problems: tuple[str, ...]
    failed_items: tuple[tuple[str, str, str, tuple[str, ...], str], ...]
    injuries: dict[str, tuple[str, ...]]
    names: tuple[str, ...]


def _cdf(weights: np.ndarray) -> np.ndarray:
    """Cumulative distribution for ``searchsorted`` draws; all-zero weights become uniform."""
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        w = np.ones_like(w)
    c = np.cumsum(w)
    return c / c[-1]


class SyntheticWorld:
    """Regions weighted by population, category profiles and branded makers.

    Parameters: ``profile`` (``load_profile()``), the region table, the catalogue (the
    authority on category codes; categories missing from the profile get neutral defaults)
    and ``rng`` for the makers. Built once per ``Simulator``; read-only afterwards.
    """

    def __init__(self, profile: dict[str, Any], regions: RegionTable, catalogue: Catalogue,
                 rng: np.random.Generator) -> None:
        self.regions, self.catalogue = regions, catalogue
        self._build_regions(profile)
        self._build_categories(profile)
        self._build_makers(profile["enterprises"], profile.get("industry_factor", {}), rng)
        self._firm_cache: dict[tuple[str, int, str], tuple[str, str]] = {}
        self._shop_words = tuple(profile["enterprises"]["shop_words"])

    # -- regions -------------------------------------------------------------------------
    def _build_regions(self, profile: dict[str, Any]) -> None:
        rt, kind = self.regions, profile.get("county_weight", {})
        pop = {str(k): float(v) for k, v in profile["province_population"].items()}
        leaves: list[str] = []
        factors: list[float] = []
        for r in rt:
            if r.level == "county" or (r.level == "city" and not rt.children(r.code)):
                leaves.append(r.code)
                if r.level == "city":
                    factors.append(float(kind.get("city_without_counties", 4.0)))
                else:
                    factors.append(float(kind.get(r.name[-1], kind.get("other", 0.6))))
        if not leaves:
            raise ConfigError("regions", "the region table has no county or leaf city")
        prov = [rt.province(c) for c in leaves]
        f = np.array(factors)
        totals: dict[str, float] = {}
        for p, x in zip(prov, f, strict=True):
            totals[p] = totals.get(p, 0.0) + x
        w = np.array([pop.get(p, 0.0) * x / totals[p] for p, x in zip(prov, f, strict=True)])
        self.leaves = leaves
        self.leaf_weight = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
        self.leaf_cdf = _cdf(self.leaf_weight)
        self.leaf_province = prov
        self.leaf_city = [rt.parent(c) if rt.level(c) == "county" else c for c in leaves]
        self.leaf_index = {c: i for i, c in enumerate(leaves)}
        self.province_pop = pop
        self._within: dict[str, list[int]] = {}

    def draw_leaves(self, u: np.ndarray) -> np.ndarray:
        """Leaf indices for uniform draws ``u`` (population-weighted)."""
        return np.searchsorted(self.leaf_cdf, u, side="right").clip(0, len(self.leaves) - 1)

    def leaves_within(self, code: str) -> list[int]:
        """Indices of the leaves inside area ``code`` (itself when it is a leaf)."""
        hit = self._within.get(code)
        if hit is None:
            hit = self._within[code] = [i for i, c in enumerate(self.leaves) if code in self.regions.chain(c)]
        return hit

    def pick_leaf(self, rng: np.random.Generator, within: str | None = None) -> int:
        """One population-weighted leaf index, optionally inside area ``within``."""
        if within is None:
            return int(self.draw_leaves(rng.random(1))[0])
        idx = self.leaves_within(within)
        if not idx:
            raise ConfigError("regions", f"area {within!r} has no leaf region")
        w = self.leaf_weight[idx]
        return idx[int(np.searchsorted(_cdf(w), rng.random(), side="right").clip(0, len(idx) - 1))]

    def population_share(self, code: str) -> float:
        """Share of the national population living in area ``code``."""
        return float(self.leaf_weight[self.leaves_within(code)].sum())

    def neighbours(self, code: str, max_km: float) -> list[str]:
        """Leaves within ``max_km`` of ``code``'s seat (``code`` first), nearest first."""
        d = [(self.regions.distance_km(code, c), c) for c in self.leaves]
        return [c for km, c in sorted(d) if km <= max_km]

    # -- categories ----------------------------------------------------------------------
    def _build_categories(self, profile: dict[str, Any]) -> None:
        data = profile["categories"]
        cats: list[CategoryProfile] = []
        for c in self.catalogue:
            d = data.get(c.code, {})
            items = tuple((str(i[0]), str(i[1]), str(i[2]), tuple(map(str, i[3])), str(i[4]))
                          for i in d.get("failed_items", [["标识", "", "符合规定", ["不符合"], "minor"]]))
            w = [float(x) for x in d.get("weights", [0.5, 0.5, 0.5, 0.5])]
            if len(w) != len(SOURCES):
                raise ConfigError(f"categories.{c.code}.weights", f"needs {len(SOURCES)} values, got {len(w)}")
            cats.append(CategoryProfile(
                c.code, c.name_zh, c.group, c.vulnerable_group, c.safety_critical, (w[0], w[1], w[2], w[3]),
                float(d.get("fail_rate", 0.07)), float(d.get("price", 200)), str(d.get("industry", c.name_zh)),
                tuple(d.get("products", [c.name_zh])), tuple(d.get("problems", ["质量有问题"])), items,
                {str(k): tuple(v) for k, v in d.get("injuries", {}).items()},
                (c.name_zh, *(a for a in d.get("aliases", []) if a != c.name_zh)),
            ))
        self.categories = cats
        self.category = {c.code: c for c in cats}
        self.category_cdf = {s: _cdf(np.array([c.weights[k] for c in cats])) for k, s in enumerate(SOURCES)}

    def draw_categories(self, source: str, u: np.ndarray) -> np.ndarray:
        """Category indices for uniform draws ``u`` with ``source``'s weights."""
        return np.searchsorted(self.category_cdf[source], u, side="right").clip(0, len(self.categories) - 1)

    # -- makers --------------------------------------------------------------------------
    def _build_makers(self, spec: dict[str, Any], industry: dict[str, float], rng: np.random.Generator) -> None:
        rt = self.regions
        provinces = sorted(set(self.leaf_province))
        home_w = np.array([self.province_pop.get(p, 0.0) * float(industry.get(p, 1.0)) for p in provinces])
        prov_cdf = _cdf(home_w)
        firsts, seconds = list(spec["brand_first"]), list(spec["brand_second"])
        taken = {c.name_zh for c in self.categories}
        codes = [c.code for c in self.categories]
        per_cat = int(spec.get("per_category", 3))
        total = max(int(spec.get("count", 400)), per_cat * len(codes))
        plan = [codes[i % len(codes)] for i in range(per_cat * len(codes))]
        extra_w = np.array([sum(c.weights) for c in self.categories])
        plan += [codes[i] for i in np.searchsorted(_cdf(extra_w), rng.random(total - len(plan)), side="right")
                 .clip(0, len(codes) - 1)]
        makers: list[Maker] = []
        serials: set[str] = set()
        for cat_code in plan:
            cat = self.category[cat_code]
            p = provinces[int(np.searchsorted(prov_cdf, rng.random(), side="right").clip(0, len(provinces) - 1))]
            county = self.leaves[self.pick_leaf(rng, within=p)]
            cats = [cat_code]
            if rng.random() < 0.3:
                same = [c.code for c in self.categories if c.industry == cat.industry and c.code != cat_code]
                if same:
                    cats.append(same[int(rng.integers(len(same)))])
            brands: list[str] = []
            for _ in range(1 + int(rng.random() < 0.4)):
                for _attempt in range(50):
                    b = firsts[int(rng.integers(len(firsts)))] + seconds[int(rng.integers(len(seconds)))]
                    if b not in taken and b[0] != b[1]:
                        taken.add(b)
                        brands.append(b)
                        break
            if not brands:
                raise ConfigError("enterprises.brand_first", "too few brand syllables for the number of makers")
            serial = "".join(ALPHABET[int(i)] for i in rng.integers(0, len(ALPHABET), 9))
            while serial in serials:
                serial = "".join(ALPHABET[int(i)] for i in rng.integers(0, len(ALPHABET), 9))
            serials.add(serial)
            city = rt.parent(county) if rt.level(county) == "county" else county
            suffix = spec["suffix"][int(rng.integers(len(spec["suffix"])))]
            name = f"{short_name(rt.name(city))}{brands[0]}{cat.industry}{suffix}"
            makers.append(Maker(make_uscc(county, serial), name, county, tuple(cats), tuple(brands)))
        self.makers = makers
        self.makers_by_category: dict[str, list[Maker]] = {c: [] for c in codes}
        for m in makers:
            for c in m.categories:
                self.makers_by_category[c].append(m)
        self.brands = sorted({b for m in makers for b in m.brands})

    def firm(self, county: str, k: int, kind: str = "firm") -> tuple[str, str]:
        """A small unbranded firm or shop (``kind`` = ``"shop"``) of ``county``: ``(uscc, name)``.

        Deterministic in ``(county, k, kind)``: the sampling and enforcement feeds name
        thousands of these, and the same one comes back only by chance, as in real feeds.
        """
        key = (county, k, kind)
        hit = self._firm_cache.get(key)
        if hit is not None:
            return hit
        h = int.from_bytes(hashlib.blake2b(f"{county}:{k}:{kind}".encode(), digest_size=8).digest(), "big")
        serial = "".join(ALPHABET[(h >> (5 * i)) % 31] for i in range(9))
        word = self._shop_words[h % len(self._shop_words)]
        place = short_name(self.regions.name(county))
        if kind == "shop":
            value = (make_uscc(county, serial, kind="2"), f"{place}{word}商行")
        else:
            value = (make_uscc(county, serial), f"{place}{word}制品厂")
        if len(self._firm_cache) < 200_000:
            self._firm_cache[key] = value
        return value
