"""The event simulator: determinism, contract validity, volumes and profiles, calendar
effects, labelled incidents and decoys, malformed lines, pacing."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.simulator import (
    CST, MALFORMATIONS, SimulationConfig, Simulator, malform, stream_simulation, write_simulation,
)
from schemas.categories import Catalogue
from schemas.dead_letter import DeadLetter
from schemas.errors import ConfigError
from schemas.event import Record
from schemas.regions import RegionTable
from schemas.uscc import uscc_problem
from schemas.validator import Validator

DETECTORS = {"complaint_surge", "injury_signal", "sampling_failure", "repeat_offender", "enforcement_cluster",
             "opinion_burst", "cross_source"}
MONDAY = datetime(2025, 4, 7, tzinfo=CST)  # no calendar effect nearby


def _run(regions: RegionTable, catalogue: Catalogue, **kw: Any) -> tuple[Simulator, list[bytes]]:
    sim = Simulator(SimulationConfig(**kw), regions, catalogue)
    return sim, list(sim.events())


def _ts(ev: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ev["occurred_at"])


@pytest.fixture(scope="module")
def run60(regions: RegionTable, catalogue: Catalogue, validator: Validator) -> dict[str, Any]:
    """The default 60-day run at 5 % scale, validated once for all tests below."""
    sim, lines = _run(regions, catalogue, days=60, scale=0.05, seed=7)
    results = [validator.validate(x) for x in lines]
    events = [orjson.loads(x) for x, r in zip(lines, results, strict=True) if isinstance(r, Record)]
    return {"sim": sim, "lines": lines, "results": results, "events": events, "labels": sim.labels()}


# -- determinism -------------------------------------------------------------------------
def test_same_seed_writes_identical_files(tmp_path: Path, regions: RegionTable, catalogue: Catalogue) -> None:
    cfg = SimulationConfig(days=25, scale=0.01, seed=5)
    counts = [write_simulation(cfg, tmp_path / name, regions, catalogue) for name in ("a", "b")]
    for f in ("events.jsonl", "labels.jsonl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    n_events, n_labels = counts[0]
    assert counts[0] == counts[1]
    assert n_events == len((tmp_path / "a" / "events.jsonl").read_bytes().splitlines()) > 1000
    assert n_labels == len((tmp_path / "a" / "labels.jsonl").read_bytes().splitlines()) >= 1


def test_events_can_be_iterated_again_identically(regions: RegionTable, catalogue: Catalogue) -> None:
    sim = Simulator(SimulationConfig(days=2, scale=0.01, seed=1), regions, catalogue)
    assert list(sim.events()) == list(sim.events())


def test_different_seed_gives_different_run(regions: RegionTable, catalogue: Catalogue) -> None:
    a = Simulator(SimulationConfig(days=30, scale=0.01, seed=1), regions, catalogue)
    b = Simulator(SimulationConfig(days=30, scale=0.01, seed=2), regions, catalogue)
    assert list(a.events())[:200] != list(b.events())[:200]
    scope = lambda s: [(x["kind"], x["start"], str(x["scope"])) for x in s.labels()]  # noqa: E731
    assert scope(a) != scope(b)


# -- contract ----------------------------------------------------------------------------
def test_only_the_malformed_lines_are_rejected(run60: dict[str, Any]) -> None:
    rejected = sum(isinstance(r, DeadLetter) for r in run60["results"])
    assert rejected == run60["sim"].counts.malformed > 0
    assert len(run60["events"]) + rejected == len(run60["lines"])


def test_a_clean_run_validates_entirely(regions: RegionTable, catalogue: Catalogue, validator: Validator) -> None:
    _, lines = _run(regions, catalogue, days=24, scale=0.02, seed=3, invalid_rate=0.0)
    bad = [r.errors for r in map(validator.validate, lines) if isinstance(r, DeadLetter)]
    assert bad == []


def test_ids_times_and_order_follow_the_contract(run60: dict[str, Any]) -> None:
    events = run60["events"]
    ids = Counter((e["source"], e["event_id"]) for e in events)
    assert ids.most_common(1)[0][1] == 1
    times = [_ts(e) for e in events]
    assert all(a <= b for a, b in zip(times, times[1:]))
    assert all(e["occurred_at"].endswith("+08:00") for e in events)
    with_reported = [e for e in events if "reported_at" in e]
    assert len(with_reported) > len(events) / 2
    assert all(datetime.fromisoformat(e["reported_at"]) >= _ts(e) for e in with_reported)
    start = datetime(2025, 2, 1, tzinfo=CST)
    assert start <= times[0] and times[-1] < start + timedelta(days=60)


def test_malformed_share_is_close_to_invalid_rate(regions: RegionTable, catalogue: Catalogue,
                                                  validator: Validator) -> None:
    rate = 0.03
    sim, lines = _run(regions, catalogue, days=3, scale=0.05, seed=11, invalid_rate=rate, start=MONDAY)
    rejected = sum(isinstance(validator.validate(x), DeadLetter) for x in lines)
    assert rejected == sim.counts.malformed
    sd = (len(lines) * rate * (1 - rate)) ** 0.5
    assert abs(rejected - len(lines) * rate) < 4 * sd


@pytest.fixture(scope="module")
def clean_lines(regions: RegionTable, catalogue: Catalogue) -> list[bytes]:
    _, lines = _run(regions, catalogue, days=1, scale=0.05, seed=4, invalid_rate=0.0, start=MONDAY)
    return lines


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(MALFORMATIONS), seed=st.integers(0, 2**32 - 1))
def test_every_malformation_is_rejected(data: st.DataObject, kind: str, seed: int, clean_lines: list[bytes],
                                        regions: RegionTable, catalogue: Catalogue, validator: Validator) -> None:
    line = data.draw(st.sampled_from(clean_lines))
    assert isinstance(validator.validate(line), Record)
    bad = malform(line, kind, np.random.default_rng(seed), regions, catalogue)
    assert isinstance(validator.validate(bad), DeadLetter), bad


def test_malform_rejects_an_unknown_kind(clean_lines: list[bytes], regions: RegionTable,
                                         catalogue: Catalogue) -> None:
    with pytest.raises(ConfigError, match="simulation.malformation"):
        malform(clean_lines[0], "gremlins", np.random.default_rng(0), regions, catalogue)


# -- volumes, profiles, content ----------------------------------------------------------
@pytest.fixture(scope="module")
def fortnight(regions: RegionTable, catalogue: Catalogue) -> list[dict[str, Any]]:
    """Two background-only weeks at 5 % scale away from calendar effects."""
    _, lines = _run(regions, catalogue, days=14, scale=0.05, seed=2, incidents=False, invalid_rate=0.0,
                    start=MONDAY)
    return [orjson.loads(x) for x in lines]


@pytest.mark.parametrize(("source", "per_day", "tolerance"),
                         [("complaint", 6000, 0.08), ("opinion", 12000, 0.08), ("sampling", 600, 0.2),
                          ("enforcement", 200, 0.3)])
def test_daily_volumes_per_source(fortnight: list[dict[str, Any]], source: str, per_day: int,
                                  tolerance: float) -> None:
    n = sum(e["source"] == source for e in fortnight)
    assert abs(n / 14 - per_day * 0.05) < tolerance * per_day * 0.05


def test_weekday_and_hour_profiles(fortnight: list[dict[str, Any]]) -> None:
    sampling = Counter(_ts(e).weekday() for e in fortnight if e["source"] == "sampling")
    assert sum(sampling[d] for d in range(5)) / 5 > 3 * (sampling[5] + sampling[6]) / 2
    hours = Counter(_ts(e).hour for e in fortnight if e["source"] == "complaint")
    assert sum(hours[h] for h in range(9, 17)) > 5 * sum(hours[h] for h in range(0, 8))


def test_regions_follow_population(fortnight: list[dict[str, Any]], regions: RegionTable) -> None:
    provinces = Counter(regions.province(e["region_code"]) for e in fortnight if e["source"] == "complaint")
    total = sum(provinces.values())
    assert 0.07 < provinces["440000"] / total < 0.11  # Guangdong: 8.9 % of the 2020 census
    assert provinces["440000"] > 10 * provinces["540000"]
    assert provinces["710000"] == provinces["810000"] == 0
    levels = Counter(regions.level(e["region_code"]) for e in fortnight if e["source"] == "complaint")
    assert levels["county"] > 0.9 * total and levels["city"] > 0
    news = Counter(regions.level(e["region_code"]) for e in fortnight
                   if e["source"] == "opinion" and e["opinion"]["platform"] == "news")
    assert news["county"] == 0 and news["city"] > 0 and news["province"] > 0


def test_complaints_carry_people_noise_and_rare_injuries(fortnight: list[dict[str, Any]]) -> None:
    cs = [e["complaint"] for e in fortnight if e["source"] == "complaint"]
    assert 0.8 < sum("complainant" in c for c in cs) / len(cs) < 0.97
    texts = [c["text"] for c in cs]
    assert sum(bool(re.search(r"1[3-9]\d{9}", t)) for t in texts) > 0.03 * len(cs)
    assert sum(bool(re.search(r"\d{17}[\dX]", t)) for t in texts) > 0.005 * len(cs)
    injuries = Counter(c.get("injury", "none") for c in cs)
    assert 0 < injuries["minor"] < 0.01 * len(cs)
    assert injuries["serious"] + injuries["fatal"] <= injuries["minor"]


def test_sampling_fails_at_realistic_rates_with_severities(fortnight: list[dict[str, Any]]) -> None:
    ss = [e["sampling"] for e in fortnight if e["source"] == "sampling"]
    failed = [s for s in ss if s["result"] == "fail"]
    assert 0.04 < len(failed) / len(ss) < 0.12
    severities = {i["severity"] for s in failed for i in s["failed_items"]}
    assert {"critical", "major"} <= severities


def test_enterprises_have_valid_uscc_registered_in_a_county(fortnight: list[dict[str, Any]],
                                                            regions: RegionTable) -> None:
    usccs = {e["enterprise"]["uscc"] for e in fortnight if "enterprise" in e}
    assert len(usccs) > 100
    assert all(uscc_problem(u) is None and u[2:8] in regions for u in usccs)


def test_a_few_hundred_branded_makers_registered_in_their_county(regions: RegionTable,
                                                                 catalogue: Catalogue) -> None:
    makers = Simulator(SimulationConfig(days=1, scale=0.0), regions, catalogue).enterprises()
    assert 200 <= len(makers) <= 800
    assert all(uscc_problem(m["uscc"]) is None and m["uscc"][2:8] == m["county"] for m in makers)
    assert all(regions.level(m["county"]) in ("county", "city") and m["name"] and m["brands"] for m in makers)
    brands = [b for m in makers for b in m["brands"]]
    assert len(brands) == len(set(brands))
    per_category = Counter(c for m in makers for c in m["categories"])
    assert set(per_category) == set(catalogue.categories) and min(per_category.values()) >= 3


def test_opinion_posts_vary_in_product_sentiment_and_reach(fortnight: list[dict[str, Any]]) -> None:
    ops = [e for e in fortnight if e["source"] == "opinion"]
    with_product = sum("product" in e for e in ops) / len(ops)
    assert 0.1 < with_product < 0.4
    assert 0.45 < sum("sentiment" in e["opinion"] for e in ops) / len(ops) < 0.75
    followers = sorted(e["opinion"]["reach"]["followers"] for e in ops if "reach" in e["opinion"])
    assert followers[-1] > 1000 * statistics.median(followers)
    named = [e["opinion"]["text"] for e in ops if "product" not in e]
    assert sum("#" in t for t in named) > 0.1 * len(named)


# -- labels and incidents ----------------------------------------------------------------
def test_labels_are_well_formed_and_inside_the_run(run60: dict[str, Any], regions: RegionTable,
                                                   catalogue: Catalogue) -> None:
    start, end = datetime(2025, 2, 1, tzinfo=CST), datetime(2025, 4, 2, tzinfo=CST)
    for lb in run60["labels"]:
        assert set(lb) == {"incident_id", "kind", "start", "end", "severity", "scope", "decoy", "detectors",
                           "sources", "evidence_hours"}
        assert lb["sources"] and set(lb["sources"]) <= {"complaint", "sampling", "enforcement", "opinion"}
        assert set(lb["scope"]) == {"category", "region_codes", "uscc"}
        s, e = datetime.fromisoformat(lb["start"]), datetime.fromisoformat(lb["end"])
        assert start <= s <= e < end
        assert lb["severity"] in ("red", "orange", "yellow", "blue")
        scope = lb["scope"]
        assert scope["category"] is None or scope["category"] in catalogue
        assert scope["region_codes"] and all(c in regions for c in scope["region_codes"])
        assert scope["uscc"] is None or uscc_problem(scope["uscc"]) is None
        assert set(lb["detectors"]) <= DETECTORS
        assert bool(lb["detectors"]) != lb["decoy"]
        if not lb["decoy"]:
            assert s >= start + timedelta(days=21), lb
            hours = lb["evidence_hours"]  # the first events: the first at the start, then in order, inside
            assert 1 <= len(hours) <= 3 and hours[0] == 0.0 and hours == sorted(hours), lb
            assert s + timedelta(hours=hours[-1]) <= e + timedelta(minutes=3)
    assert len({lb["incident_id"] for lb in run60["labels"]}) == len(run60["labels"])


def test_a_60_day_run_has_8_to_12_incidents_covering_every_detector(run60: dict[str, Any]) -> None:
    incidents = [lb for lb in run60["labels"] if not lb["decoy"]]
    assert 8 <= len(incidents) <= 12
    assert len({lb["kind"] for lb in incidents}) >= 8
    assert set().union(*(lb["detectors"] for lb in incidents)) == DETECTORS
    decoys = {lb["kind"] for lb in run60["labels"] if lb["decoy"]}
    assert {"professional_claimant", "consumer_rights_day"} <= decoys
    sources = {lb["kind"]: lb["sources"] for lb in run60["labels"] if lb["decoy"]}
    assert sources["professional_claimant"] == ["complaint"]  # one claimant's complaints, nothing else
    assert sources["consumer_rights_day"] == ["complaint", "opinion"]  # the volumes 3·15 raises


def _in_scope(e: dict[str, Any], lb: dict[str, Any], regions: RegionTable) -> bool:
    """``e`` is about the label's category, inside (or above) one of its areas, in its window."""
    if not datetime.fromisoformat(lb["start"]) <= _ts(e) <= datetime.fromisoformat(lb["end"]):
        return False
    mine = regions.chain(e["region_code"])
    return ((e.get("product") or {}).get("category") == lb["scope"]["category"]
            and any(c in mine or e["region_code"] in regions.chain(c) for c in lb["scope"]["region_codes"]))


def test_every_incident_has_its_events(run60: dict[str, Any], regions: RegionTable) -> None:
    events = run60["events"]
    for lb in run60["labels"]:
        if lb["decoy"] or lb["scope"]["category"] is None:
            continue
        n = sum(_in_scope(e, lb, regions) for e in events)
        assert n >= (1 if lb["kind"] == "repeat_offender" else 5), lb
        if lb["scope"]["uscc"]:
            assert any((e.get("enterprise") or {}).get("uscc") == lb["scope"]["uscc"] for e in events
                       if _in_scope(e, lb, regions)), lb


def test_factory_defect_lifts_complaints_in_its_area_above_background(run60: dict[str, Any],
                                                                      regions: RegionTable) -> None:
    lb = next(x for x in run60["labels"] if x["kind"] == "factory_defect")
    city, cat = regions.parent(lb["scope"]["region_codes"][0]), lb["scope"]["category"]
    s, e = datetime.fromisoformat(lb["start"]), datetime.fromisoformat(lb["end"])

    def complaints(lo: datetime, hi: datetime) -> int:
        return sum(1 for x in run60["events"] if x["source"] == "complaint" and lo <= _ts(x) <= hi
                   and x["product"]["category"] == cat and city in regions.chain(x["region_code"]))

    during = complaints(s, e)
    base_days = 21
    before = complaints(s - timedelta(days=base_days), s) / base_days * (e - s).total_seconds() / 86400
    assert during >= 20 and during > 5 * before + 5


def test_repeat_offender_failed_before_the_run_window(run60: dict[str, Any]) -> None:
    for lb in (x for x in run60["labels"] if x["kind"] == "repeat_offender"):
        fails = sorted(_ts(e) for e in run60["events"] if e["source"] == "sampling"
                       and e["sampling"]["result"] == "fail" and e["enterprise"]["uscc"] == lb["scope"]["uscc"])
        start = datetime.fromisoformat(lb["start"])
        assert len(fails) >= 2 and fails[0] < start - timedelta(days=3) and start in fails


def test_professional_claimant_is_one_person_filing_dozens(run60: dict[str, Any], regions: RegionTable) -> None:
    lb = next(x for x in run60["labels"] if x["kind"] == "professional_claimant")
    phones = Counter(e["complaint"]["complainant"]["phone"] for e in run60["events"]
                     if e["source"] == "complaint" and "complainant" in e["complaint"] and _in_scope(e, lb, regions))
    phone, n = phones.most_common(1)[0]
    assert n >= 24
    assert "退一赔十" in " ".join(e["complaint"]["text"] for e in run60["events"] if e["source"] == "complaint"
                              and e["complaint"].get("complainant", {}).get("phone") == phone)


def test_short_runs_have_no_incident(regions: RegionTable, catalogue: Catalogue) -> None:
    sim = Simulator(SimulationConfig(days=20, scale=0.01, seed=1), regions, catalogue)
    assert sim.labels() == []


# -- calendar ----------------------------------------------------------------------------
def _daily(events: list[dict[str, Any]], pred: Any) -> Counter[str]:
    return Counter(e["occurred_at"][:10] for e in events if pred(e))


def test_consumer_rights_day_lifts_complaints_in_every_group(regions: RegionTable, catalogue: Catalogue) -> None:
    sim, lines = _run(regions, catalogue, days=12, scale=0.05, seed=8, incidents=False, invalid_rate=0.0,
                      start=datetime(2025, 3, 6, tzinfo=CST))
    events = [orjson.loads(x) for x in lines]
    total = _daily(events, lambda e: e["source"] == "complaint")
    assert total["2025-03-15"] > 2.2 * statistics.median(total[f"2025-03-{d:02d}"] for d in range(6, 12))
    for group in ("consumer", "children", "industrial", "food"):  # the groups with >= 15 a day at this scale
        daily = _daily(events, lambda e, g=group: e["source"] == "complaint"
                       and catalogue[e["product"]["category"]].group == g)
        normal = statistics.median(daily[f"2025-03-{d:02d}"] for d in range(6, 12))
        assert daily["2025-03-15"] > 1.6 * normal, group
    (lb,) = [x for x in sim.labels() if x["kind"] == "consumer_rights_day"]
    assert lb["decoy"] and lb["start"].startswith("2025-03-14") and lb["end"].startswith("2025-03-17")


def test_double_eleven_brings_after_sales_complaints_the_week_after(regions: RegionTable,
                                                                   catalogue: Catalogue) -> None:
    sim, lines = _run(regions, catalogue, days=16, scale=0.05, seed=9, incidents=False, invalid_rate=0.0,
                      start=datetime(2025, 11, 3, tzinfo=CST))
    daily = _daily([orjson.loads(x) for x in lines],
                   lambda e: e["source"] == "complaint" and e["complaint"]["issue"] == "after_sales")
    normal = statistics.median(daily[f"2025-11-{d:02d}"] for d in range(3, 11))
    assert daily["2025-11-13"] > 1.8 * normal and daily["2025-11-14"] > 1.8 * normal
    (lb,) = [x for x in sim.labels() if x["kind"] == "double_eleven_after_sales"]
    assert lb["decoy"] and lb["detectors"] == [] and lb["sources"] == ["complaint"]


# -- configuration and streaming ---------------------------------------------------------
@pytest.mark.parametrize(("field", "value"), [("days", 0), ("seed", -1), ("scale", -0.5), ("invalid_rate", 1.5)])
def test_config_rejects_out_of_range_values(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"simulation.{field}"):
        SimulationConfig(**{field: value})


def test_a_start_in_another_timezone_is_written_in_china_time(regions: RegionTable, catalogue: Catalogue) -> None:
    start = datetime(2025, 2, 1, 0, 0, tzinfo=timezone.utc)  # 08:00 in Beijing
    _, lines = _run(regions, catalogue, days=1, scale=0.02, seed=1, start=start)
    first = orjson.loads(next(x for x in lines if x.startswith(b"{") and x.endswith(b"}")))
    assert first["occurred_at"].startswith("2025-02-01T08:") and first["occurred_at"].endswith("+08:00")


def test_stream_paces_and_stops() -> None:
    got: list[bytes] = []
    began = time.monotonic()
    n = stream_simulation(SimulationConfig(days=1, scale=0.02, seed=1), 2000.0, got.append, lambda: len(got) >= 300)
    elapsed = time.monotonic() - began
    assert n == len(got) == 300
    assert elapsed >= 299 / 2000 * 0.9


def test_stream_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ConfigError, match="rate"):
        stream_simulation(SimulationConfig(days=1, scale=0.01), 0.0, lambda line: None)
