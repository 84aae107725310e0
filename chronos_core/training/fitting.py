"""Step 3, ``training``: build the LSTM/GRU network and fit it on the prepared windows."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import TrainingStatus
from chronos_core.ml import tf_runtime
from chronos_core.ml.evaluation import statistical_baseline
from chronos_core.ml.fitting import fit_network
from chronos_core.ml.model_io import serialize_network
from chronos_core.ml.rnn import build_network
from chronos_core.settings import Settings
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.training.phases import CancelPoll, enter_phase
from chronos_core.training.preparation import load_network_inputs, load_prepared
from chronos_core.training.workspace import JobWorkspace

Db = Database[dict[str, Any]]
EpochCallback = Callable[[int, int, dict[str, float | None]], None]
NETWORK_FILE = "network.keras"
STATISTICAL_BASELINE = "statistical-baseline"
CANCEL_POLL_SECONDS = 2.0


def fit_model(
    db: Db,
    job_id: str,
    workspace: JobWorkspace,
    settings: Settings,
    on_epoch_end: EpochCallback | None = None,
) -> dict[str, Any]:
    """Fit the network in the calling thread; returns the fit summary (losses, best epoch).

    The job moves ``preprocessing`` → ``training``. A cancel request is noticed between epochs
    (and within long epochs) and raises ``Cancelled``. The evaluation's statistical baseline,
    which needs no network, is computed in a background thread meanwhile; the fitted network and
    that result are kept in the workspace for the evaluation step.
    """
    job = enter_phase(
        db,
        job_id,
        TrainingStatus.TRAINING,
        TrainingStatus.PREPROCESSING,
        training_start=utc_now(),
    )
    model = ModelRepository(db).get(job.model_id)
    tf_runtime.configure(threads=settings.tf_threads, seed=settings.random_seed)
    prepared = load_prepared(workspace)
    inputs = load_network_inputs(workspace)
    network = build_network(
        model.model_type,
        prepared.lookback_window,
        model.forecast_horizon,
        model.rnn_layers,
        model.dense_layers,
        model.learning_rate,
        seed=settings.random_seed,
        season_steps=inputs.anchor_season,
        season_cycles=inputs.season_cycles,
        recent_steps=inputs.recent_steps,
        other_seasons=inputs.reference_seasons,
    )
    # Started once the network is built: the baseline's Python work holds the GIL, and building
    # beside it took 1.1 s instead of 0.1 s.
    pool = ThreadPoolExecutor(1, thread_name_prefix=f"chronos-baseline-{job_id[:8]}")
    workspace.keep(
        STATISTICAL_BASELINE,
        pool.submit(statistical_baseline, prepared, settings.backtest_max_origins),
    )
    pool.shutdown(wait=False)  # the thread ends with its task; the evaluation step waits for it
    should_stop = CancelPoll(db, job_id, CANCEL_POLL_SECONDS)

    def epoch_done(epoch: int, logs: dict[str, float | None]) -> None:
        should_stop.ask_next_time()  # always check for a cancel request at an epoch boundary
        if on_epoch_end is not None:
            on_epoch_end(epoch, model.epochs, logs)

    result = fit_network(
        network,
        prepared,
        epochs=model.epochs,
        batch_size=model.batch_size,
        early_stopping_patience=model.effective_patience,
        should_stop=should_stop,
        on_epoch_end=epoch_done,
    )
    workspace.save_bytes(NETWORK_FILE, serialize_network(network))
    workspace.keep(NETWORK_FILE, network)
    summary = result.to_dict()
    workspace.save_json("fit", summary)
    return summary
