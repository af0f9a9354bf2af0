"""``sampling_failure``: severity-weighted failure rates per (category, region) against history."""

from __future__ import annotations

import itertools
import math

import msgspec
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector_feed import feed, in_order
from detectors.base import CST_OFFSET, DAY, Context, Observation, config_from_mapping, day_index
from detectors.grading import Grading
from detectors.sampling_failure import SamplingFailure, SamplingFailureConfig, weighted_failure_tail
from schemas.categories import Catalogue
from schemas.errors import ConfigError
from schemas.regions import RegionTable
from schemas.uscc import make_uscc

START = 1735660800.0  # 2025-01-01T00:00:00+08:00
REGIONS = RegionTable.load()
CONTEXT = Context(REGIONS, Catalogue.load(), Grading())
COUNTIES = sorted(r.code for r in REGIONS if r.level == "county")
ZHEJIANG = sorted(c for c in COUNTIES if c.startswith("33"))


def sample(event_id: str, ts: float, county: str, category: str, firm: str, failed: bool = False,
           critical: int = 0, major: int = 0, minor: int = 0) -> Observation:
    """A sampling observation as ``pipeline.enrich`` makes it."""
    return Observation(event_id=event_id, source="sampling", ts=ts, region=county, chain=REGIONS.chain(county),
                       category=category, uscc=firm, failed=failed, critical=critical, major=major, minor=minor)


def firm(county: str, k: int) -> str:
    return make_uscc(county, f"{k:09d}")


def background(days: int, seed: int, per_day: int = 600, start_day: int = 0) -> list[Observation]:
    """National sampling at the stated volume: ~600 results a day on weekdays' profile, 41
    categories with fail rates of 1–14 %, worst failed item A/B/C类 in 20/50/30 %, thousands of firms."""
    rng = np.random.default_rng(seed)
    cats = [c.code for c in CONTEXT.catalogue]
    rates = np.random.default_rng(99).uniform(0.01, 0.14, len(cats))
    out = []
    for d in range(start_day, start_day + days):
        weekday = (d + 2) % 7  # 2025-01-01 is a Wednesday
        n = rng.poisson(per_day * (1.3 if weekday < 5 else 0.2))
        for t in np.sort(START + d * DAY + rng.uniform(8.5 * 3600, 17.5 * 3600, n)):
            i = int(rng.integers(len(cats)))
            county = COUNTIES[int(rng.integers(len(COUNTIES)))]
            failed = bool(rng.random() < rates[i])
            sev = int(rng.choice(3, p=[0.3, 0.5, 0.2])) if failed else -1
            out.append(sample(f"s{seed}-{len(out)}", float(t), county, cats[i], firm(county, int(rng.integers(200))),
                              failed, critical=int(sev == 2), major=int(sev == 1), minor=int(sev == 0)))
    return out


def incident(day: int, n_fail: int = 8, n_pass: int = 4, severity: str = "critical") -> list[Observation]:
    """Zhejiang masks: ``n_fail`` samples from different makers fail within four days, among
    ``n_fail + n_pass`` targeted samples; with ``severity="critical"`` three in four fail an
    A类 item (e.g. 细菌过滤效率), the rest a B类 one; else all fail a C类 item."""
    out = []
    for i in range(n_fail + n_pass):
        county = ZHEJIANG[(7 * i) % len(ZHEJIANG)]
        ts = START + day * DAY + 9 * 3600 + i * 7 * 3600
        failed = i < n_fail
        crit = failed and severity == "critical" and i % 4 != 3
        out.append(sample(f"inc{i}", ts, county, "mask", firm(county, 900 + i), failed, critical=int(crit),
                          major=int(failed and severity == "critical" and not crit),
                          minor=int(failed and severity != "critical")))
    return out


def run(det: SamplingFailure, obs: list[Observation], chunk: int = 500) -> list:
    return feed(det, obs, chunk)


@pytest.fixture(scope="module")
def quiet_stream() -> list[Observation]:
    return background(60, seed=1)


@pytest.fixture(scope="module")
def incident_stream() -> list[Observation]:
    return in_order(background(36, seed=2) + incident(30))


def test_fires_on_a_cluster_of_critical_failures_from_different_makers(incident_stream):
    signals = run(SamplingFailure(SamplingFailureConfig(), CONTEXT), incident_stream)
    mine = [s for s in signals if s.scope.region_code == "330000" and s.scope.category == "mask"]
    assert mine, [s.title for s in signals]
    first = mine[0]
    assert CONTEXT.grading.level(first.score) in ("blue", "yellow", "orange", "red")
    assert first.title.startswith("浙江省 口罩 抽检不合格率异常 (近7天 ")
    assert first.ts < START + 34 * DAY  # within the four days of the incident
    assert first.evidence[0].startswith("inc") and len(first.evidence) <= 100
    e = first.explanation
    assert e["p_adjusted"] <= 1e-5 * 10 ** (12 / 10)  # blue after at most the safety-critical raise
    assert e["critical_enterprises"] >= 3 and e["weighted_failures"] > 2 * e["expected_weighted_failures"]
    assert "safety_critical" in e["raised_by"] and e["contributing_sources"] == ["sampling"]
    assert first.window_start == (day_index(first.ts) - 6) * DAY - CST_OFFSET  # the 7-day window, day-aligned
    orjson.dumps(e)
    assert not [s for s in signals if not s.evidence[0].startswith("inc")]  # nothing else in the background



def test_a_quiet_episode_is_not_restated_by_a_later_failure():
    """Weeks after a cluster's warning went quiet, the 30-day window still holds its failures:
    one more failure is no new episode, while a fresh cluster is."""
    cluster = incident(30)
    again = [msgspec.structs.replace(o, event_id=f"new{o.event_id}", ts=o.ts + 16 * DAY) for o in cluster]
    late = [sample(f"late{i}", START + day * DAY + 10 * 3600, ZHEJIANG[i], "mask", firm(ZHEJIANG[i], 990 + i),
                   True, critical=1) for i, day in enumerate((44, 45))]
    base = background(50, seed=3)

    def mask_signals(extra):
        signals = run(SamplingFailure(SamplingFailureConfig(), CONTEXT), in_order(base + cluster + extra))
        return [s for s in signals if s.scope.category == "mask" and s.scope.region_code == "330000"]

    first = mask_signals([])
    assert first and max(s.ts for s in first) < START + 36 * DAY  # quiet for a week before the late failures
    assert [s.trigger for s in mask_signals(late)] == [s.trigger for s in first]  # the late failures restate nothing
    fresh = [s for s in mask_signals(again) if s.trigger.startswith("new")]
    assert fresh and fresh[0].explanation["window_days"] == 7


def test_critical_items_weigh_more_than_minor_ones():
    base = background(36, seed=2)
    scores = {}
    for severity in ("critical", "minor"):
        obs = in_order(base + incident(30, n_fail=5, n_pass=6, severity=severity))
        det = SamplingFailure(SamplingFailureConfig(), Context(REGIONS, CONTEXT.catalogue, Grading(blue=0.0)))
        found = [s for s in run(det, obs) if s.scope.region_code == "330000" and s.scope.category == "mask"]
        scores[severity] = max(s.score for s in found)
    assert scores["critical"] >= scores["minor"] + 15  # 1.5 decades more surprising at least
    assert scores["minor"] < CONTEXT.grading.blue <= scores["critical"]


def test_quiet_on_two_months_of_national_background(quiet_stream):
    signals = run(SamplingFailure(SamplingFailureConfig(), CONTEXT), quiet_stream)
    assert [s.title for s in signals] == []


def test_one_maker_failing_again_and_again_is_not_a_regional_signal(quiet_stream):
    maker = firm("330106", 7)
    repeat = [sample(f"r{i}", START + (40 + i * 0.3) * DAY + 36000, "330106", "mask", maker, True, critical=1)
              for i in range(8)]
    obs = in_order(quiet_stream[:len(quiet_stream) * 3 // 4] + repeat)
    signals = run(SamplingFailure(SamplingFailureConfig(), CONTEXT), obs)
    assert not [s for s in signals if s.scope.category == "mask"]


def test_cold_start_is_quiet():
    obs = in_order(background(5, seed=3) + incident(2))
    assert run(SamplingFailure(SamplingFailureConfig(), CONTEXT), obs) == []


def test_restore_of_snapshot_continues_identically(incident_stream):
    cut = next(i for i, o in enumerate(incident_stream) if o.event_id == "inc3")
    whole = run(SamplingFailure(SamplingFailureConfig(), CONTEXT), incident_stream)
    first = SamplingFailure(SamplingFailureConfig(), CONTEXT)
    head = run(first, incident_stream[:cut])
    state = orjson.loads(orjson.dumps(first.snapshot()))
    tail = run(SamplingFailure.restore(SamplingFailureConfig(), state, CONTEXT), incident_stream[cut:])
    assert whole and [msgspec.json.encode(s) for s in head + tail] == [msgspec.json.encode(s) for s in whole]


def test_state_is_small_per_key_and_idle_keys_are_dropped(quiet_stream):
    det = SamplingFailure(SamplingFailureConfig(), CONTEXT)
    run(det, quiet_stream)
    snap = det.snapshot()
    assert orjson.loads(orjson.dumps(snap)) == snap
    per_key = len(orjson.dumps(snap["cells"])) / len(snap["cells"])
    assert per_key < 1024
    assert max(len(orjson.dumps(c)) for _, c in snap["cells"]) < 4096  # even a national key
    later = START + 130 * DAY
    det.update([sample("late", later, "110101", "toy", firm("110101", 1))])
    assert sorted(det.cells) == ["toy|000000", "toy|110000", "toy|110100"]


def test_odd_observations_never_raise():
    det = SamplingFailure(SamplingFailureConfig(min_history_days=0), CONTEXT)
    odd = [Observation("a", "sampling", START, "", ()), Observation("b", "sampling", math.nan, "330106",
           REGIONS.chain("330106"), "mask", failed=True),
           Observation("c", "sampling", START + 1, "330106", REGIONS.chain("330106"), "no_such_category", failed=True),
           Observation("d", "complaint", START + 2, "330106", REGIONS.chain("330106"), "mask"),
           Observation("e", "sampling", START + 3, "999999", ("999999",), "mask", failed=True, critical=3)]
    assert det.update(odd) == []
    late = [sample("f", START + 90 * DAY, "330106", "mask", ""), sample("g", START, "330106", "mask", "", True)]
    assert det.update(late) == []


@pytest.mark.parametrize(("values", "message"), [
    ({"windows_days": []}, "windows_days"),
    ({"learn_lag_days": 30}, "learn_lag_days"),
    ({"weight_major": 9.0}, "severity weights"),
    ({"prior_fail_rate": 0.0}, "prior_fail_rate"),
    ({"no_such": 1}, "unknown setting"),
])
def test_bad_configuration_is_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(SamplingFailureConfig, values, "detectors.sampling_failure")


def _enumerated_tail(observed, n, rate, concentration, shares, weights):
    """P(W ≥ observed) by brute force: beta-binomial failure counts, multinomial severities."""
    from scipy import special

    a, b = rate * concentration, (1 - rate) * concentration
    total = sum(shares)
    s = [x / total for x in shares]
    out = 0.0
    for k in range(n + 1):
        pk = math.comb(n, k) * math.exp(special.betaln(k + a, n - k + b) - special.betaln(a, b))
        for minor, major in itertools.product(range(k + 1), repeat=2):
            crit = k - minor - major
            if crit < 0:
                continue
            if minor * weights[0] + major * weights[1] + crit * weights[2] >= observed - 1e-9:
                out += pk * (math.factorial(k) / (math.factorial(minor) * math.factorial(major) * math.factorial(crit))
                             * s[0] ** minor * s[1] ** major * s[2] ** crit)
    return out


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 9), rate=st.floats(0.01, 0.5), conc=st.floats(2.0, 500.0),
       shares=st.tuples(st.floats(0.05, 1), st.floats(0.05, 1), st.floats(0.05, 1)),
       weights=st.sampled_from([(1.0, 1.5, 5.0), (1.0, 1.0, 1.0), (1.0, 2.0, 2.0), (0.5, 1.0, 8.0)]),
       observed=st.floats(0.5, 40.0))
def test_weighted_failure_tail_equals_enumeration(n, rate, conc, shares, weights, observed):
    expected = _enumerated_tail(observed, n, rate, conc, shares, weights)
    assert weighted_failure_tail(observed, n, rate, conc, shares, weights) == pytest.approx(expected, rel=1e-6,
                                                                                              abs=1e-13)
