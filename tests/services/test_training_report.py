"""The training report: rounded numbers for people, the stored verdict, old jobs still read."""

from __future__ import annotations

from chronos_core.domain.training_job import TrainingJob, TrainingMetrics
from chronos_core.training.report import (
    intervals_rows,
    metrics_table,
    per_step_rows,
    rounded,
    verdict,
)

BACKTEST = {
    "origins": 10,
    "stride": 2,
    "test_windows": 20,
    "model": {"mae": 1.23456789, "per_step_mae": [1.0, 1.4691357]},
    "baselines": {
        "naive": {"mae": 2.0, "per_step_mae": [1.5, 2.5]},
        "mstl": {"mae": 1.0, "per_step_mae": [0.9, 1.1]},
    },
    "skipped_baselines": {"seasonal_naive_week": "needs one full period"},
    "skill_by_baseline": {"naive": 0.382716, "mstl": -0.2345678},
    "best_baseline": "mstl",
    "skill": -0.2345678,
    "best_forecaster": "mstl",
    "verdict": "The model does NOT beat every baseline: ...",
}


def _job(**metrics: object) -> TrainingJob:
    return TrainingJob(model_id="m", metrics=TrainingMetrics(**metrics))


def test_numbers_are_rounded_and_the_stored_verdict_is_used() -> None:
    job = _job(
        mae=1.23456789,
        baselines={"naive": {"mae": 2.0}, "mstl": {"mae": 1.0}},
        backtest=BACKTEST,
        intervals={"levels": [80, 95], "coverage": {"80": 0.7912, "95": None}},
    )
    rows = metrics_table(job)
    assert rows[0]["forecaster"] == "model" and rows[0]["mae"] == 1.235
    assert rows[2]["forecaster"] == "MSTL (statsforecast)"
    assert rows[2]["model skill vs this"] == -0.2346
    assert verdict(job) == BACKTEST["verdict"]
    assert per_step_rows(job) == [
        {"step": 1, "model": 1.0, "naive": 1.5, "mstl": 0.9},
        {"step": 2, "model": 1.469, "naive": 2.5, "mstl": 1.1},
    ]
    assert intervals_rows(job)[0]["test coverage"] == "79.1 %"
    assert intervals_rows(job)[1]["test coverage"] is None
    assert rounded({"a": [0.123456, None, True, 3]}) == {"a": [0.1235, None, True, 3]}


def test_jobs_trained_before_the_backtest_still_get_a_verdict() -> None:
    old = _job(mae=1.0, skill=-0.5, best_baseline="seasonal_naive")
    assert verdict(old) == "The model does NOT beat seasonal naive: its MAE is 50.0% higher."
    assert verdict(TrainingJob(model_id="m")) == "No metrics: the job did not complete."
