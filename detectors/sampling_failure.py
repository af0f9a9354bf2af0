"""Supervision-sampling nonconformity against its history (监督抽查不合格率异常).

For every (category, region) — the nation (``000000``), each province and, optionally,
each city — the detector keeps daily counts of tested samples and of failures by their
worst item (A类 critical, B类 major, C类 minor) and a learned, slowly forgetting baseline.
On each failed sample it tests, for every key the sample belongs to and every recent
window (default 7 and 30 days), the **severity-weighted failures**

    W = w_minor·(C类 failures) + w_major·(B类) + w_critical·(A类)      (5 ≫ 1.5 > 1)

against the baseline with an exact tail under a compound beta-binomial model: the number
of failures among the window's n samples is beta-binomial (the baseline rate is uncertain:
a beta posterior on ``n_eff`` baseline samples, plus a between-window overdispersion), and
each failure's severity is drawn from the key's learned severity mix. A cluster of A类
failures is therefore surprising even when few samples were tested — the case regulators
care most about. A window needs failures from ``min_enterprises`` different enterprises, and
one enterprise contributes at most ``per_enterprise_cap`` failed samples (its worst), so a
single maker sampled again and again does not look like a regional problem
(``repeat_offender`` covers it) while a campaign finding several makers failing does. The
smallest tail, Bonferroni-corrected over the windows and the region levels the sample
updates, gives the score (``stats.score_from_p``: p = 1e-5 → 50, blue), raised for
vulnerable-group and safety-critical categories.

Baselines: the national rate starts at the configured prior (7 %, a pseudo-count of
samples) and learns; provinces and cities are shrunk toward their category's national
baseline. A day joins the baseline ``learn_lag_days`` after it ends, and never when the key
signalled on it or it holds a signal's evidence (an outbreak must not become its own
baseline); once the key's warning has been quiet for ``cooldown_hours``, those days also leave
its test windows, so a later failure must be news on its own (the 30-day window would
otherwise restate the episode on any failure for weeks). Event time only; a few hundred
bytes per key; keys quiet for ``idle_days`` are dropped.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import special

from detectors.base import CST_OFFSET, DAY, HOUR, Context, DetectorConfig, Observation, Signal, day_index, rfc3339
from detectors.stats import score_from_p
from schemas.alert import Scope
from schemas.errors import ConfigError

__all__ = ["SamplingFailure", "SamplingFailureConfig", "weighted_failure_tail"]

LAYOUT = 1
NATIONAL = "000000"
_N, _F, _B, _C = range(4)  # daily bucket / baseline slots: samples, failed, worst item B类, worst item A类
_SEVERITY = ("minor", "major", "critical")


@dataclass(frozen=True)
class SamplingFailureConfig(DetectorConfig):
    """Parameters of ``SamplingFailure`` (units in the comments)."""

    windows_days: tuple[int, ...] = (7, 30)  # days; test windows, each ending with the sample's day
    prior_fail_rate: float = 0.07  # share of samples failing, before anything is learned
    prior_severity: tuple[float, float, float] = (0.3, 0.5, 0.2)  # worst failed item C/B/A类 among failures, prior
    national_prior_samples: float = 50.0  # pseudo-samples behind the prior at national level
    regional_prior_samples: float = 400.0  # pseudo-samples shrinking a province/city toward its national baseline
    half_life_days: float = 180.0  # days; memory of the learned baseline
    learn_lag_days: int = 7  # days; a day joins the baseline this long after it ends
    overdispersion: float = 0.05  # squared coefficient of variation of the true fail rate between windows
    weight_critical: float = 5.0  # A类 (critical) worst item
    weight_major: float = 1.5  # B类 (major) worst item
    weight_minor: float = 1.0  # C类 (minor) worst item, or a failure that lists no item
    min_failures: int = 3  # failures (after the per-enterprise cap) in a window before it is tested
    min_enterprises: int = 3  # distinct failing enterprises in a window before it is tested
    per_enterprise_cap: int = 3  # failed samples one enterprise contributes at most (its worst), per window
    kept_failures: int = 16  # failures remembered per key for evidence and enterprise counts (A类 kept longest)
    city_level: bool = True  # also test (category, city)
    idle_days: int = 45  # days; a key without samples this long is forgotten
    cooldown_hours: float = 168.0
    min_history_days: float = 14.0

    def __post_init__(self) -> None:
        if not self.windows_days or min(self.windows_days) < 1:
            raise ValueError("windows_days must name at least one window of ≥ 1 day")
        if not 0 <= self.learn_lag_days < max(self.windows_days):
            raise ValueError("learn_lag_days must lie in [0, longest window)")
        if not 0.0 < self.prior_fail_rate < 1.0:
            raise ValueError("prior_fail_rate must lie in (0, 1)")
        if len(self.prior_severity) != 3 or min(self.prior_severity) < 0 or sum(self.prior_severity) <= 0:
            raise ValueError("prior_severity must be three non-negative shares (minor, major, critical)")
        if not 0 < self.weight_minor <= self.weight_major <= self.weight_critical:
            raise ValueError("severity weights must satisfy 0 < minor ≤ major ≤ critical")
        if self.kept_failures < self.min_enterprises or self.per_enterprise_cap < 1:
            raise ValueError("kept_failures must be at least min_enterprises, per_enterprise_cap at least 1")


def weighted_failure_tail(observed: float, n: int, rate: float, concentration: float,
                          shares: Sequence[float], weights: Sequence[float]) -> float:
    """P(W ≥ ``observed``) for W = Σ weights[s] over the failures among ``n`` samples, where
    the failure count K is beta-binomial (mean fail ``rate``, beta ``concentration`` α + β) and
    each failure's worst severity s ∈ (minor, major, critical) is drawn with ``shares``.

    Exact: for each k, the A类 count C ~ Binomial(k, s_A); above some c every split of the
    rest reaches ``observed`` (a binomial tail), below another none does, and only the narrow
    band between needs the B类 count's binomial tail — a few dozen numpy terms. ``weights``
    must be ascending. Called by ``SamplingFailure`` when a cheap pre-check passes.

    >>> round(weighted_failure_tail(5.0, 10, 0.1, 1e9, (1.0, 0.0, 0.0), (1, 1, 1)), 6)  # Binomial(10, .1) ≥ 5
    0.001635
    """
    if observed <= 0 or n <= 0:
        return 1.0
    w_minor, w_major, w_crit = (float(x) for x in weights)
    if observed > n * w_crit + 1e-9:
        return 0.0
    total = sum(shares)
    s_c = min(max(shares[2] / total, 1e-12), 1 - 1e-12)
    q_b = min(max(shares[1] / max(shares[0] + shares[1], 1e-300), 1e-12), 1 - 1e-12)
    p = min(max(rate, 1e-12), 1 - 1e-12)
    a, b = p * concentration, (1 - p) * concentration
    mean = n * p
    sd = math.sqrt(n * p * (1 - p) * (1 + (n - 1) / (concentration + 1)))
    k_lo = max(1, math.ceil(observed / w_crit - 1e-9))
    k_hi = min(n, max(math.ceil(observed / w_minor) + 30, int(mean + 12 * sd) + 10))  # beyond: negligible
    k = np.arange(k_lo, k_hi + 1, dtype=float)
    log_pk = (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
              + special.betaln(k + a, n - k + b) - special.betaln(a, b))
    eps = 1e-9
    # A类 counts from which every split reaches ``observed`` (c_all) / from which some split can (c_any)
    c_all = np.clip(np.ceil((observed - w_minor * k) / (w_crit - w_minor) - eps) if w_crit > w_minor
                    else np.where(w_minor * k >= observed - eps, 0.0, k + 1), 0, k + 1)
    c_any = np.clip(np.ceil((observed - w_major * k) / (w_crit - w_major) - eps) if w_crit > w_major
                    else np.where(w_major * k >= observed - eps, 0.0, k + 1), 0, c_all)
    safe_c = np.maximum(c_all, 1.0)
    c_tail = special.betainc(safe_c, np.maximum(k - safe_c + 1, 1e-300), s_c)  # P(C ≥ c_all | k)
    upper = np.where(c_all <= 0, 1.0, np.where(c_all > k, 0.0, c_tail))
    width = int((c_all - c_any).max()) if len(k) else 0
    band = np.zeros_like(k)
    if width > 0 and w_major > w_minor:
        c = c_any[:, None] + np.arange(width, dtype=float)[None, :]
        kk = np.broadcast_to(k[:, None], c.shape)
        ok = c < c_all[:, None]
        c = np.where(ok, c, 0.0)
        rest = kk - c
        log_pc = (special.gammaln(kk + 1) - special.gammaln(c + 1) - special.gammaln(rest + 1)
                  + c * math.log(s_c) + rest * math.log1p(-s_c))
        b_min = np.ceil((observed - w_minor * rest - w_crit * c) / (w_major - w_minor) - eps)
        safe_b = np.clip(b_min, 1.0, np.maximum(rest, 1.0))
        tail = np.where(b_min <= 0, 1.0, np.where(b_min > rest, 0.0,
                        special.betainc(safe_b, np.maximum(rest - safe_b + 1.0, 1e-300), q_b)))
        band = np.where(ok, np.exp(log_pc) * tail, 0.0).sum(axis=1)
    return float(min(1.0, max(0.0, (np.exp(log_pk) * (upper + band)).sum())))


class _Rates:
    """Per-sample baseline of one key: fail rate, B类- and A类-worst failure rates and the
    effective number of samples behind them."""

    __slots__ = ("b", "c", "f", "n_eff")

    def __init__(self, f: float, b: float, c: float, n_eff: float) -> None:
        self.f, self.b, self.c, self.n_eff = f, b, c, n_eff

    @classmethod
    def shrunk(cls, acc: list[float], parent: _Rates, prior_n: float) -> _Rates:
        n = acc[_N] + prior_n
        return cls((acc[_F] + prior_n * parent.f) / n, (acc[_B] + prior_n * parent.b) / n,
                   (acc[_C] + prior_n * parent.c) / n, n)

    def shares(self) -> tuple[float, float, float]:
        return (max(self.f - self.b - self.c, 0.0), self.b, self.c)


class _Cell:
    """State of one (category, region) key: sparse daily buckets for the longest window,
    the decayed learned totals, flagged days and the most relevant recent failures."""

    __slots__ = ("acc", "acc_day", "day", "days", "fails", "flagged", "last", "learned")

    def __init__(self, day: int) -> None:
        self.days: dict[int, list[float]] = {}
        self.acc = [0.0] * 4
        self.acc_day = day
        self.day = day  # the latest day seen
        self.learned = day - 1  # days ≤ this are folded into ``acc`` (or skipped as flagged)
        self.flagged: list[int] = []
        self.fails: list[list[Any]] = []  # [ts, uscc, severity 0..2, event_id], oldest first
        self.last: float | None = None  # event time of the key's latest signal

    def roll(self, day: int, ring: int, lag: int, decay: float) -> None:
        """Move to ``day``: fold the days that ended ``lag`` days ago into the baseline
        (unless flagged) and drop what the ring no longer reaches."""
        if day <= self.day:
            return
        self.day = day
        upto, oldest = day - lag, day - ring + 1
        days, learned = self.days, self.learned
        for d in sorted(days):
            if learned < d <= upto and d not in self.flagged:
                scale = decay ** (d - self.acc_day)
                self.acc = [a * scale + v for a, v in zip(self.acc, days[d], strict=True)]
                self.acc_day = d
            if d < oldest:
                del days[d]
        self.learned = max(learned, upto)
        if self.flagged and self.flagged[0] < oldest:
            self.flagged = [d for d in self.flagged if d >= oldest]
        if self.fails and day_index(self.fails[0][0]) < oldest:
            self.fails = [f for f in self.fails if day_index(f[0]) >= oldest]

    def windows(self, day: int, spans: Sequence[int], skip: frozenset[int] = frozenset()) -> list[list[float]]:
        """Samples, failures, B类- and A类-worst failures over each span of days ending with ``day``
        (days in ``skip`` left out)."""
        out = [[0.0] * 4 for _ in spans]
        for d, v in self.days.items():
            if d > day or d in skip:
                continue
            for span, tot in zip(spans, out, strict=True):
                if d > day - span:
                    tot[0] += v[0]
                    tot[1] += v[1]
                    tot[2] += v[2]
                    tot[3] += v[3]
        return out

    def to_json(self) -> list[Any]:
        return [sorted([d, *v] for d, v in self.days.items()), self.acc, self.acc_day, self.day, self.learned,
                self.flagged, self.fails, self.last]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> _Cell:
        days, acc, acc_day, day, learned, flagged, fails = data[:7]
        c = cls(int(day))
        c.last = None if len(data) < 8 or data[7] is None else float(data[7])  # older snapshots: none
        c.days = {int(row[0]): [float(x) for x in row[1:]] for row in days}
        c.acc, c.acc_day, c.learned = [float(x) for x in acc], int(acc_day), int(learned)
        c.flagged, c.fails = sorted(int(d) for d in flagged), [list(f) for f in fails]
        return c


class SamplingFailure:
    """Sampling failure-rate anomalies per (category, region level).

    ``config``: a ``SamplingFailureConfig``; ``context``: regions, catalogue, grading.
    Called by the detection engine with micro-batches of sampling observations in event
    order; ``update`` scores each failed sample against the baseline before learning from
    it and returns a ``Signal`` per key that currently looks risky (score ≥ blue). Never
    raises on odd observations (unknown category or region, missing enterprise, late events).
    """

    name: ClassVar[str] = "sampling_failure"
    version: ClassVar[str] = "1.0.0"
    sources: ClassVar[frozenset[str]] = frozenset({"sampling"})

    def __init__(self, config: SamplingFailureConfig, context: Context) -> None:
        self.config, self.context = config, context
        self.cells: dict[str, _Cell] = {}  # in order of last use (for eviction)
        self.start: float | None = None  # event time of the first sample seen
        self.sweep_day = -1  # last day on which idle keys were dropped
        cfg = config
        self._ring, self._lag = max(cfg.windows_days), cfg.learn_lag_days
        self._decay = 0.5 ** (1.0 / cfg.half_life_days)
        self._weights = (cfg.weight_minor, cfg.weight_major, cfg.weight_critical)
        shares = [s / sum(cfg.prior_severity) for s in cfg.prior_severity]
        p = cfg.prior_fail_rate
        self._prior = _Rates(p, p * shares[1], p * shares[2], cfg.national_prior_samples)
        self._chains: dict[tuple[str, ...], tuple[str, ...]] = {}

    # -- stream -------------------------------------------------------------------------
    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        """Score then learn each sampling observation; returns signals in event order."""
        out: list[Signal] = []
        for obs in batch:
            if obs.source != "sampling" or not obs.category or not obs.chain or not math.isfinite(obs.ts):
                continue
            out += self._observe(obs)
        return out

    def _observe(self, obs: Observation) -> list[Signal]:
        cfg = self.config
        if self.start is None:
            self.start = obs.ts
        day = day_index(obs.ts)
        if day > self.sweep_day:
            self._sweep(day)
        severity = (2 if obs.critical > 0 else 1 if obs.major > 0 else 0) if obs.failed else -1
        warm = obs.ts - self.start >= cfg.min_history_days * DAY
        out: list[Signal] = []
        national = self._cell(obs.category, NATIONAL, day)
        nat_rates = _Rates.shrunk(national.acc, self._prior, cfg.national_prior_samples)
        keys = self._regions(obs.chain)
        for region in keys:  # most specific first: the lifecycle folds broader echoes
            cell = national if region == NATIONAL else self._cell(obs.category, region, day)
            if day <= cell.day - self._ring:
                continue  # so late that the ring no longer reaches its day
            self._add(cell, obs, day, severity)
            if not (warm and obs.failed):
                continue
            rates = nat_rates if region == NATIONAL else _Rates.shrunk(cell.acc, nat_rates, cfg.regional_prior_samples)
            signal = self._score(cell, region, obs, day, rates, len(keys))
            if signal is not None:
                out.append(signal)
                flag = {day, *(day_index(f[0]) for f in cell.fails if f[3] in signal.evidence)}
                cell.flagged = sorted(flag.union(cell.flagged))
                cell.last = obs.ts
        return out

    def _regions(self, chain: tuple[str, ...]) -> tuple[str, ...]:
        """The keys' regions of a sample located at ``chain``: city, province, nation (cached)."""
        hit = self._chains.get(chain)
        if hit is None:
            keep = ("city", "province") if self.config.city_level else ("province",)
            hit = tuple(r for r in chain if self.context.regions.level(r) in keep) + (NATIONAL,)
            if len(self._chains) < 100_000:
                self._chains[chain] = hit
        return hit

    def _cell(self, category: str, region: str, day: int) -> _Cell:
        key = f"{category}|{region}"
        cell = self.cells.pop(key, None)  # re-inserted last: ``cells`` stays in order of last use
        if cell is None:
            cell = _Cell(day)
        self.cells[key] = cell
        cell.roll(day, self._ring, self._lag, self._decay)
        return cell

    def _add(self, cell: _Cell, obs: Observation, day: int, severity: int) -> None:
        bucket = cell.days.setdefault(day, [0.0] * 4)
        bucket[_N] += 1.0
        if severity < 0:
            return
        bucket[_F] += 1.0
        if severity > 0:
            bucket[_B if severity == 1 else _C] += 1.0
        entry = [obs.ts, obs.uscc, severity, obs.event_id]
        if cell.fails and (cell.fails[-1][0], cell.fails[-1][3]) > (obs.ts, obs.event_id):
            bisect.insort(cell.fails, entry, key=lambda f: (f[0], f[3]))  # a late result
        else:
            cell.fails.append(entry)
        if len(cell.fails) > self.config.kept_failures:  # forget the oldest, A类 failures last
            lesser = [i for i, f in enumerate(cell.fails) if f[2] < 2]
            del cell.fails[lesser[0] if lesser else 0]

    def _sweep(self, day: int) -> None:
        """Drop keys without samples for ``idle_days`` (once per event-time day); ``cells`` is in
        order of last use, so only the idle head is visited."""
        self.sweep_day = day
        idle = []
        for k, c in self.cells.items():
            if day - c.day <= self.config.idle_days:
                break
            idle.append(k)
        for k in idle:
            del self.cells[k]

    # -- scoring ------------------------------------------------------------------------
    def _score(self, cell: _Cell, region: str, obs: Observation, day: int, rates: _Rates,
               levels: int) -> Signal | None:
        cfg = self.config
        # once the key's last warning has gone quiet, the days it reported are old news: a new
        # warning needs failures the windows hold without them (the 30-day window would restate
        # an episode for weeks, on any later failure)
        quiet = cell.last is not None and obs.ts - cell.last > cfg.cooldown_hours * HOUR
        skip = frozenset(cell.flagged) if quiet else frozenset()
        spans = [d for d in cfg.windows_days if self._enough_firms(cell, day, d, skip)]  # cheap pre-check first
        sums = cell.windows(day, spans, skip)
        tests = [t for t in (self._test(cell, day, d, tot, rates, skip) for d, tot in zip(spans, sums, strict=True))
                 if t is not None]
        if not tests:
            return None
        best = min(tests, key=lambda t: (t["p_value"], t["window_days"]))
        n_tests = len(cfg.windows_days) * levels  # every window at every level this sample updates
        p_adj = min(1.0, best["p_value"] * n_tests)
        base = score_from_p(p_adj)
        category = self.context.catalogue.get(obs.category)
        score, raisers = self.context.grading.raise_score(base, category)
        if score < self.context.grading.blue:
            return None
        scope = Scope(region_code=region, category=obs.category)
        inside = best.pop("_failures")
        crit = f", 其中A类 {best['critical_failed']}" if best["critical_failed"] else ""
        title = (f"{self.context.scope_name(scope)} 抽检不合格率异常 (近{best['window_days']}天 "
                 f"{best['failed']}/{best['samples']}{crit}, 基线 {100 * rates.f:.1f}%)")
        ranked = sorted(inside, key=lambda f: (-f[2], -f[0], f[3]))
        explanation = {
            "statistic": "severity-weighted failures, exact upper tail of a compound beta-binomial",
            **best, "tests": n_tests, "p_adjusted": p_adj,
            "threshold_p": 10.0 ** (-self.context.grading.blue / 10.0),
            "baseline_fail_rate": rates.f,
            "baseline_severity_mix": {k: v / rates.f for k, v in zip(_SEVERITY, rates.shares(), strict=True)},
            "baseline_samples": rates.n_eff, "severity_weights": dict(zip(_SEVERITY, self._weights, strict=True)),
            "other_windows": {f"{t['window_days']}d": t["p_value"] for t in tests if t is not best},
            "failures": [{"event_id": f[3], "uscc": f[1], "severity": _SEVERITY[f[2]], "at": rfc3339(f[0])}
                         for f in ranked[:20]],
            "base_score": base, "raised_by": raisers, "contributing_sources": ["sampling"],
        }
        start_day = day - best["window_days"] + 1
        return Signal(detector=self.name, scope=scope, ts=obs.ts, window_start=float(start_day * DAY - CST_OFFSET),
                      window_end=obs.ts, score=score, title=title, explanation=explanation,
                      evidence=[f[3] for f in ranked][:100], trigger=obs.event_id)

    def _enough_firms(self, cell: _Cell, day: int, days: int, skip: frozenset[int]) -> bool:
        """Whether failures from ``min_enterprises`` different enterprises fall in the window."""
        firms = {f[1] or f[3] for f in cell.fails if (d := day_index(f[0])) > day - days and d not in skip}
        return len(firms) >= self.config.min_enterprises

    def _test(self, cell: _Cell, day: int, days: int, tot: list[float], rates: _Rates,
              skip: frozenset[int]) -> dict[str, Any] | None:
        """One window's test (days in ``skip`` left out), or ``None`` when the cheap pre-checks
        (enough distinct failing enterprises, weighted failures at least twice the expectation)
        rule it out."""
        cfg = self.config
        inside = [f for f in cell.fails if (d := day_index(f[0])) > day - days and d not in skip]
        by_firm: dict[str, list[list[Any]]] = {}
        for f in inside:
            by_firm.setdefault(f[1] or f"?{f[3]}", []).append(f)
        if len(by_firm) < cfg.min_enterprises:
            return None
        excess = [0.0, 0.0, 0.0]  # failed samples beyond each enterprise's worst ``per_enterprise_cap``, by severity
        for fs in by_firm.values():
            for f in sorted(fs, key=lambda f: (-f[2], f[0], f[3]))[cfg.per_enterprise_cap:]:
                excess[f[2]] += 1.0
        crit, major = tot[_C] - excess[2], tot[_B] - excess[1]
        failed = tot[_F] - sum(excess)
        minor = failed - crit - major
        w = self._weights
        weighted = w[0] * minor + w[1] * major + w[2] * crit
        n = int(tot[_N] - sum(excess))  # the excess samples are left out altogether
        expected = sum(s * wt for s, wt in zip(rates.shares(), w, strict=True)) * n
        if failed < cfg.min_failures or weighted < 2.0 * expected:
            return None
        conc = max(1.0, (1.0 - rates.f) / (1.0 / rates.n_eff + cfg.overdispersion * rates.f) - 1.0)
        p = weighted_failure_tail(weighted, n, rates.f, conc, rates.shares(), w)
        return {"window_days": days, "p_value": p, "samples": int(tot[_N]), "failed": int(tot[_F]),
                "failed_enterprises": len(by_firm), "critical_failed": int(tot[_C]),
                "critical_enterprises": sum(1 for fs in by_firm.values() if any(f[2] == 2 for f in fs)),
                "tested_samples": n, "tested_failures": int(failed),
                "weighted_failures": weighted, "expected_weighted_failures": expected,
                "observed_fail_rate": tot[_F] / max(n, 1), "beta_concentration": conc,
                "enterprises": sorted(k for k in by_firm if not k.startswith("?"))[:20], "_failures": inside}

    # -- state --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-able state with ``layout``; floats are kept exactly."""
        return {"layout": LAYOUT, "start": self.start, "sweep_day": self.sweep_day,
                "cells": [[k, c.to_json()] for k, c in self.cells.items()]}  # a list: the order matters

    @classmethod
    def restore(cls, config: SamplingFailureConfig, state: Mapping[str, Any], context: Context) -> SamplingFailure:
        """Rebuild from ``snapshot()``; an empty mapping gives a fresh detector. Raises
        ``ConfigError`` for a snapshot of another layout."""
        det = cls(config, context)
        if not state:
            return det
        if state.get("layout") != LAYOUT:
            raise ConfigError("sampling_failure.state", f"unknown snapshot layout {state.get('layout')!r}")
        det.start = None if state.get("start") is None else float(state["start"])
        det.sweep_day = int(state.get("sweep_day", -1))
        det.cells = {k: _Cell.from_json(v) for k, v in state.get("cells", [])}
        return det
