"""``injury_signal``: product injuries (产品伤害) reported in complaints.

- A fatal injury in a safety-critical or vulnerable-group category warns at once, scoped
  to the category and the reporting city (DESIGN §3). A serious one warns as soon as a
  second injured person (any severity) in the same category and city corroborates it
  within the window: a lone serious injury is one account, and at national volume a few
  arrive every week in every large category, unrelated to each other
  (``lone_serious_warns`` restores the at-once rule). The corroborating person's product
  must not name another enterprise or brand than the serious injury's: two people hurt by
  two makers' goods are two accidents. The score rises with every further injured person.
- Minor injuries warn only as a cluster: distinct injured complainants in one
  (category, city) within ``window_days`` against the category's national minor-injury
  rate times the city's share of the nation's complaints (learned, shrunk toward
  ``city_share``: a city of 20 million hears far more than one of 2 million) times the
  nation-wide complaint lift in the window (3·15 brings more complaints in every category
  and with them more injury reports), with a Poisson tail and a minimum count. People hurt
  by products naming different enterprises or brands are counted apart (the largest group
  that may share one product is tested): three accidents with three makers' goods are no
  cluster. Vulnerable groups' products (toys, strollers, infant formula, wheelchairs…) warn at blue
  already when ``pair_min`` people in one city within the window name the same maker.
- Injuries naming one enterprise (USCC) anywhere in the country: a defective product sold
  nation-wide hurts people in many cities, one or two each — no city cluster, but an
  unmistakable one at its maker. Distinct injured people within ``window_days`` are tested
  (Poisson tail, at least ``maker_min`` people) against the enterprise's complaints in the
  window (at least its long-run volume; 3·15 brings more complaints and with them more
  injury reports) times the national share of its category's complaints reporting an
  injury (cosmetics hurt skin far more often than clothing does).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.base import CST_OFFSET, DAY, Context, DetectorConfig, Observation, Signal, day_index
from detectors.series import CountSeries
from detectors.stats import poisson_upper_tail, score_from_p
from schemas.alert import Scope

__all__ = ["InjurySignal", "InjurySignalConfig"]

LAYOUT = 1
_SEVERE = {"serious", "fatal"}
_RANK = {"minor": 1, "serious": 2, "fatal": 3}


@dataclass(frozen=True)
class InjurySignalConfig(DetectorConfig):
    """``window_days``: how far back injuries corroborate each other; ``serious_base`` /
    ``fatal_base``: base score of one report (before raises); ``cluster_step``: points per
    further severe injury in the window; ``minor_min``: distinct minor injuries needed in a
    city; ``minor_max_p``: tail probability a minor cluster must beat; ``cities``: share of
    a category's national injuries one city is expected to see (≈ 1 / number of cities);
    ``city_prior_complaints``: weight, in complaints, of ``city_share`` before a city's own
    share of the nation's complaints is learned;
    ``minor_step``: points per further minor injury beside a severe one;
    ``lone_serious_warns``: a serious injury warns without a second injured person;
    ``maker_min`` / ``maker_max_p``: distinct injured people naming one enterprise and the
    tail probability they must beat (few tests run: one per injury naming an enterprise, a few
    a day nation-wide; passing it is blue); ``maker_floor``: least complaints a day assumed for an
    enterprise; ``maker_history_days``: days of complaints its rate is averaged over at least;
    ``injury_prior`` / ``injury_prior_complaints``: share of complaints reporting an injury
    before any is counted, and its weight in complaints; ``maker_idle_days``: an enterprise
    without complaints this long is forgotten; ``pair_min`` / ``pair_base``: people hurt in one
    city by one maker's product of a vulnerable-group category that warn, and their base score
    (before raises; 0 people: never)."""

    window_days: float = 7.0
    serious_base: float = 48.0
    fatal_base: float = 60.0
    cluster_step: float = 9.0
    minor_step: float = 4.0
    minor_min: int = 3
    minor_max_p: float = 1e-4
    city_share: float = 1 / 150
    city_prior_complaints: float = 2000.0
    lone_serious_warns: bool = False
    maker_min: int = 3
    maker_max_p: float = 1e-4
    maker_floor: float = 0.2
    maker_history_days: float = 14.0
    injury_prior: float = 0.003
    injury_prior_complaints: float = 2000.0
    maker_idle_days: float = 60.0
    pair_min: int = 2
    pair_base: float = 42.0
    cooldown_hours: float = 168.0
    min_history_days: float = 0.0  # a fatal injury needs no baseline


class InjurySignal:
    """See the module docstring. State: recent injuries per (category, city) and a per-category
    count of minor injuries nationally for the expectation."""

    name: ClassVar[str] = "injury_signal"
    version: ClassVar[str] = "1.0.0"
    sources: ClassVar[frozenset[str]] = frozenset({"complaint"})

    def __init__(self, config: InjurySignalConfig, context: Context) -> None:
        self.config, self.context = config, context
        # (ts, id, injury, who, uscc, brand) per (category, city)
        self.recent: dict[tuple[str, str], deque[tuple[float, str, str, str, str, str]]] = {}
        self.minor_days: dict[str, list[int]] = {}  # category → [first day seen, minor injuries total]
        # uscc → [first complaint ts, complaints, last complaint ts, injuries [[ts, id, injury, who, category]],
        #         complaints per day of the window {day: count}]
        self.makers: dict[str, list[Any]] = {}
        self.national: dict[str, list[int]] = {}  # category → [complaints naming an enterprise, injured among them]
        self.sweep_day = -1
        self.cities: dict[str, int] = {}  # city → complaints (all categories)
        self.first_day: int | None = None  # the nation's complaints: the first day seen, the total, and by day
        self.total = 0
        self.daily = CountSeries()

    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        out: list[Signal] = []
        for obs in batch:
            if obs.source != "complaint" or not math.isfinite(obs.ts):
                continue
            if obs.uscc:
                sig = self._maker(obs)
                if sig is not None:
                    out.append(sig)
            city = self.context.regions.levels(obs.region)[1] or (obs.chain[-1] if obs.chain else obs.region)
            self._count(obs.ts, city)
            if obs.injury not in ("minor", "serious", "fatal") or not obs.category:
                continue
            category = self.context.catalogue.get(obs.category)
            if category is None:
                continue
            key = (obs.category, city)
            q = self.recent.setdefault(key, deque())
            horizon = obs.ts - self.config.window_days * DAY
            while q and q[0][0] < horizon:
                q.popleft()
            who = obs.complainant or obs.event_id
            entry = (obs.ts, obs.event_id, obs.injury, who, obs.uscc, obs.brand)
            if any(x[3] == who for x in q):  # the same person reporting again adds nothing
                q.append(entry)
                continue
            q.append(entry)
            stats = self.minor_days.setdefault(obs.category, [day_index(obs.ts), 0])
            if obs.injury == "minor":
                stats[1] += 1
            sig = None
            group = self._severe_group(q) if category.safety_critical or category.vulnerable_group else None
            if group is not None:
                sig = self._severe(obs, key, group, category)
                if sig.score < self.context.grading.blue:
                    sig = None
            elif obs.injury == "minor":
                sig = self._minor(obs, key, q, category, stats)
            if sig is not None:
                out.append(sig)
            if len(self.recent) > 4096:
                self._evict(obs.ts)
        return out

    def _severe_group(self, q: deque) -> list[tuple[float, str, str, str, str, str]] | None:
        """The injuries of the window that warn together, or ``None``: a fatal injury, or a serious
        one with a second injured person — each with the injuries that may come from the same
        product (none naming another enterprise or brand: two people hurt by two makers' goods do
        not corroborate each other). Of several such groups, the one with most people."""
        best: list[tuple[float, str, str, str, str, str]] | None = None
        people = 0
        for group, n in _by_product(q):
            worst = {x[2] for x in group}
            if ("fatal" in worst or ("serious" in worst and (n >= 2 or self.config.lone_serious_warns))) and n > people:
                best, people = group, n
        return best

    def _severe(self, obs: Observation, key: tuple[str, str], q: list, category: Any) -> Signal:
        severe = [x for x in q if x[2] in _SEVERE]
        severe_people = len({x[3] for x in severe})
        minor_people = len({x[3] for x in q if x[2] == "minor"} - {x[3] for x in severe})
        worst = "fatal" if any(x[2] == "fatal" for x in severe) else "serious"
        base = (self.config.fatal_base if worst == "fatal" else self.config.serious_base)
        base += self.config.cluster_step * (severe_people - 1) + self.config.minor_step * minor_people
        score, raisers = self.context.grading.raise_score(base, category, injury=worst)
        return self._signal(obs, key, q, score, "severe", {
            "severe_injuries": len(severe), "fatal": sum(x[2] == "fatal" for x in severe), "worst": worst,
            "injured": severe_people + minor_people, "statistic": "count_of_severe_injuries",
            "threshold": 1 if worst == "fatal" or self.config.lone_serious_warns else 2, "raised_by": raisers,
        }, f"{len(severe)} 起严重伤害" if worst == "serious" else f"{len(severe)} 起伤害事件含死亡")

    def _minor(self, obs: Observation, key: tuple[str, str], q: deque, category: Any, stats: list[int]) -> Signal | None:
        cfg = self.config
        group, n = max(_by_product(q), key=lambda g: g[1])
        if n < cfg.minor_min:
            return self._pair(obs, key, q, category)
        days = max(7.0, day_index(obs.ts) - stats[0] + 1.0)
        share, lift = self._exposure(obs.ts, key[1])
        expected = max(stats[1] / days * cfg.window_days * share * lift, 0.001)
        p = poisson_upper_tail(n, expected)
        if p > cfg.minor_max_p:
            return self._pair(obs, key, q, category)
        base = min(score_from_p(p), 50.0 + 8.0 * (n - cfg.minor_min))
        worst = "serious" if any(x[2] in _SEVERE for x in group) else "minor"
        score, raisers = self.context.grading.raise_score(base, category, injury=worst)
        return self._signal(obs, key, group, score, "minor_cluster", {
            "injured": n, "expected": round(expected, 4), "city_share": round(share, 5),
            "national_lift": round(lift, 3), "statistic": "poisson_upper_tail", "p_value": p,
            "threshold": cfg.minor_max_p, "raised_by": raisers,
        }, f"{n} 起伤害聚集")

    def _pair(self, obs: Observation, key: tuple[str, str], q: deque, category: Any) -> Signal | None:
        """Vulnerable groups' products (children's, the elderly's): ``pair_min`` people hurt in one
        city within the window by products naming the same enterprise or brand as ``obs`` (named,
        not merely unnamed like the groups of ``_by_product``: a notice needs the maker)."""
        cfg = self.config
        if not category.vulnerable_group or not (obs.uscc or obs.brand) or cfg.pair_min < 1:
            return None
        named = [x for x in q if (obs.uscc and x[4] == obs.uscc) or (obs.brand and x[5] == obs.brand)]
        n = len({x[3] for x in named})
        if n < cfg.pair_min:
            return None
        score, raisers = self.context.grading.raise_score(cfg.pair_base, category, injury="minor")
        return self._signal(obs, key, named, score, "same_product", {
            "injured": n, "uscc": obs.uscc, "brand": obs.brand, "statistic": "count_of_injured_naming_one_maker",
            "threshold": cfg.pair_min, "raised_by": raisers,
        }, f"{n} 人被同一品牌产品伤害")

    def _count(self, ts: float, city: str) -> None:
        """Count a complaint towards its city's share and the nation's daily volume."""
        self.cities[city] = self.cities.get(city, 0) + 1
        if self.first_day is None:
            self.first_day = day_index(ts)
        self.total += 1
        self.daily.add(ts)

    def _exposure(self, ts: float, city: str) -> tuple[float, float]:
        """``(share, lift)``: the city's share of the nation's complaints (shrunk toward
        ``city_share``) and the nation's complaints in the window over its long-run average
        for a window (at least 1)."""
        cfg, first, total, daily = self.config, self.first_day, self.total, self.daily
        k = cfg.city_prior_complaints
        share = (self.cities.get(city, 0) + k * cfg.city_share) / (total + k)
        if first is None:
            return share, 1.0
        day = day_index(ts)
        elapsed = max(1.0, day - first + 1.0)  # days, today included
        recent = sum(daily.day_count(d) for d in range(day - math.ceil(cfg.window_days) + 1, daily.day + 1))
        lift = max(1.0, recent / (total / elapsed * min(cfg.window_days, elapsed))) if total else 1.0
        return share, lift

    def _maker(self, obs: Observation) -> Signal | None:
        """Count a complaint naming an enterprise; test the enterprise when it reports an injury."""
        cfg, ts = self.config, obs.ts
        day = day_index(ts)
        if day > self.sweep_day:
            self.sweep_day = day
            idle = ts - cfg.maker_idle_days * DAY
            self.makers = {u: m for u, m in self.makers.items() if m[2] >= idle}
        m = self.makers.get(obs.uscc)
        if m is None:
            m = self.makers[obs.uscc] = [ts, 0, ts, [], {}]
        m[1] += 1
        m[2] = max(m[2], ts)
        daily: dict[int, int] = m[4]
        daily[day] = daily.get(day, 0) + 1
        if len(daily) > cfg.window_days + 1:
            for d in [d for d in daily if d < day - cfg.window_days]:
                del daily[d]
        hurt = obs.injury in ("minor", "serious", "fatal")
        counts = self.national.get(obs.category)
        if counts is None:
            counts = self.national[obs.category] = [0, 0]
        counts[0] += 1
        counts[1] += hurt
        if not hurt:
            return None
        horizon = ts - cfg.window_days * DAY
        injuries = m[3] = [x for x in m[3] if x[0] >= horizon]
        who = obs.complainant or obs.event_id
        if any(x[3] == who for x in injuries):
            return None  # the same person reporting again adds nothing
        injuries.append([ts, obs.event_id, obs.injury, who, obs.category])
        n = len(injuries)
        if n < cfg.maker_min:
            return None
        days = max(cfg.maker_history_days, (ts - m[0]) / DAY)
        share = (counts[1] + cfg.injury_prior * cfg.injury_prior_complaints) / (
            counts[0] + cfg.injury_prior_complaints)
        recent = sum(k for d, k in daily.items() if d > day - cfg.window_days)
        exposure = max(recent, max(m[1] / days, cfg.maker_floor) * cfg.window_days)
        expected = exposure * share
        p = poisson_upper_tail(n, expected)
        if p > cfg.maker_max_p:
            return None
        cats = Counter(x[4] for x in injuries if x[4])
        cat = min(cats, key=lambda c: (-cats[c], c)) if cats else ""
        worst = max((x[2] for x in injuries), key=_RANK.__getitem__)
        # few tests run (one per injury naming an enterprise): passing the bar is blue; more
        # surprise or more people add points
        base = 50.0 + min(10.0 * math.log10(cfg.maker_max_p / max(p, 1e-300)), 8.0 * (n - cfg.maker_min + 1))
        score, raisers = self.context.grading.raise_score(base, self.context.catalogue.get(cat), injury=worst)
        scope = Scope(category=cat or None, uscc=obs.uscc)
        ordered = sorted(injuries, key=lambda x: (-_RANK[x[2]], -x[0]))
        return Signal(
            detector=self.name, scope=scope, ts=ts, window_start=day_index(injuries[0][0]) * DAY - CST_OFFSET,
            window_end=ts, score=score, trigger=obs.event_id,
            title=f"{self.context.scope_name(scope)} 产品伤害聚集 ({int(cfg.window_days)}天内 {n} 人受伤)",
            explanation={"test": "enterprise_cluster", "window_days": cfg.window_days, "contributing_sources": ["complaint"],
                         "injured": n, "worst": worst, "expected": round(expected, 4),
                         "enterprise_complaints_per_day": round(m[1] / days, 3), "enterprise_complaints_window": recent,
                         "injury_share": round(share, 6),
                         "statistic": "poisson_upper_tail", "p_value": p, "threshold": cfg.maker_max_p,
                         "raised_by": raisers},
            evidence=[x[1] for x in ordered])

    def _signal(self, obs: Observation, key: tuple[str, str], q: Sequence[tuple], score: float, test: str,
                facts: dict[str, Any], what: str) -> Signal:
        scope = Scope(region_code=key[1], category=key[0])
        days = int(self.config.window_days)
        start = (day_index(q[0][0]) * DAY) - CST_OFFSET
        return Signal(
            detector=self.name, scope=scope, ts=obs.ts, window_start=start, window_end=obs.ts, score=score,
            trigger=obs.event_id,
            title=f"{self.context.scope_name(scope)} 产品伤害 ({days}天内{what})",
            explanation={"test": test, "window_days": self.config.window_days, "contributing_sources": ["complaint"], **facts},
            evidence=[x[1] for x in sorted(q, key=lambda x: (x[2] != "fatal", x[2] != "serious", -x[0]))],
        )

    def _evict(self, ts: float) -> None:
        horizon = ts - self.config.window_days * DAY
        self.recent = {k: q for k, q in self.recent.items() if q and q[-1][0] >= horizon}

    def snapshot(self) -> dict[str, Any]:
        return {"layout": LAYOUT,
                "recent": {f"{c}|{r}": [list(x) for x in q] for (c, r), q in sorted(self.recent.items())},
                "minor_days": {k: list(v) for k, v in sorted(self.minor_days.items())},
                "makers": {u: [a, n, b, xs, [[d, k] for d, k in sorted(c.items())]]
                           for u, (a, n, b, xs, c) in sorted(self.makers.items())},
                "national": dict(sorted(self.national.items())),
                "sweep_day": self.sweep_day, "cities": dict(sorted(self.cities.items())),
                "volume": [self.first_day, self.total, self.daily.to_json()]}

    @classmethod
    def restore(cls, config: InjurySignalConfig, state: Mapping[str, Any], context: Context) -> InjurySignal:
        self = cls(config, context)
        for name, q in state["recent"].items():
            c, r = name.split("|")
            # layout 1 before makers were kept: (ts, id, injury, who)
            self.recent[(c, r)] = deque((float(x[0]), x[1], x[2], x[3], *(x[4:6] if len(x) > 4 else ("", "")))
                                        for x in q)
        self.minor_days = {k: list(v) for k, v in state["minor_days"].items()}
        self.makers = {u: [float(a), int(n), float(b), [list(x) for x in xs], {int(d): int(k) for d, k in c}]
                       for u, (a, n, b, xs, c) in state.get("makers", {}).items()}
        self.national = {c: list(v) for c, v in state.get("national", {}).items()}
        self.sweep_day = int(state.get("sweep_day", -1))
        self.cities = {c: int(k) for c, k in state.get("cities", {}).items()}
        first, total, daily = state.get("volume", [None, 0, None])
        self.first_day, self.total = None if first is None else int(first), int(total)
        self.daily = CountSeries.from_json(daily) if daily is not None else CountSeries()
        return self


def _by_product(q: Sequence[tuple]) -> list[tuple[list[tuple], int]]:
    """The injuries of ``q`` grouped by the product they may share, each group with its distinct
    people: per maker named (enterprise and brand), its injuries and those naming none; and the
    injuries naming none by themselves. A group never holds two makers' goods."""
    makers = dict.fromkeys((x[4], x[5]) for x in q if x[4] or x[5])
    groups = [[x for x in q if not (x[4] or x[5])]]
    for u, b in makers:
        groups.append([x for x in q if not ((u and x[4] and x[4] != u) or (b and x[5] and x[5] != b))])
    return [(g, len({x[3] for x in g})) for g in groups if g]
