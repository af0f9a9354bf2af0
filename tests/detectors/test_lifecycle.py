"""Lifecycle: one open warning per (detector, scope), escalation, resolution, nested folding, ids."""

from __future__ import annotations

import pytest

from detectors.base import DAY, HOUR, Signal, rfc3339
from detectors.lifecycle import DetectorInfo, Lifecycle
from schemas.alert import Scope

T0 = 1740000000.0


def _sig(ts, score, region="330106", category="mask", evidence=("a",), start=None):
    return Signal(detector="d", scope=Scope(region_code=region, category=category), ts=ts,
                  window_start=start if start is not None else T0 - 23 * HOUR, window_end=ts, score=score,
                  title="t", explanation={"observed": 1}, evidence=list(evidence))


@pytest.fixture
def lc(context):
    return Lifecycle(context.grading, {"d": DetectorInfo("1.0.0", "h", 72 * HOUR)}, context)


def test_open_then_quiet_updates_then_escalate_then_resolve(lc):
    a = lc.apply(_sig(T0, 60))
    assert [x.status for x in a] == ["open"] and a[0].level == "blue"
    assert lc.apply(_sig(T0 + HOUR, 65, evidence=("b",))) == []
    e = lc.apply(_sig(T0 + 2 * HOUR, 90, evidence=("c",)))
    assert [x.status for x in e] == ["escalated"] and e[0].level == "orange"
    assert e[0].alert_id == a[0].alert_id
    assert e[0].evidence_event_ids[:3] == ["c", "b", "a"]
    assert lc.advance(T0 + 2 * HOUR + 71 * HOUR) == []
    r = lc.advance(T0 + 2 * HOUR + 72 * HOUR)
    assert [x.status for x in r] == ["resolved"] and r[0].alert_id == a[0].alert_id and r[0].level == "orange"
    assert lc.open == {}



def test_a_stronger_signal_at_the_same_level_brings_its_own_explanation(lc):
    lc.apply(_sig(T0, 72, region="330100"))
    lc.apply(_sig(T0, 60, region="330106", evidence=("z",)))  # opens at the county, linked to the city
    stronger = _sig(T0 + HOUR, 80, region="330100", evidence=("b",))
    stronger.title, stronger.explanation = "t2", {"observed": 5}
    assert lc.apply(stronger) == []  # still yellow: no alert now
    assert lc.apply(_sig(T0 + 2 * HOUR, 75, region="330100", evidence=("c",))) == []  # weaker: changes nothing
    r = [x for x in lc.advance(T0 + 100 * HOUR) if x.scope.region_code == "330100"]
    assert r[0].status == "resolved" and r[0].level == "yellow" and r[0].score == 80 and r[0].title == "t2"
    assert r[0].explanation["observed"] == 5 and r[0].explanation["related_alert_ids"]  # the link is kept
    assert r[0].triggered_at == rfc3339(T0)  # the level was reached by the first signal


def test_below_blue_is_ignored(lc):
    assert lc.apply(_sig(T0, 49.9)) == []


def test_alert_id_depends_on_episode_window_not_trigger(lc, context):
    a = lc.apply(_sig(T0 + 5, 60))[0]
    other = Lifecycle(context.grading, {"d": DetectorInfo("1.0.0", "h", 72 * HOUR)}, context)
    b = other.apply(_sig(T0 + 1800, 60))[0]
    assert a.alert_id == b.alert_id
    c = other.apply(_sig(T0, 60, region="330102"))[0]
    assert c.alert_id != a.alert_id


def test_new_episode_after_resolution_gets_new_id(lc):
    a = lc.apply(_sig(T0, 60))[0]
    lc.advance(T0 + 4 * DAY)
    b = lc.apply(_sig(T0 + 5 * DAY, 60, start=T0 + 5 * DAY - 23 * HOUR))[0]
    assert b.status == "open" and b.alert_id != a.alert_id


def test_parent_level_with_same_evidence_folds_into_county_warning(lc):
    county = lc.apply(_sig(T0, 80, evidence=("a", "b", "c")))
    city = lc.apply(_sig(T0 + 1, 80, region="330100", evidence=("a", "b", "c", "z")))
    assert len(county) == 1 and city == []
    assert lc.open[next(iter(lc.open))].explanation["also_at"] == ["330100"]


def test_parent_level_with_other_evidence_opens_and_links(lc):
    county = lc.apply(_sig(T0, 80, evidence=("a",)))[0]
    prov = lc.apply(_sig(T0 + 1, 80, region="330000", evidence=("x", "y", "z", "a")))[0]
    assert prov.explanation["related_alert_ids"] == [county.alert_id]


def test_snapshot_restore_continues(lc, context):
    lc.apply(_sig(T0, 60))
    restored = Lifecycle.restore(context.grading, {"d": DetectorInfo("1.0.0", "h", 72 * HOUR)}, context, lc.snapshot())
    assert [a.status for a in restored.apply(_sig(T0 + HOUR, 96))] == ["escalated"]
    assert [a.status for a in restored.advance(T0 + 10 * DAY)] == ["resolved"]


def test_a_stronger_signal_at_the_enclosing_level_escalates_the_warning_it_folds_into(lc):
    """A counterfeit cluster spilling into the next city is the same cases, graver (seed 50's
    helmet cluster stayed yellow while its province-level signal was red): the folded signal
    escalates the warning it folds into, keeps it alive, and is listed under ``also_at``."""
    lc.apply(_sig(T0, 65, evidence=("a", "b", "c")))
    up = lc.apply(_sig(T0 + 50 * HOUR, 90, region="330100", evidence=("a", "b", "c", "d")))
    assert [(x.status, x.level, x.scope.region_code) for x in up] == [("escalated", "orange", "330106")]
    assert up[0].explanation["also_at"] == ["330100"] and set(up[0].evidence_event_ids) == {"a", "b", "c", "d"}
    assert lc.advance(T0 + 100 * HOUR) == []  # 72 h after the folded signal, not after the first one
    assert [x.status for x in lc.advance(T0 + 123 * HOUR)] == ["resolved"]
