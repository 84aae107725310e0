"""Scheduler benchmark: N trained models due at once, one ``run-due-forecasts`` sweep.

One small model is trained by the real ``train-model`` flow; N models are then registered for N
entities, each with a completed training job and its *own* copy of the artifacts in GridFS (so the
first sweep loads N distinct models), and recurring forecasts are enabled for all of them. The
benchmark runs:

1. a first sweep with every job due and an empty model cache (N model loads);
2. ``--warm`` more sweeps (2 by default) with every job due again, the models coming from the
   process cache: the steady state of recurring forecasts.

For each it reports the wall time, forecasts per second, model loads and outcomes, and checks
that every forecast reached Orion. The FIWARE sandbox runs in a child process (its STH-Comet
holds each entity's history; its Orion notifies its STH-Comet), the database is a temporary
embedded one and Prefect runs its test harness.

``--breakdown`` also reports where the time went: the CPU seconds of the database server, the
FIWARE sandbox, the Prefect test server and this process (the flow and its batch threads), and
the database commands sent, with the sum of their round trips, for each sweep and for the bare
I/O of the same forecasts (as ``bench/serving_bench.py`` measures it), measured right after each
warm sweep, and each warm sweep's wall time over that of the bare I/O after it (with their
median: the machine's speed drifts within a run, so each ratio is taken side by side).

    .venv/bin/python bench/scheduler_bench.py --models 200
    .venv/bin/python bench/scheduler_bench.py --models 200 --cpus 2 --concurrency 4
    .venv/bin/python bench/scheduler_bench.py --models 1000 --breakdown --warm 4

Run it from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TENANT = ("smart", "/")
HISTORY_POINTS = 400
LOOKBACK = 24
HORIZON = 4


def series(points: int, phase: float) -> pd.Series:
    """A 15-minute temperature-like series ending now."""
    end = pd.Timestamp.now(tz="UTC").floor("15min")
    index = pd.date_range(end=end, periods=points, freq="15min")
    steps = np.arange(points)
    values = 20 + 3 * np.sin(2 * np.pi * steps / 96 + phase)
    return pd.Series(np.round(values, 3), index=index)


def entity(i: int) -> str:
    return f"Room{i:04d}"


# --------------------------------------------------------------------------- sandbox


def _serve_sandbox(models: int, connection: Any, host: str = "127.0.0.1") -> None:
    """Child process: serve a seeded sandbox on ``host`` until the parent closes the pipe."""
    from chronos_core.fiware.tenant import Tenant
    from fiware_sandbox import FiwareSandbox

    with FiwareSandbox(host) as sandbox:
        tenant = Tenant(*TENANT)
        for i in range(models + 1):
            sandbox.sth.seed(tenant, "Room", entity(i), "temperature", series(HISTORY_POINTS, i))
        connection.send(sandbox.urls)
        with contextlib.suppress(EOFError):
            connection.recv()


# --------------------------------------------------------------------------- setup


def clone_models(db: Any, model_id: str, job_id: str, count: int) -> list[str]:
    """``count`` models for Room0001.., each with a completed job and its own artifacts: the
    trained files uploaded again through ``ArtifactStore`` with a new owner (and a metadata
    file naming it)."""
    from chronos_core.domain.enums import ArtifactType
    from chronos_core.domain.identifiers import new_id
    from chronos_core.domain.model import Model
    from chronos_core.storage.artifact_store import CORE_METADATA_KEYS, ArtifactStore
    from chronos_core.storage.model_repository import ModelRepository
    from chronos_core.storage.training_job_repository import TrainingJobRepository

    models = ModelRepository(db)
    jobs = TrainingJobRepository(db)
    store = ArtifactStore(db)
    model = models.get(model_id)
    job = jobs.get(job_id)
    infos = {str(info.artifact_type): info for info in store.list_for_job(job_id)}
    blobs = {kind: store.download(info.id) for kind, info in infos.items()}
    metadata = json.loads(blobs[ArtifactType.METADATA.value])

    def copy(kind: str, payload: bytes, clone_id: str, clone_job_id: str) -> str:
        info = infos[kind]
        return store.upload(
            payload,
            f"{clone_id}_{kind}",
            model_id=clone_id,
            training_job_id=clone_job_id,
            artifact_type=kind,
            content_type=info.content_type or "application/octet-stream",
            extra={k: v for k, v in info.metadata.items() if k not in CORE_METADATA_KEYS},
        )

    job_ids = []
    for i in range(1, count + 1):
        clone: Model = model.model_copy(update={"id": new_id(), "entity_id": entity(i)})
        models.insert(clone)
        clone_job_id = new_id()
        meta = {
            **metadata,
            "model_id": clone.id,
            "training_job_id": clone_job_id,
            "entity_id": entity(i),
        }
        data = {**blobs, ArtifactType.METADATA.value: json.dumps(meta).encode()}
        ids = {kind: copy(kind, payload, clone.id, clone_job_id) for kind, payload in data.items()}
        jobs.insert(
            job.model_copy(
                update={
                    "id": clone_job_id,
                    "model_id": clone.id,
                    "model_artifact_id": ids[ArtifactType.MODEL.value],
                    "x_scaler_artifact_id": ids[ArtifactType.X_SCALER.value],
                    "y_scaler_artifact_id": ids[ArtifactType.Y_SCALER.value],
                    "metadata_artifact_id": ids[ArtifactType.METADATA.value],
                }
            )
        )
        job_ids.append(clone_job_id)
    return job_ids


#: The small network every benchmark trains once and copies.
DEFINITION = {
    "model_type": "lstm",
    "feature": "temperature",
    "entity_type": "Room",
    "entity_id": entity(0),
    "epochs": 1,
    "batch_size": 64,
    "rnn_layers": [{"units": 8, "dropout": 0.0}],
    "dense_layers": [],
    "lookback_window": LOOKBACK,
    "forecast_horizon": HORIZON,
}


def train_and_clone(db: Any, count: int, settings: Any) -> tuple[str, list[str]]:
    """Train :data:`DEFINITION` with the real ``train-model`` flow (needs a Prefect API), copy
    it into ``count`` models with their own artifacts and enable their recurring forecasts
    (every 60 s). Returns the trained job's id and the copies' job ids."""
    from chronos_core.forecasting.recurring import enable_forecasts
    from chronos_core.services.models import register_model
    from flows.training import train_model

    begin = time.perf_counter()
    model_id = register_model(db, DEFINITION).id
    job_id = train_model(model_id, last_n=HISTORY_POINTS)
    print(f"trained one {DEFINITION['model_type']} model in {time.perf_counter() - begin:.1f} s")
    begin = time.perf_counter()
    job_ids = clone_models(db, model_id, job_id, count)
    for clone_job_id in job_ids:
        enable_forecasts(db, clone_job_id, 60, settings=settings)
    print(
        f"{len(job_ids)} models with their own artifacts registered and enabled in "
        f"{time.perf_counter() - begin:.1f} s"
    )
    return job_id, job_ids


def make_all_due(db: Any) -> None:
    from chronos_core.clock import utc_now
    from chronos_core.storage.schema import TRAINING_JOBS

    db[TRAINING_JOBS].update_many(
        {"prediction_config.enabled": True}, {"$set": {"next_prediction_at": utc_now()}}
    )


def make_none_due(db: Any) -> None:
    """Move every job's next forecast a year on: no sweep finds anything due."""
    from chronos_core.clock import utc_now
    from chronos_core.storage.schema import TRAINING_JOBS

    later = utc_now().replace(year=utc_now().year + 1)
    db[TRAINING_JOBS].update_many({}, {"$set": {"next_prediction_at": later}})


# --------------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cores} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


class Breakdown(monitoring.CommandListener):
    """CPU seconds per process and database commands (count, summed round trips) while
    :meth:`measure` runs; registered as a pymongo listener before any client is made."""

    def __init__(self, pids: dict[str, tuple[int, ...]]) -> None:
        self.pids = pids
        self.counts: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.counting = False
        self._lock = threading.Lock()  # the batch threads report their commands at once
        monitoring.register(self)

    def started(self, event: Any) -> None:
        pass

    def succeeded(self, event: Any) -> None:
        if self.counting:
            with self._lock:
                self.counts[event.command_name] += 1
                self.seconds[event.command_name] += event.duration_micros / 1e6

    failed = succeeded

    def cpu(self) -> dict[str, float]:
        from training_bench import helper_cpu

        return {name: helper_cpu(pids) for name, pids in self.pids.items()} | {
            "this process": time.process_time()
        }

    @contextlib.contextmanager
    def measure(self, into: dict[str, Any]) -> Any:
        self.counts.clear()
        self.seconds.clear()
        before = self.cpu()
        self.counting = True
        try:
            yield
        finally:
            self.counting = False
            after = self.cpu()
            into["cpu_seconds"] = {k: round(after[k] - before[k], 2) for k in after}
            into["database_commands"] = {
                name: {"count": count, "round_trip_seconds": round(self.seconds[name], 2)}
                for name, count in sorted(self.counts.items())
            }
            print(f"  CPU s: {into['cpu_seconds']}; database commands: {into['database_commands']}")


def sweep(label: str, breakdown: Breakdown | None = None) -> dict[str, Any]:
    from flows.predictions import run_due_forecasts

    measured: dict[str, Any] = {}
    started = time.perf_counter()
    with breakdown.measure(measured) if breakdown else contextlib.nullcontext():
        report = run_due_forecasts(limit=10_000)
    wall = time.perf_counter() - started
    report.pop("runs")
    report["wall_seconds"] = round(wall, 2)
    report["forecasts_per_second_wall"] = round(report["forecasts"] / wall, 2) if wall else None
    print(
        f"{label}: {report['forecasts']} forecasts ({report['succeeded']} published, "
        f"{report['publication_failed']} not published, {report['failed']} failed) in "
        f"{wall:.1f} s wall ({report['seconds']:.1f} s inside the flow): "
        f"{report['forecasts_per_second_wall']} forecasts/s; model loads: "
        f"{report['model_loads']}, cache hits: {report['cache_hits']}"
    )
    return report | measured


def bare_io_breakdown(db: Any, job_ids: list[str], breakdown: Breakdown) -> dict[str, Any]:
    """The same forecasts' bare I/O (``serving_bench.bare_io``: each one's STH-Comet read,
    forecast insert, Orion upsert and one job update, no model), with its breakdown."""
    from serving_bench import bare_io

    measured: dict[str, Any] = {}
    seconds, count = bare_io(db, job_ids, timed=lambda: breakdown.measure(measured))
    print(f"bare I/O: {count} forecasts in {seconds:.1f} s")
    return {"wall_seconds": round(seconds, 2), "forecasts": count} | measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=None, help="forecasts in parallel")
    parser.add_argument("--cpus", type=int, default=None, help="pin this process to N CPUs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--warm", type=int, default=2, help="warm sweeps after the cold one")
    parser.add_argument(
        "--breakdown", action="store_true", help="CPU per process and database commands per sweep"
    )
    args = parser.parse_args()
    if args.warm < 1:
        parser.error(f"--warm must be at least 1, got {args.warm}")
    if args.cpus:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cpus]))

    work = Path(tempfile.mkdtemp(prefix="chronos-scheduler-bench-"))
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")

    started = time.perf_counter()
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_sandbox, args=(args.models, child), daemon=True
    )
    process.start()
    urls = parent.recv()
    print(
        f"sandbox seeded with {args.models + 1} entities in {time.perf_counter() - started:.1f} s"
    )

    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server

    server = ensure_embedded_server(work / "db", port=0, exit_with_parent=os.getpid())
    os.environ.update(
        {
            "CHRONOS_MONGODB_URI": server.uri,
            "CHRONOS_MONGODB_DATABASE": "chronos_bench",
            "CHRONOS_DATA_DIR": str(work / "data"),
            "CHRONOS_STH_URL": urls["sth_url"],
            "CHRONOS_ORION_URL": urls["orion_url"],
            "CHRONOS_IOT_AGENT_URL": urls["iot_agent_url"],
            "CHRONOS_MIN_PREDICTION_INTERVAL_SECONDS": "60",
        }
    )
    if args.concurrency:
        os.environ["CHRONOS_FORECAST_CONCURRENCY"] = str(args.concurrency)

    from prefect.testing.utilities import prefect_test_harness

    from chronos_core.fiware.orion import OrionClient
    from chronos_core.fiware.tenant import Tenant
    from chronos_core.settings import get_settings
    from chronos_core.storage.database import get_database

    get_settings.cache_clear()
    settings = get_settings()
    results: dict[str, Any] = {
        "machine": machine(),
        "models": args.models,
        "forecast_concurrency": settings.forecast_concurrency,
        "lookback_window": LOOKBACK,
        "forecast_horizon": HORIZON,
    }
    assert process.pid is not None
    breakdown = (
        Breakdown({"database server": (server.pid,), "FIWARE sandbox": (process.pid,)})
        if args.breakdown
        else None
    )
    with prefect_test_harness(server_startup_timeout=240):
        if breakdown:
            from training_bench import helper_pids

            known = {server.pid, process.pid}
            breakdown.pids["Prefect test server and other children"] = tuple(
                p for p in helper_pids() if p not in known
            )
        db = get_database()
        _, job_ids = train_and_clone(db, args.models, settings)
        results["first_sweep"] = sweep("sweep 1 (cold cache)", breakdown)
        warm_sweeps: list[dict[str, Any]] = []
        bare_io: list[dict[str, Any]] = []
        for number in range(2, args.warm + 2):
            make_all_due(db)
            warm_sweeps.append(sweep(f"sweep {number} (all due again)", breakdown))
            if breakdown:
                bare_io.append(bare_io_breakdown(db, job_ids, breakdown))
        results["warm_sweeps"] = warm_sweeps
        if breakdown:
            results["bare_io"] = bare_io
            ratios = [
                round(warm["wall_seconds"] / bare["wall_seconds"], 2)
                for warm, bare in zip(warm_sweeps, bare_io, strict=True)
            ]
            results["warm_sweeps_over_bare_io"] = ratios
            print(
                f"warm sweeps / the bare I/O right after each: {ratios} "
                f"(median {statistics.median(ratios):.2f})"
            )
        with OrionClient(settings=settings) as orion:
            published = orion.count_entities(Tenant(*TENANT), entity_type="Forecast")
        results["forecast_entities_in_orion"] = published
        print(f"forecast entities in Orion: {published}")
    parent.send("stop")
    process.join(timeout=10)
    stop_embedded_server(work / "db")
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
