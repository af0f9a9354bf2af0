"""The statistics detectors use: pure functions over counts, property-tested.

Tail probabilities come from scipy's regularised incomplete gamma/beta functions (ufuncs,
about a microsecond a call), not from ``scipy.stats`` frozen distributions (~100× slower).
Conventions: every ``*_upper_tail(observed, …)`` is P(X ≥ observed); scores are 0–100,
higher is riskier.

>>> round(poisson_upper_tail(41, 6.2), 12) < 1e-15
True
>>> poisson_upper_tail(0, 3.0)
1.0
>>> round(score_from_p(1e-6), 6)
60.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import special

__all__ = [
    "binomial_upper_tail", "cusum_poisson_step", "ears_c2", "negbin_upper_tail", "poisson_upper_tail",
    "score_from_p", "score_from_ratio", "surprise",
]

_TINY = 1e-300


def poisson_upper_tail(observed: float, expected: float) -> float:
    """P(X ≥ observed) for X ~ Poisson(expected); 1 when observed ≤ 0, 0 ≤ result ≤ 1."""
    if observed <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    return float(special.gammainc(math.ceil(observed), expected))


def negbin_upper_tail(observed: float, mean: float, dispersion: float) -> float:
    """P(X ≥ observed) for an overdispersed count with E = ``mean`` and Var = ``dispersion``·mean
    (quasi-Poisson, as Farrington et al. 1996 use for surveillance counts), modelled as a
    negative binomial; ``dispersion`` ≤ 1 falls back to Poisson."""
    if observed <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if dispersion <= 1.0 + 1e-9:
        return poisson_upper_tail(observed, mean)
    # NB(r, p) with mean m, variance φ·m: p = 1/φ, r = m/(φ−1). P(X ≥ k) = I_{1−p}(k, r).
    r = mean / (dispersion - 1.0)
    return float(special.betainc(math.ceil(observed), r, 1.0 - 1.0 / dispersion))


def binomial_upper_tail(k: float, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    return float(special.betainc(math.ceil(k), n - math.ceil(k) + 1, p))


def surprise(p: float) -> float:
    """−log10 p, bounded to [0, 300]."""
    return min(300.0, -math.log10(max(p, _TINY)))


def score_from_p(p: float, per_decade: float = 10.0) -> float:
    """A 0–100 score from a tail probability: ``per_decade`` points per decade of surprise
    (p = 1e-5 → 50, the default blue threshold; 1e-7 → 70, yellow)."""
    return max(0.0, min(100.0, per_decade * surprise(p)))


def score_from_ratio(observed: float, expected: float, base: float = 50.0, per_doubling: float = 8.0) -> float:
    """A 0–100 magnitude score: ``base`` at twice the expectation, ``per_doubling`` points per
    further doubling of observed/expected (so 4× → 58, 16× → 74 with the defaults)."""
    if observed <= 0:
        return 0.0
    ratio = observed / max(expected, 1e-9)
    if ratio <= 1:
        return 0.0
    return max(0.0, min(100.0, base + per_doubling * (math.log2(ratio) - 1.0)))


def cusum_poisson_step(s: float, x: float, mu0: float, shift: float = 1.5) -> tuple[float, float]:
    """One step of the Poisson CUSUM (Lucas 1985) tuned to detect a rise from ``mu0`` to
    ``shift``·``mu0``; returns ``(new_s, reference_k)``. Alarm when ``new_s`` exceeds h.
    The increment is scaled by 1/ln(shift) so ``s`` is in log-likelihood-ratio units."""
    mu0 = max(mu0, 1e-6)
    mu1 = shift * mu0
    k = (mu1 - mu0) / math.log(mu1 / mu0)
    return max(0.0, s + (x - k) * math.log(shift)), k


def ears_c2(history: Sequence[float], observed: float, lag: int = 2, days: int = 7) -> float:
    """The CDC EARS C2 statistic: (observed − mean) / sd over ``days`` baseline days ending
    ``lag`` days before today. A simple baseline for comparison (evaluate), alarm at ≥ 3."""
    base = list(history)[-(days + lag): len(history) - lag if lag else None]
    if not base:
        return 0.0
    mean = sum(base) / len(base)
    var = sum((b - mean) ** 2 for b in base) / max(1, len(base) - 1)
    return (observed - mean) / max(math.sqrt(var), 0.5)
