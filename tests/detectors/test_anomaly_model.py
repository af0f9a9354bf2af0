"""anomaly_model: deterministic fit, safe round trip, versioning, and anomalies scoring higher."""

from __future__ import annotations

import base64
import hashlib
import zlib

import msgspec
import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from detectors.anomaly_model import FEATURES, AnomalyModel, WindowAggregates, features, train_from_observations
from detectors.base import Observation
from schemas.errors import ConfigError

START = 1738339200.0


def _typical(rng: np.random.Generator, n: int) -> np.ndarray:
    """Feature rows of ordinary entity windows: counts near their expectation, rare failures."""
    rows = []
    for _ in range(n):
        exp_c, exp_o = rng.gamma(2.0, 3.0), rng.gamma(2.0, 2.0)
        samples = rng.poisson(2)
        rows.append(features(WindowAggregates(
            complaints=rng.poisson(exp_c), complaints_expected=exp_c, injuries_minor=rng.poisson(0.02),
            samples=samples, failures=rng.binomial(samples, 0.07), failures_expected=0.07 * samples,
            enforcement_cases=rng.poisson(0.4), enforcement_expected=0.4, opinion_negative=rng.poisson(exp_o),
            opinion_expected=exp_o, hazard_posts=rng.poisson(0.05), reach=rng.pareto(1.2) * 500)))
    return np.array(rows)


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return _typical(np.random.default_rng(1), 1500)


@pytest.fixture(scope="module")
def model(rows) -> AnomalyModel:
    return AnomalyModel.fit(rows, seed=7)


def test_features_follow_the_documented_list():
    row = features(WindowAggregates(complaints=15, complaints_expected=3, samples=2, failures=1, critical_failures=1,
                                    opinion_negative=0, reach=999))
    assert row.shape == (len(FEATURES),) and np.all(np.isfinite(row))
    named = dict(zip(FEATURES, row, strict=True))
    assert named["complaint_excess"] == pytest.approx(2.0)  # log2(16 / 4)
    assert named["failure_rate"] == pytest.approx(1 / 3)
    assert named["reach"] == pytest.approx(3.0)
    assert named["active_sources"] == 2.0  # complaints and samples


def test_features_of_odd_numbers_are_finite():
    row = features(WindowAggregates(complaints=float("nan"), complaints_expected=-5, reach=float("inf")))
    assert np.all(np.isfinite(row))


def test_fit_is_deterministic_for_a_seed(rows, model):
    again = AnomalyModel.fit(rows, seed=7)
    assert again.to_bytes() == model.to_bytes() and again.version == model.version
    assert AnomalyModel.fit(rows, seed=8).version != model.version


def test_scores_equal_scikit_learns(rows, model):
    forest = IsolationForest(n_estimators=100, max_samples=256, max_features=1.0, random_state=7).fit(rows)
    probe = np.vstack([rows[:50], _typical(np.random.default_rng(2), 20) * 3.0])
    assert np.allclose(model.score_many(probe), -forest.score_samples(probe), rtol=0, atol=1e-12)


def test_anomalous_entity_scores_higher_than_typical_ones(rows, model):
    typical = model.score_many(_typical(np.random.default_rng(3), 200))
    odd = features(WindowAggregates(complaints=40, complaints_expected=3, injuries_serious=2, samples=3, failures=3,
                                    critical_failures=2, failures_expected=0.2, enforcement_cases=3,
                                    enforcement_expected=0.4, opinion_negative=60, opinion_expected=4, hazard_posts=12,
                                    reach=3e6))
    score = model.score(odd)
    assert 0.0 < score < 1.0
    assert score > np.quantile(typical, 0.99) and score > 0.6
    contrib = model.contributions(odd)
    assert contrib and set(contrib) <= set(FEATURES) and all(v > 0 for v in contrib.values())


def test_round_trip_through_bytes_and_text(rows, model):
    blob = model.to_bytes()
    back = AnomalyModel.from_bytes(blob)
    assert back.version == model.version and back.to_bytes() == blob
    probe = rows[:100]
    assert np.array_equal(back.score_many(probe), model.score_many(probe))
    assert AnomalyModel.from_text(model.to_text()).version == model.version
    assert len(blob) < 400_000  # small enough to travel in the configuration


def test_version_is_a_content_hash_that_changes_with_content(rows, model):
    other = AnomalyModel.fit(rows[:-1], seed=7)
    assert len(model.version) == 12 and int(model.version, 16) >= 0
    assert other.version != model.version


def test_corrupt_or_foreign_bytes_are_refused(model):
    blob = model.to_bytes()
    with pytest.raises(ConfigError, match="bad magic"):
        AnomalyModel.from_bytes(b"\x80\x04pickle" + blob)
    flipped = bytearray(blob)
    flipped[-20] ^= 0xFF
    with pytest.raises(ConfigError, match="hash mismatch|corrupt"):
        AnomalyModel.from_bytes(bytes(flipped))
    with pytest.raises(ConfigError, match="not base64"):
        AnomalyModel.from_text("not base64 at all!")


def _repack(payload: dict) -> bytes:
    body = msgspec.json.encode(payload, order="sorted")
    return b"RWAM1\n" + hashlib.sha256(body).hexdigest().encode() + b"\n" + zlib.compress(body)


def test_a_well_hashed_artifact_with_a_cyclic_tree_is_refused(model):
    """Regression guard for the loader's structure check: a hash proves integrity, not sanity."""
    payload = model._payload()
    left = np.frombuffer(base64.b64decode(payload["trees"]["left"]), dtype="<i4").copy()
    inner = int(np.flatnonzero(left >= 0)[0])
    left[inner] = inner  # a node that is its own child: an endless walk
    payload["trees"]["left"] = base64.b64encode(left.tobytes()).decode()
    with pytest.raises(ConfigError, match="cycle"):
        AnomalyModel.from_bytes(_repack(payload))
    payload = model._payload() | {"features": ["something_else"]}
    with pytest.raises(ConfigError, match="features"):
        AnomalyModel.from_bytes(_repack(payload))


def test_fit_rejects_too_few_rows_and_wrong_width(rows):
    with pytest.raises(ConfigError, match="at least 8 rows"):
        AnomalyModel.fit(rows[:3], seed=1)
    with pytest.raises(ConfigError, match="features"):
        AnomalyModel.fit(rows[:, :4], seed=1)


def test_train_from_observations_is_deterministic(regions):
    rng = np.random.default_rng(4)
    chain = regions.chain("330106")
    obs = []
    for i in range(3000):
        src = ("complaint", "opinion", "sampling", "enforcement")[i % 4]
        cat = ("mask", "toy", "cosmetics")[int(rng.integers(3))]
        obs.append(Observation(event_id=f"t{i}", source=src, ts=START + i * 600.0, region="330106", chain=chain,
                               category=cat, complainant=f"p{i}", issue="quality", failed=bool(rng.random() < 0.1),
                               violation="counterfeit", sentiment=-0.6, weight=0.8, reach=100.0,
                               uscc="91330106271828184K" if i % 3 == 0 else ""))
    a = train_from_observations(obs, seed=5, n_estimators=20)
    b = train_from_observations(iter(obs), seed=5, n_estimators=20)
    assert a.version == b.version and a.n_rows >= 8
    assert a.score(features(WindowAggregates())) > 0
