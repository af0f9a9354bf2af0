"""Labelled incident archetypes for the simulator: what a monitoring system should catch.

Each archetype is a function ``(ctx, day0) -> Incident`` that writes the events of one
realistic product-safety incident starting on run day ``day0`` and says what a good
system should conclude: its severity, scope and the detectors of DESIGN §3 expected to
fire. ``plan_incidents`` chooses archetypes, start days (never before ``FIRST_DAY``, so the
detectors have a baseline) and sizes from the incident generator; all of them together
exercise every detector: complaint_surge, injury_signal, sampling_failure,
repeat_offender, enforcement_cluster, opinion_burst and cross_source.

Incident sizes do not follow ``SimulationConfig.scale`` (an outbreak is as big in a small
simulation as in a large one); the slow rise is a growth of the background and does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.event_builder import Draft, EventBuilder, viral_reach
from pipeline.synthetic_world import SOURCES, CategoryProfile, Clock, Maker, SyntheticWorld, short_name

__all__ = ["ARCHETYPES", "FIRST_DAY", "Incident", "IncidentContext", "plan_incidents"]

FIRST_DAY = 21  # detectors need three weeks of baseline before the first incident
EVIDENCE_EVENTS = 3  # a label gives the hours from its start to its first this many events
_HOUR = 3600


@dataclass
class Incident:
    """One incident (or decoy): its label facts and the drafts of its events. ``history``
    drafts happen before the incident proper (a repeat offender's first failure) and do
    not count towards its time window."""

    kind: str
    severity: str
    category: str | None
    region_codes: list[str]
    uscc: str | None
    detectors: list[str]
    drafts: list[Draft]
    history: list[Draft] = field(default_factory=list)
    decoy: bool = False
    window: tuple[int, int] | None = None  # run seconds; default: first to last draft
    sources: tuple[str, ...] = ()  # the sources it is made of; default: its drafts' sources

    def label(self, incident_id: str, clock: Clock) -> dict[str, Any]:
        """The ``labels.jsonl`` entry (see ``Simulator.labels``)."""
        ts = sorted(d[0] for d in self.drafts)
        start, end = self.window if self.window is not None else (ts[0], ts[-1])
        return {"incident_id": incident_id, "kind": self.kind, "start": clock.stamp(start),
                "end": clock.stamp(end), "severity": self.severity,
                "scope": {"category": self.category, "region_codes": self.region_codes, "uscc": self.uscc},
                "decoy": self.decoy, "detectors": self.detectors,
                "sources": sorted(self.sources or {d[1] for d in self.drafts}),
                "evidence_hours": [round((t - start) / 3600, 1) for t in ts[:EVIDENCE_EVENTS]]}


class IncidentContext:
    """What archetypes draw from: the world, the event builder, the clock, the incident
    generator ``rng``, the run length, background volumes (for the slow rise) and the texts.
    Created by the simulator once per run plan."""

    def __init__(self, world: SyntheticWorld, builder: EventBuilder, clock: Clock, rng: np.random.Generator,
                 days: int, daily_volume: dict[str, float], hour_profile: dict[str, np.ndarray],
                 texts: dict[str, Any]) -> None:
        self.world, self.b, self.clock, self.rng, self.days = world, builder, clock, rng, days
        self.volume, self.texts = daily_volume, texts
        self._hour_cdf = {s: np.cumsum(p) / p.sum() for s, p in hour_profile.items()}
        self.used: set[str] = set()

    # -- random helpers ------------------------------------------------------------------
    def r(self) -> list[int]:
        return self.rng.integers(0, 1 << 62, 16).tolist()

    def u(self) -> float:
        return float(self.rng.random())

    def int(self, lo: int, hi: int) -> int:
        """Uniform integer in ``[lo, hi]``."""
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def when(self, day: int, source: str) -> int:
        """A run second on run day ``day`` at a local hour typical of ``source``."""
        h = int(np.searchsorted(self._hour_cdf[source], self.rng.random(), side="right").clip(0, 23))
        return self.clock.at(min(day, self.days - 1), h * _HOUR + int(self.rng.integers(_HOUR)))

    def daily(self, total: int, day0: int, span: int, shape: str = "ramp") -> list[tuple[int, int]]:
        """``total`` events spread over ``span`` days from ``day0`` (clipped to the run):
        ``ramp`` rises then falls, ``grow`` grows geometrically, ``flat`` is even."""
        span = max(1, min(span, self.days - day0))
        x = np.arange(span, dtype=float)
        w = {"ramp": np.minimum(x + 1, (span - x) * 1.5), "grow": 1.35 ** x, "flat": np.ones(span)}[shape]
        counts = self.rng.multinomial(total, w / w.sum())
        return [(day0 + i, int(k)) for i, k in enumerate(counts) if k]

    # -- world helpers -------------------------------------------------------------------
    def category(self, options: Sequence[str]) -> CategoryProfile:
        """One of ``options`` not yet used by another incident when possible."""
        fresh = [c for c in options if c not in self.used and c in self.world.category]
        code = self.pick(fresh or [c for c in options if c in self.world.category])
        self.used.add(code)
        return self.world.category[code]

    def maker(self, cat: CategoryProfile) -> Maker:
        return self.pick(self.world.makers_by_category[cat.code])

    def leaf(self, within: str | None = None) -> str:
        return self.world.leaves[self.world.pick_leaf(self.rng, within)]

    def city(self, leaf: str) -> str:
        return self.world.leaf_city[self.world.leaf_index[leaf]]

    def name(self, code: str) -> str:
        return short_name(self.world.regions.name(code))

    def expected(self, source: str, cat: CategoryProfile, area: str) -> float:
        """Background events per day of ``source`` about ``cat`` in ``area`` (at the run's scale)."""
        k = SOURCES.index(source)
        share = cat.weights[k] / sum(c.weights[k] for c in self.world.categories)
        return self.volume[source] * share * self.world.population_share(area)

    def text(self, key: str, **slots: str) -> str:
        return self.pick(self.texts[key]).format(**slots)

    # -- event helpers -------------------------------------------------------------------
    def posts(self, schedule: list[tuple[int, int]], templates: Sequence[str], where: Callable[[], str],
              cat: CategoryProfile, brand: str, boost: float, sentiment: tuple[float, float] = (-0.95, -0.4),
              problem: str = "") -> list[Draft]:
        """Opinion drafts on the ``schedule`` from ``templates``; ``where`` picks each region."""
        n = sum(k for _, k in schedule)
        reach = viral_reach(self.rng, n, boost)
        out: list[Draft] = []
        for day, k in schedule:
            for _ in range(k):
                region = where()
                slots = {"brand": brand, "cat": self.pick(cat.names), "product": self.pick(cat.products),
                         "city": self.name(region), "problem": problem or self.pick(cat.problems)}
                r = self.r()
                text = self.b.texts.noisy(self.pick(templates).format(**slots), r, emoji_rate=0.4)
                platform = self.pick(("weibo", "weibo", "weibo", "douyin", "xiaohongshu", "wechat", "forum", "news"))
                title = None
                if platform in ("news", "wechat"):
                    title = text[:40]
                    region = (self.world.regions.parent(region) or region) if platform == "news" else region
                product = self.b.product(cat, r[5], brand) if self.u() < 0.25 else None
                senti = round(self.rng.uniform(*sentiment), 2) if self.u() < 0.6 else None
                out.append(self.b.opinion(self.when(day, "opinion"), r, region, platform, text, title=title,
                                          product=product, reach=reach.pop(), sentiment=senti))
        return out

    def complaints(self, schedule: list[tuple[int, int]], where: Callable[[], str], cat: CategoryProfile,
                   maker: Maker | None, issues: Sequence[str], injury: Callable[[], str] = lambda: "none",
                   texts: Sequence[str] | None = None, maker_share: float = 0.6) -> list[Draft]:
        """Complaint drafts on the ``schedule``; ``texts`` templates override the generic ones."""
        out: list[Draft] = []
        brand = maker.brands[0] if maker else None
        for day, k in schedule:
            for _ in range(k):
                leaf, inj, r = where(), injury(), self.r()
                text, k_product = None, self.int(0, len(cat.products) - 1)
                if texts is not None:
                    inj_text = self.b.texts.injury(inj, cat.injuries, r[4]) if inj != "none" else ""
                    text = self.pick(texts).format(
                        brand=brand or "", product=cat.products[k_product], cat=cat.name_zh,
                        problem=self.pick(cat.problems), injury=inj_text, city=self.name(leaf))
                    text = self.b.texts.noisy(text.replace("，，", "，").replace("时，", "时").strip("，"), r)
                named = maker if (maker is not None and self.u() < maker_share) else None
                channel = self.pick(("hotline_12315", "hotline_12315", "wechat", "app", "web"))
                out.append(self.b.complaint(self.when(day, "complaint"), r, leaf, cat, self.pick(issues), channel,
                                            inj, maker=named, brand=brand, text=text, product_index=k_product))
        return out

    def samples(self, days: Sequence[int], region: Callable[[], str], cat: CategoryProfile,
                firm: Callable[[], Maker | tuple[str, str]], fail: Callable[[], bool], level: str,
                worst: str | None = "critical", task: str | None = None, batch: str | None = None) -> list[Draft]:
        """Sampling drafts, one per entry of ``days``; failing ones list 1–2 items."""
        out: list[Draft] = []
        for day in days:
            r = self.r()
            failed = self.b.failed_items(cat, r[6], self.int(1, 2), worst) if fail() else None
            out.append(self.b.sampling(self.when(day, "sampling"), r, region(), cat, firm(), failed, level,
                                       task=task, batch=batch))
        return out


# -- archetypes --------------------------------------------------------------------------
def factory_defect(ctx: IncidentContext, d0: int) -> Incident:
    """A factory's defective batch: sampling failures (A类 items), complaints in its area,
    then posts, a re-inspection failing again, and an enforcement case."""
    cat = ctx.category(("mask", "mask", "protective_clothing", "disinfectant", "small_appliance", "kitchen_appliance"))
    m = ctx.maker(cat)
    county, city, brand = m.county, ctx.city(m.county), m.brands[0]
    batch = f"{ctx.clock.ymd(max(0, d0 - 20) * 86400)}{ctx.int(1, 9)}"
    area = lambda: county if ctx.u() < 0.6 else ctx.leaf(city)  # noqa: E731
    d = ctx.samples([d0] * ctx.int(2, 4), lambda: county, cat, lambda: m, lambda: True, "provincial", batch=batch)
    d += ctx.complaints(ctx.daily(ctx.int(30, 80), d0 + 1, 8), area, cat, m, ("quality", "quality", "safety"),
                        lambda: "minor" if ctx.u() < 0.05 else "none")
    d += ctx.posts(ctx.daily(ctx.int(40, 150), d0 + 2, 7), ctx.texts["defect_posts"], area, cat, brand, 20.0)
    d += ctx.posts(ctx.daily(ctx.int(2, 6), d0 + 3, 4), ctx.texts["defect_news"], lambda: city, cat, brand, 50.0)
    d += ctx.samples([d0 + 5] * ctx.int(1, 2), lambda: county, cat, lambda: m, lambda: True, "municipal", batch=batch)
    for _ in range(ctx.int(1, 2)):
        d.append(ctx.b.enforcement(ctx.when(d0 + ctx.int(6, 8), "enforcement"), ctx.r(), county, cat, m,
                                   "substandard", "opened", brand=brand))
    return Incident("factory_defect", "orange", cat.code, [county], m.uscc,
                    ["sampling_failure", "complaint_surge", "opinion_burst", "repeat_offender", "cross_source"], d)


def battery_fire(ctx: IncidentContext, d0: int) -> Incident:
    """E-bike / lithium battery fires in one city: serious and sometimes fatal injuries,
    complaints about swelling batteries, posts with 起火/爆炸."""
    cat = ctx.category(("e_bike", "lithium_battery"))
    m, city = ctx.maker(cat), ctx.city(ctx.leaf())
    span = ctx.int(6, 12)
    fatal = ctx.int(0, 2) if ctx.u() < 0.5 else 0
    grave = ["serious"] * ctx.int(2, 5) + ["fatal"] * fatal + ["minor"] * ctx.int(2, 6)
    where = lambda: ctx.leaf(city)  # noqa: E731
    d: list[Draft] = []
    for inj in grave:
        d += ctx.complaints([(d0 + ctx.int(0, span - 1), 1)], where, cat, m, ("safety",), lambda i=inj: i,
                            ctx.texts["fire_complaints"], maker_share=0.7)
    d += ctx.complaints(ctx.daily(ctx.int(15, 40), d0, span), where, cat, m, ("safety", "quality"), maker_share=0.7)
    d += ctx.posts(ctx.daily(ctx.int(60, 200), d0 + 1, span), ctx.texts["fire_posts"], where, cat, m.brands[0], 30.0)
    return Incident("battery_fire", "red" if fatal else "orange", cat.code, [city], m.uscc,
                    ["injury_signal", "complaint_surge", "opinion_burst", "cross_source"], d)


def formula_contamination(ctx: IncidentContext, d0: int) -> Incident:
    """Contaminated infant formula of one maker spreading from its home province across the
    country over days: complaints with sick babies, critical sampling failures, a storm of posts."""
    cat = ctx.category(("infant_formula", "infant_formula", "dairy"))
    m = ctx.maker(cat)
    home = ctx.world.regions.province(m.county)
    span = ctx.int(10, 14)
    provinces, reach = [home], ctx.int(8, 20)  # spreads to a few more provinces each day
    d: list[Draft] = []
    for day, k in ctx.daily(ctx.int(80, 250), d0, span, "grow"):
        while len(provinces) < min(reach, 1 + 2 * (day - d0)):
            p = ctx.world.regions.province(ctx.leaf())
            if p not in provinces:
                provinces.append(p)
        where = lambda: ctx.leaf(ctx.pick(provinces) if ctx.u() < 0.7 else home)  # noqa: E731
        inj = lambda: "minor" if ctx.u() < 0.25 else ("serious" if ctx.u() < 0.015 else "none")  # noqa: E731
        d += ctx.complaints([(day, k)], where, cat, m, ("quality", "safety"), inj, ctx.texts["formula_complaints"])
    d += ctx.samples(sorted(ctx.int(d0 + 2, d0 + 6) for _ in range(ctx.int(4, 10))),
                     lambda: ctx.leaf(ctx.pick(provinces)), cat, lambda: m, lambda: ctx.u() < 0.8, "national")
    d += ctx.posts(ctx.daily(ctx.int(200, 800), d0 + 1, span), ctx.texts["formula_posts"],
                   lambda: ctx.leaf(ctx.pick(provinces)), cat, m.brands[0], 40.0)
    d.append(ctx.b.enforcement(ctx.when(d0 + ctx.int(4, 7), "enforcement"), ctx.r(), m.county, cat, m,
                               "substandard", "opened", brand=m.brands[0]))
    return Incident("formula_contamination", "red", cat.code, provinces, m.uscc,
                    ["complaint_surge", "injury_signal", "sampling_failure", "opinion_burst", "cross_source"], d)


def counterfeit_cluster(ctx: IncidentContext, d0: int) -> Incident:
    """Counterfeit goods (helmets mostly) seized in several neighbouring counties within days."""
    cat = ctx.category(("helmet", "helmet", "wire_cable", "fertilizer", "cosmetics", "fire_extinguisher"))
    for _ in range(50):
        seed = ctx.leaf()
        near = ctx.world.neighbours(seed, 80.0)
        if len(near) >= 3:
            break
    counties = near[: min(len(near), ctx.int(3, 6))]
    brand = ctx.pick(ctx.world.makers_by_category[cat.code]).brands[0]
    span = ctx.int(4, 10)
    d: list[Draft] = []
    n = max(ctx.int(5, 12), len(counties))
    for i in range(n):
        county = counties[i] if i < len(counties) else ctx.pick(counties)
        party = ctx.world.firm(county, ctx.int(0, 10**6), "shop" if ctx.u() < 0.7 else "firm")
        violation = "counterfeit" if ctx.u() < 0.8 else "false_certification"
        d.append(ctx.b.enforcement(ctx.when(d0 + ctx.int(0, span - 1), "enforcement"), ctx.r(), county, cat, party,
                                   violation, "opened", goods_value=float(ctx.int(5, 200) * 1000), brand=brand))
    sev = "orange" if cat.safety_critical and len(counties) >= 4 else "yellow"
    return Incident("counterfeit_cluster", sev, cat.code, sorted(counties), None, ["enforcement_cluster"], d)


def repeat_offender(ctx: IncidentContext, d0: int) -> Incident:
    """A maker that failed sampling early in the run (history) fails again after day 21."""
    cat = ctx.category(("wire_cable", "small_appliance", "fertilizer", "toy", "clothing", "down_product",
                        "gas_appliance", "kitchen_appliance", "footwear", "bath_hardware"))
    m = ctx.maker(cat)
    first = ctx.int(2, FIRST_DAY - 3)
    level = ctx.pick(("provincial", "municipal", "county"))
    history = ctx.samples([first], lambda: m.county, cat, lambda: m, lambda: True, level, worst="major")
    worst = "critical" if ctx.u() < 0.5 else "major"
    d = ctx.samples([d0], lambda: m.county, cat, lambda: m, lambda: True, level, worst=worst)
    has_critical = any(i["severity"] == "critical" for i in d[0][5]["failed_items"])
    return Incident("repeat_offender", "orange" if has_critical else "yellow", cat.code, [m.county], m.uscc,
                    ["repeat_offender"], d, history)


def slow_rise(ctx: IncidentContext, d0: int) -> Incident:
    """Complaints about one category in one province rising a few percent a day for weeks
    (CUSUM territory), with ordinary texts and no single alarming event."""
    cat = ctx.category(("clothing", "footwear", "cosmetics", "small_appliance", "kitchen_appliance", "down_product",
                        "bath_hardware", "cold_chain_food", "wearable", "cleaning_appliance"))
    province = ctx.world.regions.province(ctx.leaf())
    span = min(ctx.int(21, 30), ctx.days - d0)
    growth = ctx.rng.uniform(0.03, 0.06)
    base = max(ctx.expected("complaint", cat, province), 4.0)  # a floor keeps small-scale runs detectable
    d: list[Draft] = []
    for i in range(span):
        k = int(ctx.rng.poisson(base * ((1 + growth) ** (i + 1) - 1)))
        d += ctx.complaints([(d0 + i, k)], lambda: ctx.leaf(province), cat, None,
                            ("quality", "quality", "after_sales", "false_advertising"), maker_share=0.0)
    if not d:
        d += ctx.complaints([(d0 + span - 1, 1)], lambda: ctx.leaf(province), cat, None, ("quality",))
    return Incident("slow_rise", "yellow", cat.code, [province], None, ["complaint_surge"], d)


def opinion_scare(ctx: IncidentContext, d0: int) -> Incident:
    """A scare going viral online only (甲醛 in school uniforms, 激素 in face cream…):
    posts from one city first, then everywhere; no complaints, samples or cases."""
    cat = ctx.category(tuple(ctx.texts["scare_posts"]))
    city = ctx.city(ctx.leaf())
    brand = ctx.maker(cat).brands[0]
    span = ctx.int(3, 6)
    d: list[Draft] = []
    for day, k in ctx.daily(ctx.int(300, 1200), d0, span, "ramp"):
        local = 0.8 if day == d0 else 0.3
        d += ctx.posts([(day, k)], ctx.texts["scare_posts"][cat.code],
                       lambda s=local: ctx.leaf(city) if ctx.u() < s else ctx.leaf(), cat, brand, 60.0)
    return Incident("opinion_scare", "yellow", cat.code, [city], None, ["opinion_burst"], d)


def toy_injuries(ctx: IncidentContext, d0: int) -> Incident:
    """A cluster of minor injuries from one toy (or other children's product) in one city."""
    cat = ctx.category(("toy", "toy", "stationery", "baby_stroller"))
    m, city = ctx.maker(cat), ctx.city(ctx.leaf())
    span = ctx.int(7, 14)
    where = lambda: ctx.leaf(city)  # noqa: E731
    d = ctx.complaints(ctx.daily(ctx.int(8, 25), d0, span), where, cat, m, ("safety", "quality"),
                       lambda: "serious" if ctx.u() < 0.03 else "minor", ctx.texts["toy_complaints"], 0.7)
    d += ctx.complaints(ctx.daily(ctx.int(5, 15), d0, span), where, cat, m, ("quality", "safety"), maker_share=0.7)
    return Incident("toy_injuries", "orange", cat.code, [city], m.uscc, ["injury_signal", "complaint_surge"], d)


def sampling_campaign(ctx: IncidentContext, d0: int) -> Incident:
    """A provincial special sampling campaign finding a substandard product line:
    a nonconformity rate far above the category's history across many small firms."""
    cat = ctx.category(("wire_cable", "fertilizer", "steel_bar", "cement", "helmet", "e_bike",
                        "ready_mixed_concrete", "fire_extinguisher"))
    province = ctx.world.regions.province(ctx.leaf())
    span = ctx.int(5, 10)
    firms = [ctx.world.firm(ctx.leaf(province), ctx.int(0, 10**6)) for _ in range(ctx.int(5, 15))]
    rate = ctx.rng.uniform(0.35, 0.55)
    days = [day for day, k in ctx.daily(ctx.int(30, 70), d0, span, "flat") for _ in range(k)]
    task = f"{ctx.clock.ymd(d0 * 86400)[:4]}-ZX-{province[:2]}-{cat.code.upper()}"
    d = ctx.samples(days, lambda: ctx.leaf(province), cat, lambda: ctx.pick(firms), lambda: ctx.u() < rate,
                    "provincial", worst=None, task=task)
    return Incident("sampling_campaign", "yellow", cat.code, [province], None, ["sampling_failure"], d)


# name → (archetype, shortest and longest span in days, may occur twice in one run)
ARCHETYPES: dict[str, tuple[Callable[[IncidentContext, int], Incident], int, int, bool]] = {
    "factory_defect": (factory_defect, 10, 10, True),
    "battery_fire": (battery_fire, 12, 12, True),
    "formula_contamination": (formula_contamination, 14, 14, False),
    "counterfeit_cluster": (counterfeit_cluster, 10, 10, True),
    "repeat_offender": (repeat_offender, 1, 1, True),
    "slow_rise": (slow_rise, 21, 30, False),
    "opinion_scare": (opinion_scare, 6, 6, True),
    "toy_injuries": (toy_injuries, 14, 14, True),
    "sampling_campaign": (sampling_campaign, 10, 10, True),
}
_REFERENCE_WINDOW = 39  # days after FIRST_DAY in the default 60-day run


def plan_incidents(ctx: IncidentContext, only: Sequence[str] = ()) -> list[Incident]:
    """Choose and generate the run's incidents: every archetype once plus 0–2 repeats in a
    60-day run (proportionally more in longer runs, a random subset in shorter ones), each
    starting on or after ``FIRST_DAY`` and ending inside the run. ``only``: exactly these
    archetypes (those that fit the run), in this order."""
    window = ctx.days - FIRST_DAY
    if window <= 0:
        return []
    fits = {n: min(hi, window) for n, (_, lo, hi, _) in ARCHETYPES.items()
            if min(hi, window) >= (min(lo, 14) if n == "slow_rise" else lo)}
    names = list(fits)
    if not names:
        return []
    if only:
        return [ARCHETYPES[name][0](ctx, ctx.int(FIRST_DAY, ctx.days - fits[name])) for name in only if name in fits]
    repeatable = [n for n in names if ARCHETYPES[n][3]] or names
    n_total = round((len(ARCHETYPES) + ctx.int(0, 2)) * window / _REFERENCE_WINDOW)
    chosen = [names[i] for i in ctx.rng.permutation(len(names))][:n_total]
    while len(chosen) < n_total:
        chosen.append(ctx.pick(repeatable))
    return [ARCHETYPES[name][0](ctx, ctx.int(FIRST_DAY, ctx.days - fits[name])) for name in chosen]
