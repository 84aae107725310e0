"""Step 4, evaluate: a rolling-origin backtest of the network against the baselines (naive,
seasonal naive, a statistical model) in original units, and its prediction intervals."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from chronos_core.domain.training_job import TrainingMetrics
from chronos_core.ml.evaluation import evaluate
from chronos_core.ml.model_io import load_network
from chronos_core.ml.plotting import backtest_png, loss_curve_png
from chronos_core.settings import Settings, get_settings
from chronos_core.training.fitting import NETWORK_FILE, STATISTICAL_BASELINE
from chronos_core.training.phases import raise_if_cancelled
from chronos_core.training.preparation import load_prepared
from chronos_core.training.workspace import JobWorkspace

Db = Database[dict[str, Any]]
LOSS_CURVE_FILE = "loss_curve.png"
TEST_FORECASTS_FILE = "test_forecasts.png"
#: Test windows predicted per network call: a few thousand windows take one call.
PREDICTION_BATCH_SIZE = 4096


def evaluate_model(
    db: Db, job_id: str, workspace: JobWorkspace, settings: Settings | None = None
) -> dict[str, Any]:
    """Score the fitted network and the baselines on the same test origins.

    Returns the job's metrics document (see :class:`TrainingMetrics`); the full evaluation,
    with the stored test predictions, stays in the workspace for the metadata artifact.
    """
    raise_if_cancelled(db, job_id)
    prepared = load_prepared(workspace)
    network = workspace.take(NETWORK_FILE)
    if network is None:
        network = load_network(workspace.load_bytes(NETWORK_FILE))
    statistical = workspace.take(STATISTICAL_BASELINE)
    settings = settings or get_settings()
    evaluation = evaluate(
        network,
        prepared,
        batch_size=PREDICTION_BATCH_SIZE,
        max_origins=settings.backtest_max_origins,
        interval_levels=settings.interval_levels,
        statistical=None if statistical is None else statistical.result(),
    )
    report = evaluation.to_dict()
    workspace.save_json("evaluation", report)
    fit = workspace.load_json("fit")
    workspace.save_bytes(
        LOSS_CURVE_FILE, loss_curve_png(fit["history"], best_epoch=fit["best_epoch"], title="Loss")
    )
    workspace.save_bytes(
        TEST_FORECASTS_FILE,
        backtest_png(
            evaluation.target_timestamps,
            evaluation.actual,
            evaluation.predicted,
            title="Backtest forecasts against actuals",
            half_widths=evaluation.half_widths,
        ),
    )
    metrics = metrics_document(report, fit)
    workspace.save_json("metrics", metrics)
    return metrics


def metrics_document(evaluation: dict[str, Any], fit: dict[str, Any]) -> dict[str, Any]:
    """The job's ``metrics``: the model's backtest errors, training losses, baselines, skill,
    and the ``backtest`` and ``intervals`` documents."""
    model = evaluation["model"]
    document = TrainingMetrics(
        mae=model["mae"],
        mse=model["mse"],
        rmse=model["rmse"],
        r2=model["r2"],
        smape=model["smape"],
        mape=model["mape"],
        mase=model["mase"],
        theil_u2=model["theil_u2"],
        per_step_mae=model["per_step_mae"],
        best_train_loss=fit["best_train_loss"],
        best_val_loss=fit["best_val_loss"],
        best_epoch=fit["best_epoch"],
        epochs_trained=fit["epochs_trained"],
        skill=evaluation["skill"],
        best_baseline=evaluation["best_baseline"],
        baselines=evaluation["baselines"],
        loss_history=fit["history"],
    )
    data = document.model_dump()
    data["beats_naive"] = evaluation["beats_naive"]
    data["test_windows"] = evaluation["windows"]
    data["skipped_baselines"] = evaluation["skipped_baselines"]
    data["per_step_rmse"] = model.get("per_step_rmse", [])
    data["backtest"] = evaluation["backtest"]
    data["intervals"] = {
        key: value for key, value in evaluation["intervals"].items() if key != "half_widths"
    }
    return data
