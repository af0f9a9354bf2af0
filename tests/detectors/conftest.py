"""Detector fixtures: the shared context and a seeded stream of realistic observations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from detectors.base import Context, Observation
from detectors.grading import Grading
from schemas.uscc import make_uscc

START = 1738339200.0  # 2025-02-01T00:00:00+08:00


@pytest.fixture(scope="session")
def context(regions, catalogue) -> Context:
    return Context(regions, catalogue, Grading())


@pytest.fixture(scope="session")
def stream(regions, catalogue) -> Callable[..., list[Observation]]:
    """``stream(seed, days, per_day, burst=False)``: background observations of all four sources
    in event-time order; ``burst`` adds a mask incident in 西湖区 on the last day that every detector warns about."""
    counties = sorted(r.code for r in regions if r.level == "county")
    cats = [c.code for c in catalogue]

    def make(seed: int = 0, days: int = 30, per_day: int = 400, burst: bool = False) -> list[Observation]:
        rng = np.random.default_rng(seed)
        n = days * per_day
        ts = np.sort(START + rng.uniform(0, days * 86400, n))
        srcs = rng.choice(["complaint", "opinion", "sampling", "enforcement"], n, p=[0.35, 0.5, 0.1, 0.05])
        county = rng.choice(len(counties), n)
        cat = rng.choice(len(cats), n)
        ents = [make_uscc(counties[i], f"{i:08d}X".replace("X", "1")) for i in range(40)]
        out = []
        for i in range(n):
            region = counties[county[i]]
            chain = regions.chain(region)
            src = str(srcs[i])
            common = dict(event_id=f"e{seed}-{i}", source=src, ts=float(ts[i]), region=region, chain=chain,
                          category=cats[cat[i]], uscc=ents[i % 40] if src != "opinion" else "")
            if src == "complaint":
                out.append(Observation(**common, complainant=f"p{rng.integers(0, 10**6)}", issue="quality",
                                       injury="minor" if rng.random() < 0.005 else "none"))
            elif src == "sampling":
                failed = bool(rng.random() < 0.07)
                out.append(Observation(**common, failed=failed, critical=int(failed and rng.random() < 0.3),
                                       major=int(failed)))
            elif src == "enforcement":
                out.append(Observation(**common, violation=str(rng.choice(["counterfeit", "substandard", "other"]))))
            else:
                out.append(Observation(**common, reach=float(rng.pareto(1.2) * 100), sentiment=float(rng.uniform(-1, 1)),
                                       hazard=0.0))
        if burst:
            chain = regions.chain("330106")
            t0 = START + (days - 1) * 86400
            for j in range(40):
                out.append(Observation(event_id=f"b{j}", source="complaint", ts=t0 + j * 600, region="330106",
                                       chain=chain, category="mask", complainant=f"q{j}", issue="quality",
                                       injury="serious" if j % 10 == 0 else "none", uscc=ents[0]))
                out.append(Observation(event_id=f"bo{j}", source="opinion", ts=t0 + j * 600 + 1, region="330106",
                                       chain=chain, category="mask", reach=5000.0, sentiment=-0.8, hazard=0.9,
                                       risk_terms=("异味",), uscc=ents[0]))
            out.append(Observation(event_id="bs", source="sampling", ts=t0 + 100, region="330106", chain=chain,
                                   category="mask", uscc=ents[0], failed=True, critical=2))
            out.append(Observation(event_id="be", source="enforcement", ts=t0 + 200, region="330106", chain=chain,
                                   category="mask", uscc=ents[0], violation="substandard"))
            # so that every detector of the catalogue warns: the maker failed with an A类 item ten
            # days before (a repeat), five more makers fail (a campaign), counterfeit masks are
            # seized in five neighbouring districts (a cluster)
            out.append(Observation(event_id="bs0", source="sampling", ts=t0 - 10 * 86400, region="330106", chain=chain,
                                   category="mask", uscc=ents[0], failed=True, critical=1))
            for j in range(1, 6):
                out.append(Observation(event_id=f"bs{j}", source="sampling", ts=t0 + 300 + j * 900, region="330106",
                                       chain=chain, category="mask", uscc=ents[j], failed=True, critical=1))
            for j, county in enumerate(("330102", "330105", "330106", "330108", "330110", "330106")):
                out.append(Observation(event_id=f"bc{j}", source="enforcement", ts=t0 + 400 + j * 1800, region=county,
                                       chain=regions.chain(county), category="mask", uscc=ents[10 + j],
                                       violation="counterfeit"))
            out.sort(key=lambda o: (o.ts, o.event_id))
        return out

    return make
