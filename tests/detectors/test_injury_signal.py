"""injury_signal: severe injuries warn at once in safety-critical/vulnerable categories; minor ones as clusters."""

from __future__ import annotations

from detectors.base import Observation
from detectors.injury_signal import InjurySignal, InjurySignalConfig

T0 = 1740000000.0


def _inj(regions, i, injury, category="e_bike", region="330106", who=None):
    return Observation(event_id=f"i{i}", source="complaint", ts=T0 + i * 600, region=region,
                       chain=regions.chain(region), category=category, issue="safety", injury=injury,
                       complainant=who or f"p{i}")


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


def test_same_person_repeating_adds_nothing(context, regions):
    det = InjurySignal(InjurySignalConfig(), context)
    out = [s for i in range(6) for s in det.update([_inj(regions, i, "minor", category="toy", who="same")])]
    assert out == []
