"""``opinion_burst``: bursts of adverse public-opinion posts (舆情) against their baseline.

An *adverse* post is negative (``sentiment`` ≤ ``negative_sentiment``) or reports a hazard
(``hazard`` ≥ ``hazard_threshold``, from risk terms such as 起火, 爆炸, 甲醛, 致癌) without
being positive; neutral and positive posts are never counted, so a positive viral post is
never a warning. Keys count posts weighted by category confidence (``Observation.weight``
≤ 1, so a weighted count of *n* is at least *n* distinct posts — one viral post is no burst):

- ``n|category|region``: adverse posts about a category, nationally (``000000``), per province
  and per city (a scare starts in one city: its own key sees it hours before the province's);
- ``r|category|region``: hazard (risk-term) posts about a category, at the same levels;
- ``u|uscc``: adverse posts naming an enterprise (scope ``{uscc}`` and the category most of
  the posts are about, kept while its warning is open);
- ``m|uscc|city``: adverse posts naming an enterprise in one city (scope city + enterprise):
  a local fire or injury story about one brand is reposted in its city first. Its
  expectation is the larger of its own baseline and the enterprise's national rate times
  the city's learned share of all adverse posts — posts naming one maker in one city are
  rare, so a handful of them is news long before the category's city key sees a burst;
- ``b|category|brand``: adverse posts naming a brand but no enterprise (scope national +
  category, one episode per brand).

Two windows are tested against the key's daily baseline (``CountSeries``: 28 days ending two
days back, outbreak days left out, taken at its upper confidence bound): the last 24 h,
its expectation scaled up by the national adverse-post activity (so 3·15, when every
category is discussed more, is no warning anywhere), and the last ``short_hours``, its
expectation scaled by the national activity of those hours against a day (which also
carries the time of day) — a fast wave shows there hours before it dominates a day. A
window needs ``min_posts`` weighted posts, ``min_ratio`` × its expectation and a
negative-binomial tail (Bonferroni over the two windows) ≤ ``alpha``. Reach (followers +
10·reposts + …) sets magnitude only: a few points per decade. When most posts come from
one province, the explanation and the title say so; a province's own signal is left out
while its category's national key reports a nation-wide wave it is only a small part of.

Cost: a neutral or positive post returns after two comparisons; an adverse one costs a few
dict look-ups and ``CountSeries.add`` per key; a tail is computed only when a window passes
a per-key bar cached once a day (a lower bound of what could be significant).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.base import CST_OFFSET, DAY, HOUR, Context, DetectorConfig, Observation, Signal, day_index
from detectors.series import CountSeries
from detectors.stats import negbin_upper_tail, score_from_p
from schemas.alert import Scope
from schemas.regions import NATIONAL

__all__ = ["OpinionBurst", "OpinionBurstConfig"]

LAYOUT = 1
_NO_BAR = 1e18  # "nothing can be significant yet" (JSON has no infinity)
_DAYS = 35  # CountSeries keeps 35 daily counts: a key quiet that long has no baseline left
_KINDS = {"n": "category", "r": "category", "u": "enterprise", "m": "enterprise_city", "b": "brand"}


@dataclass(frozen=True)
class OpinionBurstConfig(DetectorConfig):
    """Parameters; counts are weighted posts.

    ``negative_sentiment``: a post at or below this sentiment (−1..1) is negative;
    ``hazard_threshold``: hazard (0..1) that makes a post a risk-term post, counted only at
    sentiment ≤ ``risk_max_sentiment``; ``alpha``: tail probability to beat;
    ``min_posts``: least weighted posts in a window; ``min_ratio``: least observed/expected;
    ``short_hours``: the short window (hours, 1–23; 0 switches it off);
    ``negative_floor`` / ``risk_floor``: least expectation of a window (posts; new or quiet
    keys); ``min_baseline_days``: baseline days a key needs; ``baseline_z``: the daily
    expectation is the baseline mean plus this many standard errors; ``max_dispersion``: cap
    of the variance/mean ratio; ``max_base``: cap of the statistical part of the score —
    talk is no confirmed hazard, red needs raisers (injury reports, vulnerable groups) too;
    ``reach_base`` / ``reach_per_decade`` / ``reach_max``: score points per decade of the
    evidence's reach above ``reach_base``; ``focus_share``: share of a window's posts from
    one province that makes it the regional focus; ``evidence``: posts remembered per key;
    ``city_level``: also keep category keys per city; ``min_history_days``: two weeks, as for
    every baseline detector — a key's dispersion needs 7 baseline days, which end two days back,
    and until then its tail is Poisson's, too thin for the bursty chatter about a brand.
    """

    min_history_days: float = 14.0
    cooldown_hours: float = 48.0
    negative_sentiment: float = -0.25
    hazard_threshold: float = 0.6
    risk_max_sentiment: float = 0.2
    alpha: float = 1e-5
    min_posts: float = 5.0
    min_ratio: float = 2.0
    short_hours: int = 3
    negative_floor: float = 1.0
    risk_floor: float = 0.3
    min_baseline_days: int = 3
    baseline_z: float = 2.0
    max_dispersion: float = 5.0
    max_base: float = 75.0
    reach_base: float = 1e4
    reach_per_decade: float = 2.5
    reach_max: float = 10.0
    focus_share: float = 0.6
    city_level: bool = True
    maker_city: bool = True
    maker_city_min_posts: float = 4.0
    maker_city_floor: float = 0.02
    place_half_life_days: float = 28.0
    evidence: int = 8


class _Key:
    """One key: its counts, the day's cached baseline (``mean``, its upper bound ``exp`` with
    the floor applied, ``disp``ersion, the 24 h ``bar``), when it last fired, its latest
    posts (``OpinionBurst._record`` tuples, oldest first: the evidence of a signal) and, for an
    enterprise key, the ``cat``egory its last signal was reported under."""

    __slots__ = ("bar", "bar_day", "cat", "disp", "exp", "fired", "mean", "recent", "series")

    def __init__(self) -> None:
        self.series = CountSeries()
        self.recent: list[tuple[Any, ...]] = []
        self.bar, self.bar_day, self.mean, self.exp, self.disp, self.fired = _NO_BAR, -1, 0.0, _NO_BAR, 1.0, -1.0
        self.cat = ""

    def to_json(self) -> list[Any]:
        return [self.series.to_json(), [list(r) for r in self.recent], self.bar, self.bar_day, self.mean, self.exp,
                self.disp, self.fired, self.cat]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> _Key:
        k = cls()
        series, recent, k.bar, k.bar_day, k.mean, k.exp, k.disp, k.fired, *cat = data
        k.cat = cat[0] if cat else ""  # (snapshots before the category was kept have none)
        k.series, k.recent = CountSeries.from_json(series), [tuple(x) for x in recent]
        return k


class OpinionBurst:
    """See the module docstring. Called by the engine with opinion observations in event-time
    order; ``update`` never raises on odd observations (non-finite numbers are ignored)."""

    name: ClassVar[str] = "opinion_burst"
    version: ClassVar[str] = "1.0.0"
    sources: ClassVar[frozenset[str]] = frozenset({"opinion"})

    def __init__(self, config: OpinionBurstConfig, context: Context) -> None:
        self.config, self.context = config, context
        self.keys: dict[str, _Key] = {}
        self.activity = CountSeries()  # every adverse post, all categories: the national activity
        self.lift_hour, self.lift, self.short_factor, self.activity_mean = -1, 1.0, 1.0, 0.0
        self.first_ts: float | None = None
        self.day = -1
        self._provinces = tuple(sorted(r.code for r in context.regions if r.level == "province"))
        self._names: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}  # (category, city) → keys
        # city → adverse posts, each weighted 2^(days since the first post / half-life): shares
        # of the total are the cities' recent shares without any decaying pass
        self.places: dict[str, float] = {}
        self.places_total = 0.0

    # -- scoring ---------------------------------------------------------------------------
    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        cfg = self.config
        neg_at, haz_at, risk_sent, span = cfg.negative_sentiment, cfg.hazard_threshold, cfg.risk_max_sentiment, \
            max(0, min(23, cfg.short_hours))
        out: list[Signal] = []
        for obs in batch:
            ts, sent = obs.ts, obs.sentiment
            risky = obs.hazard >= haz_at and sent <= risk_sent
            if not (sent <= neg_at or risky) or obs.source != "opinion" or not math.isfinite(ts):
                continue
            w = obs.weight
            if not w > 0.0:  # also NaN
                continue
            if w > 1.0:
                w = 1.0
            if self.first_ts is None:
                self.first_ts = ts
            h, d = int(ts // HOUR), int((ts + CST_OFFSET) // DAY)
            if d > self.day:
                self._sweep(d)
            self.activity.add(ts, w)
            warm = ts - self.first_ts >= cfg.min_history_days * DAY
            if warm and h != self.lift_hour:
                self._activity(ts, h)
            cat, chain = obs.category, obs.chain
            city = chain[-2] if len(chain) >= 2 else ""
            if city:
                g = self._g(ts) * w
                self.places[city] = self.places.get(city, 0.0) + g
                self.places_total += g
            todo: list[tuple[str, str, float]] = []
            if cat:
                memo = (cat, city or (chain[-1] if chain else ""))
                names = self._names.get(memo)
                if names is None:
                    names = self._names[memo] = self._key_names(cat, chain)
                for ks in (names[1] if risky else names[0]):
                    todo.append((ks, ks[0], w))
                if obs.brand and not obs.uscc:
                    todo.append((f"b|{cat}|{obs.brand}", "b", w))
            if obs.uscc:
                todo.append((f"u|{obs.uscc}", "u", 1.0))  # the enterprise is named whatever the category
                if city and cfg.maker_city:
                    todo.append((f"m|{obs.uscc}|{city}", "m", 1.0))
            record = self._record(obs)
            for ks, kind, weight in todo:
                key = self.keys.get(ks)
                if key is None:
                    key = self.keys[ks] = _Key()
                elif kind in ("u", "m") and key.recent and key.recent[-1][1] == obs.event_id:
                    continue  # the same post fanned out to another category names the enterprise once
                series = key.series
                series.add(ts, weight)
                rec = key.recent
                rec.append(record)
                if len(rec) > cfg.evidence:
                    del rec[0]
                if not warm:
                    continue
                total = series.h24  # the running 24 h sum that ``add`` just rolled to this hour
                least = self._least(kind)
                if total < least:
                    continue
                if key.bar_day != d:
                    self._refresh(key, ts, d, kind, ks)
                short = 0.0
                if span and series.hour == h:
                    short = _ring_sum(series.hours, h, span)
                    if short < least or short < cfg.min_ratio * max(key.exp * self.short_factor, self._floor(kind)):
                        short = 0.0
                if total >= key.bar or short:
                    sig = self._evaluate(ks, kind, key, obs, total, short, span)
                    if sig is not None:
                        out.append(sig)
        return out

    def _key_names(self, cat: str, chain: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The category keys a post updates: ``(negative keys, negative + risk keys)``, the city's
        before the province's before the nation's, so that a wider signal knows whether the
        narrower region reported (memoised by the caller per category and city)."""
        regions = [chain[-2]] if self.config.city_level and len(chain) >= 2 else []
        regions += [chain[-1], NATIONAL] if chain else [NATIONAL]
        neg = tuple(f"n|{cat}|{r}" for r in regions)
        return neg, neg + tuple(f"r|{cat}|{r}" for r in regions)

    def _record(self, obs: Observation) -> tuple[Any, ...]:
        """What a key remembers of a post: ``(ts, event_id, region, reach, "term|term", category, hurt)``."""
        reach = obs.reach if 0.0 < obs.reach < 1e15 else 0.0
        terms = "|".join(obs.risk_terms[:3]) if obs.hazard >= self.config.hazard_threshold else ""
        return (int(obs.ts), obs.event_id, obs.region, int(reach), terms, obs.category, int(obs.injury == "reported"))

    def _g(self, ts: float) -> float:
        """The growth weight of a post at ``ts``: 2^(days since the first post / half-life)."""
        return 2.0 ** ((ts - (self.first_ts or ts)) / (self.config.place_half_life_days * DAY))

    def _floor(self, kind: str) -> float:
        """The least expectation of a window of a key of this kind."""
        cfg = self.config
        return cfg.risk_floor if kind == "r" else cfg.maker_city_floor if kind == "m" else cfg.negative_floor

    def _least(self, kind: str) -> float:
        """The least posts a window of a key of this kind needs."""
        return self.config.maker_city_min_posts if kind == "m" else self.config.min_posts

    def _refresh(self, key: _Key, ts: float, d: int, kind: str, ks: str) -> None:
        """Once a day per key: baseline mean, its upper bound, dispersion, and the 24 h bar. An
        enterprise-in-city key expects at least its enterprise's national expectation times the
        city's share of adverse posts."""
        cfg = self.config
        since = day_index(self.first_ts if self.first_ts is not None else ts) + 1  # the first day is partial
        mean, var, n = key.series.baseline(ts, since)
        floor = self._floor(kind)
        if kind == "m":
            _, uscc, city = ks.split("|", 2)
            whole = self.keys.get(f"u|{uscc}")
            if whole is not None and self.places_total > 0:
                if whole.bar_day != d:
                    self._refresh(whole, ts, d, "u", f"u|{uscc}")
                if whole.exp < _NO_BAR:
                    floor = max(floor, whole.exp * self.places.get(city, 0.0) / self.places_total)
        key.bar_day, key.mean = d, mean
        key.disp = max(1.0, min(cfg.max_dispersion, var / mean)) if mean > 0 and n >= 7 else 1.0
        if n < cfg.min_baseline_days:
            key.bar = key.exp = _NO_BAR
            return
        # The baseline is an estimate from n days; its upper confidence bound is the expectation,
        # which matters for sparse keys, where a window scanned every hour is many looks.
        key.exp = max(floor, mean + cfg.baseline_z * math.sqrt(key.disp * max(mean, floor) / n))
        key.bar = max(self._least(kind), cfg.min_ratio * key.exp, key.exp + 3.0 * math.sqrt(key.disp * key.exp))

    def _activity(self, ts: float, h: int) -> None:
        """Once an hour: the national activity's daily mean, the lift of the last 24 h (≥ 1) and the
        share of a normal day the last complete ``short_hours`` held (for the pre-check)."""
        since = day_index(self.first_ts if self.first_ts is not None else ts) + 1
        mean, _, n = self.activity.baseline(ts, since)
        self.lift_hour, self.lift, self.short_factor, self.activity_mean = h, 1.0, 1.0, 0.0
        if n >= self.config.min_baseline_days and mean > 0:
            self.activity_mean = mean
            self.lift = max(1.0, self.activity.last_24h(ts) / mean)
            self.short_factor = self._short_factor(h - 1)

    def _short_factor(self, h: int) -> float:
        """National adverse posts in the ``short_hours`` ending with hour ``h`` over a day's mean:
        the expected share of a day those hours hold (time of day and calendar included)."""
        span = full = max(1, min(23, self.config.short_hours))
        last = self.activity.hour
        if not self.activity_mean or h <= last - 24:
            return 1.0
        if h > last:  # hours after the last adverse post were empty
            span, h = span - (h - last), last
        seen = _ring_sum(self.activity.hours, h, span) if span > 0 else 0.0
        return max(full / 96, seen / self.activity_mean)  # never below a quarter of a flat day's share

    def _evaluate(self, ks: str, kind: str, key: _Key, obs: Observation, total: float, short: float,
                  span: int) -> Signal | None:
        """Test the windows that passed their bars; a signal when one beats ``alpha``."""
        cfg = self.config
        floor = self._floor(kind)
        tests = []
        if total >= key.bar and total >= cfg.min_ratio * key.exp * self.lift:
            expected = key.exp * self.lift
            tests.append((2 * negbin_upper_tail(math.floor(total + 1e-9), expected, key.disp), 24, total, expected))
        if short:
            expected = max(key.exp * self._short_factor(int(obs.ts // HOUR)), floor)
            tests.append((2 * negbin_upper_tail(math.floor(short + 1e-9), expected, key.disp), span, short, expected))
        if not tests:
            return None
        p, hours, observed, expected = min(tests)
        if p > cfg.alpha:
            return None
        key.series.flag(obs.ts)  # an outbreak must not become its own baseline
        parts = ks.split("|", 2)
        window = [r for r in key.recent if r[0] > obs.ts - hours * HOUR]
        if kind == "m" and self._within_reported(f"u|{parts[1]}", total, obs.ts):
            return None  # a small part of a nation-wide wave about the enterprise, reported as such
        focus = self._focus(kind, parts, window, total, obs.ts) if kind != "m" else None
        if kind in ("n", "r"):  # one warning per burst: the city's, the province's, or the nation's
            province = parts[2][:2] + "0000"
            # the wider key of either test: the nation's negative burst reports its provinces' risk terms too
            if parts[2] not in (NATIONAL, province) and \
                    any(self._within_reported(f"{k}|{parts[1]}|{province}", total, obs.ts) for k in "nr"):
                return None  # a small part of a province-wide wave that the province reports
            if parts[2] != NATIONAL:
                if any(self._within_reported(f"{k}|{parts[1]}|{NATIONAL}", total, obs.ts) for k in "nr"):
                    return None  # a small part of a nation-wide wave that the national key reports
            elif focus is not None:
                own = self.keys.get(f"{kind}|{parts[1]}|{focus['province']}")
                if own is not None and own.fired > obs.ts - DAY:
                    return None  # a burst in one province, which its own key reports
        previous, key.fired = key.fired, obs.ts
        if kind in ("u", "m") and not (key.cat and previous > obs.ts - self.config.cooldown_hours * HOUR):
            # an enterprise's burst keeps the category it is reported under while its warning is
            # open: posts naming it lean to one category or a neighbouring one (校服 / 服装) from one
            # window to the next, and a flip must not open a second warning for the same burst
            key.cat = _most_common([r[5] for r in window if r[5]])
        return self._signal(parts, kind, key, obs, (p, hours, observed, expected, total), window, focus)

    def _within_reported(self, wider: str, total: float, ts: float) -> bool:
        """Whether the ``wider`` key fired within a day and ``total`` posts are only a small part
        (below ``focus_share``) of its last 24 h: its warning already reports them."""
        key = self.keys.get(wider)
        return key is not None and key.fired > ts - DAY and total < self.config.focus_share * key.series.last_24h(ts)

    def _signal(self, parts: list[str], kind: str, key: _Key, obs: Observation,
                test: tuple[float, int, float, float, float], window: list[tuple[Any, ...]],
                focus: dict[str, Any] | None) -> Signal:
        """The signal of a test ``(p, window hours, observed, expected, 24 h count)`` that passed."""
        cfg = self.config
        p, hours, observed, expected, total = test
        reach = float(sum(r[3] for r in window))
        stat = min(score_from_p(p), 45.0 + 9.0 * math.log2(max(observed - expected, 1.0)), cfg.max_base)
        reach_pts = min(cfg.reach_max, max(0.0, cfg.reach_per_decade * (math.log10(1.0 + reach)
                                                                         - math.log10(cfg.reach_base))))
        cat = key.cat if kind in ("u", "m") else parts[1]
        category = self.context.catalogue.get(cat) if cat else None
        hurt = any(r[6] for r in window)
        score, raisers = self.context.grading.raise_score(stat + reach_pts, category, "reported" if hurt else "")
        if kind in ("u", "m"):
            scope, episode = Scope(region_code=parts[2] if kind == "m" else None, uscc=parts[1],
                                   category=cat or None), ""
            place = self.context.regions.full_name(parts[2]) + " " if kind == "m" else ""
            label = f"{place}企业{parts[1]}" + (f" ({category.name_zh})" if category is not None else "")
        else:
            scope = Scope(region_code=parts[2] if kind != "b" else NATIONAL, category=cat)
            episode = f"brand:{parts[2]}" if kind == "b" else ""  # the negative and risk-term tests share one
            label = self._scope_label(scope) + (f" 品牌「{parts[2]}」" if kind == "b" else "")
        terms = Counter(t for r in window for t in r[4].split("|") if t)
        top = "、".join(t for t, _ in sorted(terms.items(), key=lambda x: (-x[1], x[0]))[:3])
        where = f"，集中在{focus['name']}" if focus else ""
        if kind == "r":
            title = f"{label} 舆情风险词激增 (近{hours}小时 {observed:.0f} 条{'：' + top if top else ''}, " \
                    f"基线 {expected:.1f}{where})"
        else:
            title = f"{label} 负面舆情激增 (近{hours}小时 {observed:.0f} 条, 基线 {expected:.1f}, " \
                    f"传播量 {_reach_zh(reach)}{where})"
        explanation: dict[str, Any] = {
            "test": "risk_terms" if kind == "r" else "negative", "key": _KINDS[kind], "window_hours": hours,
            "observed": round(observed, 3), "expected": round(expected, 3), "observed_24h": round(total, 3),
            "baseline_daily_mean": round(key.mean, 3), "national_activity": round(self.lift, 3),
            "dispersion": round(key.disp, 3), "statistic": "negative_binomial_upper_tail", "p_value": p,
            "threshold": cfg.alpha, "min_posts": cfg.min_posts, "min_ratio": cfg.min_ratio,
            "counting": "adverse posts weighted by category confidence", "reach_of_evidence": reach,
            "reach_points": round(reach_pts, 2), "risk_terms": dict(sorted(terms.items())),
            "injury_reported": hurt, "raised_by": raisers, "contributing_sources": ["opinion"],
        }
        if kind == "b":
            explanation["brand"] = parts[2]
        if focus:
            explanation["regional_focus"] = focus
        evidence = [r[1] for r in sorted(key.recent, key=lambda r: (-r[3], -r[0], r[1]))]
        return Signal(detector=self.name, scope=scope, ts=obs.ts, window_start=(int(obs.ts // HOUR) - hours + 1) * HOUR,
                      window_end=obs.ts, score=score, title=title, explanation=explanation, evidence=evidence,
                      episode_key=episode, trigger=obs.event_id)

    def _scope_label(self, scope: Scope) -> str:
        if scope.region_code == NATIONAL:
            cat = self.context.catalogue.get(scope.category or "")
            return f"全国 {cat.name_zh if cat else scope.category}"
        return self.context.scope_name(scope)

    def _focus(self, kind: str, parts: list[str], window: list[tuple[Any, ...]], total: float,
               ts: float) -> dict[str, Any] | None:
        """The province most of the posts come from, when it holds ≥ ``focus_share`` of them."""
        counts: dict[str, float] = {}
        if kind in ("n", "r"):
            if parts[2] != NATIONAL:
                return None  # already a province
            for p in self._provinces:
                k = self.keys.get(f"{kind}|{parts[1]}|{p}")
                if k is not None:
                    counts[p] = k.series.last_24h(ts)
        else:  # enterprise and brand keys: the provinces of the remembered posts
            counts = dict(Counter(self.context.regions.province(r[2]) for r in window if r[2]))
            total = float(len(window))
        counts.pop("", None)
        if not counts or total <= 0:
            return None
        best = min(counts, key=lambda p: (-counts[p], p))
        share = counts[best] / total
        if share < self.config.focus_share:
            return None
        return {"province": best, "name": self.context.regions.name(best), "posts": round(counts[best], 3),
                "share": round(min(1.0, share), 3)}

    def _sweep(self, d: int) -> None:
        """Once a day: forget keys quiet for longer than the 35-day baseline."""
        self.day = d
        self.keys = {k: v for k, v in self.keys.items() if v.series.day > d - _DAYS}

    # -- state -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"layout": LAYOUT, "first_ts": self.first_ts, "day": self.day,
                "lift": [self.lift_hour, self.lift, self.short_factor, self.activity_mean],
                "activity": self.activity.to_json(),
                "keys": {k: v.to_json() for k, v in sorted(self.keys.items())},
                "places": [self.places_total, dict(sorted(self.places.items()))]}

    @classmethod
    def restore(cls, config: OpinionBurstConfig, state: Mapping[str, Any], context: Context) -> OpinionBurst:
        self = cls(config, context)
        self.first_ts, self.day = state["first_ts"], state["day"]
        self.lift_hour, self.lift, self.short_factor, self.activity_mean = state["lift"]
        self.activity = CountSeries.from_json(state["activity"])
        self.keys = {k: _Key.from_json(v) for k, v in state["keys"].items()}
        total, places = state.get("places", [0.0, {}])
        self.places_total, self.places = float(total), {k: float(v) for k, v in places.items()}
        return self


def _ring_sum(hours: list[float], h: int, span: int) -> float:
    """Sum of the ``span`` hourly slots ending with hour ``h`` of a 24-slot ring."""
    i = (h - span + 1) % 24
    return sum(hours[i:i + span]) if i + span <= 24 else sum(hours[i:]) + sum(hours[:i + span - 24])


def _most_common(values: list[str]) -> str:
    """The most frequent value (ties: the smallest), ``""`` for none."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v)) if counts else ""


def _reach_zh(reach: float) -> str:
    """Reach in Chinese units: ``_reach_zh(12000) == '1.2万'``."""
    if reach >= 1e8:
        return f"{reach / 1e8:.1f}亿"
    if reach >= 1e4:
        return f"{reach / 1e4:.1f}万"
    return f"{reach:.0f}"
