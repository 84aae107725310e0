"""Training benchmark: the whole ``train-model`` flow against a plain Keras ``fit``.

Both train the same architecture on the same arrays (the flow also collects the points from the
FIWARE sandbox's STH-Comet page by page, prepares them, evaluates against the baselines and stores
the artifacts in GridFS). Reports the wall-time ratio flow / plain fit, measured side by side in
one process, and the peak resident memory of the flow run.

    .venv/bin/python bench/training_bench.py --points 20000 --epochs 5
    .venv/bin/python bench/training_bench.py --points 1000000 --epochs 1 --flow-only

Run it from the repository root. It uses a temporary embedded database and an in-process sandbox.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def series(points: int) -> pd.Series:
    index = pd.date_range("2020-01-01", periods=points, freq="15min", tz="UTC")
    steps = np.arange(points)
    rng = np.random.default_rng(0)
    values = 20 + 3 * np.sin(2 * np.pi * steps / 96) + rng.normal(0, 0.2, points)
    return pd.Series(np.round(values, 3), index=index)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--lookback", type=int, default=48)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--flow-only", action="store_true", help="skip the plain Keras fit")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="chronos-bench-"))
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

    from chronos_core.sandbox import FiwareSandbox
    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server

    server = ensure_embedded_server(work / "db", port=0, exit_with_parent=os.getpid())
    sandbox = FiwareSandbox().start()
    os.environ.update(
        {
            "CHRONOS_MONGODB_URI": server.uri,
            "CHRONOS_MONGODB_DATABASE": "chronos_bench",
            "CHRONOS_DATA_DIR": str(work / "data"),
            "CHRONOS_STH_URL": sandbox.sth_url,
            "CHRONOS_ORION_URL": sandbox.orion_url,
            "CHRONOS_IOT_AGENT_URL": sandbox.iot_agent_url,
        }
    )
    from prefect.testing.utilities import prefect_test_harness

    from chronos_core.fiware.tenant import Tenant
    from chronos_core.ml import tf_runtime
    from chronos_core.ml.fitting import fit_network
    from chronos_core.ml.preprocessing import prepare
    from chronos_core.ml.rnn import build_network
    from chronos_core.services.models import register_model
    from chronos_core.settings import get_settings
    from chronos_core.storage.database import get_database
    from flows.training import train_model

    get_settings.cache_clear()
    settings = get_settings()
    data = series(args.points)
    sandbox.sth.seed(Tenant("smart", "/"), "Room", "Room1", "temperature", data)
    definition = {
        "model_type": "lstm",
        "feature": "temperature",
        "entity_type": "Room",
        "entity_id": "Room1",
        "epochs": args.epochs,
        "early_stopping_patience": args.epochs,
        "batch_size": 64,
        "rnn_layers": [{"units": args.units, "dropout": 0.0}],
        "dense_layers": [],
        "lookback_window": args.lookback,
        "forecast_horizon": args.horizon,
    }
    tf_runtime.configure(threads=settings.tf_threads, seed=settings.random_seed)
    rss_before = peak_rss_mb()

    plain_seconds = None
    if not args.flow_only:
        started = time.perf_counter()
        prepared = prepare(
            data, lookback_window=args.lookback, forecast_horizon=args.horizon,
            validation_ratio=0.15, test_ratio=0.15,
        )  # fmt: skip
        network = build_network(
            "lstm", args.lookback, args.horizon, [_Layer(args.units)], [], 0.001,
            seed=settings.random_seed,
        )  # fmt: skip
        fit_network(network, prepared, epochs=args.epochs, batch_size=64,
                    early_stopping_patience=args.epochs)  # fmt: skip
        plain_seconds = time.perf_counter() - started

    with prefect_test_harness(server_startup_timeout=240):
        model_id = register_model(get_database(), definition).id
        started = time.perf_counter()
        job_id = train_model(model_id, last_n=args.points)
        flow_seconds = time.perf_counter() - started
        from chronos_core.storage.training_job_repository import TrainingJobRepository

        job = TrainingJobRepository(get_database()).get(job_id)

    print(f"points: {args.points}, epochs: {args.epochs}, lstm units: {args.units}, "
          f"lookback {args.lookback}, horizon {args.horizon}, job {job_id}")  # fmt: skip
    if plain_seconds is not None:
        print(f"plain Keras (prepare + fit): {plain_seconds:.1f} s")
    print(f"train-model flow (collect + prepare + fit + evaluate + store): {flow_seconds:.1f} s")
    if plain_seconds is not None:
        print(f"ratio flow / plain: {flow_seconds / plain_seconds:.2f}")
    phases = [
        ("start -> collection", job.start_time, job.data_collection_start),
        ("collection", job.data_collection_start, job.data_collection_end),
        ("preprocessing", job.preprocessing_start, job.preprocessing_end),
        ("preprocessing -> fit", job.preprocessing_end, job.training_start),
        ("fit + evaluate + store", job.training_start, job.training_end),
    ]
    for name, begin, end in phases:
        if begin and end:
            print(f"  {name}: {(end - begin).total_seconds():.1f} s")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (before training: {rss_before:.0f} MB)")
    sandbox.stop()
    stop_embedded_server(work / "db")
    return 0


class _Layer:
    def __init__(self, units: int) -> None:
        self.units = units
        self.dropout = 0.0
        self.recurrent_dropout = 0.0


if __name__ == "__main__":
    raise SystemExit(main())
