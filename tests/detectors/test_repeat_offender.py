"""``repeat_offender``: an enterprise failing again within 12 months, or after complaints."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import orjson
import pytest

from detector_feed import feed, in_order
from detectors.base import DAY, Context, Observation, config_from_mapping
from detectors.grading import Grading
from detectors.repeat_offender import RepeatOffender, RepeatOffenderConfig
from schemas.categories import Catalogue
from schemas.errors import ConfigError
from schemas.regions import RegionTable
from schemas.uscc import make_uscc

START = 1735660800.0  # 2025-01-01T00:00:00+08:00
REGIONS = RegionTable.load()
CONTEXT = Context(REGIONS, Catalogue.load(), Grading())
COUNTIES = sorted(r.code for r in REGIONS if r.level == "county")
CATS = [c.code for c in CONTEXT.catalogue]


def firm(county: str, k: int) -> str:
    return make_uscc(county, f"{k:09d}")


def sample(event_id: str, day: float, uscc: str, category: str = "e_bike", failed: bool = False,
           critical: int = 0, major: int = 0, county: str | None = None) -> Observation:
    county = county or uscc[2:8]
    return Observation(event_id=event_id, source="sampling", ts=START + day * DAY, region=county,
                       chain=REGIONS.chain(county), category=category, uscc=uscc, failed=failed, critical=critical,
                       major=major, minor=int(failed and not critical and not major))


def complaint(event_id: str, day: float, uscc: str, who: str, issue: str = "safety", injury: str = "none",
              category: str = "e_bike") -> Observation:
    county = uscc[2:8]
    return Observation(event_id=event_id, source="complaint", ts=START + day * DAY, region=county,
                       chain=REGIONS.chain(county), category=category, uscc=uscc, complainant=who, issue=issue,
                       injury=injury)


def background(days: int, seed: int) -> list[Observation]:
    """National feeds at the stated volumes: ~600 sampling results a day from thousands of
    small firms (7 % fail), 400 branded makers sampled often and rarely failing, and the
    ~2,400 complaints a day that name one of those makers."""
    rng = np.random.default_rng(seed)
    makers = [(firm(COUNTIES[7 * i], 500_000 + i), [CATS[(3 * i + j) % len(CATS)] for j in range(3)])
              for i in range(400)]
    out: list[Observation] = []
    for d in range(days):
        for t in np.sort(rng.uniform(d + 0.35, d + 0.75, rng.poisson(570))):
            county = COUNTIES[int(rng.integers(len(COUNTIES)))]
            failed = bool(rng.random() < 0.07)
            out.append(sample(f"s{len(out)}", float(t), firm(county, int(rng.integers(300))),
                              CATS[int(rng.integers(len(CATS)))], failed, critical=int(failed and rng.random() < 0.25),
                              county=county))
        for t in np.sort(rng.uniform(d + 0.35, d + 0.75, rng.poisson(30))):
            uscc, cats = makers[int(rng.integers(400))]
            failed = bool(rng.random() < 0.01)
            out.append(sample(f"m{len(out)}", float(t), uscc, cats[int(rng.integers(3))], failed,
                              critical=int(failed and rng.random() < 0.25)))
        for t in np.sort(rng.uniform(d, d + 1, rng.poisson(2400))):
            uscc, cats = makers[int(rng.integers(400))]
            out.append(complaint(f"c{len(out)}", float(t), uscc, f"p{rng.integers(10**7)}",
                                 issue="quality" if rng.random() < 0.6 else "after_sales", category=cats[0]))
    return out


def run(det: RepeatOffender, obs: list[Observation], chunk: int = 1000) -> list:
    return feed(det, obs, chunk)



@pytest.fixture(scope="module")
def quiet_stream() -> list[Observation]:
    return background(40, seed=1)


OFFENDER = firm("330106", 1)


def test_fires_when_a_maker_fails_again_soon_with_critical_items(quiet_stream):
    repeat = [sample("first", 20.4, OFFENDER, failed=True, critical=1),
              sample("again", 38.5, OFFENDER, failed=True, critical=1)]
    signals = run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), in_order(quiet_stream, repeat))
    assert [s.scope.uscc for s in signals] == [OFFENDER]
    s = signals[0]
    assert s.scope.region_code == "330106" and s.scope.category == "e_bike"
    assert CONTEXT.grading.level(s.score) in ("yellow", "orange", "red")
    assert s.evidence == ["again", "first"]
    assert s.title == (f"浙江省杭州市西湖区 电动自行车 企业{OFFENDER} 抽检再次不合格 "
                       "(2025-01-21、2025-02-08, 间隔 18 天)")
    e = s.explanation
    assert [f["event_id"] for f in e["failures"]] == ["again", "first"]
    assert e["failures"][1]["at"].startswith("2025-01-21") and e["interval_days"] == pytest.approx(18.1)
    assert e["posterior_odds"] >= e["threshold_odds"] and 0 < e["chance_probability"] < 0.2
    assert {f["what"] for f in e["factors"]} >= {"不合格 2025-01-21 (A类)", "30 天内再次不合格"}
    orjson.dumps(e)


def test_fires_on_a_failure_after_complaints_from_several_people(quiet_stream):
    shop = firm("620102", 3)
    feed = [complaint(f"k{i}", 22 + i, shop, f"person{i}", injury="serious" if i == 1 else "none") for i in range(4)]
    feed.append(sample("fail", 30.5, shop, failed=True, major=1))
    signals = run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), in_order(quiet_stream, feed))
    assert [s.scope.uscc for s in signals] == [shop]
    s = signals[0]
    assert s.title.startswith(f"甘肃省兰州市城关区 电动自行车 企业{shop} 投诉后抽检不合格 (近90天 4 人投诉")
    assert s.evidence[0] == "fail" and set(s.evidence[1:]) == {"k0", "k1", "k2", "k3"}
    assert "injury:serious" in s.explanation["raised_by"]
    assert s.explanation["contributing_sources"] == ["sampling", "complaint"]


def test_a_professional_claimant_is_one_complainant(quiet_stream):
    shop = firm("620102", 4)
    feed = [complaint(f"k{i}", 20 + i * 0.2, shop, "the-same-person") for i in range(30)]
    feed.append(sample("fail", 30.5, shop, failed=True, critical=1))
    assert run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), in_order(quiet_stream, feed)) == []


def test_a_big_brands_everyday_complaints_are_no_evidence():
    brand = firm("440305", 5)
    feed = [complaint(f"k{i}", i * 0.05, brand, f"p{i}", issue="quality") for i in range(1000)]  # 20 a day
    feed.append(sample("fail", 49.5, brand, failed=True, critical=1))
    assert run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), in_order(feed)) == []


@pytest.mark.parametrize("every, n, fail_day", [(1.9, 10, 19.5), (3.0, 6, 19.5), (3.7, 8, 30.5)])
def test_steady_complaints_are_no_evidence_before_the_enterprises_rate_is_known(every, n, fail_day):
    """In a run's first months a maker's own complaint rate is unknown: complaints arriving
    steadily since the run began are its background (seed 9's concrete maker: 10 in 19 days
    made a red warning of one failure), not a burst before the failure."""
    maker = firm("441203", 9)
    feed = [complaint(f"k{i}", 0.3 + i * every, maker, f"p{i}", issue="quality") for i in range(n)]
    feed.append(sample("fail", fail_day, maker, failed=True, critical=1))
    det = RepeatOffender(RepeatOffenderConfig(), CONTEXT)
    assert run(det, in_order(feed)) == []
    evidence = det._complaint_evidence(maker, START + fail_day * DAY)
    assert evidence is not None and evidence["unusual"] is False and evidence["bayes_factor"] == 1.0


def test_base_rates_grade_two_failures_of_an_often_sampled_maker_down_then_quiet(quiet_stream):
    maker = firm("320505", 6)
    twice = [sample("f1", 31.5, maker, "wire_cable", failed=True, major=1),
             sample("f2", 38.5, maker, "wire_cable", failed=True, major=1)]
    signals = run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), in_order(quiet_stream, twice))
    assert [s.evidence for s in signals] == [["f2", "f1"]]  # two B类 failures a week apart, nothing else known
    assert CONTEXT.grading.level(signals[0].score) in ("yellow", "orange")
    # eight passes in the fortnight before: still reported, but as a notice (odds below even)
    often = [sample(f"p{i}", 15 + 2 * i, maker, category="wire_cable") for i in range(8)]
    signals = run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), in_order(quiet_stream, often, twice))
    assert [s.evidence for s in signals] == [["f2", "f1"]]
    e = signals[0].explanation
    assert e["threshold_odds"] <= e["posterior_odds"] < 1.0 and CONTEXT.grading.level(signals[0].score) == "blue"
    # sixteen passes (all remembered): two failures among eighteen samples are about what the
    # category's rate predicts
    oftener = [sample(f"p{i}", 15 + i, maker, category="wire_cable") for i in range(16)]
    config = RepeatOffenderConfig(kept_passes=16)
    assert run(RepeatOffender(config, CONTEXT), in_order(quiet_stream, oftener, twice)) == []


@pytest.mark.parametrize("critical", [True, False])
def test_an_often_sampled_maker_failing_again_on_an_a_class_item_is_graded_higher(quiet_stream, critical):
    maker = firm("411321", 7)
    history = [sample(f"p{i}", 12 + 3 * i, maker, "toy") for i in range(8)]
    twice = [sample("f1", 10.5, maker, "toy", failed=True, major=1),
             sample("f2", 38.5, maker, "toy", failed=True, critical=int(critical), major=int(not critical))]
    signals = run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), in_order(quiet_stream, history, twice))
    assert [s.evidence for s in signals] == [["f2", "f1"]]  # eight passes between: odds below even
    e = signals[0].explanation
    assert e["threshold_odds"] <= e["posterior_odds"] < 1.0
    if critical:  # an A类 repeat: orange at least
        assert e["threshold_odds"] == RepeatOffenderConfig().min_odds_critical
        assert CONTEXT.grading.level(signals[0].score) in ("orange", "red")
    else:
        assert e["threshold_odds"] == RepeatOffenderConfig().min_odds and "critical_item" not in e["raised_by"]
        assert CONTEXT.grading.level(signals[0].score) in ("blue", "yellow")  # a toy: raised one step at most


@pytest.mark.parametrize("fail_rate, warns", [(None, True), (0.5, False)])
def test_a_maker_failing_an_a_class_item_again_after_passes_on_other_batches_warns(quiet_stream, fail_rate, warns):
    """A 150-day run's bath-hardware maker: a B类 failure, eight passes in five weeks (its
    other lines and batches), then an A类 failure. An offender failing half its samples
    (``offender_fail_rate`` 0.5) makes eight passes clear it (odds ≈ 0.04); one failing about
    a third of them — a bad line among good ones — keeps the repeat worth a check."""
    maker = firm("131171", 8)
    passes = [sample(f"p{i}", d, maker, "bath_hardware") for i, d in enumerate((5.5, 9.5, 13.5, 15.5, 22.5, 25.5,
                                                                                 26.5, 35.5))]
    twice = [sample("f1", 2.5, maker, "bath_hardware", failed=True, major=1),
             sample("f2", 39.5, maker, "bath_hardware", failed=True, critical=1, major=1)]
    config = RepeatOffenderConfig() if fail_rate is None else RepeatOffenderConfig(offender_fail_rate=fail_rate)
    signals = run(RepeatOffender(config, CONTEXT), in_order(quiet_stream, passes, twice))
    assert [s.evidence for s in signals] == ([["f2", "f1"]] if warns else [])
    if warns:
        e = signals[0].explanation
        assert len(e["earlier_passes"]) == 8 and e["posterior_odds"] >= e["threshold_odds"] == config.min_odds_critical
        assert CONTEXT.grading.level(signals[0].score) in ("orange", "red")


def test_quiet_on_national_background(quiet_stream):
    assert run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), quiet_stream) == []


def test_cold_start_is_quiet():
    repeat = [sample("first", 1.4, OFFENDER, failed=True, critical=1),
              sample("again", 3.5, OFFENDER, failed=True, critical=1)]
    assert run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), repeat) == []


def test_restore_of_snapshot_continues_identically(quiet_stream):
    feed = [sample("first", 20.4, OFFENDER, failed=True, critical=1),
            sample("again", 38.5, OFFENDER, failed=True, critical=1)]
    obs = in_order(quiet_stream, feed)
    cut = len(obs) * 2 // 3
    whole = run(RepeatOffender(RepeatOffenderConfig(), CONTEXT), obs)
    first = RepeatOffender(RepeatOffenderConfig(), CONTEXT)
    head = run(first, obs[:cut])
    state = orjson.loads(orjson.dumps(first.snapshot()))
    tail = run(RepeatOffender.restore(RepeatOffenderConfig(), state, CONTEXT), obs[cut:])
    assert whole and [msgspec.json.encode(s) for s in head + tail] == [msgspec.json.encode(s) for s in whole]


def test_state_is_small_and_forgets_after_the_look_back(quiet_stream):
    det = RepeatOffender(RepeatOffenderConfig(), CONTEXT)
    run(det, quiet_stream)
    snap = det.snapshot()
    assert orjson.loads(orjson.dumps(snap)) == snap
    assert len(orjson.dumps(snap["tests"])) / len(snap["tests"]) < 300
    assert max(len(orjson.dumps(v)) for v in snap["complaints"]) < 1024
    assert all(len(recent) <= RepeatOffenderConfig().kept_complainants for _, _, recent, _ in snap["complaints"])
    det.update([sample("late", 40 + 366, OFFENDER, failed=True)])
    assert list(det.tests) == [f"{OFFENDER}|e_bike"] and det.complaints == {}


def test_odd_observations_never_raise():
    det = RepeatOffender(RepeatOffenderConfig(min_history_days=0), CONTEXT)
    odd = [Observation("a", "sampling", START, "", (), failed=True), Observation("b", "complaint", math.nan, "", ()),
           Observation("c", "sampling", START + 1, "330106", REGIONS.chain("330106"), "mask", uscc="XYZ", failed=True),
           Observation("d", "opinion", START + 2, "330106", REGIONS.chain("330106"), "mask", uscc=OFFENDER),
           Observation("e", "complaint", START + 3, "330106", REGIONS.chain("330106"), uscc=OFFENDER, issue="safety")]
    assert det.update(odd) == []


@pytest.mark.parametrize(("values", "message"), [
    ({"prior_offender_share": 1.5}, "prior_offender_share"),
    ({"min_complainants": 9}, "min_complainants"),
    ({"lookback_days": 0}, "lookback_days"),
])
def test_bad_configuration_is_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(RepeatOffenderConfig, values, "detectors.repeat_offender")


def test_a_critical_item_in_the_new_failure_raises_the_grade():
    u = firm("330106", 1)
    det = lambda: RepeatOffender(RepeatOffenderConfig(min_history_days=0), CONTEXT)  # noqa: E731
    first = sample("a", 0, u, "fertilizer", failed=True, major=1)
    major = det().update([first, sample("b", 40, u, "fertilizer", failed=True, major=1)])
    critical = det().update([first, sample("b", 40, u, "fertilizer", failed=True, critical=1)])
    assert len(major) == len(critical) == 1
    assert "critical_item" in critical[0].explanation["raised_by"] and "critical_item" not in major[0].explanation["raised_by"]
    assert critical[0].score >= major[0].score + RepeatOffenderConfig().critical_item_points
