"""cross_source: corroborated incidents fire with each source's contribution explained; single
sources, chance co-occurrences of weak blips, calendar surges and single actors stay quiet."""

from __future__ import annotations

import msgspec
import numpy as np
import orjson
import pytest

from detector_feed import in_order
from detectors.anomaly_model import train_from_observations
from detectors.base import Observation
from detectors.cross_source import CrossSource, CrossSourceConfig
from detectors.entity_windows import EntityWindows
from schemas.errors import ConfigError
from schemas.uscc import make_uscc

START = 1738339200.0  # 2025-02-01T00:00:00+08:00
DAYS = 15
ENTERPRISE = make_uscc("440305", "876543211")


def _background(regions, catalogue, days=DAYS, scale=0.2, seed=0, boost=None) -> list[Observation]:
    """All four sources at ``scale`` × national volume (6,000 complaints, 12,000 posts, 600
    samples, 200 cases a day); makers named in complaints, posts and samples; local shops in
    cases; ``boost=(day, f)`` multiplies that day's complaints and posts (3·15)."""
    rng = np.random.default_rng(seed)
    counties = sorted(r.code for r in regions if r.level == "county")
    pop = rng.pareto(1.5, len(counties)) + 0.2
    cats = [c.code for c in catalogue]
    cw = rng.uniform(0.3, 3.0, len(cats))
    makers = [make_uscc(counties[i * 9], f"{i:08d}1") for i in range(300)]
    out = []
    for d in range(days):
        for src, volume in (("complaint", 6000), ("opinion", 12000), ("sampling", 600), ("enforcement", 200)):
            n = int(volume * scale * (boost[1] if boost and boost[0] == d and src in ("complaint", "opinion") else 1))
            t = d * 86400 + rng.uniform(0, 86400, n)
            cty = rng.choice(len(counties), n, p=pop / pop.sum())
            cat = rng.choice(len(cats), n, p=cw / cw.sum())
            u, v, mk = rng.random(n), rng.random(n), rng.integers(0, 300, n)
            for i in range(n):
                region = counties[cty[i]]
                kw = {"event_id": f"{src[0]}{d}-{i}", "source": src, "ts": START + float(t[i]), "region": region,
                      "chain": regions.chain(region), "category": cats[cat[i]]}
                if src == "complaint":
                    kw |= {"complainant": f"p{rng.integers(10**9)}", "issue": "quality",
                           "injury": "minor" if v[i] < 0.003 else "none", "uscc": makers[mk[i]] if u[i] < 0.4 else ""}
                elif src == "opinion":
                    kw |= {"sentiment": float(-rng.uniform(0.3, 0.9) if u[i] < 0.3 else rng.uniform(-0.2, 0.9)),
                           "weight": float(rng.uniform(0.4, 1.0)), "reach": float(rng.pareto(1.1) * 200),
                           "uscc": makers[mk[i]] if v[i] < 0.15 else ""}
                elif src == "sampling":
                    failed = bool(u[i] < 0.07)
                    kw |= {"failed": failed, "critical": int(failed and v[i] < 0.3), "major": int(failed),
                           "uscc": makers[mk[i]] if v[i] < 0.3 else make_uscc(region, f"{rng.integers(10**7):08d}2")}
                else:
                    kw |= {"violation": ("counterfeit", "substandard", "other", "false_advertising")[int(u[i] * 4)],
                           "uscc": makers[mk[i]] if v[i] < 0.2 else make_uscc(region, f"{rng.integers(10**7):08d}3")}
                out.append(Observation(**kw))
    return out


def _incident(regions, day, complaints=8, posts=10, failed=True, case=True, uscc=ENTERPRISE, region="440305",
              category="cosmetics", tag="i"):
    """An enterprise's bad cosmetics in 深圳市南山区: complaints (one hurt), adverse posts, a sample
    failing on an A类 item, a substandard-goods case — each alone below a warning."""
    t0, chain = START + day * 86400 + 9 * 3600, regions.chain(region)
    common = {"region": region, "chain": chain, "category": category, "uscc": uscc}
    out = [Observation(event_id=f"{tag}c{j}", source="complaint", ts=t0 + j * 2400, complainant=f"{tag}v{j}",
                       issue="quality", injury="minor" if j == 0 else "none", **common) for j in range(complaints)]
    out += [Observation(event_id=f"{tag}o{j}", source="opinion", ts=t0 + j * 1800 + 60, reach=3000.0, sentiment=-0.7,
                        weight=0.9, **common) for j in range(posts)]
    if failed:
        out.append(Observation(event_id=f"{tag}s", source="sampling", ts=t0 + 5000, failed=True, critical=1, **common))
    if case:
        out.append(Observation(event_id=f"{tag}e", source="enforcement", ts=t0 + 7000, violation="substandard",
                               **common))
    return out


@pytest.fixture(scope="module")
def background(regions, catalogue):
    return _background(regions, catalogue)


def _run(context, obs, config=None):
    det = CrossSource(config or CrossSourceConfig(), context)
    return det.update(in_order(obs))


def test_corroborated_enterprise_incident_fires_with_every_source_explained(context, regions, background):
    signals = _run(context, background + _incident(regions, DAYS - 1))
    assert signals and all(s.scope.uscc == ENTERPRISE or s.scope.category == "cosmetics" for s in signals)
    ent = [s for s in signals if s.scope.uscc == ENTERPRISE]
    assert ent, "the enterprise must be warned about"
    first = ent[0]
    ex = first.explanation
    assert set(ex["by_source"]) == {"complaint", "sampling", "enforcement", "opinion"}
    assert {"complaint", "opinion"} <= set(ex["contributing_sources"]) and ex["p_value"] <= 1e-6
    for src in ex["contributing_sources"]:
        part = ex["by_source"][src]
        assert part["surprise"] >= 1.3 and part["test"] and part["p_value"] < 0.05
    assert ex["by_source"]["complaint"]["observed"] >= 5 and ex["by_source"]["complaint"]["injuries"]["minor"] == 1
    assert first.title.startswith(f"企业{ENTERPRISE} (化妆品) 多源风险印证 (投诉")
    assert f"corroboration:{len(ex['contributing_sources'])}" in ex["raised_by"]
    assert set(first.evidence) <= {f"ic{j}" for j in range(8)} | {f"io{j}" for j in range(10)} | {"is", "ie"}
    assert first.ts - (START + (DAYS - 1) * 86400 + 9 * 3600) < 6 * 3600  # within hours
    assert context.grading.level(max(s.score for s in ent)) in ("yellow", "orange")
    assert any(s.scope.region_code == "440300" for s in signals)  # the city key corroborates too


def test_a_single_source_is_never_corroboration(context, regions, background):
    complaints_only = _incident(regions, DAYS - 1, complaints=30, posts=0, failed=False, case=False)
    posts_only = _incident(regions, DAYS - 1, complaints=0, posts=40, failed=False, case=False,
                           uscc=make_uscc("110105", "123456781"), region="110105")
    assert _run(context, background + complaints_only + posts_only) == []


def test_background_calendar_surge_and_a_professional_claimant_are_quiet(context, regions, catalogue):
    obs = _background(regions, catalogue, seed=1, boost=(DAYS - 1, 3.0))  # 3·15 in every category
    pro = [Observation(event_id=f"pro{j}", source="complaint", ts=START + (DAYS - 1) * 86400 + 3600 + j * 600,
                       region="440305", chain=regions.chain("440305"), category="cosmetics", uscc=ENTERPRISE,
                       complainant="pro", issue="quality") for j in range(40)]
    ordinary_failure = Observation(event_id="f1", source="sampling", ts=START + (DAYS - 2) * 86400, region="440305",
                                   chain=regions.chain("440305"), category="cosmetics", uscc=ENTERPRISE, failed=True,
                                   critical=1, major=1)
    assert _run(context, obs + pro + [ordinary_failure]) == []


def test_weak_blips_co_occurring_by_chance_are_quiet(context, regions, background):
    chain, t = regions.chain("320105"), START + (DAYS - 1) * 86400 + 10 * 3600
    common = {"region": "320105", "chain": chain, "category": "footwear"}
    blips = [Observation(event_id="w1", source="complaint", ts=t, complainant="a", issue="quality", injury="minor",
                         **common),
             Observation(event_id="w2", source="sampling", ts=t + 60, failed=True, minor=1, **common),
             Observation(event_id="w3", source="enforcement", ts=t + 120, violation="counterfeit", **common),
             Observation(event_id="w4", source="opinion", ts=t + 180, sentiment=-0.5, weight=0.8, **common)]
    assert _run(context, background + blips) == []


def test_cold_start_is_quiet(context, regions, catalogue):
    obs = _background(regions, catalogue, days=5, scale=0.1, seed=2) + _incident(regions, 4, complaints=20, posts=20)
    assert _run(context, obs) == []
    assert _run(context, obs, CrossSourceConfig(min_history_days=2, min_baseline_days=2))  # enough history: fires


def test_trained_model_adds_its_component_and_explains_it(context, regions, background):
    model = train_from_observations(background[: len(background) * 2 // 3], seed=3, n_estimators=50)
    config = CrossSourceConfig(model=model.to_text())
    with_model = [s for s in _run(context, background + _incident(regions, DAYS - 1), config)
                  if s.scope.uscc == ENTERPRISE]
    assert with_model
    anomaly = with_model[0].explanation["anomaly"]
    assert anomaly["model_version"] == model.version and 0.6 < anomaly["score"] < 1  # the incident is odd
    assert set(anomaly["features"]) >= {"complaint_excess", "opinion_excess", "critical_failures"}
    assert anomaly["points"] > 0 and anomaly["contributions"]  # points on top of the statistical score
    assert config.digest() != CrossSourceConfig().digest()  # the model is part of the configuration hash


def test_an_invalid_model_is_a_configuration_error(context):
    with pytest.raises(ConfigError, match=r"detectors\.cross_source\.model: not base64"):
        CrossSource(CrossSourceConfig(model="not a model!"), context)
    with pytest.raises(ConfigError, match=r"detectors\.cross_source\.model: not a riskwatch anomaly model"):
        CrossSource(CrossSourceConfig(model="cGlja2xl"), context)


def test_restore_continues_identically_and_state_is_small(context, regions, background):
    obs = in_order(background + _incident(regions, DAYS - 1))
    whole = _run(context, obs)
    assert whole
    cut = len(obs) * 19 // 20
    first = CrossSource(CrossSourceConfig(), context)
    head = first.update(obs[:cut])
    state = orjson.loads(orjson.dumps(first.snapshot()))
    tail = CrossSource.restore(CrossSourceConfig(), state, context).update(obs[cut:])
    assert [msgspec.json.encode(s) for s in head + tail] == [msgspec.json.encode(s) for s in whole]
    entities = state["windows"]["entities"]
    assert len(orjson.dumps(state)) / len(entities) < 1024, "≲ 1 KB of state per entity"


def test_odd_observations_do_not_crash(context, regions):
    odd = [Observation(event_id="n1", source="complaint", ts=float("nan"), region="", chain=()),
           Observation(event_id="n2", source="opinion", ts=START, region="", chain=(), sentiment=-1.0,
                       weight=float("nan")),
           Observation(event_id="n3", source="sampling", ts=START, region="440305", chain=regions.chain("440305"),
                       category="", uscc=ENTERPRISE, failed=True, critical=-3),
           Observation(event_id="n4", source="radio", ts=START, region="440305", chain=regions.chain("440305"))]
    assert _run(context, odd) == []


def test_entity_windows_expire_and_count_each_complainant_once(regions):
    """Regression guard for the window bookkeeping: complaints leave after window_days, failed
    samples after sparse_window_days, a repeating complainant counts once."""
    chain = regions.chain("330106")
    common = {"region": "330106", "chain": chain, "category": "mask"}
    w = EntityWindows(CrossSourceConfig())
    for j, who in enumerate(["a", "a", "a", "b"]):
        w.add(Observation(event_id=f"c{j}", source="complaint", ts=START + j, complainant=who, issue="quality",
                          **common))
    w.add(Observation(event_id="s1", source="sampling", ts=START + 10, failed=True, critical=1, **common))
    w.add(Observation(event_id="x", source="complaint", ts=START + 20, complainant="z", issue="after_sales", **common))
    agg = w.aggregates("c|mask|330100", START + 60)
    assert (agg.complaints, agg.samples, agg.failures, agg.critical_failures) == (2, 1, 1, 1)
    assert w.aggregates("p|mask|330000", START + 60).complaints == 2
    later = w.aggregates("c|mask|330100", START + 15 * 86400)
    assert (later.complaints, later.failures) == (0, 1)  # complaints left the 14-day window, the sample did not
    assert w.aggregates("c|mask|330100", START + 31 * 86400).failures == 0
    assert w.aggregates("c|mask|999999", START) is None


def test_an_enterprise_episode_keeps_its_category_while_open(context, regions, background):
    """A maker warned about under cosmetics; the next day twice as much evidence about it comes
    filed under masks, so its main category flips — still one warning, under cosmetics."""
    first = _incident(regions, DAYS - 2)
    more = _incident(regions, DAYS - 1, complaints=16, posts=20, category="mask", tag="m")
    signals = [s for s in _run(context, background + first + more) if s.scope.uscc == ENTERPRISE]
    assert any(s.ts >= START + (DAYS - 1) * 86400 for s in signals), "the second day must signal too"
    assert {s.scope.category for s in signals} == {"cosmetics"}


def test_an_episode_gone_quiet_is_not_warned_again_from_its_residue(context, regions, background):
    incident = _incident(regions, DAYS - 5)
    t1, chain = START + (DAYS - 1) * 86400 + 10 * 3600, regions.chain("440305")
    trickle = [Observation(event_id=f"late{j}", source="opinion", ts=t1 + j * 600, reach=100.0, sentiment=-0.6,
                           weight=1.0, region="440305", chain=chain, category="cosmetics", uscc=ENTERPRISE)
               for j in range(15)]  # a few more posts: 4 days after the episode went quiet (cool-down 3 days)

    def enterprise_signals(config):
        return [s for s in _run(context, background + incident + trickle, config) if s.scope.uscc == ENTERPRISE]
    again = enterprise_signals(CrossSourceConfig(rearm_points=-1000.0))
    assert any(s.ts >= t1 for s in again), "the residue must still pass the gate, else this test proves nothing"
    quiet = enterprise_signals(CrossSourceConfig())
    assert quiet and all(s.ts < t1 for s in quiet)


def test_only_todays_and_yesterdays_news_makes_a_source_fresh(regions):
    """A source is fresh when its last two days are news: injuries beyond their exposure, failed
    samples or cases that are a surprise themselves. A week on, the same window evidence is no
    longer fresh, though it still corroborates — ``CrossSource`` then opens no warning from it
    (``require_fresh``). One failed sample where failures are expected is no news."""
    chain = regions.chain("440305")
    common = {"region": "440305", "chain": chain, "category": "cosmetics", "uscc": ENTERPRISE}
    w = EntityWindows(CrossSourceConfig())
    w.add(Observation(event_id="bg", source="complaint", ts=START, complainant="bg", issue="quality", **common))
    day = 10 * 86400
    for j in range(3):
        w.add(Observation(event_id=f"h{j}", source="complaint", ts=START + day + j * 600, complainant=f"h{j}",
                          issue="safety", injury="serious", **common))
    for j in range(2):
        w.add(Observation(event_id=f"s{j}", source="sampling", ts=START + day + 4000 + j, failed=True, critical=1,
                          **common))
    key = f"e|{ENTERPRISE}"

    def parts(ts):
        w.aggregates(key, ts)  # rolls the entity's windows to ts, as a new observation does
        return w.indicators(key, w.entities[key], ts)
    now, week_on = parts(START + day + 7200), parts(START + day + 7 * 86400)
    assert now["complaint"]["fresh"] and now["sampling"]["fresh"] and not now["enforcement"]["fresh"]
    assert not week_on["complaint"]["fresh"] and not week_on["sampling"]["fresh"]
    assert week_on["complaint"]["surprise"] >= 1.3 and week_on["sampling"]["surprise"] >= 1.3  # still corroborating
    # one failed sample among a province's samples, where a failure was about as likely as not
    w = EntityWindows(CrossSourceConfig())
    province = {"region": "440305", "chain": chain, "category": "cosmetics"}
    for j in range(12):
        w.add(Observation(event_id=f"p{j}", source="sampling", ts=START + day + j * 600, **province))
    w.add(Observation(event_id="f", source="sampling", ts=START + day + 9000, failed=True, major=1, **province))
    w.aggregates("p|cosmetics|440000", START + day + 9600)
    lone = w.indicators("p|cosmetics|440000", w.entities["p|cosmetics|440000"], START + day + 9600)["sampling"]
    assert lone["failed"] == 1 and lone["surprise"] < CrossSourceConfig().fresh_surprise and not lone["fresh"]
