"""``complaint_surge``: complaints per (category, region level) against their baseline.

Two tests per key (category × county / city / province / national):

- **Surge** — distinct complainants in the last 24 h against a baseline from the key's
  daily counts over the previous 28 days (outbreak days left out), scaled by the current
  national activity level, with a quasi-Poisson (negative binomial) tail à la Farrington.
- **Slow rise** — a daily Poisson CUSUM (Lucas 1985) against a baseline lagged by two
  weeks, at province and national level, for rises too gentle for the 24 h test. Once the
  sum has crossed the threshold it signals daily until it falls below half of it, so a trend
  hovering at the threshold is one open warning (escalating as it grows), not a new warning
  at every crossing.

Two discounts keep known non-risks quiet:

- complaints are counted once per complainant pseudonym and category per 30 days, so a
  professional claimant (职业索赔人) filing dozens of 退一赔十 complaints counts once;
- the expectation is multiplied by the national all-category activity ratio (last 24 h
  against its own baseline), so a nation-wide calendar surge (3·15, 双十一) across all
  categories raises every expectation alike and is not a warning anywhere; as a category's
  or a place's own part in such a lift varies (``calendar_cv``), the tail is widened in
  proportion to the lift, so busy keys on 3·15 need a clearer excess.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.base import CST_OFFSET, DAY, HOUR, Context, DetectorConfig, Observation, Signal, day_index, hour_index
from detectors.series import CountSeries
from detectors.stats import cusum_poisson_step, negbin_upper_tail, score_from_p
from schemas.alert import Scope
from schemas.regions import NATIONAL

__all__ = ["ComplaintSurge", "ComplaintSurgeConfig"]

LAYOUT = 1
_LEVELS = ("county", "city", "province", "national")
_NO_SLOTS = ("", "", "")  # an unknown region's (county, city, province)


@dataclass(frozen=True)
class ComplaintSurgeConfig(DetectorConfig):
    """``issues``: complaint issues that count (after-sales disputes are not product risks);
    ``min_count``: distinct complainants in 24 h needed per level (county, city, province,
    national); ``min_ratio``: observed/expected needed; ``floor``: the least expected 24 h
    count per level (sparse keys); ``max_p``: the tail probability a surge must beat, after
    multiplying it by ``level_tests`` of its level (a county has ~8× the keys of a city, and
    chance blips grow with the keys tested: Bonferroni by level, relative to cities). The test
    runs on every complaint over some 25,000 (category, city) keys and their counties: at 1e-6
    pure Poisson background gave a chance surge every two months (10 in seeds 0–9), so 1e-7;
    ``complainant_days``: how long a complainant counts once per category;
    ``cusum_h``: CUSUM alarm threshold (log-likelihood-ratio units), ``cusum_shift``: the
    relative rise it is tuned to, ``cusum_min_mean``: the least daily baseline it assumes (a
    sparse key must rise to a few complaints a day before its sum grows), ``cusum_day_cap``: the
    most one day counts, as a multiple of its baseline; ``cusum_rearm``: once a sum has crossed
    ``cusum_h``, it signals every day until it falls below this share of ``cusum_h`` (a trend
    hovering at the threshold keeps one warning open, escalating as it grows, instead of a new
    warning at every crossing); ``calendar_cv``: how much a key's own
    share of a nation-wide calendar lift varies (coefficient of variation of its excess: 3·15
    exposés stir some categories more than others), which widens the tail on such days;
    ``evidence``: event ids kept per key."""

    issues: tuple[str, ...] = ("quality", "safety", "counterfeit", "false_advertising", "labeling", "other")
    min_count: tuple[int, int, int, int] = (6, 5, 8, 12)  # 5 in a county where none is usual: a chance blip a month
    min_ratio: float = 2.0
    floor: tuple[float, float, float, float] = (0.03, 0.1, 0.5, 2.0)
    max_p: float = 1e-7
    level_tests: tuple[float, float, float, float] = (8.0, 1.0, 1.0, 1.0)
    calendar_cv: float = 0.5
    complainant_days: int = 30
    cusum_levels: tuple[str, ...] = ("province", "national")
    cusum_h: float = 12.0
    cusum_shift: float = 1.5
    cusum_min_mean: float = 3.0
    cusum_day_cap: float = 2.5
    cusum_rearm: float = 0.5
    evidence: int = 40
    cooldown_hours: float = 72.0


class _Key:
    __slots__ = ("cusum", "cusum_day", "cusum_fired", "recent", "series")

    def __init__(self) -> None:
        self.series = CountSeries()
        self.recent: deque[tuple[float, str]] = deque()
        self.cusum = 0.0
        self.cusum_day = -1
        self.cusum_fired = False  # the sum crossed the threshold and has not fallen below the re-arm level


class ComplaintSurge:
    """See the module docstring. Keys are ``(category, region_code)`` with ``000000`` for national."""

    name: ClassVar[str] = "complaint_surge"
    version: ClassVar[str] = "1.0.0"
    sources: ClassVar[frozenset[str]] = frozenset({"complaint"})

    def __init__(self, config: ComplaintSurgeConfig, context: Context) -> None:
        self.config, self.context = config, context
        self._issues = frozenset(config.issues)
        self.keys: dict[tuple[str, str], _Key] = {}
        self.national = CountSeries()  # all categories, distinct-weighted
        self.complainants: dict[tuple[str, str], int] = {}  # (pseudonym, category) → last day counted
        self.first_ts: float | None = None
        self.swept_day = -1
        # Derived from the state, for ``_sweep`` (not state): day → complainants counted that
        # day, day → keys whose latest day it became.
        self._expiry: dict[int, list[tuple[str, str]]] = {}
        self._quiet: dict[int, list[tuple[str, str]]] = {}

    # -- scoring ---------------------------------------------------------------------------
    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        out: list[Signal] = []
        cfg = self.config
        min_count, evidence, history = cfg.min_count, cfg.evidence, cfg.min_history_days * DAY
        cusum_at = tuple(level in cfg.cusum_levels for level in _LEVELS)
        issues, slots_of, keys_of = self._issues, self.context.regions.slots, self.keys
        for obs in batch:
            if obs.source != "complaint" or not obs.category or obs.issue not in issues:
                continue
            ts = obs.ts
            if self.first_ts is None:
                self.first_ts = ts
            day = int((ts + CST_OFFSET) // DAY)  # day_index, inlined
            if day > self.swept_day:
                self._sweep(day)
            w = self._weight(obs, day)
            self.national.add(ts, w)
            if w <= 0:
                continue
            warm = ts - self.first_ts >= history
            regions = (*slots_of.get(obs.region, _NO_SLOTS), NATIONAL)  # RegionTable.levels + the nation
            keys: list[_Key | None] = []
            item = (ts, obs.event_id)  # one immutable evidence entry shared by the four keys
            stale = ts - DAY
            for li, region in enumerate(regions):
                if not region:
                    keys.append(None)
                    continue
                ck = (obs.category, region)
                key = keys_of.get(ck)
                if key is None:
                    key = keys_of[ck] = _Key()
                # (the CUSUM has nothing to close while its day is the observation's)
                if warm and cusum_at[li] and key.cusum_day != day:
                    sig = self._cusum(key, obs, region, day)
                    if sig is not None:
                        out.append(sig)
                series = key.series
                seen = series.day
                series.add(ts, w)
                if series.day != seen:
                    quiet = self._quiet.get(series.day)
                    if quiet is None:
                        quiet = self._quiet[series.day] = []
                    quiet.append(ck)
                recent = key.recent
                recent.append(item)
                while recent and (recent[0][0] <= stale or len(recent) > evidence):
                    recent.popleft()
                keys.append(key)
            if warm:
                # Every key was just rolled to ``ts`` by ``add``, so its running 24 h sum is the
                # observed count. The activity ratio and the parent prior are pure look-ups (they
                # change no state but a cache), needed only when a key has enough complaints.
                activity = None
                for li, key in enumerate(keys):
                    if key is not None and key.series.h24 >= min_count[li]:
                        if activity is None:
                            activity = self._activity(ts)
                        prior = self._prior(keys, regions, li, ts)
                        sig = self._surge(key, obs, regions[li], li, activity, prior)
                        if sig is not None:
                            out.append(sig)
        return out

    def _weight(self, obs: Observation, day: int) -> float:
        """1 for the first complaint of a complainant about a category in the window, else 0."""
        if not obs.complainant:
            return obs.weight
        ck = (obs.complainant, obs.category)
        last = self.complainants.get(ck)
        if last is None or day - last >= self.config.complainant_days:
            self.complainants[ck] = day
            self._expiry.setdefault(day, []).append(ck)
            return obs.weight
        return 0.0

    def _activity(self, ts: float) -> float:
        """National all-category complaints in the last 24 h against their baseline, clamped to [0.5, 4]."""
        mean, _, n = self.national.baseline(ts, day_index(self.first_ts or ts))
        if n < 7 or mean <= 0:
            return 1.0
        return max(0.5, min(4.0, self.national.last_24h(ts) / mean))

    def _prior(self, keys: list[_Key | None], regions: Sequence[str], li: int, ts: float) -> float:
        """The parent level's daily mean shared evenly among its children: the expectation of
        a key too sparse to have a baseline of its own (hierarchical, as in small-area rates)."""
        for pi in range(li + 1, 4):
            parent = keys[pi]
            if parent is not None:
                mean, _, n = parent.series.baseline(ts, day_index(self.first_ts or ts))
                if n == 0:
                    return 0.0
                kids = len(self.context.regions.children(regions[pi])) if pi < 3 else 34
                return mean / max(1, kids)
        return 0.0

    def _surge(self, key: _Key, obs: Observation, region: str, li: int, activity: float,
               prior: float = 0.0) -> Signal | None:
        cfg = self.config
        observed = key.series.last_24h(obs.ts)
        if observed < cfg.min_count[li]:
            return None
        mean, var, n = key.series.baseline(obs.ts, day_index(self.first_ts or obs.ts))
        expected = max(max(mean, prior) * activity, cfg.floor[li])
        if observed < cfg.min_ratio * expected:
            return None
        dispersion = max(1.0, min(5.0, var / mean)) if mean > 0 and n >= 7 else 1.0
        # the national lift is one number; this key's own lift is uncertain around it (φ += Var / E)
        lift_sd = cfg.calendar_cv * abs(activity - 1.0) * max(mean, prior)
        dispersion += lift_sd * lift_sd / expected
        tail = negbin_upper_tail(observed, expected, dispersion)
        p = min(1.0, tail * cfg.level_tests[li])
        if p > cfg.max_p:
            return None
        excess = observed - expected
        magnitude = 45.0 + 9.0 * _log2(max(excess, 1.0))
        base = min(score_from_p(p), magnitude)
        category = self.context.catalogue.get(obs.category)
        score, raisers = self.context.grading.raise_score(base, category)
        key.series.flag(obs.ts)
        scope = Scope(region_code=region, category=obs.category)
        name = self.context.scope_name(scope) if region != NATIONAL else f"全国 {category.name_zh if category else obs.category}"
        start = (hour_index(obs.ts) - 23) * HOUR
        evidence = [eid for _, eid in reversed(key.recent)]
        return Signal(
            detector=self.name, scope=scope, ts=obs.ts, window_start=start, window_end=obs.ts, score=score,
            trigger=obs.event_id,
            title=f"{name} 投诉量激增 (近24小时 {observed:.0f} 件, 基线 {expected:.1f})",
            explanation={
                "test": "surge", "observed": round(observed, 3), "expected": round(expected, 3),
                "baseline_daily_mean": round(mean, 3), "baseline_days": n, "parent_share_prior": round(prior, 4),
                "national_activity": round(activity, 3),
                "dispersion": round(dispersion, 3), "statistic": "negative_binomial_upper_tail", "p_value": tail,
                "p_adjusted": p, "level_tests": cfg.level_tests[li],
                "threshold": cfg.max_p, "min_ratio": cfg.min_ratio, "level": _LEVELS[li], "raised_by": raisers,
                "contributing_sources": ["complaint"], "counting": "distinct complainants per category per 30 days",
            },
            evidence=evidence,
        )

    def _cusum(self, key: _Key, obs: Observation, region: str, day: int) -> Signal | None:
        """Close the days since the key's last CUSUM update; signal while above threshold."""
        cfg = self.config
        if key.cusum_day < 0:
            key.cusum_day = day
            return None
        signal = None
        for d in range(key.cusum_day, day):
            if d < key.series.day - 34:
                continue
            x = key.series.day_count(d)
            mu0 = self._lagged_mean(key.series, d)
            if mu0 is None:
                key.cusum, key.cusum_fired = 0.0, False
                continue
            mu0 = max(mu0, cfg.cusum_min_mean)  # a floor, not a gate: a wavering baseline must not reset the sum
            nat = self.national.day_count(d)
            nat0 = self._lagged_mean(self.national, d)
            if nat0:
                mu0 *= max(0.5, min(4.0, nat / nat0))
            # a slow rise is a sustained moderate excess: a burst day (the surge test's business, or
            # its residue) adds no more than ``cusum_day_cap`` × the baseline would
            key.cusum, _ = cusum_poisson_step(key.cusum, min(x, cfg.cusum_day_cap * mu0), mu0, cfg.cusum_shift)
            if key.cusum > cfg.cusum_h:
                key.cusum_fired = True
            elif key.cusum < cfg.cusum_rearm * cfg.cusum_h:
                key.cusum_fired = False
            # from the crossing on, every day the sum stays above the re-arm level signals: a trend
            # hovering at the threshold keeps its one warning open (and escalates it as it grows)
            # instead of resolving and opening a new one at each re-crossing
            if key.cusum_fired:
                base = min(74.0, 50.0 + 3.0 * max(0.0, key.cusum - cfg.cusum_h))
                category = self.context.catalogue.get(obs.category)
                score, raisers = self.context.grading.raise_score(base, category)
                scope = Scope(region_code=region, category=obs.category)
                name = self.context.scope_name(scope) if region != NATIONAL else f"全国 {category.name_zh if category else obs.category}"
                signal = Signal(
                    detector=self.name, scope=scope, ts=obs.ts, window_start=(d - 13) * DAY - 8 * HOUR,
                    window_end=(d + 1) * DAY - 8 * HOUR, score=score, episode_key="trend", trigger=obs.event_id,
                    title=f"{name} 投诉量持续上升 (日均 {x:.0f} 件, 参考基线 {mu0:.1f})",
                    explanation={
                        "test": "slow_rise", "observed_day": round(x, 3), "expected_day": round(mu0, 3),
                        "statistic": "poisson_cusum", "cusum": round(key.cusum, 3), "threshold": cfg.cusum_h,
                        "shift": cfg.cusum_shift, "raised_by": raisers, "contributing_sources": ["complaint"],
                    },
                    evidence=[eid for _, eid in reversed(key.recent)],
                )
        key.cusum_day = day
        return signal

    def _lagged_mean(self, series: CountSeries, d: int) -> float | None:
        """Mean daily count over days d-34 … d-15 since the stream began (a baseline two weeks behind)."""
        first = day_index(self.first_ts or 0.0) + 1  # the first day is partial
        vals = [series.day_count(x) for x in range(max(d - 34, first), d - 14) if x > series.day - 35]
        return sum(vals) / len(vals) if len(vals) >= 7 else None

    def _sweep(self, day: int) -> None:
        """Once a day: forget keys quiet for 35 days and complainants past their window.

        Only the candidates are visited: ``_expiry`` lists the complainants counted on each day
        and ``_quiet`` the keys whose latest day became each day (an entry is stale when its
        key moved on since, which the test below sees)."""
        self.swept_day = day
        cutoff, horizon = day - self.config.complainant_days, day - 35
        complainants, keys = self.complainants, self.keys
        for d in [d for d in self._expiry if d <= cutoff]:
            for ck in self._expiry.pop(d):
                last = complainants.get(ck)
                if last is not None and last <= cutoff:
                    del complainants[ck]
        for d in [d for d in self._quiet if d <= horizon]:
            for k in self._quiet.pop(d):
                key = keys.get(k)
                if key is not None and key.series.day <= horizon:
                    del keys[k]

    def _index(self) -> None:
        """Rebuild the sweep's candidate lists from the state (after ``restore``)."""
        self._expiry, self._quiet = {}, {}
        for ck, d in self.complainants.items():
            self._expiry.setdefault(d, []).append(ck)
        for k, key in self.keys.items():
            self._quiet.setdefault(key.series.day, []).append(k)

    # -- state -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "layout": LAYOUT, "first_ts": self.first_ts, "swept_day": self.swept_day,
            "national": self.national.to_json(),
            "complainants": sorted([a, b, d] for (a, b), d in self.complainants.items()),
            "keys": {f"{c}|{r}": [k.series.to_json(), [list(x) for x in k.recent], k.cusum, k.cusum_day,
                                  k.cusum_fired] for (c, r), k in sorted(self.keys.items())},
        }

    @classmethod
    def restore(cls, config: ComplaintSurgeConfig, state: Mapping[str, Any], context: Context) -> ComplaintSurge:
        self = cls(config, context)
        self.first_ts, self.swept_day = state["first_ts"], state["swept_day"]
        self.national = CountSeries.from_json(state["national"])
        self.complainants = {(a, b): d for a, b, d in state["complainants"]}
        for name, (series, recent, cusum, cusum_day, *fired) in state["keys"].items():  # older: no ``fired``
            c, r = name.split("|")
            k = _Key()
            k.series, k.recent, k.cusum, k.cusum_day = CountSeries.from_json(series), deque(
                (float(t), e) for t, e in recent), cusum, cusum_day
            k.cusum_fired = bool(fired and fired[0])
            self.keys[(c, r)] = k
        self._index()
        return self


def _log2(x: float) -> float:
    import math

    return math.log2(x)
