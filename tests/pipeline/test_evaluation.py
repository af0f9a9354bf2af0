"""Evaluation: how warnings are matched to incidents and decoys, and the figures that follow."""

from __future__ import annotations

from datetime import datetime

from pipeline.evaluation import Warning, baseline_warnings, evaluate_alerts, format_report

LABELS = [
    {"incident_id": "i1", "kind": "factory_defect", "start": "2025-03-04T10:00:00+08:00",
     "end": "2025-03-08T10:00:00+08:00", "severity": "orange",
     "scope": {"category": "mask", "region_codes": ["330106"], "uscc": None}, "decoy": False},
    {"incident_id": "i2", "kind": "slow_rise", "start": "2025-03-01T00:00:00+08:00",
     "end": "2025-03-20T00:00:00+08:00", "severity": "yellow",
     "scope": {"category": "toy", "region_codes": ["440000"], "uscc": None}, "decoy": False},
    {"incident_id": "d1", "kind": "professional_claimant", "start": "2025-03-10T00:00:00+08:00",
     "end": "2025-03-12T00:00:00+08:00", "severity": "blue",
     "scope": {"category": "cold_chain_food", "region_codes": ["420203"], "uscc": None}, "decoy": True},
]


def _w(region, category, when, level="yellow", uscc="", sources=()):
    return Warning(f"{region}{category}{when}", "d", region, category, uscc, datetime.fromisoformat(when), level,
                   sources)


def test_matching_by_nested_region_category_and_time(regions):
    ws = [_w("330100", "mask", "2025-03-04T16:00:00+08:00", "red"),  # the city containing the county: a hit
          _w("330106", "toy", "2025-03-05T00:00:00+08:00"),  # wrong category: false
          _w("420203", "cold_chain_food", "2025-03-11T00:00:00+08:00", "orange"),  # on the decoy
          _w("330106", "mask", "2025-03-20T00:00:00+08:00")]  # long after the end: false
    m = evaluate_alerts("riskwatch", ws, LABELS, regions, key_days=400)
    assert m.recall == 0.5 and m.precision == 0.25
    assert m.false_warnings == 3 and m.false_per_100_key_days == 0.75
    assert m.per_incident["i1"] == {"kind": "factory_defect", "severity": "orange", "detected": True,
                                    "ttd_hours": 6.0, "level": "red", "reached": True, "detectors": ["d"]}
    assert m.decoy_warnings == 1 and m.decoy_warnings_yellow_plus == 1
    assert m.level_reached == 0.5 and m.median_ttd_hours == 6.0
    report = format_report([m], LABELS)
    assert "missed" in report and "false_per_100_key_days\t0.7500" in report
    assert "event" not in report  # labels without evidence times: no evidence columns


def test_a_warning_is_on_a_decoy_only_when_it_draws_on_the_decoys_sources(regions):
    calendar = {"incident_id": "d2", "kind": "consumer_rights_day", "start": "2025-03-14T00:00:00+08:00",
                "end": "2025-03-20T23:59:59+08:00", "severity": "blue", "decoy": True,
                "scope": {"category": None, "region_codes": ["110000", "620000"], "uscc": None},
                "sources": ["complaint", "opinion"]}
    ws = [_w("620122", "mask", "2025-03-17T12:00:00+08:00", "orange", "9162012226Y0RFLYQT", ("sampling",)),
          _w("620000", "toy", "2025-03-17T12:00:00+08:00", "blue", "", ("complaint",)),
          _w("110000", "toy", "2025-03-18T12:00:00+08:00", "blue", "", ("sampling", "opinion")),
          _w("110000", "dairy", "2025-03-18T12:00:00+08:00", "blue")]  # sources unknown: judged by scope
    m = evaluate_alerts("riskwatch", ws, [calendar], regions)
    assert m.false_warnings == 4  # none is on an incident
    assert m.decoy_warnings == 3 and m.decoy_warnings_yellow_plus == 0  # the sampling-only repeat is not
    assert not any("9162012226Y0RFLYQT" in d for d in m.decoys)


def test_the_report_says_how_soon_the_evidence_allowed(regions):
    labels = [dict(LABELS[0], evidence_hours=[0.0, 2.0, 30.0]), dict(LABELS[1], evidence_hours=[0.0]), LABELS[2]]
    m = evaluate_alerts("riskwatch", [_w("330100", "mask", "2025-03-04T16:00:00+08:00")], labels, regions)
    rows = format_report([m], labels).splitlines()
    assert rows[0] == "incident\tkind\tseverity\t2nd/3rd event\triskwatch"
    assert rows[1].startswith("i1\tfactory_defect\torange\t2.0/30.0h\t6.0h")
    assert rows[2].startswith("i2\tslow_rise\tyellow\t0.0/0.0h\tmissed")  # one event: nothing to wait for
    assert "median_hours_to_event_2\t1.0" in rows and "median_hours_to_event_3\t15.0" in rows


def test_baselines_fire_at_the_end_of_the_day(regions):
    lines = []
    for day in range(1, 28):
        n = 1 if day < 25 else 12
        for i in range(n):
            lines.append(b'{"source":"complaint","occurred_at":"2025-03-%02dT10:%02d:00+08:00","region_code":"330106",'
                         b'"product":{"category":"mask"}}' % (day, i))
    out = baseline_warnings(lines, regions)
    fixed = out["fixed_threshold"]
    assert len(fixed) == 1 and fixed[0].region == "330000" and fixed[0].opened.day == 26  # midnight after day 25
