"""Serving benchmark: N trained models due at once, in the production path.

A real local Prefect server (``prefect server start``, as ``chronos serve`` starts it) and
``PREFECT_API_URL=... chronos serve`` as docs/operations.md tells users to run it: every
deployment served, ``run-due-forecasts`` on its 60 s schedule, each sweep a flow run in its own
process, the batches in the forecast worker that ``chronos serve`` starts. The FIWARE sandbox
runs in its own process, the database is a temporary embedded one. One small model is trained
by the real ``train-model`` flow and copied into N models with their own artifacts (as
``bench/scheduler_bench.py`` does); before each observed scheduled sweep every job is made due.

Reported per sweep: wall time (flow run start to end) and the sweep's own time, forecasts,
forecasts/s, model loads, cache hits, and the largest resident memory of every Chronos process
during the sweep (the ``chronos serve`` runner, the forecast worker, the sweep's flow-run
process). Then, with ``chronos serve`` stopped, the bare I/O cost of the same N forecasts alone:
the STH-Comet read, the Orion upsert and the database writes of each, with the same
concurrency and no model. ``--known K`` also measures the resident memory of a forecast worker
process whose cache holds K distinct models. ``--bare-each`` also measures the bare I/O right
after each sweep (``chronos serve`` idle beside it) and gives each sweep's ratio to it, side by
side. ``--breakdown`` adds the CPU seconds of every process: per sweep (from its flow-run
process's start to its exit), in the bare I/O, and per minute with nothing due (from one empty
sweep's exit to the next one's).

    .venv/bin/python bench/serving_bench.py --models 200 --json serving-200.json
    .venv/bin/python bench/serving_bench.py --models 1000 --sweeps 3 --known 10000

Run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler_bench import (  # noqa: E402
    LOOKBACK,
    _serve_sandbox,
    machine,
    make_all_due,
    make_none_due,
    train_and_clone,
)
from training_bench import process_cpu  # noqa: E402

DEPLOYMENT = "run-due-forecasts/every-minute"
#: Known models loaded through the real weights path by ``--known`` (the rest are copies).
REAL_LOADS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- processes


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
            except OSError:
                continue
            found.extend(children)
            todo.extend(children)
    return found


def role(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if "deployments.forecast_worker" in command:
        return "forecast_worker"
    if "cli.main" in command and "serve" in command:
        return "chronos_serve"
    return "flow_run"


class CpuRoles:
    """CPU seconds per process role: ``chronos serve`` with the flow runs it started and
    reaped, the forecast worker, the Prefect server, the database and the FIWARE sandbox."""

    def __init__(self, serve_pid: int | None, others: dict[str, int]) -> None:
        self.serve_pid = serve_pid
        self.others = others

    def read(self) -> dict[str, float]:
        cpu = {name: process_cpu(pid) for name, pid in self.others.items()}
        if self.serve_pid is not None:
            cpu["chronos_serve_and_flow_runs"] = process_cpu(self.serve_pid, reaped=True)
            workers = [p for p in descendants(self.serve_pid) if role(p) == "forecast_worker"]
            cpu["forecast_worker"] = sum(process_cpu(p) for p in workers)
        return cpu

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        spent = {name: round(after[name] - before.get(name, 0.0), 2) for name in after}
        spent["all"] = round(sum(spent.values()), 2)
        return spent


class MemorySampler:
    """Largest RSS per Chronos process role (serve, forecast worker, flow runs) over time;
    with ``cpu``, also the CPU per role when the sweep's flow-run process first appears."""

    def __init__(self, root_pid: int, every: float = 0.25, cpu: CpuRoles | None = None) -> None:
        self.root_pid = root_pid
        self.every = every
        self.peaks: dict[str, float] = {}
        self.cpu = cpu
        self.cpu_at_flow_run: dict[str, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in [self.root_pid, *descendants(self.root_pid)]:
                value = rss_mb(pid)
                if value is None:
                    continue
                name = role(pid)
                self.peaks[name] = max(self.peaks.get(name, 0.0), value)
                if name == "flow_run" and self.cpu and self.cpu_at_flow_run is None:
                    self.cpu_at_flow_run = self.cpu.read()
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------- Prefect


def forecast_workers() -> int:
    from tasks.forecasting import subscribed_forecast_workers

    return subscribed_forecast_workers()


def finished_sweeps(after: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["every-minute"])),
            flow_run_filter=FlowRunFilter(
                start_time=FlowRunFilterStartTime(after_=after),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(
                        any_=[StateType.COMPLETED, StateType.FAILED, StateType.CRASHED]
                    )
                ),
            ),
            sort=FlowRunSort.START_TIME_ASC,
        )


def sweep_artifact(flow_run_id: Any) -> tuple[list[dict[str, Any]], str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    if not artifacts:
        return [], ""
    data = artifacts[0].data
    rows = cast(list[dict[str, Any]], json.loads(data) if isinstance(data, str) else data)
    return rows, artifacts[0].description or ""


def _wait_for_flow_runs_to_exit(serve_pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(role(p) != "flow_run" for p in descendants(serve_pid)):
            return
        time.sleep(0.1)


def observe_sweep(
    index: int, db: Any, serve_pid: int, timeout: float, cpu: CpuRoles | None = None
) -> dict[str, Any]:
    """Make every job due, then wait for the next scheduled sweep to finish; its figures (with
    ``cpu``, the CPU per role from the flow-run process's start to its exit)."""
    from prefect.types._datetime import now

    marker = now("UTC")
    make_all_due(db)
    deadline = time.monotonic() + timeout
    with MemorySampler(serve_pid, cpu=cpu) as sampler:
        while time.monotonic() < deadline:
            runs = [r for r in finished_sweeps(marker) if r.start_time and r.start_time > marker]
            if runs:
                break
            time.sleep(1.0)
        else:
            raise SystemExit(f"no scheduled sweep finished within {timeout:.0f} s")
        if cpu is not None:
            _wait_for_flow_runs_to_exit(serve_pid)
    cpu_seconds = None
    if cpu is not None and sampler.cpu_at_flow_run is not None:
        cpu_seconds = CpuRoles.spent(sampler.cpu_at_flow_run, cpu.read())
    run = runs[0]
    rows, note = sweep_artifact(run.id)
    match = re.search(r"in ([0-9.]+) s", note)
    wall = (run.end_time - run.start_time).total_seconds() if run.end_time else None
    forecasts = sum(r["outcome"] in ("succeeded", "publication_failed") for r in rows)
    result = {
        "sweep": index,
        "flow_run": str(run.id),
        "state": run.state_type.value if run.state_type else None,
        "executor": "workers" if "(workers)" in note else "flow",
        "wall_s": round(wall, 2) if wall is not None else None,
        "sweep_s": float(match.group(1)) if match else None,
        "forecasts": forecasts,
        "failed": sum(r["outcome"] == "failed" for r in rows),
        "forecasts_per_s": round(forecasts / wall, 2) if wall else None,
        "model_loads": sum(bool(r["model_loaded"]) for r in rows),
        "cache_hits": sum((not r["model_loaded"]) and bool(r["forecast_id"]) for r in rows),
        "rss_mb": {k: round(v, 1) for k, v in sorted(sampler.peaks.items())},
    }
    if cpu_seconds is not None:
        result["cpu_seconds"] = cpu_seconds
    print(
        f"sweep {index} ({result['executor']}): {forecasts} forecasts in {result['wall_s']} s "
        f"(sweep {result['sweep_s']} s), {result['forecasts_per_s']} forecasts/s, model loads "
        f"{result['model_loads']}, cache hits {result['cache_hits']}, RSS MB {result['rss_mb']}"
        + (f", CPU s {cpu_seconds}" if cpu_seconds is not None else ""),
        flush=True,
    )
    return result


def bare_io_beside(
    db: Any,
    job_ids: list[str],
    helpers: dict[str, int],
    sweep: dict[str, Any],
    breakdown: bool,
    serve_pid: int,
) -> dict[str, Any]:
    """The bare I/O of the same forecasts right after a sweep, ``chronos serve`` idle beside
    it (the sweep has just moved every job to its next slot, a minute away): the sweep's wall
    time over it, taken side by side (this host's speed drifts from one hour to the next).
    ``bare_io_overlapped`` says whether the next scheduled sweep started before it ended."""
    cpu: dict[str, float] = {}
    measured = (lambda: _cpu_of(helpers, cpu)) if breakdown else nullcontext
    seconds, _count = bare_io(db, job_ids, timed=measured)
    overlapped = any(role(p) == "flow_run" for p in descendants(serve_pid))
    if overlapped:
        print("  warning: the next sweep started during this bare I/O", flush=True)
    result: dict[str, Any] = {
        "bare_io_after_s": round(seconds, 2),
        "over_bare_io": round(sweep["wall_s"] / seconds, 2) if sweep["wall_s"] else None,
        "bare_io_overlapped": overlapped,
    }
    if breakdown:
        result["bare_io_after_cpu_seconds"] = cpu
    print(
        f"  bare I/O right after: {result['bare_io_after_s']} s, sweep / bare I/O "
        f"{result['over_bare_io']}" + (f", CPU s {cpu}" if breakdown else ""),
        flush=True,
    )
    return result


def _next_sweep_process_done(serve_pid: int, timeout: float = 120.0) -> None:
    """Wait until a sweep's flow-run process has started and been reaped (its CPU is then
    counted in ``chronos serve``'s children's time)."""
    deadline = time.monotonic() + timeout
    while all(role(p) != "flow_run" for p in descendants(serve_pid)):
        if time.monotonic() > deadline:
            raise SystemExit(f"no scheduled sweep started within {timeout:.0f} s")
        time.sleep(0.1)
    _wait_for_flow_runs_to_exit(serve_pid)


def idle_cpu(db: Any, cpu: CpuRoles) -> dict[str, float]:
    """CPU per role per minute with nothing due: what serving costs on its own (the runner's
    polls, the worker's subscription, the server's services, one empty sweep). Measured from
    one sweep process's exit to the next one's, so the window holds exactly one sweep."""
    serve_pid = cpu.serve_pid or 0
    make_none_due(db)
    _wait_for_flow_runs_to_exit(serve_pid)
    _next_sweep_process_done(serve_pid)
    started, before = time.monotonic(), cpu.read()
    _next_sweep_process_done(serve_pid)
    per_minute = 60.0 / (time.monotonic() - started)
    spent = CpuRoles.spent(before, cpu.read())
    spent = {name: round(value * per_minute, 2) for name, value in spent.items()}
    print(f"idle minute, CPU s: {spent}", flush=True)
    return spent


def _child_running(parent: int, command: str) -> int:
    """The pid of ``parent``'s descendant whose command line holds ``command`` (0 if none)."""
    for pid in descendants(parent):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if command in handle.read().replace(b"\0", b" ").decode(errors="replace"):
                    return pid
        except OSError:
            continue
    return 0


@contextmanager
def _cpu_of(helpers: dict[str, int], into: dict[str, float]) -> Iterator[None]:
    """CPU per helper process and this one (which runs the bare I/O) while the block runs."""
    roles = CpuRoles(None, helpers)
    before = roles.read() | {"this_process": time.process_time()}
    try:
        yield
    finally:
        into.update(CpuRoles.spent(before, roles.read() | {"this_process": time.process_time()}))


# --------------------------------------------------------------------------- bare I/O


def bare_io(
    db: Any, job_ids: list[str], timed: Callable[[], ContextManager[Any]] = nullcontext
) -> tuple[float, int]:
    """The I/O of each forecast without a model, and nothing else: read the window from
    STH-Comet, insert a forecast record (a copy of the job's latest, read before the clock
    starts, into a collection with the forecasts' indexes), upsert its entity in Orion, update
    the job once (a plain update). ``timed()`` wraps the timed part (not the reads before)."""
    from chronos_core.fiware.tenant import Tenant
    from chronos_core.forecasting.clients import orion_client
    from chronos_core.forecasting.forecaster import fetch_window
    from chronos_core.forecasting.model_cache import ForecastSpec
    from chronos_core.forecasting.publication import build_forecast_entity
    from chronos_core.settings import get_settings
    from chronos_core.storage.database import is_embedded_server
    from chronos_core.storage.forecast_repository import ForecastRepository
    from chronos_core.storage.schema import FORECASTS, TRAINING_JOBS, indexes_for

    settings = get_settings()
    orion = orion_client(settings)
    jobs_collection = db[TRAINING_JOBS]
    latest = {}
    for document in db["forecasts"].find({}, {"id": 1, "training_job_id": 1}):
        latest[document["training_job_id"]] = document["id"]
    forecasts = ForecastRepository(db)
    records = {job_id: forecasts.get(latest[job_id]) for job_id in job_ids if job_id in latest}
    # The copies go to a collection with the forecasts' own indexes: they are part of the cost.
    db.drop_collection("bench_bare_forecasts")
    db["bench_bare_forecasts"].create_indexes(
        indexes_for(FORECASTS, ttl_monitor=not is_embedded_server(db))
    )

    def one(job_id: str) -> None:
        record = records[job_id]
        spec = ForecastSpec(
            record.lookback_window,
            record.forecast_horizon,
            record.sampling_interval_seconds,
            record.feature,
            record.entity_type,
            record.entity_id,
            record.service,
            record.service_path,
        )
        fetch_window(spec, settings)
        copy = record.model_copy(update={"id": f"bare-{record.id}"})
        db["bench_bare_forecasts"].insert_one(copy.model_dump(mode="python"))
        payload = build_forecast_entity(
            record,
            entity_type=settings.forecast_entity_type,
            publish_next_value=record.publish_next_value,
            legacy_names=settings.forecast_legacy_attribute_names,
        )
        orion.upsert_entity(Tenant(record.service, record.service_path), payload)
        # A plain update, as the sweep's bulk write is (a ``set_fields`` is a findAndModify,
        # which the embedded server answers with a collection scan).
        jobs_collection.update_one(
            {"id": job_id}, {"$set": {"prediction_config.last_run_at": record.issued_at}}
        )

    with timed(), ThreadPoolExecutor(max_workers=settings.forecast_concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(one, list(records)))
        seconds = time.perf_counter() - started
    return seconds, len(records)


# --------------------------------------------------------------------------- known models


def _known_models_rss(count: int, keras_bytes: bytes, connection: Any) -> None:
    """Child: a forecast-worker-like process whose cache holds ``count`` distinct models. The
    first ``REAL_LOADS`` go through the real load path (weights read from the ``.keras``
    archive into the shared network); the others get their own copies of those weights, so
    every entry holds its own arrays, as distinct trained models do."""
    import numpy as np

    from chronos_core.forecasting.model_cache import LoadedModel, ModelCache, SwappedNetwork
    from chronos_core.ml import tf_runtime
    from chronos_core.ml.model_io import load_network
    from chronos_core.ml.scalers import StandardScaler

    tf_runtime.configure(1, 42)
    cache = ModelCache(count + 1, max_bytes=2**31)
    scaler = StandardScaler(mean=20.0, scale=2.0, n_samples_seen=100)
    runner, nbytes = cache.graphs.load(keras_bytes, load_network)  # builds the shared network
    x = np.zeros((1, LOOKBACK, 1), dtype=np.float32)
    runner(x)
    before = rss_mb(os.getpid()) or 0.0
    real = min(count, REAL_LOADS)
    started = time.perf_counter()
    for i in range(count):
        key = ("bench", str(i))
        if i < real:
            runner, nbytes = cache.graphs.load(keras_bytes, load_network)
        else:
            runner = SwappedNetwork(runner.slot, [w + np.float32(i * 1e-7) for w in runner.weights])
        if i == real - 1:
            load_ms = 1000 * (time.perf_counter() - started) / real

        def build(runner: Any = runner, nbytes: int = nbytes, key: Any = key) -> LoadedModel:
            return LoadedModel(
                key=key,
                network=runner,
                x_scaler=scaler,
                y_scaler=scaler,
                spec=None,  # type: ignore[arg-type]
                weights_nbytes=nbytes,
            )

        cache.get_or_load(key, build)
    calls = time.perf_counter()
    for i in range(0, count, max(1, count // 200)):
        cache.peek(("bench", str(i))).network(x)  # type: ignore[union-attr]
    call_ms = 1000 * (time.perf_counter() - calls) / len(range(0, count, max(1, count // 200)))
    connection.send(
        {
            "known_models": len(cache),
            "rss_mb": round(rss_mb(os.getpid()) or 0.0, 1),
            "rss_before_entries_mb": round(before, 1),
            "cache_mb": round(cache.stats().bytes / 2**20, 1),
            "weights_bytes_per_model": nbytes,
            "weights_read_ms_per_model": round(load_ms, 2),
            "forecast_call_ms": round(call_ms, 2),
        }
    )


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--known", type=int, default=0, help="also measure K cached models")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--sweep-timeout", type=float, default=600.0)
    parser.add_argument(
        "--bare-each",
        action="store_true",
        help="also measure the bare I/O right after each sweep, chronos serve idle beside it",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also report the CPU seconds of every process per sweep and in the bare I/O",
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        default=None,
        help="the work directory of an earlier run with the same --models: its database (models "
        "already trained, copied and enabled) is used again and the setup skipped",
    )
    args = parser.parse_args()
    if args.models < 1 or args.sweeps < 1:
        parser.error("--models and --sweeps must be at least 1")

    work = args.reuse or Path(tempfile.mkdtemp(prefix="chronos-serving-bench-"))
    print(f"work directory: {work}", flush=True)
    os.environ["PREFECT_HOME"] = str(work / "prefect-client")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    print(f"machine: {machine()}; load average at start: {os.getloadavg()}", flush=True)
    results: dict[str, Any] = {"models": args.models, "machine": machine(), "sweeps": []}
    results["load_average_start"] = list(os.getloadavg())

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    sandbox = context.Process(target=_serve_sandbox, args=(args.models, child), daemon=True)
    sandbox.start()
    urls = parent.recv()

    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server

    database = ensure_embedded_server(work / "db", port=0, exit_with_parent=os.getpid())
    os.environ.update(
        {
            "CHRONOS_MONGODB_URI": database.uri,
            "CHRONOS_MONGODB_DATABASE": "chronos_bench",
            "CHRONOS_DATA_DIR": str(work / "data"),
            "CHRONOS_STH_URL": urls["sth_url"],
            "CHRONOS_ORION_URL": urls["orion_url"],
            "CHRONOS_IOT_AGENT_URL": urls["iot_agent_url"],
            "CHRONOS_MIN_PREDICTION_INTERVAL_SECONDS": "60",
        }
    )
    from cli.local_server import LocalPrefectServer

    server = LocalPrefectServer(work / "prefect", port=free_port())
    started = time.perf_counter()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    print(f"Prefect server up in {time.perf_counter() - started:.1f} s", flush=True)
    serving: subprocess.Popen[bytes] | None = None
    try:
        from chronos_core.settings import get_settings
        from chronos_core.storage.database import get_database
        from chronos_core.storage.schema import TRAINING_JOBS

        get_settings.cache_clear()
        settings = get_settings()
        db = get_database()
        if args.reuse is None:
            job_id, job_ids = train_and_clone(db, args.models, settings)
        else:
            job_ids = [
                d["id"]
                for d in db[TRAINING_JOBS].find({"prediction_config.enabled": True}, {"id": 1})
            ]
            job_id = next(iter(db[TRAINING_JOBS].find({"prediction_config.enabled": False})))["id"]
        make_none_due(db)
        db[TRAINING_JOBS].update_many(
            {"id": job_id}, {"$set": {"prediction_config.enabled": False}}
        )

        command = [sys.executable, "-c", "from cli.main import app; app()", "serve"]
        serving = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ))
        results["command_served"] = f"PREFECT_API_URL={server.api_url} chronos serve"
        deadline = time.monotonic() + 300
        while forecast_workers() < 1:
            if time.monotonic() > deadline or serving.poll() is not None:
                raise SystemExit("chronos serve did not start its forecast worker")
            time.sleep(0.5)
        print("chronos serve and its forecast worker are up", flush=True)
        helpers = {
            "database": database.pid,
            "prefect_server": _child_running(os.getpid(), "prefect server start"),
            "sandbox": sandbox.pid or 0,
        }
        cpu = CpuRoles(serving.pid, helpers) if args.breakdown else None
        for index in range(1, args.sweeps + 1):
            observed = observe_sweep(index, db, serving.pid, args.sweep_timeout, cpu=cpu)
            if args.bare_each:
                observed |= bare_io_beside(
                    db, job_ids, helpers, observed, args.breakdown, serving.pid
                )
            results["sweeps"].append(observed)
        if args.bare_each and args.sweeps > 1:
            ratios = [s["over_bare_io"] for s in results["sweeps"][1:]]
            results["warm_sweeps_over_bare_io"] = round(statistics.median(ratios), 2)
            print(
                f"warm sweeps over the bare I/O after each: {ratios}, median "
                f"{results['warm_sweeps_over_bare_io']}",
                flush=True,
            )
        if cpu is not None:
            results["idle_cpu_seconds_per_minute"] = idle_cpu(db, cpu)
        serving.send_signal(signal.SIGTERM)
        serving.wait(timeout=120)
        serving = None
        bare_cpu: dict[str, float] = {}
        measured = (lambda: _cpu_of(helpers, bare_cpu)) if args.breakdown else nullcontext
        seconds, results["bare_io_forecasts"] = bare_io(db, job_ids, timed=measured)
        if args.breakdown:
            results["bare_io_cpu_seconds"] = bare_cpu
            print(f"bare I/O CPU s: {bare_cpu}", flush=True)
        results["bare_io_s"] = round(seconds, 2)
        print(
            f"bare I/O of {results['bare_io_forecasts']} forecasts: {results['bare_io_s']} s",
            flush=True,
        )
        if args.known:
            from chronos_core.storage.artifact_store import ArtifactStore
            from chronos_core.storage.training_job_repository import TrainingJobRepository

            data = ArtifactStore(db).download(
                str(TrainingJobRepository(db).get(job_id).model_artifact_id)
            )
            there, here = context.Pipe()
            probe = context.Process(target=_known_models_rss, args=(args.known, data, here))
            probe.start()
            results["known_models"] = there.recv()
            probe.join(timeout=60)
            print(f"known models: {results['known_models']}", flush=True)
    finally:
        if serving is not None and serving.poll() is None:
            serving.send_signal(signal.SIGTERM)
            serving.wait(timeout=120)
        server.stop()
        parent.send("stop")
        sandbox.join(timeout=10)
        stop_embedded_server(work / "db")
    results["load_average_end"] = list(os.getloadavg())
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
