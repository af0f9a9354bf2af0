"""``cross_source``: corroboration across the four sources → one explainable risk score.

Per (category, city), (category, province) and enterprise (USCC), ``EntityWindows`` (module
``entity_windows``) keeps what each source shows in recent windows and turns it into one
surprise s = −log10 p per source: complaints above baseline or with injuries, failed and
critically failed samples, enforcement cases, adverse and hazard posts. A source
*corroborates* at s ≥ ``min_source_surprise``; Fisher's method combines all four (χ² with 8
degrees of freedom, so silent sources count against chance), each s capped at
``source_cap`` so one loud source cannot carry a weak second one far. A signal needs ≥ 2
corroborating sources, one of them news today or yesterday (its two-day count or injuries are
surprising, or a failed sample or case arrived that lifts its source's surprise as far: old evidence
alone only restates an episode, and one failed sample where failures are expected is no news), and a
combined tail ≤ ``alpha``: across tens of thousands of entities
weak single-source blips co-occur by chance every day, and an α of 1e-6 keeps those below
one a month. An entity is examined when evidence arrives for a source whose counts pass a
cheap pre-check bar (a lower bound of what corroboration needs) while another source's do
too — at most once an event-time hour unless the event is notable (an injury, a failed
sample, a case, a hazard post); most entities show one source and cost four look-ups.

Score: ``score_from_p`` of the combined tail (1e-6 → 60, capped at ``max_base``) plus up to
``model_weight`` points from the trained ``AnomalyModel`` (IsolationForest) over the
entity's features when one is configured — enough to carry a combined tail up to
``model_alpha`` over the line, never a single source — then the grading raises
(corroboration +8 per extra source, injuries, vulnerable groups, safety-critical
categories). The explanation lists each source's contribution (observed, expected, test,
p-value, surprise) and, with a model, its score, version, features and feature
contributions. ``CrossSourceConfig.model`` holds the artifact as base64 text
(``AnomalyModel.to_text()``, ``""`` = none): the model travels with the configuration, is
part of its hash (``config_hash`` on warnings) and needs no extra constructor argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.anomaly_model import FEATURES, AnomalyModel, features
from detectors.base import CST_OFFSET, DAY, HOUR, Context, DetectorConfig, Observation, Signal
from detectors.entity_windows import SOURCES, Entity, EntityWindows, notable
from detectors.stats import score_from_p
from schemas.alert import Scope
from schemas.errors import ConfigError

__all__ = ["CrossSource", "CrossSourceConfig"]

LAYOUT = 1


@dataclass(frozen=True)
class CrossSourceConfig(DetectorConfig):
    """Parameters. Windows in days, rates per day, surprises in decades (−log10 p).

    ``levels``: entity kinds (``city``, ``province``, ``enterprise``); ``window_days`` /
    ``sparse_window_days``: windows of complaint+opinion / sampling+enforcement evidence;
    ``baseline_days``: horizon of the daily baselines (a running mean, then an EWMA with
    α = 1/``baseline_days``; burst days capped); ``min_baseline_days``: baseline days before
    count tests run; ``baseline_z``: expectations are the baseline plus this many standard
    errors; ``nb_size``: k of the negative binomial of daily counts, var = m + m²/k (sparse
    entities nearly Poisson); ``*_floor``: least daily rate per level (city, province,
    enterprise); ``injury_prior``: injuries per complaint (any, serious+, fatal) worth
    ``injury_prior_complaints``; ``failure_prior`` / ``critical_prior``: failed / critically
    failed share of samples worth ``sampling_prior_samples``; ``hazard_prior``: hazard share
    of adverse posts (all categories), the prior of each category's share, worth
    ``hazard_prior_posts``; ``violations``: case types that count; ``skip_issues``: complaint issues
    that do not (after-sales disputes are no product risk; 双十一 brings a week of them);
    ``negative_sentiment`` / ``hazard_threshold``: what makes a post adverse;
    ``min_source_surprise``: a corroborating source's least surprise; ``source_cap``: cap of
    one source's surprise; ``alpha``: combined tail to beat; ``max_base``: cap of the
    statistical score; ``model``: base64 ``AnomalyModel`` artifact or ``""``;
    ``model_weight``: most points the model adds; ``model_alpha``: the weakest combined tail
    the model may carry over the line; ``rearm_points``: once an entity's warning has gone
    quiet (``cooldown_hours``), what its windows still hold of that episode is no news — a
    new signal within ``sparse_window_days`` of the last needs a score this much higher;
    ``require_fresh``: a signal needs a corroborating source that is news today or yesterday
    (its two-day count, or the two days' injuries, reach surprise ``fresh_surprise``; or a
    failed sample or case arrived and its source's surprise reaches ``fresh_surprise`` too) —
    windows holding only an episode's old evidence restate it days later, after other warnings
    (a city's injury cluster, warned by ``injury_signal``, restated by its province a week on
    when one more sample fails there).
    """

    min_history_days: float = 7.0
    cooldown_hours: float = 72.0
    levels: tuple[str, ...] = ("city", "province", "enterprise")
    window_days: int = 14
    sparse_window_days: int = 30
    baseline_days: int = 28
    min_baseline_days: int = 7
    baseline_z: float = 2.0
    nb_size: float = 10.0
    complaint_floor: tuple[float, float, float] = (0.1, 0.5, 0.1)
    opinion_floor: tuple[float, float, float] = (0.1, 0.5, 0.1)
    enforcement_floor: tuple[float, float, float] = (0.02, 0.1, 0.02)
    injury_prior: tuple[float, float, float] = (0.003, 3e-5, 3e-6)
    injury_prior_complaints: float = 20000.0
    failure_prior: float = 0.07
    critical_prior: float = 0.02
    sampling_prior_samples: float = 50.0
    hazard_prior: float = 0.02
    hazard_prior_posts: float = 200.0
    violations: tuple[str, ...] = ("counterfeit", "substandard", "false_certification")
    skip_issues: tuple[str, ...] = ("after_sales",)
    negative_sentiment: float = -0.25
    hazard_threshold: float = 0.6
    min_source_surprise: float = 1.3
    source_cap: float = 8.0
    alpha: float = 1e-6
    max_base: float = 70.0
    model: str = ""
    model_weight: float = 10.0
    model_alpha: float = 1e-5
    rearm_points: float = 5.0
    require_fresh: bool = True
    fresh_surprise: float = 2.0


class CrossSource:
    """See the module docstring. Called by the engine with observations of all four sources in
    event-time order; ``update`` never raises on odd observations. The constructor raises
    ``ConfigError`` when ``config.model`` is not a valid artifact."""

    name: ClassVar[str] = "cross_source"
    version: ClassVar[str] = "1.0.0"
    sources: ClassVar[frozenset[str]] = frozenset(SOURCES)

    def __init__(self, config: CrossSourceConfig, context: Context) -> None:
        self.config, self.context = config, context
        self.windows = EntityWindows(config)
        self.first_ts: float | None = None
        # entity → [last signal's time, highest score of its episode, its category]
        self.signalled: dict[str, list[Any]] = {}
        try:
            self.model = AnomalyModel.from_text(config.model) if config.model else None
        except ConfigError as exc:
            raise ConfigError("detectors.cross_source.model", exc.reason) from exc
        self._gate, self._min_s = score_from_p(config.alpha), config.min_source_surprise

    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        out: list[Signal] = []
        cfg = self.config
        for obs in batch:
            keys = self.windows.add(obs)
            if not keys:
                continue
            if self.first_ts is None:
                self.first_ts = obs.ts
            if obs.ts - self.first_ts < cfg.min_history_days * DAY:
                continue
            hour, src, win = int(obs.ts // HOUR), obs.source, self.windows
            urgent = notable(obs, cfg.hazard_threshold)
            for key in keys:
                e = win.entities[key]
                if (win.shows(e) < 2 or (e.last_eval == hour and not urgent)
                        or not win.could_corroborate(src, e, key) or not win.others_corroborate(src, e, key)):
                    continue
                e.last_eval = hour
                sig = self._evaluate(key, e, obs)
                if sig is not None and self._news(key, sig):
                    out.append(sig)
        return out

    def _news(self, key: str, sig: Signal) -> bool:
        """Whether ``sig`` is news: the entity's episode is still open, or it never signalled
        within the sparse window, or the score rose by ``rearm_points`` over the last episode's.
        Records the signal when it is."""
        cfg, last = self.config, self.signalled.get(key)
        if last is not None:
            quiet = sig.ts - last[0]
            if quiet <= cfg.cooldown_hours * HOUR:
                last[0], last[1] = sig.ts, max(last[1], sig.score)
                return True
            if quiet <= cfg.sparse_window_days * DAY and sig.score < last[1] + cfg.rearm_points:
                return False
        self.signalled[key] = [sig.ts, sig.score, sig.scope.category or ""]
        if len(self.signalled) > 2 * len(self.windows.entities) + 64:
            horizon = sig.ts - cfg.sparse_window_days * DAY
            self.signalled = {k: v for k, v in self.signalled.items() if v[0] >= horizon}
        return True

    def _evaluate(self, key: str, e: Entity, obs: Observation) -> Signal | None:
        """Combine the sources; add the model's points; a signal when the gate is passed."""
        cfg = self.config
        parts = self.windows.indicators(key, e, obs.ts)
        corroborating = [src for src in SOURCES if parts[src]["surprise"] >= self._min_s]
        if len(corroborating) < 2 or (cfg.require_fresh and not any(parts[x]["fresh"] for x in corroborating)):
            return None
        total = sum(min(cfg.source_cap, p["surprise"]) for p in parts.values())
        p = _fisher(total, len(SOURCES))
        base, bonus, anomaly = min(cfg.max_base, score_from_p(p)), 0.0, None
        if self.model is not None and p <= cfg.model_alpha:
            agg = self.windows.aggregates(key, obs.ts)
            if agg is not None:
                row = features(agg)
                a = self.model.score(row)
                bonus = cfg.model_weight * min(1.0, max(0.0, (a - 0.5) / 0.25))
                anomaly = {"model_version": self.model.version, "score": round(a, 4), "points": round(bonus, 2),
                           "features": {k: round(float(v), 4) for k, v in zip(FEATURES, row, strict=True)},
                           "contributions": self.model.contributions(row) if bonus > 0 else {}}
        if base + bonus < self._gate:
            return None
        return self._signal(key, e, obs, parts, corroborating, p, total, base + bonus, anomaly)

    def _signal(self, key: str, e: Entity, obs: Observation, parts: dict[str, dict[str, Any]],
                corroborating: list[str], p: float, total: float, base: float,
                anomaly: dict[str, Any] | None) -> Signal:
        cfg, ctx = self.config, self.context
        kind, *rest = key.split("|", 2)
        if kind == "e":
            # an enterprise's open episode keeps the category it was reported under: its main
            # category may flip as evidence arrives (乳制品 / 婴幼儿配方乳粉), which must not open a
            # second warning for the same enterprise
            last = self.signalled.get(key)
            cat = last[2] if last is not None and last[2] and obs.ts - last[0] <= cfg.cooldown_hours * HOUR \
                else self.windows.main_category(e)
            scope = Scope(uscc=rest[0], category=cat or None)
            label = f"企业{rest[0]}" + (f" ({ctx.catalogue[cat].name_zh})" if cat in ctx.catalogue else "")
        else:
            cat, scope = rest[0], Scope(region_code=rest[1], category=rest[0])
            label = ctx.scope_name(scope)
        injury = self.windows.worst_injury(e)
        score, raisers = ctx.grading.raise_score(base, ctx.catalogue.get(cat), injury, len(corroborating))
        span = cfg.sparse_window_days if {"sampling", "enforcement"} & set(corroborating) else cfg.window_days
        evidence = self.windows.evidence(e, sorted(SOURCES, key=lambda x: -parts[x]["surprise"]))
        explanation: dict[str, Any] = {
            "entity": {"c": "category_city", "p": "category_province", "e": "enterprise"}[kind],
            "by_source": parts, "contributing_sources": corroborating, "statistic": "fisher_combined_p",
            "p_value": p, "surprise_sum": round(total, 3), "threshold": cfg.alpha,
            "min_source_surprise": cfg.min_source_surprise, "source_cap": cfg.source_cap, "raised_by": raisers,
        }
        if anomaly is not None:
            explanation["anomaly"] = anomaly
        what = "、".join(_phrase(src, parts[src]) for src in corroborating)
        return Signal(detector=self.name, scope=scope, ts=obs.ts, window_start=(e.day - span + 1) * DAY - CST_OFFSET,
                      window_end=obs.ts, score=score, title=f"{label} 多源风险印证 ({what}；{len(corroborating)} 个来源)",
                      explanation=explanation, evidence=evidence[:100], trigger=obs.event_id)

    # -- state -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"layout": LAYOUT, "first_ts": self.first_ts, "windows": self.windows.to_json(),
                "signalled": dict(sorted(self.signalled.items()))}

    @classmethod
    def restore(cls, config: CrossSourceConfig, state: Mapping[str, Any], context: Context) -> CrossSource:
        self = cls(config, context)
        self.first_ts = state["first_ts"]
        # (snapshots before the category was kept hold two numbers)
        self.signalled = {k: [float(v[0]), float(v[1]), str(v[2]) if len(v) > 2 else ""]
                          for k, v in state.get("signalled", {}).items()}
        self.windows = EntityWindows.from_json(config, state["windows"])
        return self


def _fisher(total_surprise: float, k: int) -> float:
    """Fisher's combined p of k p-values whose −log10 sum to ``total_surprise`` (χ², 2k df)."""
    x = total_surprise * math.log(10.0)  # Σ −ln p_i = χ²/2
    term = acc = 1.0
    for j in range(1, k):
        term *= x / j
        acc += term
    return min(1.0, math.exp(-x) * acc)


def _phrase(src: str, part: Mapping[str, Any]) -> str:
    """A source's contribution in a few Chinese words (for the title)."""
    if src == "complaint":
        hurt = sum(part["injuries"].values())
        return f"投诉 {part['observed']} 件" + (f"含伤害 {hurt} 起" if hurt else "")
    if src == "sampling":
        return f"抽检不合格 {part['failed']} 批" + (f"(A类 {part['critical_failed']})" if part["critical_failed"] else "")
    if src == "enforcement":
        return f"执法案件 {part['cases']} 起"
    return f"负面舆情 {part['observed']:.0f} 条" + (f"含风险词 {part['hazard_posts']:.0f}" if part["hazard_posts"] else "")
