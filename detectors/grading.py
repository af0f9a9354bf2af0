"""From evidence to a 0–100 score and a level (DESIGN §3).

Level from score: blue ≥ 50, yellow ≥ 70, orange ≥ 85, red ≥ 95 (configurable). The score
is raised for vulnerable groups (children, elderly), safety-critical categories, injuries
and corroboration across sources — the factors China's product-injury and quality-safety
risk monitoring guidance weighs in grading (危害程度, 影响人群, 多源印证).

>>> g = Grading()
>>> g.level(72.0), g.level(49.9)
('yellow', None)
"""

from __future__ import annotations

from dataclasses import dataclass

from detectors.base import DetectorConfig
from schemas.alert import LEVELS

__all__ = ["Grading"]

_INJURY_BONUS = {"": 0.0, "none": 0.0, "reported": 4.0, "minor": 4.0, "serious": 12.0, "fatal": 22.0}


@dataclass(frozen=True)
class Grading(DetectorConfig):
    """Thresholds and raises. Bonuses are score points added to a detector's base score."""

    blue: float = 50.0
    yellow: float = 70.0
    orange: float = 85.0
    red: float = 95.0
    vulnerable_bonus: float = 8.0
    safety_bonus: float = 4.0
    corroboration_bonus: float = 8.0  # per source beyond the first

    def level(self, score: float) -> str | None:
        """The level for ``score``, ``None`` below blue."""
        for name, threshold in zip(reversed(LEVELS), (self.red, self.orange, self.yellow, self.blue), strict=True):
            if score >= threshold:
                return name
        return None

    def raise_score(self, base: float, category: object | None = None, injury: str = "",
                    sources: int = 1) -> tuple[float, list[str]]:
        """``base`` plus the raises that apply; returns the capped score and the raisers' names.
        ``category`` is a ``schemas.categories.Category`` (or ``None``); ``injury`` the worst
        injury in the evidence; ``sources`` how many distinct sources corroborate."""
        score, raisers = base, []
        if category is not None and getattr(category, "vulnerable_group", False):
            score += self.vulnerable_bonus
            raisers.append("vulnerable_group")
        if category is not None and getattr(category, "safety_critical", False):
            score += self.safety_bonus
            raisers.append("safety_critical")
        bonus = _INJURY_BONUS.get(injury, 0.0)
        if bonus:
            score += bonus
            raisers.append(f"injury:{injury}")
        if sources > 1:
            score += self.corroboration_bonus * (sources - 1)
            raisers.append(f"corroboration:{sources}")
        return max(0.0, min(100.0, score)), raisers
