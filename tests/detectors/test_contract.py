"""The contract every detector keeps (river's ``check_estimator`` idea), over the whole catalogue."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from detectors.base import Observation
from detectors.registry import CATALOGUE, build_detectors, detector_configs

NAMES = list(CATALOGUE)
SOURCES = {"complaint", "sampling", "enforcement", "opinion"}


def _make(name, context, state=None):
    configs = detector_configs(None)
    return build_detectors({name: configs[name]}, context, {name: state} if state is not None else None)[0]


def _run(det, obs, chunk=500):
    out = []
    for i in range(0, len(obs), chunk):
        batch = [o for o in obs[i:i + chunk] if o.source in det.sources]
        out += det.update(batch)
    return [msgspec.json.encode(s) for s in out]


@pytest.fixture(scope="module")
def burst_stream(stream):
    return stream(seed=7, days=24, per_day=300, burst=True)


@pytest.mark.parametrize("name", NAMES)
def test_restore_of_snapshot_continues_identically(name, context, burst_stream):
    half = len(burst_stream) * 2 // 3
    whole = _run(_make(name, context), burst_stream)
    first = _make(name, context)
    head = _run(first, burst_stream[:half])
    state = orjson.loads(orjson.dumps(first.snapshot()))  # through JSON, as a table stores it
    tail = _run(_make(name, context, state), burst_stream[half:])
    assert head + tail == whole


@pytest.mark.parametrize("name", NAMES)
def test_snapshot_is_json_with_a_layout(name, context, burst_stream):
    det = _make(name, context)
    _run(det, burst_stream)
    snap = det.snapshot()
    assert orjson.loads(orjson.dumps(snap)) == snap
    assert isinstance(snap.get("layout"), int)


@pytest.mark.parametrize("name", NAMES)
def test_same_input_same_output_and_batching_does_not_matter(name, context, burst_stream):
    a = _run(_make(name, context), burst_stream, chunk=97)
    b = _run(_make(name, context), burst_stream, chunk=1000)
    assert a == b


@pytest.mark.parametrize("name", NAMES)
def test_input_is_not_mutated(name, context, burst_stream):
    batch = list(burst_stream)
    before = [msgspec.json.encode(o) for o in batch]
    _run(_make(name, context), batch)
    assert [msgspec.json.encode(o) for o in batch] == before


@pytest.mark.parametrize("name", NAMES)
def test_cold_start_is_quiet(name, context, stream):
    det = _make(name, context)
    assert _run(det, stream(seed=3, days=2, per_day=400)) == []


@pytest.mark.parametrize("name", NAMES)
def test_optional_fields_may_be_missing(name, context):
    det = _make(name, context)
    odd = [Observation(event_id=f"x{i}", source=src, ts=1738339200.0 + i, region="", chain=())
           for i, src in enumerate(["complaint", "sampling", "enforcement", "opinion"] * 50)]
    det.update([o for o in odd if o.source in det.sources])  # must not raise


@pytest.mark.parametrize("name", NAMES)
def test_state_stays_bounded_over_many_keys(name, context, stream):
    det = _make(name, context)
    obs = stream(seed=11, days=45, per_day=800)
    _run(det, obs, chunk=2000)
    recent = obs[-len(obs) * 35 // 45:]  # what falls inside the longest (35-day) window
    keys = {(o.category, r) for o in recent for r in o.chain} | {(o.uscc,) for o in recent if o.uscc}
    size = len(orjson.dumps(det.snapshot()))
    assert size / max(1, len(keys)) < 1024, (size, len(keys))


@pytest.mark.parametrize("name", NAMES)
def test_signals_are_well_formed(name, context, burst_stream):
    det, signals = _make(name, context), 0
    for raw in _run(det, burst_stream):
        s = orjson.loads(raw)
        assert s["detector"] == name and 0 <= s["score"] <= 100 and s["title"]
        assert s["window_start"] <= s["window_end"] and len(s["evidence"]) <= 100
        assert any(s["scope"].get(k) for k in ("region_code", "category", "uscc"))
        ex = s["explanation"]  # the same keys in every detector's explanation, for readers and evaluation
        assert ex["contributing_sources"] and set(ex["contributing_sources"]) <= SOURCES
        assert "raisers" not in ex and isinstance(ex.get("raised_by", []), list)
        signals += 1
    assert signals, f"{name} gave no signal on the burst stream: the checks above tested nothing"
