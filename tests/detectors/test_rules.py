"""rules: the shipped rules fire on the hazards they describe, stay quiet on background, and
the rule loader rejects anything it does not understand, naming the rule and the key."""

from __future__ import annotations

import msgspec
import numpy as np
import orjson
import pytest

from detector_feed import in_order
from detectors.base import Observation
from detectors.rules import Rules, RulesConfig, load_rules, load_rules_file
from schemas.errors import ConfigError

START = 1738339200.0  # 2025-02-01T00:00:00+08:00
USCC = "91330106271828184K"


def _obs(i: int, source: str, region: str, regions, t: float, **kw) -> Observation:
    return Observation(event_id=kw.pop("event_id", f"x{i}"), source=source, ts=START + t, region=region,
                       chain=regions.chain(region), **kw)


def _background(regions, catalogue, days: int, per_day: int, seed: int) -> list[Observation]:
    """Routine feeds: minor injuries, ordinary failures (rarely critical, of many enterprises),
    negative posts naming makers, with the odd risk term, about any category, enforcement cases."""
    rng = np.random.default_rng(seed)
    counties = sorted(r.code for r in regions if r.level == "county")
    cats = [c.code for c in catalogue]
    out = []
    for i, t in enumerate(np.sort(rng.uniform(0, days * 86400, days * per_day))):
        region, cat = counties[rng.integers(len(counties))], cats[rng.integers(len(cats))]
        src = ("complaint", "opinion", "sampling", "enforcement")[int(rng.choice(4, p=[0.35, 0.5, 0.1, 0.05]))]
        kw: dict = {"category": cat}
        if src == "complaint":
            kw |= {"complainant": f"p{rng.integers(10**9)}", "issue": "quality",
                   "injury": "minor" if rng.random() < 0.005 else "none"}
        elif src == "opinion":
            risky = rng.random() < 0.01
            kw |= {"sentiment": -0.6, "hazard": 1.0 if risky else 0.0, "risk_terms": ("起火",) if risky else (),
                   "uscc": f"91{rng.integers(300):016d}"}  # one of 300 makers, some posts naming a fire
        elif src == "sampling":
            failed = bool(rng.random() < 0.07)
            kw |= {"failed": failed, "critical": int(failed and rng.random() < 0.2),
                   "uscc": f"91{region}{rng.integers(10**9):09d}X"[:18]}
        else:
            kw |= {"violation": "counterfeit"}
        out.append(_obs(i, src, region, regions, float(t), **kw))
    return out


def _run(context, obs, config=None):
    det = Rules(config or RulesConfig.from_mapping(None), context)
    return det.update(in_order(obs))


def test_shipped_rules_load_and_are_conservative():
    config = RulesConfig.from_mapping(None)
    names = [r.name for r in config.rules]
    assert 3 <= len(names) <= 5 and "fatal_injury_vulnerable" in names and "gas_explosion_reports" in names
    assert config.min_history_days == 0 and config.digest() == RulesConfig.from_mapping(None).digest()


def test_background_of_realistic_volume_is_quiet(context, regions, catalogue):
    assert _run(context, _background(regions, catalogue, days=10, per_day=3000, seed=1)) == []


def test_fatal_injury_with_a_childrens_product_is_red_at_once(context, regions, catalogue):
    obs = _background(regions, catalogue, 2, 500, seed=2) + [
        _obs(1, "complaint", "330106", regions, 86400 + 5, event_id="fatal1", category="toy", injury="fatal",
             issue="safety", complainant="c1")]
    signals = _run(context, obs)
    assert [s.evidence for s in signals] == [["fatal1"]]
    s = signals[0]
    assert (s.scope.region_code, s.scope.category) == ("330106", "toy")
    assert s.score == context.grading.red and context.grading.level(s.score) == "red"
    assert s.explanation["rule"] == "fatal_injury_vulnerable" and s.episode_key == "fatal_injury_vulnerable"
    assert s.title == "浙江省杭州市西湖区 玩具 弱势群体产品致死伤害"
    assert _run(context, obs, RulesConfig.from_mapping({"min_history_days": 3})) == []  # when asked to wait


def test_gas_explosion_reports_need_five_places_within_a_day(context, regions):
    def post(i, region, hours):
        return _obs(i, "opinion", region, regions, 3600.0 * hours, event_id=f"gas{i}", category="gas_appliance",
                    sentiment=-0.8, hazard=1.0, risk_terms=("爆炸",))

    places = ["330106", "330105", "330108", "330109", "330110"]
    four_places = [post(i, r, i) for i, r in enumerate(["330106", "330105", "330108", "330109", "330106", "330105"])]
    assert _run(context, four_places) == []
    spread_out = [post(i, r, 30 * i) for i, r in enumerate(places)]
    assert _run(context, spread_out) == []
    signals = _run(context, [post(i, r, i) for i, r in enumerate(places)])
    assert len(signals) == 1
    s = signals[0]
    assert (s.scope.region_code, s.scope.category) == ("000000", "gas_appliance")
    assert context.grading.level(s.score) == "orange" and s.evidence[0] == "gas4"
    assert s.explanation["observed"] == 5 and s.explanation["threshold"] == 5
    assert "近24小时 5 个地区" in s.title
    positive = [post(i, r, i) for i, r in enumerate(places)]
    positive = [msgspec.structs.replace(o, sentiment=0.9) for o in positive]
    assert _run(context, positive) == []  # "不会爆炸，放心" is no explosion report


def test_two_fire_reports_naming_one_maker_in_one_city_within_a_day(context, regions):
    def post(i, region, hours, uscc=USCC, sentiment=-0.7, terms=("起火",), category="e_bike"):
        return _obs(i, "opinion", region, regions, 3600.0 * hours, event_id=f"fire{i}", category=category,
                    uscc=uscc, sentiment=sentiment, hazard=1.0, risk_terms=terms)

    assert _run(context, [post(0, "330106", 1), post(1, "330105", 30)]) == []  # a day and more apart
    assert _run(context, [post(0, "330106", 1), post(1, "320102", 2)]) == []  # two cities
    assert _run(context, [post(0, "330106", 1), post(1, "330105", 2, uscc="91330106MA2B3C4D5E")]) == []
    assert _run(context, [post(0, "330106", 1), post(1, "330105", 2, terms=("冒烟",))]) == []  # smoke is no fire
    assert _run(context, [post(0, "330106", 1), post(1, "330105", 2, sentiment=0.6)]) == []  # "不会起火，放心"
    assert _run(context, [post(0, "330106", 1), post(1, "330000", 2)]) == []  # a province-wide post has no city
    hearsay = [post(i, "330106", i, category="clothing", terms=("自燃",)) for i in range(3)]
    assert _run(context, hearsay) == []  # "听说这种服装还会自燃": no safety-critical product
    signals = _run(context, [post(0, "330106", 1), post(1, "330105", 7, terms=("自燃", "起火"))])
    assert len(signals) == 1
    s = signals[0]
    assert (s.scope.region_code, s.scope.uscc, s.scope.category) == ("330100", USCC, "e_bike")
    assert context.grading.level(s.score) == "yellow" and s.evidence == ["fire1", "fire0"]
    assert s.explanation["rule"] == "fire_reports_same_maker_city" and s.explanation["observed"] == 2


def test_repeat_critical_failure_of_one_enterprise(context, regions):
    def sample(i, uscc, days, critical=1):
        return _obs(i, "sampling", "330106", regions, 86400.0 * days, event_id=f"s{i}", category="mask", uscc=uscc,
                    failed=True, critical=critical, major=1)

    assert _run(context, [sample(0, USCC, 0), sample(1, USCC, 40)]) == []  # months apart
    assert _run(context, [sample(0, USCC, 0), sample(1, USCC, 3, critical=0)]) == []  # the second is no A类 failure
    signals = _run(context, [sample(0, USCC, 0), sample(1, USCC, 3)])
    assert len(signals) == 1 and signals[0].scope.uscc == USCC and signals[0].scope.category == "mask"
    assert signals[0].scope.region_code == "000000"  # the enterprise's failures wherever they were sampled
    assert context.grading.level(signals[0].score) == "orange"


def test_custom_rule_with_region_and_distinct_counting(context, regions):
    config = RulesConfig.from_mapping({"rules": [{
        "name": "zj_child_seat", "when": {"source": "complaint", "category": "child_car_seat", "region": ["330000"]},
        "min_count": 3, "distinct": "complainant", "window_hours": 48, "level": "yellow", "scope": ["city", "category"],
    }]})
    same_person = [_obs(i, "complaint", "330106", regions, 60.0 * i, category="child_car_seat", complainant="pro")
                   for i in range(5)]
    assert _run(context, same_person, config) == []
    elsewhere = [_obs(i, "complaint", "110101", regions, 60.0 * i, category="child_car_seat", complainant=f"p{i}")
                 for i in range(5)]
    assert _run(context, elsewhere, config) == []
    three = [_obs(i, "complaint", "330106", regions, 60.0 * i, category="child_car_seat", complainant=f"p{i}")
             for i in range(3)]
    signals = _run(context, three, config)
    assert len(signals) == 1 and signals[0].scope.region_code == "330100"
    assert signals[0].score == context.grading.yellow


@pytest.mark.parametrize(("rule", "match"), [
    ({"name": "r", "when": {"source": "complaint"}, "level": "purple"}, r"rules\[0\] r\.level: must be one of"),
    ({"name": "r", "when": {"source": "complaint"}, "level": "red", "colour": 1}, r"rules\[0\] r\.colour: unknown key"),
    ({"name": "r", "when": {"source": "tv"}, "level": "red"}, r"rules\[0\] r\.when\.source: 'tv' is not one of"),
    ({"name": "r", "when": {"source": "opinion", "smell": 1}, "level": "red"}, r"r\.when\.smell: unknown condition"),
    ({"name": "r", "when": {"injury": ["fatal"]}, "level": "red"}, r"r\.when\.source: required"),
    ({"name": "r", "when": {"source": "opinion", "risk_terms": "爆炸", "min_hazard": 2}, "level": "red"},
     r"r\.when\.min_hazard: must be a number"),
    ({"name": "r", "when": {"source": "opinion"}, "level": "red", "min_count": 0}, r"r\.min_count: must be an integer"),
    ({"name": "r", "when": {"source": "opinion"}, "level": "red", "window_hours": -1}, r"r\.window_hours"),
    ({"name": "r", "when": {"source": "opinion"}, "level": "red", "distinct": "colour"},
     r"r\.distinct: must be one of"),
    ({"name": "r", "when": {"source": "opinion"}, "level": "red", "scope": ["planet"]}, r"r\.scope: 'planet' is not"),
    ({"name": "Bad Name", "when": {"source": "opinion"}, "level": "red"}, r"rules\[0\]\.name: must be lower_snake"),
    ({"name": "r", "when": {"source": "sampling", "failed": "yes"}, "level": "red"}, r"r\.when\.failed: must be true"),
    ({"name": "r", "level": "red"}, r"r\.when: required"),
])
def test_invalid_rules_name_the_rule_and_key(rule, match):
    with pytest.raises(ConfigError, match=match):
        load_rules([rule])


def test_duplicate_names_and_unknown_codes_are_rejected(context):
    rule = {"name": "r", "when": {"source": "opinion"}, "level": "red"}
    with pytest.raises(ConfigError, match=r"rules\[1\] r\.name: duplicate rule name"):
        load_rules([rule, rule])
    with pytest.raises(ConfigError, match="must be a list of rules"):
        load_rules({"r": rule})
    bad_cat = RulesConfig.from_mapping({"rules": [rule | {"when": {"source": "opinion", "category": ["unicorn"]}}]})
    with pytest.raises(ConfigError, match=r"r\.when\.category: unknown category 'unicorn'"):
        Rules(bad_cat, context)
    bad_region = RulesConfig.from_mapping({"rules": [rule | {"when": {"source": "opinion", "region": ["999999"]}}]})
    with pytest.raises(ConfigError, match=r"r\.when\.region: unknown region code '999999'"):
        Rules(bad_region, context)
    with pytest.raises(ConfigError, match=r"detectors\.rules\.colour: unknown setting"):
        RulesConfig.from_mapping({"colour": 1})
    with pytest.raises(ConfigError, match="either rules or rules_file"):
        RulesConfig.from_mapping({"rules": [], "rules_file": "x.yaml"})


def test_rules_file_with_a_duplicate_key_is_rejected(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: a\n    level: red\n    level: blue\n    when: {source: opinion}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key 'level'"):
        load_rules_file(path)
    path.write_text("rules:\n  - name: a\n    level: red\n    when: {source: opinion}\n", encoding="utf-8")
    assert [r.name for r in RulesConfig.from_mapping({"rules_file": str(path)}).rules] == ["a"]


def test_odd_observations_do_not_crash(context, regions):
    odd = [Observation(event_id="o1", source="complaint", ts=float("inf"), region="", chain=(), injury="fatal",
                       category="toy"),
           Observation(event_id="o2", source="complaint", ts=START, region="", chain=(), injury="fatal", category="toy"),
           Observation(event_id="o3", source="opinion", ts=START, region="", chain=(), category="gas_appliance",
                       risk_terms=("爆炸",), sentiment=float("nan")),
           Observation(event_id="o4", source="sampling", ts=START, region="330106", chain=regions.chain("330106"),
                       failed=True, critical=2, uscc="")]
    assert _run(context, odd) == []  # no region for the red rule's scope, no enterprise for the sampling rule


def test_restore_continues_identically_and_state_is_small(context, regions, catalogue):
    obs = sorted(_background(regions, catalogue, 6, 2000, seed=3) + [
        _obs(900000 + i, "opinion", r, regions, 5 * 86400 + 600.0 * i, event_id=f"gas{i}", category="gas_cylinder",
             sentiment=-0.9, hazard=1.0, risk_terms=("起火",))
        for i, r in enumerate(["330106", "330105", "330108", "330109", "330110"])], key=lambda o: (o.ts, o.event_id))
    config = RulesConfig.from_mapping(None)
    whole = Rules(config, context).update(obs)
    assert any(s.explanation["rule"] == "gas_explosion_reports" for s in whole)
    half = len(obs) // 2
    first = Rules(config, context)
    head = first.update(obs[:half])
    state = orjson.loads(orjson.dumps(first.snapshot()))
    tail = Rules.restore(config, state, context).update(obs[half:])
    assert [msgspec.json.encode(s) for s in head + tail] == [msgspec.json.encode(s) for s in whole]
    assert len(orjson.dumps(first.snapshot())) < 20_000
