"""opinion_burst: fires on bursts of adverse posts and risk terms with the right scope; quiet on
background, on a nation-wide calendar day, on positive or single viral posts, and at cold start."""

from __future__ import annotations

import msgspec
import numpy as np
import orjson
import pytest

from detector_feed import in_order
from detectors.base import Observation
from detectors.opinion_burst import OpinionBurst, OpinionBurstConfig
from schemas.uscc import make_uscc

START = 1738339200.0  # 2025-02-01T00:00:00+08:00
DAYS = 16
ENTERPRISE = make_uscc("440305", "876543211")


def _post(i, regions, t, region="330106", category="gas_appliance", sentiment=-0.7, hazard=0.0, terms=(), reach=500.0,
          weight=0.9, uscc="", injury="", tag="b") -> Observation:
    return Observation(event_id=f"{tag}{i}", source="opinion", ts=START + t, region=region, chain=regions.chain(region),
                       category=category, weight=weight, uscc=uscc, reach=reach, sentiment=sentiment, hazard=hazard,
                       risk_terms=terms, injury=injury)


def _background(regions, catalogue, days=DAYS, per_day=4000, seed=0, boost=None) -> list[Observation]:
    """National posts: 30 % negative, 30 % positive; 1 % of negative ones use a risk term; most are
    placed in a county; some name one of 200 enterprises; an evening peak; ``boost=(day, f)``
    multiplies a day's volume (3·15)."""
    rng = np.random.default_rng(seed)
    counties = sorted(r.code for r in regions if r.level == "county")
    pop = rng.pareto(1.5, len(counties)) + 0.2
    cats = [c.code for c in catalogue]
    cw = rng.uniform(0.3, 3.0, len(cats))
    ents = [make_uscc(counties[i * 11], f"{i:08d}1") for i in range(200)]
    hours = np.array([0.6, 0.4, 0.25, 0.15, 0.12, 0.15, 0.3, 0.6, 0.9, 1.1, 1.2, 1.3,
                      1.5, 1.3, 1.1, 1.1, 1.1, 1.1, 1.2, 1.4, 1.6, 1.7, 1.5, 1.0])
    out = []
    for d in range(days):
        n = int(per_day * (boost[1] if boost and boost[0] == d else 1))
        t = d * 86400 + (rng.choice(24, n, p=hours / hours.sum()) + rng.random(n)) * 3600
        cty = rng.choice(len(counties), n, p=pop / pop.sum())
        cat = rng.choice(len(cats), n, p=cw / cw.sum())
        u, risk, named = rng.random(n), rng.random(n), rng.random(n)
        for i in range(n):
            neg = u[i] < 0.3
            sent = -rng.uniform(0.3, 0.9) if neg else (rng.uniform(0.3, 0.9) if u[i] < 0.6 else rng.uniform(-0.2, 0.2))
            hazard = neg and risk[i] < 0.01
            out.append(_post(i, regions, float(t[i]), counties[cty[i]], cats[cat[i]], float(sent),
                             1.0 if hazard else 0.0, ("起火",) if hazard else (), float(rng.pareto(1.1) * 200),
                             float(rng.uniform(0.4, 1.0)), ents[rng.integers(200)] if named[i] < 0.15 else "",
                             tag=f"g{d}-"))
    return out


@pytest.fixture(scope="module")
def background(regions, catalogue):
    return _background(regions, catalogue)


def _run(context, obs, config=None):
    det = OpinionBurst(config or OpinionBurstConfig(), context)
    return det.update(in_order(obs))


def _explosions(regions, day, n=10):
    """Explosion reports about gas appliances from three Hangzhou districts, one every 20 minutes."""
    return [_post(i, regions, day * 86400 + 9 * 3600 + i * 1200, ["330106", "330105", "330108"][i % 3],
                  hazard=1.0, terms=("爆炸", "起火") if i % 2 else ("爆炸",), reach=2000.0 * (i + 1),
                  injury="reported" if i % 4 == 0 else "") for i in range(n)]


def test_background_with_a_calendar_surge_is_quiet(context, regions, catalogue):
    """3·15 with every category discussed 2.5× as much (without the national activity lift this
    stream gives hundreds of signals)."""
    obs = _background(regions, catalogue, seed=1, boost=(DAYS - 1, 2.5))
    assert _run(context, obs) == []


def test_risk_term_burst_fires_once_in_the_province(context, regions, background):
    signals = _run(context, background + _explosions(regions, DAYS - 1))
    assert {s.scope.category for s in signals} == {"gas_appliance"}
    province = [s for s in signals if s.scope.region_code == "330000"]
    assert province, "the province key must fire"
    first = province[0]
    assert first.explanation["test"] == "risk_terms" and first.explanation["p_value"] <= 1e-5
    assert first.title.startswith("浙江省 燃气器具 舆情风险词激增") and "爆炸" in first.title
    assert first.evidence[0].startswith("b") and first.ts - (START + (DAYS - 1) * 86400 + 9 * 3600) <= 3 * 3600
    assert first.explanation["injury_reported"] and "injury:reported" in first.explanation["raised_by"]
    assert not [s for s in signals if s.scope.region_code == "000000"], "the province's warning covers the nation's"
    assert 50 <= max(s.score for s in signals) < 95  # talk alone is no red warning


def test_enterprise_burst_is_scoped_to_the_uscc_with_its_regional_focus(context, regions, background):
    burst = [_post(i, regions, (DAYS - 1) * 86400 + 8 * 3600 + i * 1500, ["440305", "440304", "110101"][i % 3],
                   category="cosmetics", uscc=ENTERPRISE, sentiment=-0.8, reach=800.0) for i in range(25)]
    signals = [s for s in _run(context, background + burst) if s.scope.uscc]
    assert signals and {s.scope.uscc for s in signals} == {ENTERPRISE}
    local, whole = signals[0], next(s for s in signals if s.explanation["key"] == "enterprise")
    # Shenzhen, where two posts in three come from, sees it first
    assert local.explanation["key"] == "enterprise_city" and local.scope.region_code == "440300"
    assert local.ts < whole.ts and whole.scope.region_code is None and whole.scope.category == "cosmetics"
    assert whole.title.startswith(f"企业{ENTERPRISE} (化妆品) 负面舆情激增") and "集中在广东省" in whole.title
    assert whole.explanation["regional_focus"]["province"] == "440000"


def test_an_enterprise_burst_keeps_its_category_while_its_warning_is_open(context, regions, background):
    """Posts about one maker's school uniforms (校服) on one day, and on the next mostly filed
    under clothing (服装): one burst, reported under the category it was first reported under —
    not a second warning for the same enterprise because the window's majority flipped."""
    day1 = [_post(i, regions, (DAYS - 2) * 86400 + 8 * 3600 + i * 1500, ["430502", "430503", "110101"][i % 3],
                  category="school_uniform", uscc=ENTERPRISE, sentiment=-0.8, reach=800.0, tag="u")
            for i in range(25)]
    day2 = [_post(i, regions, (DAYS - 1) * 86400 + 8 * 3600 + i * 1200, ["430502", "430503", "110101"][i % 3],
                  category="clothing" if i % 4 else "school_uniform", uscc=ENTERPRISE, sentiment=-0.8, reach=800.0,
                  tag="v") for i in range(40)]
    signals = [s for s in _run(context, background + day1 + day2) if s.scope.uscc == ENTERPRISE]
    assert any(s.evidence[0].startswith("v") for s in signals), "the second day's posts must keep it firing"
    assert {s.scope.category for s in signals} == {"school_uniform"}


def _enterprise(regions, i=7):
    """The ``i``-th of the background's 200 enterprises (about one adverse post a day each)."""
    counties = sorted(r.code for r in regions if r.level == "county")
    return make_uscc(counties[i * 11], f"{i:08d}1")


@pytest.mark.parametrize("cities", [1, 5])
def test_a_handful_of_posts_naming_one_enterprise_in_one_city_is_news(context, regions, background, cities):
    """Five fire reports naming an enterprise the background mentions daily: in one city they are
    a local story (警情), spread over five cities they are its ordinary chatter."""
    uscc = _enterprise(regions)
    places = ["340302", "340303", "340304", "340311", "340321"] if cities == 1 else \
        ["340302", "110101", "440305", "510104", "610102"]
    story = [_post(i, regions, (DAYS - 1) * 86400 + 9 * 3600 + i * 2400, places[i], category="e_bike", hazard=1.0,
                   terms=("起火", "爆炸"), uscc=uscc, sentiment=-0.8, weight=1.0, tag="s") for i in range(5)]
    signals = [s for s in _run(context, background + story) if s.evidence[0].startswith("s")]
    if cities == 5:
        assert signals == []
        return
    assert signals and {(s.scope.region_code, s.scope.uscc, s.scope.category) for s in signals} == {
        ("340300", uscc, "e_bike")}
    sig = signals[0]
    assert sig.explanation["key"] == "enterprise_city" and sig.explanation["observed"] in (4, 5)
    assert sig.explanation["expected"] < 0.5 and sig.explanation["p_value"] <= 1e-5
    assert sig.title.startswith(f"安徽省蚌埠市 企业{uscc} (电动自行车)")


def test_fast_nationwide_wave_is_caught_by_the_short_window(context, regions, background):
    counties = ["110101", "310101", "440106", "510104", "420102", "610102"]
    wave = [_post(i, regions, (DAYS - 1) * 86400 + 10 * 3600 + i * 150, counties[i % 6], category="mask",
                  sentiment=-0.6, weight=1.0) for i in range(60)]
    signals = [s for s in _run(context, background + wave) if s.scope.category == "mask"]
    assert signals and signals[0].scope.region_code == "000000"
    assert signals[0].explanation["window_hours"] == 3
    assert signals[0].ts - (START + (DAYS - 1) * 86400 + 10 * 3600) < 2.5 * 3600


def test_a_provinces_risk_terms_inside_a_reported_national_wave_are_part_of_it(context, regions, background):
    """A scare the nation's negative-burst warning already reports: one province's handful of
    risk-term posts in it is the same story, not a second warning (the nation's one is updated)."""
    counties = ["110101", "310101", "440106", "420102", "610102", "320102"]
    wave = [_post(i, regions, (DAYS - 1) * 86400 + 8 * 3600 + i * 120, counties[i % 6], category="mask",
                  sentiment=-0.7, weight=1.0, tag="w") for i in range(150)]
    sichuan = [_post(i, regions, (DAYS - 1) * 86400 + 12 * 3600 + i * 600, ["510104", "510105", "510106"][i % 3],
                     category="mask", sentiment=-0.8, hazard=1.0, terms=("致癌",), weight=1.0, tag="r")
               for i in range(10)]
    signals = [s for s in _run(context, background + wave + sichuan) if s.scope.category == "mask"]
    assert signals and signals[0].scope.region_code == "000000"
    assert not [s for s in signals if (s.scope.region_code or "").startswith("51")]


def test_positive_or_single_viral_posts_are_never_a_burst(context, regions, background):
    praise = [_post(i, regions, (DAYS - 1) * 86400 + i * 300, category="toy", sentiment=0.9, reach=5e8, weight=1.0)
              for i in range(40)]
    one_viral = [_post(0, regions, (DAYS - 1) * 86400 + 3600, category="toy", hazard=1.0, terms=("致癌",), reach=1e9,
                       tag="v")]
    assert _run(context, background + praise + one_viral) == []


def test_cold_start_is_quiet_even_on_a_burst(context, regions, catalogue):
    obs = _background(regions, catalogue, days=10, per_day=2000, seed=4) + _explosions(regions, 9, n=20)
    assert _run(context, obs) == []  # nine days of history: less than the two weeks of min_history_days
    assert _run(context, obs, OpinionBurstConfig(min_history_days=7))  # the same burst, history enough


def test_restore_continues_identically_and_state_is_small(context, regions, background):
    obs = in_order(background + _explosions(regions, DAYS - 1))
    whole = _run(context, obs)
    assert whole
    cut = len(obs) * 9 // 10
    first = OpinionBurst(OpinionBurstConfig(), context)
    head = first.update(obs[:cut])
    state = orjson.loads(orjson.dumps(first.snapshot()))
    tail = OpinionBurst.restore(OpinionBurstConfig(), state, context).update(obs[cut:])
    assert [msgspec.json.encode(s) for s in head + tail] == [msgspec.json.encode(s) for s in whole]
    keys = state["keys"]
    assert len(orjson.dumps(state)) / len(keys) < 1024, "≲ 1 KB of state per key"


def test_odd_numbers_do_not_crash(context, regions):
    odd = [_post(0, regions, 0.0, sentiment=float("nan")), _post(1, regions, 1.0, weight=float("nan")),
           _post(2, regions, 2.0, reach=float("inf"), hazard=1.0, terms=("爆炸",)),
           msgspec.structs.replace(_post(3, regions, 3.0), ts=float("nan"), chain=())]
    assert _run(context, odd) == []
