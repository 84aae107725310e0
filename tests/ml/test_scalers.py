"""The JSON-safe standard scaler."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler as SklearnStandardScaler

from chronos_core.errors import InsufficientData, InvalidInput
from chronos_core.ml.scalers import StandardScaler


def test_matches_scikit_learn():
    values = np.random.default_rng(0).normal(20, 3, size=500)
    ours = StandardScaler.fit(values)
    theirs = SklearnStandardScaler().fit(values.reshape(-1, 1))
    assert ours.mean == pytest.approx(theirs.mean_[0], rel=1e-12)
    assert ours.scale == pytest.approx(theirs.scale_[0], rel=1e-12)
    np.testing.assert_allclose(
        ours.transform(values), theirs.transform(values.reshape(-1, 1))[:, 0]
    )
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(values)), values)


def test_constant_values_get_unit_scale_like_scikit_learn():
    constant = np.full(50, 21.3)
    ours = StandardScaler.fit(constant)
    theirs = SklearnStandardScaler().fit(constant.reshape(-1, 1))
    assert ours.scale == theirs.scale_[0] == 1.0
    assert np.all(ours.transform(constant) == pytest.approx(0.0))


def test_non_finite_values_are_ignored_and_shapes_kept():
    scaler = StandardScaler.fit([1.0, np.nan, 3.0, np.inf])
    assert (scaler.mean, scaler.scale, scaler.n_samples_seen) == (2.0, 1.0, 2)
    assert scaler.transform(np.ones((2, 3, 1))).shape == (2, 3, 1)
    with pytest.raises(InsufficientData):
        StandardScaler.fit([np.nan])


def test_round_trips_through_json_exactly():
    scaler = StandardScaler.fit(np.random.default_rng(1).normal(size=100))
    document = json.loads(json.dumps(scaler.to_dict()))
    assert document["format"] == "chronos.standard_scaler"
    assert StandardScaler.from_dict(document) == scaler


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {
            "format": "sklearn.pickle",
            "format_version": 1,
            "mean": 0,
            "scale": 1,
            "n_samples_seen": 1,
        },
        {
            "format": "chronos.standard_scaler",
            "format_version": 99,
            "mean": 0,
            "scale": 1,
            "n_samples_seen": 1,
        },
        {"format": "chronos.standard_scaler", "format_version": 1, "mean": 0, "n_samples_seen": 1},
        {
            "format": "chronos.standard_scaler",
            "format_version": 1,
            "mean": 0,
            "scale": 0,
            "n_samples_seen": 1,
        },
        {
            "format": "chronos.standard_scaler",
            "format_version": 1,
            "mean": "0",
            "scale": 1,
            "n_samples_seen": 1,
        },
        {
            "format": "chronos.standard_scaler",
            "format_version": 1,
            "mean": float("nan"),
            "scale": 1,
            "n_samples_seen": 1,
        },
        {
            "format": "chronos.standard_scaler",
            "format_version": 1,
            "mean": 0,
            "scale": 1,
            "n_samples_seen": True,
        },
        {
            "format": "chronos.standard_scaler",
            "format_version": 1,
            "mean": 0,
            "scale": 1,
            "n_samples_seen": 0,
        },
    ],
)
def test_bad_documents_are_rejected(document):
    with pytest.raises(InvalidInput):
        StandardScaler.from_dict(document)
