"""``injury_signal``: product injuries (产品伤害) reported in complaints.

- A fatal injury in a safety-critical or vulnerable-group category warns at once, scoped
  to the category and the reporting city (DESIGN §3). A serious one warns as soon as a
  second injured person (any severity) in the same category and city corroborates it
  within the window: a lone serious injury is one account, and at national volume a few
  arrive every week in every large category, unrelated to each other
  (``lone_serious_warns`` restores the at-once rule). The score rises with every further
  injured person.
- Minor injuries warn only as a cluster: distinct injured complainants in one
  (category, city) within ``window_days`` against the category's national minor-injury
  rate spread over cities (Poisson tail), with a minimum count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from detectors.base import DAY, Context, DetectorConfig, Observation, Signal, day_index
from detectors.stats import poisson_upper_tail, score_from_p
from schemas.alert import Scope

__all__ = ["InjurySignal", "InjurySignalConfig"]

LAYOUT = 1
_SEVERE = {"serious", "fatal"}


@dataclass(frozen=True)
class InjurySignalConfig(DetectorConfig):
    """``window_days``: how far back injuries corroborate each other; ``serious_base`` /
    ``fatal_base``: base score of one report (before raises); ``cluster_step``: points per
    further severe injury in the window; ``minor_min``: distinct minor injuries needed in a
    city; ``minor_max_p``: tail probability a minor cluster must beat; ``cities``: share of
    a category's national injuries one city is expected to see (≈ 1 / number of cities);
    ``minor_step``: points per further minor injury beside a severe one;
    ``lone_serious_warns``: a serious injury warns without a second injured person."""

    window_days: float = 7.0
    serious_base: float = 48.0
    fatal_base: float = 60.0
    cluster_step: float = 9.0
    minor_step: float = 4.0
    minor_min: int = 3
    minor_max_p: float = 1e-4
    city_share: float = 1 / 150
    lone_serious_warns: bool = False
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
        self.recent: dict[tuple[str, str], deque[tuple[float, str, str, str]]] = {}  # (ts, id, injury, who)
        self.minor_days: dict[str, list[int]] = {}  # category → [first day seen, minor injuries total]

    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        out: list[Signal] = []
        for obs in batch:
            if obs.source != "complaint" or obs.injury not in ("minor", "serious", "fatal") or not obs.category:
                continue
            category = self.context.catalogue.get(obs.category)
            if category is None:
                continue
            city = self.context.regions.levels(obs.region)[1] or (obs.chain[-1] if obs.chain else obs.region)
            key = (obs.category, city)
            q = self.recent.setdefault(key, deque())
            horizon = obs.ts - self.config.window_days * DAY
            while q and q[0][0] < horizon:
                q.popleft()
            who = obs.complainant or obs.event_id
            if any(w == who for _, _, _, w in q):  # the same person reporting again adds nothing
                q.append((obs.ts, obs.event_id, obs.injury, who))
                continue
            q.append((obs.ts, obs.event_id, obs.injury, who))
            stats = self.minor_days.setdefault(obs.category, [day_index(obs.ts), 0])
            if obs.injury == "minor":
                stats[1] += 1
            sig = None
            if (category.safety_critical or category.vulnerable_group) and self._severe_warns(q):
                sig = self._severe(obs, key, q, category)
                if sig.score < self.context.grading.blue:
                    sig = None
            elif obs.injury == "minor":
                sig = self._minor(obs, key, q, category, stats)
            if sig is not None:
                out.append(sig)
            if len(self.recent) > 4096:
                self._evict(obs.ts)
        return out

    def _severe_warns(self, q: deque) -> bool:
        """A fatal injury in the window, or a serious one with a second injured person."""
        injuries = {x[2] for x in q}
        if "fatal" in injuries or ("serious" in injuries and self.config.lone_serious_warns):
            return True
        return "serious" in injuries and len({x[3] for x in q}) >= 2

    def _severe(self, obs: Observation, key: tuple[str, str], q: deque, category: Any) -> Signal:
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
            "threshold": 1 if worst == "fatal" or self.config.lone_serious_warns else 2, "raisers": raisers,
        }, f"{len(severe)} 起严重伤害" if worst == "serious" else f"{len(severe)} 起伤害事件含死亡")

    def _minor(self, obs: Observation, key: tuple[str, str], q: deque, category: Any, stats: list[int]) -> Signal | None:
        n = len({x[3] for x in q})
        if n < self.config.minor_min:
            return None
        days = max(7.0, day_index(obs.ts) - stats[0] + 1.0)
        expected = max(stats[1] / days * self.config.window_days * self.config.city_share, 0.01)
        p = poisson_upper_tail(n, expected)
        if p > self.config.minor_max_p:
            return None
        base = min(score_from_p(p), 50.0 + 8.0 * (n - self.config.minor_min))
        worst = "serious" if any(x[2] in _SEVERE for x in q) else "minor"
        score, raisers = self.context.grading.raise_score(base, category, injury=worst)
        return self._signal(obs, key, q, score, "minor_cluster", {
            "injured": n, "expected": round(expected, 4), "statistic": "poisson_upper_tail", "p_value": p,
            "threshold": self.config.minor_max_p, "raisers": raisers,
        }, f"{n} 起伤害聚集")

    def _signal(self, obs: Observation, key: tuple[str, str], q: deque, score: float, test: str,
                facts: dict[str, Any], what: str) -> Signal:
        scope = Scope(region_code=key[1], category=key[0])
        days = int(self.config.window_days)
        start = (day_index(q[0][0]) * DAY) - 8 * 3600
        return Signal(
            detector=self.name, scope=scope, ts=obs.ts, window_start=start, window_end=obs.ts, score=score,
            trigger=obs.event_id,
            title=f"{self.context.scope_name(scope)} 产品伤害 ({days}天内{what})",
            explanation={"test": test, "window_days": self.config.window_days, "sources": ["complaint"], **facts},
            evidence=[eid for _, eid, _, _ in sorted(q, key=lambda x: (x[2] != "fatal", x[2] != "serious", -x[0]))],
        )

    def _evict(self, ts: float) -> None:
        horizon = ts - self.config.window_days * DAY
        self.recent = {k: q for k, q in self.recent.items() if q and q[-1][0] >= horizon}

    def snapshot(self) -> dict[str, Any]:
        return {"layout": LAYOUT,
                "recent": {f"{c}|{r}": [list(x) for x in q] for (c, r), q in sorted(self.recent.items())},
                "minor_days": {k: list(v) for k, v in sorted(self.minor_days.items())}}

    @classmethod
    def restore(cls, config: InjurySignalConfig, state: Mapping[str, Any], context: Context) -> InjurySignal:
        self = cls(config, context)
        for name, q in state["recent"].items():
            c, r = name.split("|")
            self.recent[(c, r)] = deque((float(t), e, i, w) for t, e, i, w in q)
        self.minor_days = {k: list(v) for k, v in state["minor_days"].items()}
        return self
