"""complaint_surge: fires on a local surge, discounts single actors and nation-wide calendar surges."""

from __future__ import annotations

import numpy as np
import pytest

from detector_feed import in_order
from detectors.base import HOUR, Observation
from detectors.complaint_surge import ComplaintSurge, ComplaintSurgeConfig
from detectors.lifecycle import DetectorInfo, Lifecycle

START = 1738339200.0


def _background(regions, catalogue, days, per_day, seed, boost=None):
    """National complaint background; ``boost=(day, factor)`` multiplies every category that day."""
    rng = np.random.default_rng(seed)
    counties = sorted(r.code for r in regions if r.level == "county")[:300]
    cats = [c.code for c in catalogue]
    out = []
    for d in range(days):
        n = per_day * (boost[1] if boost and boost[0] == d else 1)
        for i, t in enumerate(np.sort(rng.uniform(0, 86400, int(n)))):
            region = counties[rng.integers(len(counties))]
            out.append(Observation(event_id=f"g{d}-{i}", source="complaint", ts=START + d * 86400 + float(t),
                                   region=region, chain=regions.chain(region), category=cats[rng.integers(len(cats))],
                                   complainant=f"c{rng.integers(10**9)}", issue="quality"))
    return out


def _surge(regions, day, n, complainants=None, region="330106", category="mask"):
    chain = regions.chain(region)
    return [Observation(event_id=f"s{i}", source="complaint", ts=START + day * 86400 + 3600 + i * 900, region=region,
                        chain=chain, category=category, issue="quality",
                        complainant=(complainants or (lambda i: f"victim{i}"))(i)) for i in range(n)]


def _run(context, obs, config=None):
    det = ComplaintSurge(config or ComplaintSurgeConfig(), context)
    return det.update(in_order(obs))


def test_local_surge_fires_at_county_with_explanation(context, regions, catalogue):
    obs = _background(regions, catalogue, 22, 1500, seed=1) + _surge(regions, 21, 30)
    signals = _run(context, obs)
    county = [s for s in signals if s.scope.region_code == "330106"]
    assert county, "the county surge must fire"
    first = county[0]
    assert first.scope.category == "mask"
    assert first.explanation["observed"] >= 4 and first.explanation["p_value"] < 1e-6
    assert first.title.startswith("浙江省杭州市西湖区 口罩 投诉量激增")
    assert first.evidence[0].startswith("s")
    assert max(s.score for s in county) >= 85  # dozens of complaints about masks in one district: orange or red
    assert not [s for s in signals if s.scope.category != "mask"]  # background stays quiet


def test_professional_claimant_is_counted_once(context, regions, catalogue):
    obs = _background(regions, catalogue, 22, 1500, seed=2) + _surge(regions, 21, 40, complainants=lambda i: "pro")
    assert _run(context, obs) == []


def test_nationwide_calendar_surge_is_not_a_warning(context, regions, catalogue):
    obs = _background(regions, catalogue, 22, 1500, seed=3, boost=(21, 3))
    assert _run(context, obs) == []


def test_cold_start_is_quiet_even_on_a_surge(context, regions, catalogue):
    obs = _background(regions, catalogue, 3, 1500, seed=4) + _surge(regions, 2, 30)
    assert _run(context, obs) == []


def test_slow_rise_caught_by_cusum(context, regions, catalogue):
    """+5 % a day in one province's kitchen appliances, amid a national background."""
    rng = np.random.default_rng(5)
    chain = regions.chain("440106")
    obs = []
    for d in range(56):
        rate = 6 if d < 28 else 6 * 1.05 ** (d - 27)  # +5 % a day after four weeks
        for i in range(rng.poisson(rate)):
            obs.append(Observation(event_id=f"k{d}-{i}", source="complaint", ts=START + d * 86400 + i * 600 + 60,
                                   region="440106", chain=chain, category="kitchen_appliance", issue="safety",
                                   complainant=f"k{d}-{i}"))
    signals = _run(context, obs + _background(regions, catalogue, 56, 400, seed=6))
    trend = [s for s in signals if s.episode_key == "trend"]
    assert trend and trend[0].scope.region_code in ("440000", "000000")
    assert trend[0].ts > START + 30 * 86400


def _busy_key(regions, days, per_day, extra_day, extra, boost_day=None):
    """Kitchen appliances in one Guangzhou district: ``per_day`` complaints a day (×3 on
    ``boost_day``), plus ``extra`` more on ``extra_day``."""
    rng = np.random.default_rng(7)
    chain = regions.chain("440106")
    out = []
    for d in range(days):
        n = rng.poisson(per_day * (3 if d == boost_day else 1)) + (extra if d == extra_day else 0)
        for i, t in enumerate(np.sort(rng.uniform(0, 86400, n))):
            out.append(Observation(event_id=f"k{d}-{i}", source="complaint", ts=START + d * 86400 + float(t),
                                   region="440106", chain=chain, category="kitchen_appliance", issue="quality",
                                   complainant=f"k{d}-{i}"))
    return out


@pytest.mark.parametrize(("calendar", "calendar_cv", "fires"), [(True, None, False), (True, 0.0, True),
                                                                  (False, None, True)])
def test_a_busy_key_needs_a_clearer_excess_on_a_calendar_day(context, regions, catalogue, calendar, calendar_cv,
                                                              fires):
    """35 extra complaints on a key with 10 a day: news on an ordinary day; on 3·15, when every
    key triples, one category's lift varying around the nation's (``calendar_cv``) explains it."""
    boost = (21, 3) if calendar else None
    obs = _background(regions, catalogue, 22, 1500, seed=8, boost=boost) + \
        _busy_key(regions, 22, 10, 21, 35, boost_day=21 if calendar else None)
    config = ComplaintSurgeConfig() if calendar_cv is None else ComplaintSurgeConfig(calendar_cv=calendar_cv)
    surges = [s for s in _run(context, obs, config) if s.scope.category == "kitchen_appliance"
              and s.explanation.get("test") == "surge"]
    assert bool(surges) == fires
    if fires and calendar:
        assert surges[0].explanation["national_activity"] > 2


def test_a_county_surge_must_beat_the_level_multiplicity(context, regions, catalogue):
    """Counties outnumber cities ~8 to 1, so a county blip needs a p 8× smaller to warn."""
    chain = regions.chain("330106")  # the district's masks draw a complaint or two a day
    usual = [Observation(event_id=f"u{d}-{i}", source="complaint", ts=START + d * 86400 + 7200 * (i + 1),
                         region="330106", chain=chain, category="mask", issue="quality", complainant=f"u{d}-{i}")
             for d in range(21) for i in range(1 + d % 2)]
    background = _background(regions, catalogue, 22, 200, seed=11) + usual

    def first_warning(config):
        for n in range(4, 30):
            county = [s for s in _run(context, background + _surge(regions, 21, n), config)
                      if s.scope.region_code == "330106"]
            if county:
                return n, county[0]
        return None, None

    n_flat, _ = first_warning(ComplaintSurgeConfig(level_tests=(1.0, 1.0, 1.0, 1.0), min_count=(4, 5, 8, 12)))
    n_level, sig = first_warning(ComplaintSurgeConfig(min_count=(4, 5, 8, 12)))
    assert n_flat is not None and n_level is not None and n_level > n_flat
    assert sig.explanation["level_tests"] == 8.0
    assert sig.explanation["p_adjusted"] == pytest.approx(8 * sig.explanation["p_value"])



def _steady(regions, days, per_day, seed, region="330106", category="mask"):
    """A key's own everyday complaints: Poisson ``per_day`` from distinct complainants."""
    rng = np.random.default_rng(seed)
    chain = regions.chain(region)
    return [Observation(event_id=f"k{d}-{i}", source="complaint", ts=START + d * 86400 + float(t), region=region,
                        chain=chain, category=category, issue="quality", complainant=f"k{d}-{i}")
            for d in range(days) for i, t in enumerate(np.sort(rng.uniform(0, 86400, rng.poisson(per_day))))]


def test_a_surge_only_one_in_a_million_is_not_a_warning(context, regions, catalogue):
    """The 24 h test runs on every complaint over tens of thousands of keys: a tail of 1e-6 is
    a chance surge every few weeks nation-wide, so the default bar is 1e-7."""
    background = _background(regions, catalogue, 22, 1500, seed=6) + _steady(regions, 21, 5, seed=7)
    lenient = ComplaintSurgeConfig(max_p=1e-6)
    gap = None
    for n in range(5, 30):  # the surge size whose tail falls between the two bars
        hits = [s for s in _run(context, background + _surge(regions, 21, n), lenient) if s.scope.category == "mask"]
        if hits:
            gap = n if hits[0].explanation["p_adjusted"] > 1e-7 else None
            break
    assert gap is not None, "no surge size lands between 1e-7 and 1e-6: the scenario no longer tests the bar"
    assert not [s for s in _run(context, background + _surge(regions, 21, gap)) if s.scope.category == "mask"]
    assert [s for s in _run(context, background + _surge(regions, 21, gap + 3)) if s.scope.category == "mask"]


def _hovering_trend(regions, counts=None):
    """Guangzhou kitchen appliances at exactly 6 a day for five weeks, then a trend that crosses
    the CUSUM threshold (day 39), sags below it for five days, crosses again (45 – 47) and falls
    below half of it (day 50) — or daily ``counts``; beside 400 other complaints a day elsewhere
    (a steady nation)."""
    counts = counts or [6] * 35 + [14] * 5 + [4] * 4 + [14] * 3 + [1] * 5
    chain, other = regions.chain("440106"), regions.chain("110101")
    obs = []
    for d, x in enumerate(counts + [6]):
        obs += [Observation(event_id=f"k{d}-{i}", source="complaint", ts=START + d * 86400 + 3600 + i * 600,
                            region="440106", chain=chain, category="kitchen_appliance", issue="quality",
                            complainant=f"k{d}-{i}") for i in range(x)]
        obs += [Observation(event_id=f"b{d}-{i}", source="complaint", ts=START + d * 86400 + 30 + i * 200,
                            region="110101", chain=other, category="clothing", issue="quality",
                            complainant=f"b{d}-{i}") for i in range(400)]
    return obs


def _trend_alerts(context, signals):
    """The province trend's alerts (status, level, alert id) through the warning lifecycle."""
    lc = Lifecycle(context.grading, {"complaint_surge": DetectorInfo("1", "h", 72 * HOUR)}, context)
    out = []
    for s in sorted(signals, key=lambda s: s.ts):
        out += lc.advance(s.ts) + lc.apply(s)
    out += lc.advance(float("inf"))
    return [(a.status, a.level, a.alert_id) for a in out
            if a.scope.region_code == "440000" and a.detector == "complaint_surge"]


def test_a_trend_hovering_at_the_threshold_is_one_warning_per_excursion(context, regions):
    """A sum that crossed and sags just below the threshold is the same trend when it crosses
    again (a 150-day run's Fujian small appliances opened three warnings in 11 days): it keeps
    signalling until it falls below half the threshold, so one warning stays open."""
    obs = _hovering_trend(regions)
    every = _trend_alerts(context, _run(context, obs, ComplaintSurgeConfig(cusum_rearm=1.0)))  # the old rule
    held = _trend_alerts(context, _run(context, obs))
    assert [s for s, _, _ in every] == ["open", "resolved", "open", "resolved"], \
        "the scenario no longer re-crosses the threshold after the first warning went quiet"
    assert [s for s, _, _ in held] == ["open", "resolved"]


def test_a_trend_climbing_on_escalates_its_open_warning(context, regions):
    """Seed 8's footwear slow rise crossed (blue), dipped and climbed on to a yellow sum: one
    warning, escalated — not a resolved blue one and a new yellow one."""
    obs = _hovering_trend(regions, [6] * 35 + [14] * 5 + [4] * 4 + [20] * 4 + [6])
    alerts = _trend_alerts(context, _run(context, obs))
    assert [s for s, _, _ in alerts] == ["open", "escalated", "resolved"]
    assert len({a for _, _, a in alerts}) == 1 and alerts[1][1] == "yellow"


def test_a_snapshot_from_before_the_trend_state_restores(context, regions):
    """Snapshots written before keys kept whether their trend had crossed restore as not crossed."""
    det = ComplaintSurge(ComplaintSurgeConfig(), context)
    det.update(in_order(_hovering_trend(regions, [6] * 35 + [14] * 5 + [4] * 4 + [20] * 4 + [6] * 2)))
    snap = det.snapshot()
    assert any(v[4] for v in snap["keys"].values())
    old = snap | {"keys": {k: v[:4] for k, v in snap["keys"].items()}}
    restored = ComplaintSurge.restore(ComplaintSurgeConfig(), old, context)
    assert not any(k.cusum_fired for k in restored.keys.values())
    assert restored.snapshot()["keys"].keys() == snap["keys"].keys()
