"""The ``train-model`` flow end to end: the sandbox's STH-Comet, the embedded database, Prefect's
test harness and a real (tiny) Keras network."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest
from prefect.exceptions import CancelledRun

from chronos_core.domain.enums import (
    ArtifactType,
    DataCollectionStatus,
    ModelStatus,
    TrainingStatus,
)
from chronos_core.fiware.tenant import Tenant
from chronos_core.ml.inference import predict_windows
from chronos_core.ml.model_io import load_network
from chronos_core.ml.scalers import StandardScaler
from chronos_core.services.models import register_model
from chronos_core.services.training_jobs import request_cancel
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from fiware_sandbox import Fault
from flows.training import cancel_training, on_run_cancelled, train_model
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

TENANT = Tenant("smart", "/")
TINY = {
    "model_type": "lstm",
    "feature": "temperature",
    "entity_type": "Room",
    "entity_id": "Room1",
    "epochs": 2,
    "batch_size": 16,
    "rnn_layers": [{"units": 4, "dropout": 0.0}],
    "dense_layers": [],
    "lookback_window": 8,
    "forecast_horizon": 3,
}


@pytest.fixture
def model_id(db: Any, settings: Any, sandbox: Any, sine_series: Any) -> str:
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine_series(300))
    return register_model(db, TINY, settings).id


def _jobs(db: Any, model_id: str) -> list[Any]:
    return TrainingJobRepository(db).list_for_model(model_id)


def test_training_completes_with_metrics_artifacts_and_chunks(
    db: Any, settings: Any, model_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHRONOS_COLLECTION_PAGES_PER_CHUNK", "1")
    from chronos_core.settings import get_settings

    get_settings.cache_clear()
    job_id = train_model(model_id, last_n=250)

    job = TrainingJobRepository(db).get(job_id)
    assert job.status is TrainingStatus.COMPLETED
    assert job.error is None
    assert job.sampling_interval_seconds == 900
    # 250 newest of 300 points: offsets 50..299 in pages of at most 100, one page per chunk.
    assert [(c.h_offset, c.h_limit) for c in job.data_collection_jobs] == [
        (50, 100),
        (150, 100),
        (250, 50),
    ]
    assert all(c.status is DataCollectionStatus.COMPLETED for c in job.data_collection_jobs)
    assert [c.data_points_collected for c in job.data_collection_jobs] == [100, 100, 50]
    assert job.total_data_points_requested == job.total_data_points_collected == 250
    for field in (
        "start_time",
        "end_time",
        "data_collection_start",
        "data_collection_end",
        "preprocessing_start",
        "preprocessing_end",
        "training_start",
        "training_end",
    ):
        assert getattr(job, field) is not None, field

    metrics = job.metrics
    assert metrics is not None
    assert metrics.mae is not None and metrics.rmse is not None and metrics.r2 is not None
    assert metrics.best_epoch is not None and metrics.epochs_trained == 2
    assert "naive" in metrics.baselines
    assert metrics.skill is not None
    assert len(metrics.per_step_mae) == 3
    assert len(metrics.loss_history["loss"]) == 2

    model = ModelRepository(db).get(model_id)
    assert model.status is ModelStatus.TRAINED
    assert model.has_successful_training

    store = ArtifactStore(db)
    infos = {info.artifact_type: info for info in store.list_for_job(job_id)}
    assert set(infos) == {t.value for t in ArtifactType} or set(infos) == set(ArtifactType)
    raw_files = list(db["model_artifacts.files"].find({"metadata.training_job_id": job_id}))
    assert len(raw_files) == 4
    for raw in raw_files:
        assert raw["metadata"]["model_id"] == model_id
        assert raw["metadata"]["artifact_type"] in {t.value for t in ArtifactType}
        assert raw["metadata"]["content_type"]

    # The model loads back in safe mode and reproduces its stored test predictions.
    network = load_network(store.download(job.model_artifact_id or ""))
    x_scaler = StandardScaler.from_dict(json.loads(store.download(job.x_scaler_artifact_id or "")))
    y_scaler = StandardScaler.from_dict(json.loads(store.download(job.y_scaler_artifact_id or "")))
    metadata = json.loads(store.download(job.metadata_artifact_id or ""))
    assert metadata["lookback_window"] == 8 and metadata["forecast_horizon"] == 3
    assert metadata["model_config"]["dense_layers"] == []
    assert "tensorflow" in metadata["library_versions"]
    assert metadata["plots"]["loss_curve_png_base64"]
    stored = metadata["evaluation"]["test_predictions"]
    first_stored = np.array(stored["predicted"][0])
    assert np.asarray(stored["actual"][0]).shape == (3,)
    predicted_again = _predict_first_test_window(network, y_scaler)
    np.testing.assert_allclose(predicted_again, first_stored, rtol=1e-4, atol=1e-4)
    assert x_scaler.to_dict()["mean"] == y_scaler.to_dict()["mean"]


def test_explicit_lookback_and_last_n_are_honoured_and_recorded(
    db: Any, settings: Any, model_id: str
) -> None:
    job = TrainingJobRepository(db).get(train_model(model_id, last_n=250))
    assert job.status is TrainingStatus.COMPLETED
    assert (job.last_n, job.last_n_chosen) == (250, False)
    assert job.lookback_window_used == 8
    assert job.network_inputs is not None and job.network_inputs["anchor"] == "last_value"
    assert job.seasons == []  # 250 quarter-hours hold fewer than three days


def test_unset_lookback_and_last_n_are_chosen_from_the_data_and_the_seasons_stored(
    db: Any, settings: Any, sandbox: Any, sine_series: Any
) -> None:
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine_series(900))
    definition = {key: value for key, value in TINY.items() if key != "lookback_window"}
    model_id = register_model(db, {**definition, "epochs": 1}, settings).id
    assert ModelRepository(db).get(model_id).lookback_window is None

    job = TrainingJobRepository(db).get(train_model(model_id))
    assert job.status is TrainingStatus.COMPLETED, job.error
    # Ten weeks of quarter-hours were asked for; the sandbox holds 900 points.
    assert (job.last_n, job.last_n_chosen) == (6_720, True)
    assert job.total_data_points_collected == 900
    assert [(s["name"], s["steps"]) for s in job.seasons] == [("day", 96)]
    # Three days (the anchor averages them) plus the 96 newest points the recurrent layer reads.
    assert job.lookback_window_used == 3 * 96 + 96
    assert job.network_inputs == {
        "lookback_window": 384,
        "lookback_chosen_from_data": True,
        "anchor": "seasonal_naive",
        "anchor_season_steps": 96,
        "season_cycles": 3,
        "recent_steps": 96,
        "reference_seasons": [],
    }
    store = ArtifactStore(db)
    metadata = json.loads(store.download(job.metadata_artifact_id or ""))
    assert metadata["lookback_window"] == 384
    assert metadata["model_config"]["lookback_window"] is None
    assert metadata["seasons"] == job.seasons
    assert metadata["network_inputs"] == job.network_inputs
    network = load_network(store.download(job.model_artifact_id or ""))
    assert network.input_shape[1] == 384

    from chronos_core.training.report import summary_markdown

    report = summary_markdown(job, ModelRepository(db).get(model_id))
    assert "lookback 384 (chosen from the data)" in report
    assert "seasons detected: day (96 points" in report


def _predict_first_test_window(network: Any, y_scaler: Any) -> Any:
    """Re-create the first test window from the seeded series and predict it again."""
    import pandas as pd

    from chronos_core.ml.preprocessing import prepare

    index = pd.date_range("2024-01-01", periods=300, freq="15min", tz="UTC")
    steps = np.arange(300)
    values = np.round(20 + 3 * np.sin(2 * np.pi * steps * 15 / (24 * 60)) + 0.1 * np.cos(steps), 3)
    series = pd.Series(values, index=index).iloc[-250:]
    prepared = prepare(
        series, lookback_window=8, forecast_horizon=3, validation_ratio=0.15, test_ratio=0.15
    )
    scaled = predict_windows(network, prepared.x_test[:1])
    return y_scaler.inverse_transform(scaled)[0]


def test_too_little_data_fails_clearly_and_restores_the_model(
    db: Any, settings: Any, sandbox: Any, sine_series: Any
) -> None:
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine_series(12))
    model_id = register_model(db, TINY, settings).id
    with pytest.raises(Exception, match="needs at least"):
        train_model(model_id, last_n=500)
    (job,) = _jobs(db, model_id)
    assert job.status is TrainingStatus.FAILED
    assert "STH-Comet has 12 points" in (job.error or "")
    assert job.error_details and job.error_details["required"] > 12
    assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT
    assert ArtifactStore(db).list_for_model(model_id) == []


def test_non_numeric_history_fails_with_the_needed_and_found_counts(
    db: Any, settings: Any, sandbox: Any
) -> None:
    sandbox.sth.seed(
        TENANT, "Room", "Room1", "temperature",
        [(f"2024-01-01T{h:02d}:00:00Z", "abc") for h in range(24)] * 1,
    )  # fmt: skip
    model_id = register_model(
        db, {**TINY, "lookback_window": 2, "forecast_horizon": 1}, settings
    ).id
    with pytest.raises(Exception, match="points"):
        train_model(model_id, last_n=24)
    (job,) = _jobs(db, model_id)
    assert job.status is TrainingStatus.FAILED
    assert job.data_collection_jobs[0].dropped_values == 24
    assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT


def test_a_chunk_that_keeps_failing_fails_the_job_naming_the_chunk(
    db: Any, settings: Any, model_id: str, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHRONOS_HTTP_RETRIES", "0")
    from chronos_core.settings import get_settings

    get_settings.cache_clear()
    # The count request passes (a zero delay); every page read after it answers 500.
    sandbox.sth.inject_faults(Fault.delay(0), path_contains="temperature")
    sandbox.sth.inject_faults(
        Fault.server_error(500), repeat=50, method="GET", path_contains="temperature"
    )
    with pytest.raises(Exception, match=r"collection chunk 0 \(h_offset 50, h_limit 250\) failed"):
        train_model(model_id, last_n=250)
    (job,) = _jobs(db, model_id)
    assert job.status is TrainingStatus.FAILED
    assert "collection chunk 0" in (job.error or "")
    assert job.data_collection_jobs[0].status is DataCollectionStatus.FAILED
    assert "500" in (job.data_collection_jobs[0].error or "")
    assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT
    assert ArtifactStore(db).list_for_model(model_id) == []
    assert not any(c.status.value in ("pending", "in_progress") for c in job.data_collection_jobs)


def _cancel_when(db: Any, model_id: str, status: TrainingStatus) -> threading.Thread:
    def in_status() -> Any:
        jobs = TrainingJobRepository(db).list_for_model(model_id)
        return jobs[0] if jobs and jobs[0].status is status else None

    def watch() -> None:
        request_cancel(db, wait_for(in_status, f"the training job to be {status.value}").id)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _assert_cancelled(db: Any, model_id: str) -> None:
    (job,) = _jobs(db, model_id)
    assert job.status is TrainingStatus.CANCELLED
    assert job.end_time is not None
    assert not any(c.status.value in ("pending", "in_progress") for c in job.data_collection_jobs)
    assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT
    assert ArtifactStore(db).list_for_model(model_id) == []


def test_cancel_during_collection(
    db: Any, settings: Any, model_id: str, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHRONOS_COLLECTION_PAGES_PER_CHUNK", "1")
    monkeypatch.setenv("CHRONOS_STH_MAX_PAGE_SIZE", "10")
    from chronos_core.settings import get_settings

    get_settings.cache_clear()
    sandbox.sth.inject_faults(Fault.delay(0.2), repeat=40, path_contains="temperature")
    watcher = _cancel_when(db, model_id, TrainingStatus.COLLECTING_DATA)
    with pytest.raises(CancelledRun):
        train_model(model_id, last_n=250)
    watcher.join()
    _assert_cancelled(db, model_id)


def test_cancel_during_preprocessing(
    db: Any, settings: Any, model_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chronos_core.training.preparation as preparation

    original = preparation.prepare_regular

    def prepare_then_cancel(*args: Any, **kwargs: Any) -> Any:
        (job,) = _jobs(db, model_id)
        cancel_training(job.id)  # the cancel-training flow, while preprocessing runs
        return original(*args, **kwargs)

    monkeypatch.setattr(preparation, "prepare_regular", prepare_then_cancel)
    with pytest.raises(CancelledRun):
        train_model(model_id, last_n=250)
    _assert_cancelled(db, model_id)


def test_cancel_during_training_between_epochs(db: Any, settings: Any, sandbox: Any) -> None:
    rng = np.random.default_rng(0)
    import pandas as pd

    index = pd.date_range("2024-01-01", periods=400, freq="15min", tz="UTC")
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", pd.Series(rng.normal(size=400), index))
    model_id = register_model(
        db, {**TINY, "epochs": 500, "early_stopping_patience": 500}, settings
    ).id
    watcher = _cancel_when(db, model_id, TrainingStatus.TRAINING)
    started = time.monotonic()
    with pytest.raises(CancelledRun):
        train_model(model_id, last_n=400)
    watcher.join()
    assert time.monotonic() - started < 120
    _assert_cancelled(db, model_id)
    (job,) = _jobs(db, model_id)
    assert job.training_start is not None and job.training_end is not None


def test_training_again_keeps_each_jobs_artifacts(db: Any, settings: Any, model_id: str) -> None:
    first = train_model(model_id, last_n=250)
    second = train_model(model_id, last_n=250)
    store = ArtifactStore(db)
    first_ids = {i.id for i in store.list_for_job(first)}
    second_ids = {i.id for i in store.list_for_job(second)}
    assert len(first_ids) == len(second_ids) == 4
    assert first_ids.isdisjoint(second_ids)
    for job_id in (first, second):
        job = TrainingJobRepository(db).get(job_id)
        assert set(job.artifact_ids) == {i.id for i in store.list_for_job(job_id)}


def test_a_second_training_while_one_is_active_is_refused(
    db: Any, settings: Any, model_id: str
) -> None:
    from chronos_core.services.training_jobs import start_training_job

    active = start_training_job(db, model_id, 250)
    with pytest.raises(Exception, match="already has an active training job"):
        train_model(model_id, last_n=250)
    assert [j.id for j in _jobs(db, model_id)] == [active.id]


def test_runner_cancellation_hook_closes_the_runs_job(
    db: Any, settings: Any, model_id: str
) -> None:
    from chronos_core.services.training_jobs import start_training_job

    job = start_training_job(db, model_id, 250, flow_run_id="5f1f0f52-0a35-4f43-9f61-5f3c1d6a4e11")

    class FlowRun:
        id = "5f1f0f52-0a35-4f43-9f61-5f3c1d6a4e11"

    on_run_cancelled(flow=None, flow_run=FlowRun(), state=None)  # type: ignore[arg-type]
    after = TrainingJobRepository(db).get(job.id)
    assert after.status is TrainingStatus.CANCELLED
    assert ModelRepository(db).get(model_id).status is ModelStatus.DRAFT


@pytest.mark.parametrize("bad", ["not-a-uuid", "abc$def", "a.b"])
def test_bad_model_ids_are_refused_without_writing(db: Any, settings: Any, bad: str) -> None:
    with pytest.raises(Exception, match="model_id"):
        train_model(bad, last_n=100)
    assert db["training_jobs"].count_documents({}) == 0


def test_last_n_out_of_range_is_rejected_before_the_run(
    db: Any, settings: Any, model_id: str
) -> None:
    with pytest.raises(Exception, match="last_n"):
        train_model(model_id, last_n=0)
    assert db["training_jobs"].count_documents({}) == 0


def test_a_big_collection_is_planned_in_at_most_max_chunks(settings: Any) -> None:
    from chronos_core.training.collection import MAX_COLLECTION_CHUNKS, pages_per_chunk

    # The configured size wins while it keeps the job under the chunk limit ...
    assert pages_per_chunk(20_000, 20_000, settings) == settings.collection_pages_per_chunk
    # ... a million points (10,000 pages of 100) get bigger chunks, never more than the limit.
    size = pages_per_chunk(2_000_000, 1_000_000, settings)
    assert size > settings.collection_pages_per_chunk
    assert -(-10_000 // size) <= MAX_COLLECTION_CHUNKS


def test_the_cancel_poll_asks_the_database_at_most_once_per_interval(
    db: Any, settings: Any, model_id: str
) -> None:
    from chronos_core.services.training_jobs import start_training_job
    from chronos_core.training import phases
    from chronos_core.training.phases import CancelPoll

    job = start_training_job(db, model_id, 250)
    now = [100.0]
    asked: list[str] = []
    original = phases.cancel_requested

    def counting(database: Any, job_id: str) -> bool:
        asked.append(job_id)
        return original(database, job_id)

    poll = CancelPoll(db, job.id, 0.5, clock=lambda: now[0])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(phases, "cancel_requested", counting)
        assert poll() is False and len(asked) == 1  # the first call asks
        now[0] += 0.4
        assert poll() is False and len(asked) == 1  # within the interval: the last answer
        request_cancel(db, job.id)
        now[0] += 0.2
        assert poll() is True and len(asked) == 2  # interval passed: asks, sees the request
        now[0] += 10
        assert poll() is True and len(asked) == 2  # a seen cancel request is final
        fresh = CancelPoll(db, job.id, 60.0, clock=lambda: now[0])
        assert fresh() is True
        fresh.ask_next_time()
        assert fresh() is True and len(asked) == 3


def test_a_losing_network_gets_a_verdict_that_says_so(db: Any, settings: Any, sandbox: Any) -> None:
    """An hourly series with a strong daily cycle; the network (1 epoch, 4 units, lookback 6)
    cannot learn it and loses to the seasonal baselines, which read the full history."""
    import pandas as pd

    from chronos_core.training.report import summary_markdown, verdict

    index = pd.date_range("2024-01-01", periods=24 * 16, freq="1h", tz="UTC")
    t = np.arange(index.size)
    rng = np.random.default_rng(5)
    values = 20 + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.1, t.size)
    sandbox.sth.seed(TENANT, "Room", "Room2", "temperature", pd.Series(values, index=index))
    losing = {**TINY, "entity_id": "Room2", "epochs": 1, "lookback_window": 6}
    model_id = register_model(db, losing, settings).id

    job_id = train_model(model_id, last_n=24 * 16)

    job = TrainingJobRepository(db).get(job_id)
    assert job.status is TrainingStatus.COMPLETED
    metrics = job.metrics
    assert metrics is not None and metrics.backtest is not None
    backtest = metrics.backtest
    # The statistical baseline is in the job document, next to the seasonal naive.
    assert "mstl" in backtest["baselines"] and "mstl" in metrics.baselines
    # 16 days: a week of history precedes every test origin, though the lookback is 6 points.
    assert {"naive", "seasonal_naive_day", "seasonal_naive_week"} <= set(backtest["baselines"])
    best = backtest["best_baseline"]
    assert best in ("mstl", "seasonal_naive_day", "seasonal_naive_week")
    assert backtest["best_forecaster"] == best and backtest["beats_every_baseline"] is False
    assert metrics.skill == backtest["skill"] and metrics.best_baseline == best
    assert backtest["skill"] < 0
    model_mae = backtest["model"]["mae"]
    best_mae = backtest["baselines"][best]["mae"]
    assert model_mae == metrics.mae and len(backtest["model"]["per_step_rmse"]) == 3
    # The verdict says it loses, to whom and by how much.
    text = verdict(job)
    assert text == backtest["verdict"]
    assert text.startswith("The model does NOT beat every baseline")
    from chronos_core.ml.baselines import baseline_label

    assert f"the best forecaster is {baseline_label(best)}" in text
    assert f"{model_mae / best_mae - 1:.1%} higher" in text
    assert "It loses to: " in text and "beats every baseline" not in text.replace(
        "does NOT beat every baseline", ""
    )
    model = ModelRepository(db).get(model_id)
    assert text in summary_markdown(job, model)
    # Intervals: levels, coverage on the test origins, half-widths in the metadata artifact.
    intervals = metrics.intervals
    assert intervals is not None and intervals["levels"] == [80, 95]
    assert set(intervals["coverage"]) == {"80", "95"}
    assert all(0.0 <= value <= 1.0 for value in intervals["coverage"].values())
    metadata = json.loads(ArtifactStore(db).download(job.metadata_artifact_id or ""))
    widths = metadata["intervals"]["half_widths"]
    assert len(widths["80"]) == 3
    assert all(a <= b for a, b in zip(widths["80"], widths["95"], strict=True))
