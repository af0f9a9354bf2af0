"""injury_signal: severe injuries warn at once in safety-critical/vulnerable categories; minor ones as clusters."""

from __future__ import annotations

from detectors.base import Observation
from detectors.injury_signal import InjurySignal, InjurySignalConfig

T0 = 1740000000.0


def _inj(regions, i, injury, category="e_bike", region="330106", who=None, brand="", uscc=""):
    return Observation(event_id=f"i{i}", source="complaint", ts=T0 + i * 600, region=region,
                       chain=regions.chain(region), category=category, issue="safety", injury=injury,
                       complainant=who or f"p{i}", brand=brand, uscc=uscc)


def test_fatal_injury_in_safety_critical_category_warns_at_once(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    out = det.update([_inj(regions, 0, "fatal")])
    assert len(out) == 1 and out[0].scope.region_code == "330100" and out[0].scope.category == "e_bike"
    assert context.grading.level(out[0].score) in ("orange", "red")


def test_severe_injuries_corroborate_upwards(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    scores = [s.score for i in range(5) for s in det.update([_inj(regions, i, "serious")])]
    assert len(scores) == 4 and scores == sorted(scores) and context.grading.level(scores[-1]) in ("orange", "red")
    assert context.grading.level(scores[0]) in ("blue", "yellow")


def test_lone_serious_injury_waits_for_a_second_injured_person(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    assert det.update([_inj(regions, 0, "serious")]) == []
    assert det.update([_inj(regions, 1, "serious", region="330782")]) == []  # another city: no corroboration
    out = det.update([_inj(regions, 2, "minor", region="330108")])  # same city (杭州), another person
    assert len(out) == 1 and out[0].explanation["worst"] == "serious" and out[0].explanation["injured"] == 2
    assert out[0].evidence[0] == "i0"


def test_people_hurt_by_two_makers_products_do_not_corroborate_each_other(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    assert det.update([_inj(regions, 0, "serious", brand="智家")]) == []
    assert det.update([_inj(regions, 1, "minor", brand="立驰")]) == []  # another brand's e-bike
    out = det.update([_inj(regions, 2, "minor")])  # names no maker: may be the same product
    assert len(out) == 1 and out[0].explanation["injured"] == 2 and set(out[0].evidence) == {"i0", "i2"}
    det = InjurySignal(InjurySignalConfig(), context)
    assert det.update([_inj(regions, 0, "serious", uscc="91330106MA27XYZ12K")]) == []
    assert det.update([_inj(regions, 1, "serious", uscc="91330108MA2KQ3LL9B")]) == []  # another enterprise
    assert len(det.update([_inj(regions, 2, "minor", uscc="91330106MA27XYZ12K")])) == 1
    # a serious injury naming no maker is corroborated by any other injured person, whatever they name
    det = InjurySignal(InjurySignalConfig(), context)
    assert det.update([_inj(regions, 0, "serious")]) == []
    assert len(det.update([_inj(regions, 1, "minor", brand="立驰")])) == 1
    out = det.update([_inj(regions, 2, "minor", brand="智家")])  # a third person, but not of 立驰's product
    assert len(out) == 1 and out[0].explanation["injured"] == 2


def test_lone_serious_warns_when_configured(context, regions):
    det = InjurySignal(InjurySignalConfig(lone_serious_warns=True), context)
    assert len(det.update([_inj(regions, 0, "serious")])) == 1


def test_serious_injury_in_ordinary_category_is_not_immediate(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    assert det.update([_inj(regions, 0, "serious", category="clothing")]) == []


def test_minor_injury_cluster_on_toys(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    out = [s for i in range(6) for s in det.update([_inj(regions, i, "minor", category="toy")])]
    assert out and out[-1].explanation["test"] == "minor_cluster"
    assert context.grading.level(out[-1].score) in ("orange", "red")


def test_minor_injuries_from_several_makers_products_are_no_cluster(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    brands = ["金乐", "绿源", "博途", "佳峰", "金乐", "绿源"]
    hurt = [_inj(regions, i, "minor", category="kitchen_appliance", brand=b) for i, b in enumerate(brands)]
    assert [s for x in hurt for s in det.update([x])] == []
    out = det.update([_inj(regions, 6, "minor", category="kitchen_appliance", brand="金乐")])  # the third 金乐
    assert len(out) == 1 and out[0].explanation["injured"] == 3 and set(out[0].evidence) == {"i0", "i4", "i6"}


def test_two_children_hurt_by_one_makers_toy_in_a_city_warn(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    hurt = [_inj(regions, i, "minor", category="toy", brand=b) for i, b in enumerate(["凯心", "益丰", "童诺"])]
    assert [s for x in hurt for s in det.update([x])] == []
    out = det.update([_inj(regions, 3, "minor", category="toy", brand="益丰")])
    assert len(out) == 1 and out[0].explanation["test"] == "same_product" and set(out[0].evidence) == {"i1", "i3"}
    assert context.grading.level(out[0].score) == "blue"
    # not for grown-ups' goods, nor in another city
    det = InjurySignal(InjurySignalConfig(), context)
    assert det.update([_inj(regions, 0, "minor", category="kitchen_appliance", brand="金乐"),
                       _inj(regions, 1, "minor", category="kitchen_appliance", brand="金乐")]) == []
    assert det.update([_inj(regions, 2, "minor", category="toy", brand="凯心"),
                       _inj(regions, 3, "minor", category="toy", brand="凯心", region="330782")]) == []


def test_same_person_repeating_adds_nothing(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    out = [s for i in range(6) for s in det.update([_inj(regions, i, "minor", category="toy", who="same")])]
    assert out == []


def _named(regions, i, injury, uscc, region, category="infant_formula", day=0.0):
    return Observation(event_id=f"m{i}", source="complaint", ts=T0 + day * 86400 + i * 60, region=region,
                       chain=regions.chain(region), category=category, uscc=uscc, issue="quality", injury=injury,
                       complainant=f"q{i}")


def test_injuries_in_many_cities_naming_one_enterprise_warn_at_the_enterprise(context, regions):
    maker, counties = "91430304MA4L0XYZ1A", ["330106", "420102", "510104", "440106", "110105"]
    det = InjurySignal(InjurySignalConfig(), context)
    routine = [_named(regions, i, "none", maker, counties[i % 5], day=i * 0.5) for i in range(28)]  # 2 a day, 14 days
    assert det.update(routine) == []
    hurt = [_named(regions, 100 + i, "minor", maker, c, day=14.5) for i, c in enumerate(counties[:3])]
    out = det.update(hurt)
    assert len(out) == 1 and out[0].scope.uscc == maker and out[0].scope.category == "infant_formula"
    assert out[0].explanation["test"] == "enterprise_cluster" and out[0].explanation["injured"] == 3
    assert "vulnerable_group" in out[0].explanation["raised_by"] and set(out[0].evidence) == {"m100", "m101", "m102"}


def test_a_big_brand_with_many_complaints_has_room_for_a_few_injuries(context, regions):
    maker, counties = "91440300MA5F0XYZ2B", ["330106", "420102", "510104", "440106", "110105"]
    det = InjurySignal(InjurySignalConfig(), context)
    routine = [_named(regions, i, "none", maker, counties[i % 5], "small_appliance", day=i / 400) for i in range(5600)]
    assert det.update(routine) == []  # 400 complaints a day for 14 days
    hurt = [_named(regions, 9000 + i, "minor", maker, c, "small_appliance", day=14.5) for i, c in enumerate(counties[:3])]
    assert [s for s in det.update(hurt) if s.explanation["test"] == "enterprise_cluster"] == []


def test_injuries_among_a_calendar_surge_of_complaints_are_no_enterprise_cluster(context, regions):
    maker, counties = "91430304MA4L0XYZ1A", ["330106", "420102", "510104", "440106", "110105"]
    det = InjurySignal(InjurySignalConfig(), context)
    routine = [_named(regions, i, "none", maker, counties[i % 5], day=i * 0.5) for i in range(28)]  # 2 a day
    surge = [_named(regions, 50 + i, "none", maker, counties[i % 5], day=14.0 + i / 100) for i in range(40)]  # 3·15
    assert det.update(routine + surge) == []
    hurt = [_named(regions, 100 + i, "minor", maker, c, day=14.5) for i, c in enumerate(counties[:3])]
    assert det.update(hurt) == []


def _background(regions, days, per_day, cities, start=0.0, injured_every=2000):
    """``per_day`` complaints a day for ``days`` days, spread over ``cities`` {county: weight};
    every ``injured_every``-th one is a minor toy injury in Chengdu (the national rate)."""
    counties, weights = list(cities), list(cities.values())
    out, total = [], sum(weights)
    for i in range(int(days * per_day)):
        x, acc, county = (i * 7919 % 1000) / 1000 * total, 0.0, counties[-1]
        for c, w in zip(counties, weights):
            acc += w
            if x < acc:
                county = c
                break
        hurt = i % injured_every == 0
        out.append(Observation(event_id=f"b{start}-{i}", source="complaint", ts=T0 + (start + i / per_day) * 86400,
                               region="510104" if hurt else county, chain=regions.chain("510104" if hurt else county),
                               category="toy" if hurt else "clothing", issue="quality",
                               injury="minor" if hurt else "none", complainant=f"b{start}-{i}"))
    return out


def _three_hurt(regions, county, day):
    return [Observation(event_id=f"h{county}-{k}", source="complaint", ts=T0 + day * 86400 + k * 3600, region=county,
                        chain=regions.chain(county), category="toy", issue="safety", injury="minor",
                        complainant=f"h{county}-{k}") for k in range(3)]


def test_a_big_city_needs_more_injured_than_a_small_one(context, regions):
    """Hangzhou hears 30 % of these complaints, Lishui 0.2 %: three injured children are
    ordinary in the one and a cluster in the other."""
    det = InjurySignal(InjurySignalConfig(), context)
    assert det.update(_background(regions, 14, 1000, {"330106": 30, "331102": 0.2, "510104": 69.8})) == []
    assert det.update(_three_hurt(regions, "330106", 14.2)) == []
    out = det.update(_three_hurt(regions, "331102", 14.2))
    assert len(out) == 1 and out[0].scope.region_code == "331100" and out[0].explanation["test"] == "minor_cluster"
    assert out[0].explanation["city_share"] < 0.01 < det._exposure(T0 + 14.2 * 86400, "330100")[0]


def test_a_nation_wide_complaint_lift_raises_the_expected_injuries(context, regions):
    """A week when the whole nation complains twice as much (after 双十一) brings twice the
    injury reports: the same three injured are expected ~2× as often."""
    cities = {"331102": 1, "510104": 99}
    quiet, busy = InjurySignal(InjurySignalConfig(), context), InjurySignal(InjurySignalConfig(), context)
    quiet.update(_background(regions, 14, 1000, cities))
    busy.update(_background(regions, 7, 1000, cities) + _background(regions, 7, 3000, cities, start=7.0, injured_every=6000))
    a, b = quiet.update(_three_hurt(regions, "331102", 14.2)), busy.update(_three_hurt(regions, "331102", 14.2))
    assert len(a) == len(b) == 1
    assert a[0].explanation["national_lift"] == 1.0 and 1.4 < b[0].explanation["national_lift"] < 1.6
    assert b[0].explanation["p_value"] > 2 * a[0].explanation["p_value"]


def test_a_snapshot_from_before_makers_were_kept_restores(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    det.update([_inj(regions, 0, "serious", brand="智家")])
    state = det.snapshot()
    state["recent"] = {k: [x[:4] for x in q] for k, q in state["recent"].items()}  # (ts, id, injury, who)
    again = InjurySignal.restore(InjurySignalConfig(), state, context)
    out = again.update([_inj(regions, 1, "minor", brand="立驰")])  # the old entry names no maker
    assert len(out) == 1 and out[0].explanation["injured"] == 2
