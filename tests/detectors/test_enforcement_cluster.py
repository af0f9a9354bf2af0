"""``enforcement_cluster``: counterfeit / substandard cases clustering in neighbouring regions."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import orjson
import pytest

from detector_feed import feed, in_order
from detectors.base import CST_OFFSET, DAY, Context, Observation, config_from_mapping, day_index
from detectors.enforcement_cluster import EnforcementCluster, EnforcementClusterConfig
from detectors.grading import Grading
from schemas.categories import Catalogue
from schemas.errors import ConfigError
from schemas.regions import RegionTable
from schemas.uscc import make_uscc

START = 1735660800.0  # 2025-01-01T00:00:00+08:00
REGIONS = RegionTable.load()
CONTEXT = Context(REGIONS, Catalogue.load(), Grading())
COUNTIES = sorted(r.code for r in REGIONS if r.level == "county" and r.code[:2] not in ("71", "81", "82"))
CATS = [c.code for c in CONTEXT.catalogue]
VIOLATIONS = ["counterfeit", "substandard", "unlicensed", "false_certification", "false_advertising",
              "origin_fraud", "other"]
LANZHOU = ["620102", "620103", "620104", "620105"]  # 兰州市 城关区, 七里河区, 西固区, 安宁区


def case(event_id: str, day: float, county: str, category: str, violation: str = "counterfeit",
         party: int = 0, brand: str = "") -> Observation:
    return Observation(event_id=event_id, source="enforcement", ts=START + day * DAY, region=county,
                       chain=REGIONS.chain(county), category=category, uscc=make_uscc(county, f"{party:09d}"),
                       brand=brand, violation=violation)


def background(days: int, seed: int, per_day: int = 200, start_day: int = 0) -> list[Observation]:
    """National enforcement at the stated volume: ~200 cases a day over 41 categories of very
    different frequency, counties weighted by kind (districts busiest), violations in their
    usual shares (counterfeit 35 %, substandard 25 %, …)."""
    rng = np.random.default_rng(seed)
    cat_p = np.random.default_rng(7).pareto(1.0, len(CATS)) + 0.2
    cat_p /= cat_p.sum()
    weight = np.array([1.6 if REGIONS.name(c).endswith("区") else 1.0 for c in COUNTIES])
    weight /= weight.sum()
    out = []
    for d in range(start_day, start_day + days):
        n = rng.poisson(per_day * (1.2 if (d + 2) % 7 < 5 else 0.45))
        for t in np.sort(rng.uniform(d + 0.33, d + 0.75, n)):
            county = COUNTIES[int(rng.choice(len(COUNTIES), p=weight))]
            out.append(case(f"b{seed}-{len(out)}", float(t), county, CATS[int(rng.choice(len(CATS), p=cat_p))],
                            VIOLATIONS[int(rng.choice(7, p=[0.35, 0.25, 0.1, 0.06, 0.12, 0.05, 0.07]))],
                            int(rng.integers(10**6))))
    return out


def cluster(prefix: str, counties: list[str], n: int, day: float, span: float, category: str = "helmet",
            violation: str = "counterfeit", brand: str = "") -> list[Observation]:
    """``n`` cases from different shops, round-robin over ``counties``, within ``span`` days."""
    return [case(f"{prefix}{i}", day + span * (i + 0.5) / n, counties[i % len(counties)], category, violation, 7000 + i,
                 brand) for i in range(n)]


def run(det: EnforcementCluster, obs: list[Observation], chunk: int = 300) -> list:
    return feed(det, obs, chunk)



@pytest.fixture(scope="module")
def quiet_stream() -> list[Observation]:
    return background(50, seed=1)


@pytest.fixture(scope="module")
def detector_after_background(quiet_stream) -> tuple[EnforcementCluster, list]:
    det = EnforcementCluster(EnforcementClusterConfig(), CONTEXT)
    return det, run(det, quiet_stream)


def test_fires_on_counterfeit_helmets_across_neighbouring_districts(quiet_stream):
    incident = cluster("k", LANZHOU, 6, day=35, span=8)
    signals = run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, incident))
    assert signals and all(s.scope.category == "helmet" for s in signals)
    s = signals[0]
    assert s.scope.region_code == "620100"  # 兰州市: the smallest region enclosing the cases
    assert s.title.startswith("甘肃省兰州市 头盔 假冒案件聚集 (14天内 ")
    assert s.title.endswith(f"起, 涉及 {len(s.explanation['places'])} 个区县)")
    assert set(s.evidence) <= {o.event_id for o in incident} and s.evidence[0] == s.trigger
    e = s.explanation
    assert e["p_adjusted"] <= 10 ** -((CONTEXT.grading.blue - 4) / 10)  # blue after the safety-critical raise
    assert e["observed"] >= 3 and len(e["places"]) >= 2 and e["parties"] >= 3 and e["expected"] < 1
    assert e["log_likelihood_ratio"] > 0 and e["zones_tested"] == 5
    assert s.window_start == day_index(START + 35.5 * DAY) * DAY - CST_OFFSET  # the day of the first case
    orjson.dumps(e)
    assert CONTEXT.grading.level(max(x.score for x in signals)) in ("yellow", "orange", "red")


def test_a_cluster_straddling_cities_is_scoped_to_the_province(quiet_stream):
    incident = cluster("k", ["330106", "330108", "330602", "330603", "330481"], 10, day=35, span=5, category="toy",
                       violation="substandard")  # 杭州, 绍兴, 嘉兴
    signals = run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, incident))
    assert signals
    assert {s.scope.region_code for s in signals} <= {"330000", "330100", "330600"}
    assert any("伪劣案件聚集" in s.title for s in signals)



def test_the_same_cases_in_more_counties_grade_higher(quiet_stream):
    """Size caps the score: six cases in two districts are a smaller cluster than six in four."""
    def last(counties: list[str]):
        incident = cluster("k", counties, 6, day=35, span=4)
        signals = run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, incident))
        return signals[-1]

    narrow, wide = last(LANZHOU[:2]), last(LANZHOU)
    assert narrow.explanation["observed"] == wide.explanation["observed"] == 6
    assert len(narrow.explanation["places"]) == 2 and len(wide.explanation["places"]) == 4
    cfg = EnforcementClusterConfig()
    assert wide.explanation["size_cap"] - narrow.explanation["size_cap"] == 2 * cfg.size_cap_per_place
    assert wide.score - narrow.score == 2 * cfg.size_cap_per_place  # both capped: the p-values are far past it


def test_the_zone_reported_is_the_one_that_supports_the_strongest_warning(quiet_stream):
    """A fresh seed's counterfeit cable network: 焦作 (two districts), then 济源 and 孟津 (洛阳)
    a day later. The disc around 孟津 is the most surprising zone but leaves a 焦作 district out;
    the province holds all five cases in four places, which is the wider network (跨区域) and
    the stronger warning, though a little less surprising."""
    places = ["410882", "410883", "410883", "419001", "410322"]
    incident = [case(f"k{i}", 35.0 + i * 0.5, c, "wire_cable", "counterfeit", 7000 + i, "瑞尔")
                for i, c in enumerate(places)]
    signals = run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, incident))
    last = signals[-1]
    assert last.trigger == "k4" and len(last.explanation["places"]) == 4 and last.explanation["observed"] == 5
    cfg = EnforcementClusterConfig()
    assert last.explanation["size_cap"] == cfg.size_cap_base + 2 * cfg.size_cap_per_case + 2 * cfg.size_cap_per_place
    # above anything the three-place disc may score (its size cap, raised for a safety-critical product)
    narrow = cfg.size_cap_base + cfg.size_cap_per_case + cfg.size_cap_per_place + CONTEXT.grading.safety_bonus
    assert last.score > narrow


SHENZHEN = ["440303", "440304", "440305", "440306"]  # 罗湖, 福田, 南山, 宝安


def test_one_counterfeit_brand_in_shops_of_neighbouring_districts_is_a_network(quiet_stream):
    plain = cluster("k", SHENZHEN, 3, day=35, span=3, category="cosmetics")
    assert run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, plain)) == []
    branded = cluster("k", SHENZHEN, 3, day=35, span=3, category="cosmetics", brand="雅诗兰黛")
    signals = run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, branded))
    assert signals and signals[0].title.startswith("广东省深圳市 化妆品「雅诗兰黛」 假冒案件聚集 (14天内 3 起, 涉及 3 个区县)")
    e = signals[0].explanation
    assert e["brand"] == "雅诗兰黛" and e["brand_share"] < 0.05 and e["zones_tested"] == 10
    assert set(signals[0].evidence) == {"k0", "k1", "k2"}


def test_a_brand_counterfeited_everywhere_all_the_time_is_no_network(quiet_stream):
    rng = np.random.default_rng(3)
    usual = [case(f"u{i}", rng.uniform(0, 50), COUNTIES[int(rng.integers(len(COUNTIES)))], "cosmetics",
                  party=int(rng.integers(10**6)), brand="雅诗兰黛") for i in range(500)]  # 10 a day nation-wide
    branded = cluster("k", SHENZHEN, 3, day=35, span=3, category="cosmetics", brand="雅诗兰黛")
    signals = run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, usual, branded))
    assert [s.title for s in signals] == []


def test_quiet_on_national_background(detector_after_background):
    _, signals = detector_after_background
    assert [s.title for s in signals] == []


def test_one_raid_in_one_county_is_not_a_cluster(quiet_stream):
    raid = cluster("r", ["620102"], 12, day=35, span=0.2)
    assert run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, raid)) == []


def test_a_nationwide_campaign_is_not_a_local_cluster(quiet_stream):
    rng = np.random.default_rng(5)
    campaign = [case(f"n{i}", 36 + rng.uniform(0, 10), COUNTIES[int(rng.integers(len(COUNTIES)))], "helmet",
                     party=int(rng.integers(10**6))) for i in range(600)]  # helmets ×20 everywhere
    assert run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), in_order(quiet_stream, campaign)) == []


def test_cold_start_is_quiet():
    obs = in_order(background(5, seed=2), cluster("k", LANZHOU, 8, day=2, span=2))
    assert run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), obs) == []


def test_restore_of_snapshot_continues_identically(quiet_stream):
    obs = in_order(quiet_stream, cluster("k", LANZHOU, 6, day=35, span=8))
    cut = next(i for i, o in enumerate(obs) if o.event_id == "k2")
    whole = run(EnforcementCluster(EnforcementClusterConfig(), CONTEXT), obs)
    first = EnforcementCluster(EnforcementClusterConfig(), CONTEXT)
    head = run(first, obs[:cut])
    state = orjson.loads(orjson.dumps(first.snapshot()))
    tail = run(EnforcementCluster.restore(EnforcementClusterConfig(), state, CONTEXT), obs[cut:])
    assert whole and [msgspec.json.encode(s) for s in head + tail] == [msgspec.json.encode(s) for s in whole]


def test_state_is_bounded_by_the_window_and_the_region_table(detector_after_background):
    det, _ = detector_after_background
    snap = det.snapshot()
    assert orjson.loads(orjson.dumps(snap)) == snap
    assert len(snap["place_w"]) <= len(REGIONS) and len(snap["catprov_w"]) <= len(CATS) * 34
    horizon = START + 50 * DAY - 14 * DAY
    assert all(c[0] > horizon - DAY for v in snap["window"].values() for cs in v.values() for c in cs)
    cases = sum(len(cs) for v in snap["window"].values() for cs in v.values())
    assert len(orjson.dumps(snap["window"])) / cases < 160  # bytes per case in the window
    assert len(snap["prov_w"]) <= 34 and len(snap["cat_w"]) <= len(CATS)
    det2 = EnforcementCluster.restore(EnforcementClusterConfig(), snap, CONTEXT)
    det2.update([case("later", 80, "110101", "toy")])
    assert list(det2.window) == ["toy"]  # everything older than the window is gone


def test_neighbourhoods_agree_with_the_region_table():
    det = EnforcementCluster(EnforcementClusterConfig(), CONTEXT)
    near = det._geo.near("330106")
    assert "330108" in near and "310116" in near and "310101" not in near and "110101" not in near
    assert REGIONS.distance_km("330106", "310101") > 150
    for code in ("330108", "310116", "320505"):
        assert near[code] == pytest.approx(REGIONS.distance_km("330106", code), rel=1e-9)
    assert all(d <= 150.0 for d in near.values())


def test_odd_observations_never_raise():
    det = EnforcementCluster(EnforcementClusterConfig(min_history_days=0), CONTEXT)
    odd = [Observation("a", "enforcement", START, "", ()), Observation("b", "enforcement", math.nan, "330106",
           REGIONS.chain("330106"), "toy", violation="counterfeit"),
           Observation("c", "enforcement", START + 1, "999999", ("999999",), "toy", violation="counterfeit"),
           Observation("d", "enforcement", START + 2, "330000", ("330000",), "toy", violation="counterfeit"),
           Observation("e", "enforcement", START + 3, "330106", REGIONS.chain("330106"), "", violation="counterfeit"),
           Observation("f", "complaint", START + 4, "330106", REGIONS.chain("330106"), "toy")]
    assert det.update(odd) == []
    assert det.update([case(f"g{i}", -30 + i, "330106", "toy") for i in range(3)]) == []  # late cases


@pytest.mark.parametrize(("values", "message"), [
    ({"radii_km": [0]}, "radii_km"),
    ({"min_cases": 1}, "min_cases"),
    ({"violations": []}, "violations"),
])
def test_bad_configuration_is_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(EnforcementClusterConfig, values, "detectors.enforcement_cluster")
