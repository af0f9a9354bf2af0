"""Enterprises failing supervision sampling again, or after complaints (屡抽屡不合格 / 投诉后抽检不合格).

Triggered by a failed sample naming an enterprise (USCC). Two kinds of history count:

- the enterprise's earlier sampling results in the same category within ``lookback_days``
  (12 months of event time): its last few failures and the dates of its passes;
- complaints naming the enterprise in the preceding ``complaint_days`` (90) from at least
  ``min_complainants`` *distinct* complainants (a professional claimant counts once), about
  the product itself (quality, safety, counterfeit, labeling, or any injury) — and only when
  that is unusual for this enterprise: above its own earlier complaint rate. While that rate is
  not yet known (the first months of a run or of a replayed period: 30 days of history before
  the 90-day window), a big brand's everyday background cannot be told from a burst by the
  counts alone, so complaints count only when there are few of them, every one known by time,
  and those of the last ``burst_days`` (14) are unlikely at the rate of the observed days
  before them (at least as many days).

Base rates decide, not the mere fact of a repeat: with a 7 % fail rate an enterprise that is
sampled often fails twice by chance. The evidence is weighed as posterior odds that the
enterprise is a *persistent offender* (Bayes factors, as in sequential testing):

    odds = prior odds × Π_failures q/p × Π_passes (1−q)/(1−p) × (quick repeat factor) × (complaint factor)

with p the category's learned fail rate and q an offender's. How grave a failure is (A类
items) does not make an enterprise more or less of a repeat offender — A类 shares range from
5 % to 60 % between categories — it raises the warning's grade instead. A repeat within
``very_quick_repeat_days`` / ``quick_repeat_days`` (30 / 90: the failure was not put right,
整改不到位) and unusual complaints multiply the odds. (The same failed item twice would be
strong evidence too, but observations carry only the items' severities so far.) A signal
needs odds ≥ ``min_odds`` (``min_odds_critical`` when the new failure has an A类 item; both
1 in 21 by default) and at least one earlier failure or complaint evidence. The threshold is
a decision, not a test: DESIGN §3 asks for every enterprise failing again within 12 months,
and missing a maker that keeps shipping a bad line costs more than a desk check that clears
one — so a repeat is reported unless the maker's record explains it as chance (a big maker
failing twice among a dozen passes in a month fails about as often as its category), and
the odds grade it: below even odds it is blue, a notice rather than a warning. Its score
is ``score_at_even_odds`` + ``points_per_decade`` · log10(odds) (yellow at even odds by
default), raised when the new failure has an A类 item (to orange at least), for
vulnerable-group and safety-critical categories and for injuries among the complaints. The
explanation names both dates, the sample event ids, each factor and the probability of the
repeat arising by chance.

State is bounded: per (USCC, category) a few failures and pass dates; per USCC 30-day complaint
counts and a few recent complainants; entries idle beyond ``lookback_days`` are dropped.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.base import CST_OFFSET, DAY, Context, DetectorConfig, Observation, Signal, day_index, rfc3339
from detectors.stats import binomial_upper_tail, poisson_upper_tail
from schemas.alert import Scope
from schemas.errors import ConfigError

__all__ = ["RepeatOffender", "RepeatOffenderConfig"]

LAYOUT = 1
MONTH = 30  # days per complaint-count bucket
_INJURY_RANK = {"": 0, "none": 0, "minor": 1, "serious": 2, "fatal": 3}


@dataclass(frozen=True)
class RepeatOffenderConfig(DetectorConfig):
    """Parameters of ``RepeatOffender`` (units in the comments)."""

    lookback_days: float = 365.0  # days; earlier sampling results that count
    complaint_days: float = 90.0  # days; complaints before the failure that count
    min_complainants: int = 3  # distinct complainants for complaint evidence
    complaint_issues: tuple[str, ...] = ("quality", "safety", "counterfeit", "labeling")  # product-related issues
    prior_offender_share: float = 0.05  # share of sampled enterprises that are persistent offenders
    offender_fail_rate: float = 0.35  # an offender's fail rate (q): a bad line among good ones, so passes on
    # its other lines and batches lower the odds only moderately
    prior_fail_rate: float = 0.07  # category fail rate before anything is learned
    prior_critical_share: float = 0.2  # A类 share among failures before anything is learned
    prior_samples: float = 50.0  # pseudo-samples behind the prior fail rate
    prior_failures: float = 20.0  # pseudo-failures behind the prior A类 share
    half_life_days: float = 180.0  # days; memory of the category base rates
    quick_repeat_days: float = 90.0  # days; a repeat this soon after the last failure (not put right) …
    quick_repeat_factor: float = 2.0  # … multiplies the odds by this
    very_quick_repeat_days: float = 30.0  # days; a repeat this soon …
    very_quick_repeat_factor: float = 3.0  # … by this instead
    complaint_factor: float = 16.0  # Bayes factor of ``min_complainants`` distinct complainants, ×2 per further one
    complaint_factor_max: float = 128.0
    complaint_ambient_p: float = 0.01  # complaints count when this unlikely under the enterprise's earlier rate
    ambient_history_days: float = 30.0  # days of earlier history needed to know that rate
    burst_days: float = 14.0  # days; without that history, complaints count only as a burst in this many days …
    # … against the rate of the observed days before them (at least as many), when no more
    # complaints than ``kept_complainants`` were ever seen (each one known by time)
    min_odds: float = 0.05  # posterior odds needed for a signal (1 in 21 that it is a persistent offender;
    # blue below even odds)
    min_odds_critical: float = 0.05  # … when the new failure has an A类 item
    score_at_even_odds: float = 70.0
    points_per_decade: float = 10.0  # score points per tenfold odds
    critical_item_points: float = 15.0  # A类 item in the new failure: raise (above the orange floor; red from odds 10)
    kept_failures: int = 3  # earlier failures remembered per (USCC, category)
    kept_passes: int = 12  # earlier passes remembered per (USCC, category)
    kept_complainants: int = 8  # recent distinct complainants remembered per USCC
    cooldown_hours: float = 168.0
    min_history_days: float = 14.0

    def __post_init__(self) -> None:
        for name in ("prior_offender_share", "offender_fail_rate", "prior_fail_rate",
                     "prior_critical_share"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in (0, 1)")
        if self.lookback_days <= 0 or self.complaint_days <= 0:
            raise ValueError("lookback_days and complaint_days must be positive")
        if self.min_complainants < 1 or self.kept_complainants < self.min_complainants:
            raise ValueError("need 1 ≤ min_complainants ≤ kept_complainants")
        if self.burst_days <= 0:
            raise ValueError("burst_days must be positive")
        if self.kept_failures < 1 or self.kept_passes < 0:
            raise ValueError("kept_failures must be ≥ 1 and kept_passes ≥ 0")


class RepeatOffender:
    """Repeat failures of one enterprise, weighed against base rates (see the module docstring).

    ``config``: a ``RepeatOffenderConfig``; ``context``: regions, catalogue, grading. Called
    by the detection engine with micro-batches of sampling and complaint observations in
    event order; a failed sample is scored against the history before it joins it. Never
    raises on odd observations (missing USCC, unknown category, late events).
    """

    name: ClassVar[str] = "repeat_offender"
    version: ClassVar[str] = "1.0.0"
    sources: ClassVar[frozenset[str]] = frozenset({"sampling", "complaint"})

    def __init__(self, config: RepeatOffenderConfig, context: Context) -> None:
        self.config, self.context = config, context
        # "uscc|category" → [failures [[ts, event_id, critical, major, minor, region]], pass times, last ts]
        self.tests: dict[str, list[Any]] = {}
        # uscc → [{30-day bucket: count}, recent [[ts, complainant, event_id, injury]], last ts]
        self.complaints: dict[str, list[Any]] = {}
        self.rates: dict[str, list[float]] = {}  # category → [samples, failures, A类 failures, day] (decayed)
        self.start: float | None = None
        self.sweep_day = -1
        self._decay = 0.5 ** (1.0 / config.half_life_days)
        self._issues = frozenset(config.complaint_issues)

    # -- stream -------------------------------------------------------------------------
    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        """Fold in complaints; score then learn each sample. Returns signals in event order."""
        out: list[Signal] = []
        issues = self._issues
        for obs in batch:
            if self.start is None and math.isfinite(obs.ts):
                self.start = obs.ts
            source = obs.source
            if source == "complaint":
                if not obs.uscc or not (obs.issue in issues or _INJURY_RANK.get(obs.injury, 0) > 0):
                    continue  # not about a named enterprise's product
            elif source != "sampling" or not obs.category:
                continue
            if not math.isfinite(obs.ts):
                continue
            day = day_index(obs.ts)
            if day > self.sweep_day:
                self._sweep(obs.ts, day)
            if source == "complaint":
                self._complaint(obs)
            else:
                signal = self._sample(obs)
                if signal is not None:
                    out.append(signal)
        return out

    def _complaint(self, obs: Observation) -> None:
        uscc, ts = obs.uscc, obs.ts
        rec = self.complaints.pop(uscc, None)
        if rec is None:
            rec = [{}, [], ts]
        self.complaints[uscc] = rec  # last used last, for eviction
        months = rec[0]
        month = day_index(ts) // MONTH
        count = months.get(month)
        if count is None:
            oldest = month - math.ceil(self.config.lookback_days / MONTH)
            for m in [m for m in months if m < oldest]:
                del months[m]
            count = 0
        months[month] = count + 1
        if ts > rec[2]:
            rec[2] = ts
        who = obs.complainant
        if not who:
            return  # counted, but cannot be told apart from another complainant
        recent = rec[1]
        for i, r in enumerate(recent):
            if r[1] == who:
                del recent[i]
                break
        entry = [ts, who, obs.event_id, obs.injury or "none"]
        if recent and (recent[-1][0] > ts or (recent[-1][0] == ts and recent[-1][2] > obs.event_id)):
            bisect.insort(recent, entry, key=lambda r: (r[0], r[2]))  # a late complaint
        else:
            recent.append(entry)
        if len(recent) > self.config.kept_complainants:
            del recent[0]

    def _sample(self, obs: Observation) -> Signal | None:
        cfg = self.config
        signal = None
        key = f"{obs.uscc}|{obs.category}"
        rec = self.tests.get(key) if obs.uscc else None
        if rec is not None:
            horizon = obs.ts - cfg.lookback_days * DAY
            rec[0] = [f for f in rec[0] if f[0] > horizon]
            rec[1] = [t for t in rec[1] if t > horizon]
        warm = obs.ts - (self.start or obs.ts) >= cfg.min_history_days * DAY
        if obs.failed and obs.uscc and warm:
            signal = self._score(obs, rec or [[], [], obs.ts])
        self._learn_rate(obs)
        if obs.uscc:
            rec = self.tests.pop(key, None) or [[], [], obs.ts]
            self.tests[key] = rec
            rec[2] = max(rec[2], obs.ts)
            if obs.failed:
                rec[0].append([obs.ts, obs.event_id, obs.critical, obs.major, obs.minor, obs.region])
                rec[0].sort(key=lambda f: (f[0], f[1]))
                del rec[0][:-cfg.kept_failures]
            else:
                rec[1].append(obs.ts)
                rec[1].sort()
                del rec[1][:-cfg.kept_passes or len(rec[1])]
        return signal

    def _learn_rate(self, obs: Observation) -> None:
        day = day_index(obs.ts)
        acc = self.rates.get(obs.category)
        if acc is None:
            acc = self.rates[obs.category] = [0.0, 0.0, 0.0, float(day)]
        if day > acc[3]:
            scale = self._decay ** (day - acc[3])
            acc[0], acc[1], acc[2], acc[3] = acc[0] * scale, acc[1] * scale, acc[2] * scale, float(day)
        acc[0] += 1.0
        if obs.failed:
            acc[1] += 1.0
            acc[2] += 1.0 if obs.critical > 0 else 0.0

    def _base_rates(self, category: str) -> tuple[float, float]:
        """The category's fail rate and A类 share among failures (learned, shrunk to the priors)."""
        cfg = self.config
        n, f, c, _ = self.rates.get(category, (0.0, 0.0, 0.0, 0.0))
        p = (f + cfg.prior_samples * cfg.prior_fail_rate) / (n + cfg.prior_samples)
        s = (c + cfg.prior_failures * cfg.prior_critical_share) / (f + cfg.prior_failures)
        return p, s

    def _sweep(self, ts: float, day: int) -> None:
        """Drop enterprises idle beyond the look-back (dicts are in order of last use)."""
        self.sweep_day = day
        horizon = ts - self.config.lookback_days * DAY
        for table in (self.tests, self.complaints):
            idle = []
            for k, rec in table.items():
                if rec[2] > horizon:
                    break
                idle.append(k)
            for k in idle:
                del table[k]

    # -- scoring ------------------------------------------------------------------------
    def _complaint_evidence(self, uscc: str, ts: float) -> dict[str, Any] | None:
        """Complaints about ``uscc`` before ``ts``: distinct complainants, counts, whether unusual."""
        cfg = self.config
        rec = self.complaints.get(uscc)
        if rec is None:
            return None
        months, recent = rec[0], rec[1]
        people = [r for r in recent if ts - cfg.complaint_days * DAY < r[0] <= ts]
        if len(people) < cfg.min_complainants:
            return None
        now = day_index(ts) // MONTH
        span_months = max(1, math.ceil(cfg.complaint_days / MONTH))
        first_recent = now - span_months + 1
        oldest = now - math.ceil(cfg.lookback_days / MONTH)
        recent_count = sum(v for m, v in months.items() if first_recent <= m <= now)
        before = sum(v for m, v in months.items() if oldest <= m < first_recent)
        history = first_recent * MONTH - day_index(max(self.start or ts, ts - cfg.lookback_days * DAY))
        out: dict[str, Any] = {"distinct_complainants": len(people), "complaints_recent": recent_count,
                               "complaints_before": before, "history_days": max(history, 0)}
        if history >= cfg.ambient_history_days:
            expected = max(0.5, before / history * span_months * MONTH)
            p = poisson_upper_tail(recent_count, expected)
            out |= {"expected_from_own_history": expected, "p_value": p, "unusual": p <= cfg.complaint_ambient_p}
        else:
            out |= self._burst(months, [r[0] for r in recent if r[0] <= ts], ts)
        extra = len(people) - cfg.min_complainants
        factor = min(cfg.complaint_factor_max, cfg.complaint_factor * 2.0 ** extra)
        out["bayes_factor"] = factor if out["unusual"] else 1.0
        people.sort(key=lambda r: (-r[0], r[2]))
        out["event_ids"] = [r[2] for r in people]
        out["worst_injury"] = max((r[3] for r in people), key=lambda i: _INJURY_RANK.get(i, 0))
        return out

    def _burst(self, months: dict[int, int], times: list[float], ts: float) -> dict[str, Any]:
        """While the enterprise's own rate is unknown: are its complainants of the last
        ``burst_days`` (``times``: each one's latest complaint) unlikely at the rate of the
        observed days before them? Only when every complaint ever seen is in ``times`` (no
        more than ``kept_complainants``) and at least ``burst_days`` were observed before
        the burst; otherwise not unusual."""
        cfg = self.config
        if sum(months.values()) > cfg.kept_complainants:
            return {"unusual": False, "why": "too many complaints to tell a burst from background"}
        cut = ts - cfg.burst_days * DAY
        observed = (cut - (self.start if self.start is not None else ts)) / DAY
        if observed < cfg.burst_days:
            return {"unusual": False, "why": "too little history before the burst"}
        burst = sum(1 for t in times if t > cut)
        expected = max(0.5, (len(times) - burst) / observed * cfg.burst_days)
        p = poisson_upper_tail(burst, expected)
        return {"burst_complainants": burst, "burst_days": cfg.burst_days, "expected_in_burst": expected,
                "p_value": p, "unusual": p <= cfg.complaint_ambient_p}

    def _score(self, obs: Observation, rec: list[Any]) -> Signal | None:
        cfg = self.config
        before = (obs.ts, obs.event_id)
        earlier = [f for f in rec[0] if (f[0], f[1]) < before]  # a late sample weighs only what preceded it
        passes = [t for t in rec[1] if t <= obs.ts]
        complaints = self._complaint_evidence(obs.uscc, obs.ts)
        used = complaints is not None and complaints["unusual"]
        if not earlier and not used:
            return None
        p, s_a = self._base_rates(obs.category)
        q = cfg.offender_fail_rate
        odds = cfg.prior_offender_share / (1.0 - cfg.prior_offender_share)
        factors: list[dict[str, Any]] = []

        def factor(what: str, bf: float, event_id: str | None = None) -> None:
            nonlocal odds
            odds *= bf
            factors.append({"what": what, "bayes_factor": bf} | ({"event_id": event_id} if event_id else {}))

        failures = [*earlier, [obs.ts, obs.event_id, obs.critical, obs.major, obs.minor, obs.region]]
        for f in failures:
            crit = f[2] > 0
            bf = q / p
            factor(f"不合格 {rfc3339(f[0])[:10]}{' (A类)' if crit else ''}", bf, f[1])
        if passes:
            factor(f"合格 {len(passes)} 次", ((1 - q) / (1 - p)) ** len(passes))
        interval = (obs.ts - earlier[-1][0]) / DAY if earlier else None
        if interval is not None and interval <= cfg.very_quick_repeat_days:
            factor(f"{cfg.very_quick_repeat_days:g} 天内再次不合格", cfg.very_quick_repeat_factor)
        elif interval is not None and interval <= cfg.quick_repeat_days:
            factor(f"{cfg.quick_repeat_days:g} 天内再次不合格", cfg.quick_repeat_factor)
        if used:
            people = complaints["distinct_complainants"]
            factor(f"近{cfg.complaint_days:g}天 {people} 人投诉", complaints["bayes_factor"])
        threshold = cfg.min_odds_critical if obs.critical > 0 else cfg.min_odds
        if odds < threshold:
            return None
        base = cfg.score_at_even_odds + cfg.points_per_decade * math.log10(odds)
        category = self.context.catalogue.get(obs.category)
        injury = complaints["worst_injury"] if used else ""
        score, raisers = self.context.grading.raise_score(
            base + (cfg.critical_item_points if obs.critical > 0 else 0.0), category, injury=injury)
        if obs.critical > 0:  # a maker failing again on an A类 item is at least an orange (II级) matter
            raisers.append("critical_item")
            score = max(score, self.context.grading.orange)
        if score < self.context.grading.blue:
            return None
        region = self._region(obs, failures)
        scope = Scope(region_code=region or None, category=obs.category, uscc=obs.uscc)
        name = self.context.scope_name(scope)
        today = rfc3339(obs.ts)[:10]
        if earlier:
            last = rfc3339(earlier[-1][0])[:10]
            title = (f"{name} 抽检再次不合格 ({last}、{today}, 间隔 {interval:.0f} 天"
                     + (f", 12个月内第{len(failures)}次" if len(failures) > 2 else "")
                     + (f", 另有 {complaints['distinct_complainants']} 人投诉" if used else "") + ")")
        else:
            title = (f"{name} 投诉后抽检不合格 (近{cfg.complaint_days:g}天 "
                     f"{complaints['distinct_complainants']} 人投诉, {today} 不合格)")
        n_before = len(earlier) + len(passes)
        explanation = {
            "statistic": "posterior odds that the enterprise is a persistent offender (Bayes factors over its "
                         "sampling history and complaints)",
            "prior_odds": cfg.prior_offender_share / (1.0 - cfg.prior_offender_share), "posterior_odds": odds,
            "posterior_probability": odds / (1.0 + odds), "threshold_odds": threshold, "factors": factors,
            "failures": [{"event_id": f[1], "at": rfc3339(f[0]), "critical": f[2], "major": f[3], "minor": f[4],
                          "region_code": f[5]} for f in reversed(failures)],
            "earlier_passes": [rfc3339(t) for t in passes], "interval_days": interval,
            "category_fail_rate": p, "category_critical_share": s_a,
            "chance_probability": binomial_upper_tail(len(earlier), n_before, p) if earlier else None,
            "complaints": complaints, "base_score": base, "raised_by": raisers,
            "contributing_sources": ["sampling", "complaint"] if used else ["sampling"],
        }
        evidence = [f[1] for f in reversed(failures)] + (complaints["event_ids"] if used else [])
        start = min(f[0] for f in failures)
        if used:
            start = min(start, obs.ts - cfg.complaint_days * DAY)
        return Signal(detector=self.name, scope=scope, ts=obs.ts,
                      window_start=float((day_index(start)) * DAY - CST_OFFSET), window_end=obs.ts, score=score,
                      title=title, explanation=explanation, evidence=list(dict.fromkeys(evidence))[:100],
                      trigger=obs.event_id)

    def _region(self, obs: Observation, failures: list[list[Any]]) -> str:
        """The enterprise's region: its USCC's registering division when known, else where it
        first failed."""
        code = obs.uscc[2:8]
        if code in self.context.regions:
            return code
        return failures[0][5] if failures[0][5] in self.context.regions else ""

    # -- state --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-able state with ``layout``; floats are kept exactly."""
        return {"layout": LAYOUT, "start": self.start, "sweep_day": self.sweep_day,
                # lists, not objects: the order (of last use) drives eviction
                "tests": [[k, [list(f) for f in v[0]], list(v[1]), v[2]] for k, v in self.tests.items()],
                "complaints": [[k, {str(m): c for m, c in v[0].items()}, [list(r) for r in v[1]], v[2]]
                               for k, v in self.complaints.items()],
                "rates": {k: list(v) for k, v in self.rates.items()}}

    @classmethod
    def restore(cls, config: RepeatOffenderConfig, state: Mapping[str, Any], context: Context) -> RepeatOffender:
        """Rebuild from ``snapshot()``; an empty mapping gives a fresh detector. Raises
        ``ConfigError`` for a snapshot of another layout."""
        det = cls(config, context)
        if not state:
            return det
        if state.get("layout") != LAYOUT:
            raise ConfigError("repeat_offender.state", f"unknown snapshot layout {state.get('layout')!r}")
        det.start = None if state.get("start") is None else float(state["start"])
        det.sweep_day = int(state.get("sweep_day", -1))
        det.tests = {k: [[list(f) for f in fails], [float(t) for t in passes], float(last)]
                     for k, fails, passes, last in state.get("tests", [])}
        det.complaints = {k: [{int(m): int(c) for m, c in months.items()}, [list(r) for r in recent], float(last)]
                          for k, months, recent, last in state.get("complaints", [])}
        det.rates = {k: [float(x) for x in v] for k, v in state.get("rates", {}).items()}
        return det
