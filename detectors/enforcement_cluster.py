"""Counterfeit and substandard cases clustering in space and time (假冒伪劣案件时空聚集).

A prospective space-time scan in the spirit of Kulldorff's Poisson scan statistic, run
incrementally: each new case of category c at place r (a county, or a city when only the
city is known) opens a few candidate zones around r —

- discs of ``radii_km`` (default 25, 50, 150 km between division seats),
- r's city and r's province (the region hierarchy) —

and counts the cases of c in each zone over the last ``window_days`` (14). The expected
count is the category's national case count in the window (or its learned long-run rate,
whichever is larger, so a nation-wide campaign does not look like a local cluster) times
the zone's share of the category's enforcement activity. That share is learned: provinces'
shares of all cases, the category's own skew toward each province (a gamma posterior around
1, so a sparse history stays uncertain — its variance widens the tail), and places' shares
within their province (shrunk toward an even spread over counties), all slowly forgetting. The count's tail under a negative binomial (Poisson with some
overdispersion) is the zone's p-value; Bonferroni-corrected for the number of zones, it gives
a score (``stats.score_from_p``: 1e-5 → 50, blue), capped by the zone's cluster size — its
cases and its spread: a handful of cases in a quiet place is very surprising, yet not a red
warning, and the same cases in more counties are a wider network (跨区域) than in fewer. The
zone with the highest capped score is reported (on a tie, the more surprising one): a small
disc may be the most surprising zone while a wider one holds the whole network. The score is
raised for vulnerable-group and safety-critical categories.

When the new case names a brand, the same zones are also scanned for cases of that brand
alone, against the brand's learned share of the category's cases: one counterfeit brand
turning up in shops of neighbouring counties is a distribution network (假冒同一品牌).

Protection against single actors and single raids: a zone needs ``min_cases`` cases in at
least ``min_counties`` places from at least ``min_parties`` different parties (USCC), and one
place contributes at most ``per_place_cap`` cases to the count. Cases behind a signal are
never learned, and a case joins the category's baseline only when it leaves the window (an
outbreak must not become its own baseline).

Scope: the smallest region enclosing the zone's cases (city, else province; the province
with most cases, "及周边", when they straddle provinces) and the category.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from detectors.base import CST_OFFSET, DAY, Context, DetectorConfig, Observation, Signal, day_index, rfc3339
from detectors.stats import negbin_upper_tail, score_from_p
from schemas.alert import Scope
from schemas.errors import ConfigError

__all__ = ["EnforcementCluster", "EnforcementClusterConfig"]

LAYOUT = 1
_TS, _ID, _PLACE, _PARTY, _VIOLATION, _STATE, _BRAND = range(7)  # fields of a case in the window
_PENDING, _EXCLUDED = 0, 1  # a case's state: joins the category baseline when it leaves the window, or never
_ORDER = operator.itemgetter(0, 1)  # cases are kept in (time, event id) order
_WORD = {"counterfeit": "假冒", "false_certification": "假冒", "origin_fraud": "假冒", "substandard": "伪劣"}
_EARTH_KM = 6371.0


@dataclass(frozen=True)
class EnforcementClusterConfig(DetectorConfig):
    """Parameters of ``EnforcementCluster`` (units in the comments)."""

    window_days: float = 14.0  # days; how far back cases cluster
    radii_km: tuple[float, ...] = (25.0, 50.0, 150.0)  # disc zones around the new case's place
    violations: tuple[str, ...] = ("counterfeit", "substandard", "false_certification", "origin_fraud")
    min_cases: int = 3  # cases in a zone
    min_counties: int = 2  # distinct places (counties, or cities coded without county) in a zone
    min_parties: int = 3  # distinct parties (USCC; a case without one counts as its own)
    per_place_cap: int = 3  # cases one place contributes at most to the count (one raid ≠ a cluster)
    size_cap_base: float = 60.0  # the base score may not exceed this at ``min_cases`` cases …
    size_cap_per_case: float = 5.0  # … plus this per further case: a handful of cases is never red on surprise alone …
    size_cap_per_place: float = 6.0  # … plus this per place beyond ``min_counties``: spread is reach (跨区域)
    overdispersion: float = 0.1  # Var = μ(1 + κμ): category-specific geography the shares miss
    half_life_days: float = 90.0  # days; memory of the learned rates and shares
    province_prior_cases: float = 200.0  # pseudo-cases spreading the provinces' shares by county count
    category_skew_prior: float = 5.0  # gamma shape of a category's skew toward a province (relative to all cases)
    county_prior_cases: float = 1.0  # pseudo-cases per leaf division within its province
    brand_prior_share: float = 0.05  # a brand's share of its category's cases before any is learned …
    brand_prior_cases: float = 20.0  # … with this many pseudo-cases behind it
    brand_forget_below: float = 0.05  # learned brand weights (in cases) below this are dropped
    cooldown_hours: float = 120.0
    min_history_days: float = 14.0

    def __post_init__(self) -> None:
        if self.window_days <= 0 or not self.violations:
            raise ValueError("window_days must be positive and violations non-empty")
        if any(r <= 0 for r in self.radii_km):
            raise ValueError("radii_km must be positive")
        if self.min_cases < 2 or self.min_counties < 1 or self.min_parties < 1 or self.per_place_cap < 1:
            raise ValueError("need min_cases ≥ 2 and min_counties, min_parties, per_place_cap ≥ 1")
        if min(self.province_prior_cases, self.category_skew_prior, self.county_prior_cases) <= 0:
            raise ValueError("prior pseudo-counts must be positive")


def _province(code: str) -> str:
    """The province of a GB/T 2260 code: its first two digits."""
    return code[:2] + "0000"


class _Geography:
    """Static facts derived from the region table: every division's index (for the learned
    weight array), leaf divisions per province, seats' coordinates, and zones (cached: they
    depend on the table only)."""

    def __init__(self, context: Context, max_radius: float) -> None:
        regions = context.regions
        self.regions, self.max_radius = regions, max_radius
        self.codes = sorted(r.code for r in regions)
        self.index = {c: i for i, c in enumerate(self.codes)}
        self.is_leaf = frozenset(c for c in self.codes if not regions.children(c))
        self.leaf: dict[str, int] = {}  # province → leaf divisions (counties, cities without counties)
        self.members: dict[str, list[str]] = {}  # city/province → every division under it, itself included
        for code in self.codes:
            if code in self.is_leaf:
                prov = _province(code)
                self.leaf[prov] = self.leaf.get(prov, 0) + 1
            for up in regions.chain(code):
                self.members.setdefault(up, []).append(code)
        self.total_leaf = sum(self.leaf.values())
        located = [r for r in (regions.get(c) for c in self.codes) if r.level != "province" and not math.isnan(r.lat)]
        self.located = np.array([r.code for r in located])
        self.lat = np.radians([r.lat for r in located])
        self.lon = np.radians([r.lon for r in located])
        self._grid: dict[tuple[int, int], list[int]] = {}  # 1°×1° cells → indices, to find neighbours fast
        for i, r in enumerate(located):
            self._grid.setdefault((math.floor(r.lat), math.floor(r.lon)), []).append(i)
        self._near: dict[str, dict[str, float]] = {}
        self._near_provs: dict[str, tuple[str, ...]] = {}
        self._zones: dict[tuple[str, str, float], tuple[frozenset[str], list[tuple[str, np.ndarray, int]]]] = {}

    def near(self, code: str) -> dict[str, float]:
        """Divisions (not provinces) within ``max_radius`` km of ``code``'s seat → distance."""
        hit = self._near.get(code)
        if hit is None:
            r = self.regions.get(code)
            hit = {}
            if r is not None and r.level != "province" and not math.isnan(r.lat):
                idx = np.array(self._candidates(r.lat, r.lon), dtype=np.intp)
                lat, lon = self.lat[idx], self.lon[idx]
                la, lo = math.radians(r.lat), math.radians(r.lon)
                h = np.sin((lat - la) / 2) ** 2 + math.cos(la) * np.cos(lat) * np.sin((lon - lo) / 2) ** 2  # haversine
                dist = 2 * _EARTH_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
                close = dist <= self.max_radius
                hit = dict(zip(self.located[idx[close]].tolist(), dist[close].tolist(), strict=True))
            self._near[code] = hit
        return hit

    def _candidates(self, lat: float, lon: float) -> list[int]:
        """Indices of the seats in grid cells that can lie within ``max_radius`` of (lat, lon), sorted."""
        d_lat = self.max_radius / 111.0 + 0.01  # a degree of latitude is ≥ 110.5 km
        top = min(89.9, abs(lat) + d_lat)
        d_lon = min(180.0, self.max_radius / (111.0 * math.cos(math.radians(top))) + 0.01)
        out: list[int] = []
        for a in range(math.floor(lat - d_lat), math.floor(lat + d_lat) + 1):
            for b in range(math.floor(lon - d_lon), math.floor(lon + d_lon) + 1):
                out += self._grid.get((a, b), ())
        return sorted(out)

    def near_provinces(self, code: str) -> tuple[str, ...]:
        """Two-digit province prefixes (GB/T 2260) of ``code`` and of the divisions near it."""
        hit = self._near_provs.get(code)
        if hit is None:
            hit = self._near_provs[code] = tuple(sorted({code[:2], *(c[:2] for c in self.near(code))}))
        return hit

    def zone(self, code: str, kind: str, radius: float) -> tuple[frozenset[str], list[tuple[str, np.ndarray, int]]]:
        """A zone's divisions and, per province, the indices of its divisions there and their leaf count."""
        key = (code, kind, radius)
        hit = self._zones.get(key)
        if hit is None:
            if kind == "disc":
                places = [c for c, d in self.near(code).items() if d <= radius]
            else:
                places = list(self.members.get(code, ()))
            by_prov: dict[str, list[str]] = {}
            for c in places:
                by_prov.setdefault(_province(c), []).append(c)
            parts = [(p, np.array(sorted(self.index[c] for c in cs), dtype=np.intp),
                      sum(1 for c in cs if c in self.is_leaf)) for p, cs in sorted(by_prov.items())]
            hit = self._zones[key] = (frozenset(places), parts)
        return hit


class EnforcementCluster:
    """Space-time clusters of enforcement cases per category (see the module docstring).

    ``config``: an ``EnforcementClusterConfig``; ``context``: regions, catalogue, grading.
    Called by the detection engine with micro-batches of enforcement observations in event
    order; each relevant case is scored before it joins the learned baseline. Never raises
    on odd observations (unknown region or category, missing party, late cases).
    """

    name: ClassVar[str] = "enforcement_cluster"
    version: ClassVar[str] = "1.0.0"
    sources: ClassVar[frozenset[str]] = frozenset({"enforcement"})

    def __init__(self, config: EnforcementClusterConfig, context: Context) -> None:
        self.config, self.context = config, context
        # category → two-digit province prefix → cases in time order [ts, id, place, party, violation, state, brand]
        self.window: dict[str, dict[str, list[list[Any]]]] = {}
        self._order: dict[str, list[list[Any]]] = {}  # category → the same cases in time order (derived)
        self.start: float | None = None
        self.ref = 0.0  # event time at which a learned weight is 1 (weights grow 2× per half-life)
        self._geo = _Geography(context, max(config.radii_km, default=0.0))
        self.place_w = np.zeros(len(self._geo.codes))  # all cases, by division (index: ``_Geography.index``)
        self.prov_w: dict[str, float] = {}  # all cases, by province
        self.cat_w: dict[str, float] = {}  # relevant cases, by category
        self.catprov_w: dict[str, float] = {}  # relevant cases, by "category|province"
        self.brand_w: dict[str, float] = {}  # relevant cases naming a brand, by "category|brand"
        self.total_w = 0.0
        self.sweep_day = -1
        self._half = config.half_life_days * DAY
        self._violations = frozenset(config.violations)

    # -- stream -------------------------------------------------------------------------
    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        """Score then learn each enforcement case; returns signals in event order."""
        out: list[Signal] = []
        for obs in batch:
            if (obs.source != "enforcement" or not obs.chain or not math.isfinite(obs.ts)
                    or obs.region not in self.context.regions):
                continue
            signal = self._observe(obs)
            if signal is not None:
                out.append(signal)
        return out

    def _observe(self, obs: Observation) -> Signal | None:
        cfg = self.config
        if self.start is None:
            self.start = self.ref = obs.ts
        day = day_index(obs.ts)
        if day > self.sweep_day:
            self._sweep(obs.ts, day)
        horizon = obs.ts - cfg.window_days * DAY
        relevant = bool(obs.category) and obs.violation in self._violations and obs.ts > horizon
        self._learn(obs)
        if not relevant:
            return None
        case = [obs.ts, obs.event_id, obs.region, obs.uscc or f"?{obs.event_id}", obs.violation, _PENDING, obs.brand]
        by_prov = self.window.setdefault(obs.category, {})
        bisect.insort(by_prov.setdefault(obs.region[:2], []), case, key=_ORDER)
        bisect.insort(self._order.setdefault(obs.category, []), case, key=_ORDER)
        self._expire(obs.category, horizon)
        if obs.ts - self.start < cfg.min_history_days * DAY:
            return None
        signal = self._score(obs, by_prov, len(self._order[obs.category]))
        if signal is not None:  # the cases behind a signal never join the baseline
            evidence = set(signal.evidence)
            for cases in by_prov.values():
                for c in cases:
                    if c[_ID] in evidence:
                        c[_STATE] = _EXCLUDED
        return signal

    # -- learned baseline -----------------------------------------------------------------
    def _g(self, ts: float) -> float:
        return 2.0 ** ((ts - self.ref) / self._half)

    def _learn(self, obs: Observation) -> None:
        """Every case with a known place joins the spatial baseline at once (all categories
        together: one cluster hardly moves it)."""
        if obs.ts - self.ref > 40 * self._half:  # keep weights in range: rescale by whole half-lives (exact)
            k = int((obs.ts - self.ref) // self._half) - 1
            f = 2.0 ** -k
            self.ref += k * self._half
            self.total_w *= f
            self.place_w *= f
            for table in (self.prov_w, self.cat_w, self.catprov_w, self.brand_w):
                for key in table:
                    table[key] *= f
        w = self._g(obs.ts)
        prov = _province(obs.region)
        self.place_w[self._geo.index[obs.region]] += w
        self.prov_w[prov] = self.prov_w.get(prov, 0.0) + w
        self.total_w += w

    def _expire(self, category: str, horizon: float) -> None:
        """Drop the category's cases that left the window; a case joins the category's baseline
        only then (so a cluster never inflates its own expectation), unless it was behind a signal."""
        order, by_prov = self._order.get(category, []), self.window.get(category, {})
        while order and order[0][_TS] <= horizon:
            c = order.pop(0)
            cases = by_prov[c[_PLACE][:2]]
            if cases[0] is c:
                cases.pop(0)
            else:
                cases.remove(c)
            if not cases:
                del by_prov[c[_PLACE][:2]]
            if c[_STATE] != _PENDING:
                continue
            w = self._g(c[_TS])
            self.cat_w[category] = self.cat_w.get(category, 0.0) + w
            key = f"{category}|{_province(c[_PLACE])}"
            self.catprov_w[key] = self.catprov_w.get(key, 0.0) + w
            if c[_BRAND]:
                key = f"{category}|{c[_BRAND]}"
                self.brand_w[key] = self.brand_w.get(key, 0.0) + w

    def _sweep(self, ts: float, day: int) -> None:
        """Drop cases that left the window (once per event-time day)."""
        self.sweep_day = day
        horizon = ts - self.config.window_days * DAY
        for cat in list(self._order):
            self._expire(cat, horizon)
            if not self._order[cat]:
                del self._order[cat], self.window[cat]
        floor = self.config.brand_forget_below * self._g(ts)  # brands long unseen are forgotten
        for key in [k for k, w in self.brand_w.items() if w < floor]:
            del self.brand_w[key]

    def _expected_total(self, category: str, ts: float, observed: int) -> tuple[float, float]:
        """The category's national case count to spread over zones: max(the window's count,
        its learned rate × window). Returns (that count, the long-run expectation)."""
        # the category baseline holds cases that left the window: its exposure ends with the window's start
        end = ts - self.config.window_days * DAY
        weighted_days = (self._half / DAY / math.log(2)) * (self._g(end) - self._g(self.start or ts))
        long_run = self.cat_w.get(category, 0.0) / weighted_days * self.config.window_days if weighted_days > 0 else 0.0
        return max(float(observed), long_run), long_run

    def _brand_share(self, category: str, brand: str, ts: float) -> float:
        """The brand's share of the category's cases (learned, shrunk to ``brand_prior_share``)."""
        cfg = self.config
        g = self._g(ts)
        mine = self.brand_w.get(f"{category}|{brand}", 0.0) / g
        return (mine + cfg.brand_prior_cases * cfg.brand_prior_share) / (self.cat_w.get(category, 0.0) / g
                                                                          + cfg.brand_prior_cases)

    def _share(self, category: str, ts: float, parts: Sequence[tuple[str, np.ndarray, int]]) -> tuple[float, float]:
        """The zone's expected share of the category's cases (learned, shrunk to priors) and its
        squared coefficient of variation: each province's category rate is a gamma posterior
        whose shape is the (pseudo-)cases behind it, so a sparse history is an uncertain one."""
        cfg = self.config
        g = self._g(ts)
        total = self.total_w / g
        cat_total = self.cat_w.get(category, 0.0) / g
        share = var = 0.0
        for prov, places, leaf in parts:
            prov_n = self.prov_w.get(prov, 0.0) / g
            p_prov = ((prov_n + cfg.province_prior_cases * self._geo.leaf.get(prov, 0) / self._geo.total_leaf)
                      / (total + cfg.province_prior_cases))
            # the category's skew toward this province, relative to all cases: gamma(a + seen, a + expected)
            shape = self.catprov_w.get(f"{category}|{prov}", 0.0) / g + cfg.category_skew_prior
            p_cat = p_prov * shape / (cfg.category_skew_prior + p_prov * cat_total)
            inside = float(self.place_w[places].sum()) / g + cfg.county_prior_cases * leaf
            whole = prov_n + cfg.county_prior_cases * self._geo.leaf.get(prov, 0)
            part = p_cat * inside / whole if whole > 0 else 0.0
            share += part
            var += part * part / max(shape, 1e-9)
        return min(1.0, share), (var / (share * share) if share > 0 else 0.0)

    # -- scoring ------------------------------------------------------------------------
    def _zones(self, place: str) -> list[tuple[str, str, float]]:
        """Candidate zones around ``place``: (kind, code, radius)."""
        regions = self.context.regions
        level = regions.level(place)
        prov = _province(place)
        if level == "province":
            return [("province", prov, 0.0)]
        city = next((c for c in regions.chain(place) if regions.level(c) == "city"), "")
        zones = [("disc", place, r) for r in sorted(self.config.radii_km)]
        if city:
            zones.append(("city", city, 0.0))
        return zones + [("province", prov, 0.0)]

    def _score(self, obs: Observation, by_prov: Mapping[str, list[list[Any]]], national: int) -> Signal | None:
        cfg = self.config
        if national < cfg.min_cases:
            return None
        near = self._geo.near(obs.region)
        own = obs.region[:2]  # GB/T 2260: the first two digits name the province
        places: dict[str, list[list[Any]]] = {}  # the cases near the new one, by division
        for prov in self._geo.near_provinces(obs.region):
            for c in by_prov.get(prov, ()):
                if prov == own or c[_PLACE] in near:
                    places.setdefault(c[_PLACE], []).append(c)
        if len(places) < cfg.min_counties:
            return None  # cheap pre-check: no zone can hold a cluster
        subsets: list[tuple[str, dict[str, list[list[Any]]], float]] = [("", places, 1.0)]
        if obs.brand:  # the same brand in several shops: a distribution network (假冒同一品牌)
            branded = {p: [c for c in cs if c[_BRAND] == obs.brand] for p, cs in places.items()}
            branded = {p: cs for p, cs in branded.items() if cs}
            if len(branded) >= cfg.min_counties:
                subsets.append((obs.brand, branded, self._brand_share(obs.category, obs.brand, obs.ts)))
        zones = self._zones(obs.region)
        base_count, long_run = self._expected_total(obs.category, obs.ts, national)
        best: dict[str, Any] | None = None
        seen: set[tuple[str, tuple[str, ...]]] = set()
        cap = cfg.per_place_cap
        tests = len(zones) * len(subsets)
        for kind, code, radius in zones:
            members, parts = self._geo.zone(code, kind, radius)
            share = cv2 = None
            for brand, subset, brand_share in subsets:
                here = tuple(p for p in subset if p in members)
                if len(here) < cfg.min_counties or (brand, here) in seen:
                    continue  # too few places, or the same cases as a smaller zone (with a smaller expectation)
                seen.add((brand, here))
                count = sum(min(len(subset[p]), cap) for p in here)
                if count < cfg.min_cases:
                    continue
                parties = {c[_PARTY] for p in here for c in subset[p]}
                if len(parties) < cfg.min_parties:
                    continue
                if share is None:
                    share, cv2 = self._share(obs.category, obs.ts, parts)
                mu = base_count * share * brand_share
                if count < 2.0 * mu:
                    continue
                spread = cv2  # squared CV of the expectation; the brand's share is a gamma posterior too
                if brand:
                    spread += 1.0 / (brand_share * (self.cat_w.get(obs.category, 0.0) / self._g(obs.ts)
                                                    + cfg.brand_prior_cases))
                p_value = negbin_upper_tail(count, mu, 1.0 + mu * (cfg.overdispersion + spread))
                # the zone that supports the strongest warning: its surprise capped by its size
                # (a wider zone holding every case of a network may be less surprising, yet say more)
                strength = min(score_from_p(min(1.0, p_value * tests)), self._size_cap(count, len(here)))
                if best is None or (strength, -p_value) > (best["_strength"], -best["p_value"]):
                    inside = [c for p in here for c in subset[p]]
                    best = {"zone": kind, "zone_code": code, "radius_km": radius or None, "brand": brand or None,
                            "p_value": p_value, "observed": count, "cases": len(inside), "expected": mu,
                            "zone_share": share, "brand_share": brand_share if brand else None,
                            "expectation_cv2": spread,
                            "places": {p: len(subset[p]) for p in sorted(here)}, "parties": len(parties),
                            "_inside": inside, "_strength": strength}
        if best is None:
            return None
        p_adj = min(1.0, best["p_value"] * tests)
        base = best.pop("_strength")  # min(score_from_p(p_adj), size cap)
        best["size_cap"] = self._size_cap(best["observed"], len(best["places"]))
        category = self.context.catalogue.get(obs.category)
        score, raisers = self.context.grading.raise_score(base, category)
        if score < self.context.grading.blue:
            return None
        return self._signal(obs, best, p_adj, base, score, raisers, base_count, long_run, national, tests)

    def _size_cap(self, count: int, places: int) -> float:
        """The most a cluster of ``count`` cases in ``places`` places may score on surprise alone."""
        cfg = self.config
        return (cfg.size_cap_base + cfg.size_cap_per_case * (count - cfg.min_cases)
                + cfg.size_cap_per_place * (places - cfg.min_counties))

    def _signal(self, obs: Observation, best: dict[str, Any], p_adj: float, base: float, score: float,
                raisers: list[str], base_count: float, long_run: float, national: int, tests: int) -> Signal:
        regions = self.context.regions
        inside = sorted(best.pop("_inside"), key=lambda c: (-c[_TS], c[_ID]))
        places = best.pop("places")
        region, spills = self._enclosing(list(places))
        scope = Scope(region_code=region, category=obs.category)
        cat = self.context.catalogue.get(obs.category)
        kinds = {_WORD.get(c[_VIOLATION], "伪劣") for c in inside}
        word = "假冒" if kinds == {"假冒"} else "伪劣" if kinds == {"伪劣"} else "假冒伪劣"
        name = regions.full_name(region) or regions.name(region)
        brand = f"「{best['brand']}」" if best["brand"] else ""
        title = (f"{name}{'及周边' if spills else ''} {cat.name_zh if cat else obs.category}{brand} {word}案件聚集 "
                 f"({self.config.window_days:g}天内 {best['cases']} 起, 涉及 {len(places)} 个区县)")
        c, mu, total = best["observed"], best["expected"], base_count
        llr = 0.0
        if c > mu > 0:
            llr = c * math.log(c / mu) + ((total - c) * math.log((total - c) / (total - mu)) if total - c > 0 else 0.0)
        violations: dict[str, int] = {}
        for x in inside:
            violations[x[_VIOLATION]] = violations.get(x[_VIOLATION], 0) + 1
        explanation = {
            "statistic": "space-time scan: zone case count, negative-binomial upper tail "
                         "(Kulldorff-style Poisson log-likelihood ratio given)",
            **best, "p_adjusted": p_adj, "zones_tested": tests,
            "threshold_p": 10.0 ** (-self.context.grading.blue / 10.0),
            "log_likelihood_ratio": llr, "national_cases_in_window": national, "national_expected_long_run": long_run,
            "spread_count": base_count, "window_days": self.config.window_days,
            "places": [{"region_code": p, "name": regions.full_name(p), "cases": n} for p, n in sorted(places.items())],
            "violations": violations, "centre": obs.region, "base_score": base, "raised_by": raisers,
            "contributing_sources": ["enforcement"],
        }
        first = min(x[_TS] for x in inside)
        return Signal(detector=self.name, scope=scope, ts=obs.ts,
                      window_start=float(day_index(first) * DAY - CST_OFFSET), window_end=obs.ts, score=score,
                      title=title, explanation=explanation, evidence=[x[_ID] for x in inside][:100],
                      trigger=obs.event_id)

    def _enclosing(self, places: list[str]) -> tuple[str, bool]:
        """The smallest city or province holding every place; when they straddle provinces, the
        province holding most of them and ``True`` (the title says "及周边")."""
        regions = self.context.regions
        chains = [regions.chain(p) for p in places]
        common = set(chains[0]).intersection(*chains[1:])
        for level in ("city", "province"):
            for code in chains[0]:
                if code in common and regions.level(code) == level:
                    return code, False
        counts: dict[str, int] = {}
        for ch in chains:
            counts[ch[-1]] = counts.get(ch[-1], 0) + 1
        return min(counts, key=lambda p: (-counts[p], p)), True

    # -- state --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-able state with ``layout``; floats are kept exactly."""
        return {"layout": LAYOUT, "start": self.start, "ref": self.ref, "sweep_day": self.sweep_day,
                "window": {k: {p: [list(c) for c in cs] for p, cs in v.items()} for k, v in self.window.items()},
                "place_w": {self._geo.codes[i]: float(self.place_w[i]) for i in np.nonzero(self.place_w)[0]},
                "prov_w": dict(self.prov_w), "cat_w": dict(self.cat_w),
                "catprov_w": dict(self.catprov_w), "brand_w": dict(self.brand_w), "total_w": self.total_w}

    @classmethod
    def restore(cls, config: EnforcementClusterConfig, state: Mapping[str, Any],
                context: Context) -> EnforcementCluster:
        """Rebuild from ``snapshot()``; an empty mapping gives a fresh detector. Raises
        ``ConfigError`` for a snapshot of another layout."""
        det = cls(config, context)
        if not state:
            return det
        if state.get("layout") != LAYOUT:
            raise ConfigError("enforcement_cluster.state", f"unknown snapshot layout {state.get('layout')!r}")
        det.start = None if state.get("start") is None else float(state["start"])
        det.ref, det.sweep_day = float(state["ref"]), int(state["sweep_day"])
        det.window = {k: {p: [list(c) for c in cs] for p, cs in v.items()} for k, v in state.get("window", {}).items()}
        det._order = {k: sorted((c for cs in v.values() for c in cs), key=_ORDER) for k, v in det.window.items()}
        for k, v in state.get("place_w", {}).items():
            if k in det._geo.index:
                det.place_w[det._geo.index[k]] = float(v)
        det.prov_w = {k: float(v) for k, v in state.get("prov_w", {}).items()}
        det.cat_w = {k: float(v) for k, v in state.get("cat_w", {}).items()}
        det.catprov_w = {k: float(v) for k, v in state.get("catprov_w", {}).items()}
        det.brand_w = {k: float(v) for k, v in state.get("brand_w", {}).items()}
        det.total_w = float(state.get("total_w", 0.0))
        return det
