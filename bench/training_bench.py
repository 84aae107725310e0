"""Training benchmark: the whole ``train-model`` flow against a plain Keras fit, and its memory.

Both sides train the same registered model (architecture, windows, split, batch size, epochs,
seed) on the same points:

* **plain** is what a user would do by hand with the series already in memory: ``prepare`` (the
  same cleaning, split, scaling and windows), ``build_network`` and ``network.fit`` with early
  stopping and learning-rate decay. Nothing is collected, evaluated or stored.
* **flow** is ``train_model(model_id, last_n=points)`` through Prefect: job bookkeeping in MongoDB,
  paged collection from the sandbox STH-Comet, preparation, the fit, evaluation against the
  baselines with two PNG plots, the GridFS artifacts and the report artifacts.

One process runs both, after a warm-up (TensorFlow imported, one small plain fit and one small
flow run of the same architecture), alternating the order from repeat to repeat; it prints the
median of each side, two ratios of the medians (the Keras fit inside the flow against the plain
fit, and the whole flow against the plain side), the same ratios in CPU seconds (this process's,
and for the whole flow the helper processes' too: the figures a shared machine disturbs least),
the flow's phases (from its Prefect task runs) and the peak resident memory of the process.
The sandbox runs in a child process by default, like a real STH-Comet, so its stored points do
not count in the memory figure (``--sandbox thread`` serves it from this process instead).

    .venv/bin/python bench/training_bench.py --points 20000 --epochs 5 --repeats 3
    .venv/bin/python bench/training_bench.py --points 1000000 --epochs 1 --units 8 --flow-only

Run it from the repository root. It uses a temporary embedded database and Prefect's test harness.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TENANT = ("smart", "/")
MAIN_ENTITY = "Room1"
WARMUP_ENTITY = "Room0"
WARMUP_POINTS = 3_000
HELPER_PIDS: tuple[int, ...] = ()  # the database daemon, once started


def series(points: int) -> pd.Series:
    """A 15-minute temperature-like series: a daily sine and a little noise."""
    index = pd.date_range("2020-01-01", periods=points, freq="15min", tz="UTC")
    steps = np.arange(points)
    rng = np.random.default_rng(0)
    values = 20 + 3 * np.sin(2 * np.pi * steps / 96) + rng.normal(0, 0.2, points)
    return pd.Series(np.round(values, 3), index=index)


# --------------------------------------------------------------------------- sandbox


def _seed(sandbox: Any, points: int) -> None:
    from chronos_core.fiware.tenant import Tenant

    tenant = Tenant(*TENANT)
    sandbox.sth.seed(tenant, "Room", MAIN_ENTITY, "temperature", series(points))
    sandbox.sth.seed(tenant, "Room", WARMUP_ENTITY, "temperature", series(WARMUP_POINTS))


def _serve_sandbox(points: int, connection: Any) -> None:
    """Child process: serve a seeded sandbox until the parent closes the pipe."""
    from fiware_sandbox import FiwareSandbox

    with FiwareSandbox() as sandbox:
        _seed(sandbox, points)
        connection.send(sandbox.urls)
        with contextlib.suppress(EOFError):
            connection.recv()


class Sandbox:
    """The FIWARE sandbox, seeded, in a child process or in this one."""

    def __init__(self, points: int, mode: str) -> None:
        self.mode = mode
        self._local: Any = None
        self._process: Any = None
        if mode == "thread":
            from fiware_sandbox import FiwareSandbox

            self._local = FiwareSandbox().start()
            _seed(self._local, points)
            self.urls = self._local.urls
            return
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve_sandbox, args=(points, child), daemon=True)
        self._process.start()
        child.close()
        self._pipe = parent
        self.urls = parent.recv()

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
        if self._process is not None:
            self._pipe.close()
            self._process.join(timeout=30)


# --------------------------------------------------------------------------- memory


class RssSampler:
    """Samples this process's resident memory every ``interval`` seconds (for attribution)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm") as statm:
            while not self._stop.is_set():
                statm.seek(0)
                resident = int(statm.read().split()[1]) * page / 2**20
                self.samples.append((time.time(), resident))
                self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> tuple[float, float]:
        return max(self.samples, key=lambda sample: sample[1]) if self.samples else (0.0, 0.0)


def process_cpu(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds (user + system) used so far by process ``pid``, 0 once it is gone; with
    ``reaped``, also by its children that have exited and been waited for."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(f) for f in fields[11 : 15 if reaped else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def helper_pids(extra_pids: tuple[int, ...] = ()) -> tuple[int, ...]:
    """This process's descendants (the Prefect API server, the sandbox) and ``extra_pids`` (the
    database daemon): the processes whose work a run causes outside this one.

    Found once per run, before it is timed: scanning ``/proc`` beside the statistical
    baseline's thread, which holds the GIL, took up to 1.8 s (every file read waits for the GIL
    again), which a scan inside the measured flow would have added to its time."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    family = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                grew = True
    family.discard(os.getpid())
    return tuple(sorted(family | set(extra_pids)))


def helper_cpu(pids: tuple[int, ...]) -> float:
    """CPU seconds used so far by the processes ``pids`` (see :func:`helper_pids`)."""
    return sum(process_cpu(pid) for pid in pids)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --------------------------------------------------------------------------- the two sides


@dataclass
class Run:
    side: str
    wall: float
    cpu: float
    fit: float
    helpers: float = 0.0
    fit_helpers: float = 0.0  # helper processes' CPU during the Keras fit
    fit_cpu: float = 0.0  # this process's CPU during the Keras fit, background baseline excluded
    parameters: int = 0
    phases: list[tuple[str, float, float]] = field(default_factory=list)
    job_id: str = ""
    peak_rss: float = 0.0
    peak_at: str = ""


def plain_fit(model: Any, data: pd.Series, seed: int) -> Run:
    """Prepare + build + ``network.fit``, as a user would do by hand, on the same points."""
    from chronos_core.ml import tf_runtime
    from chronos_core.ml.fitting import LR_DECAY_FACTOR, MIN_LEARNING_RATE, lr_patience
    from chronos_core.ml.preprocessing import prepare
    from chronos_core.ml.rnn import build_network

    tf_runtime.set_seed(seed)
    keras = tf_runtime.keras_module()
    pids = helper_pids(HELPER_PIDS)
    helpers = helper_cpu(pids)
    wall, cpu = time.perf_counter(), time.process_time()
    prepared = prepare(
        data,
        lookback_window=model.lookback_window,
        forecast_horizon=model.forecast_horizon,
        validation_ratio=model.validation_ratio,
        test_ratio=model.test_ratio,
    )
    network = build_network(
        model.model_type,
        model.lookback_window,
        model.forecast_horizon,
        model.rnn_layers,
        model.dense_layers,
        model.learning_rate,
        seed=seed,
    )
    patience = model.effective_patience
    fit_helpers = helper_cpu(pids)
    fit_cpu = time.process_time()
    fit_started = time.perf_counter()
    network.fit(
        prepared.x_train,
        prepared.y_train,
        validation_data=(prepared.x_val, prepared.y_val),
        epochs=model.epochs,
        batch_size=model.batch_size,
        shuffle=False,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            ),
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=LR_DECAY_FACTOR,
                patience=lr_patience(patience),
                min_lr=MIN_LEARNING_RATE,
            ),
        ],
    )
    end = time.perf_counter()
    fit_cpu = time.process_time() - fit_cpu
    cpu = time.process_time() - cpu
    fit_helpers = helper_cpu(pids) - fit_helpers
    helpers = helper_cpu(pids) - helpers
    return Run(
        "plain",
        end - wall,
        cpu,
        end - fit_started,
        helpers,
        fit_helpers,
        fit_cpu,
        network.count_params(),
    )


FLOW_FITS: list[tuple[float, float, int]] = []  # (helper CPU, CPU, parameters) per flow fit
BASELINE_CPU: list[float] = []  # CPU of each background statistical baseline (its own thread)
FLOW_HELPERS: tuple[int, ...] = ()  # the helper processes of the flow run being measured


def watch_flow_fits() -> None:
    """Wrap the flow's ``fit_network`` to record the CPU used during it (this process's, less
    what the statistical baseline's thread used meanwhile, and the helpers') and the size of the
    network it trains (the flow's fit is timed by the flow itself)."""
    from chronos_core.training import fitting

    fit, baseline = fitting.fit_network, fitting.statistical_baseline

    def watched(network: Any, *args: Any, **kwargs: Any) -> Any:
        helpers, cpu, baselines = helper_cpu(FLOW_HELPERS), time.process_time(), len(BASELINE_CPU)
        try:
            return fit(network, *args, **kwargs)
        finally:
            cpu = time.process_time() - cpu - sum(BASELINE_CPU[baselines:])
            FLOW_FITS.append((helper_cpu(FLOW_HELPERS) - helpers, cpu, network.count_params()))

    def timed_baseline(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return baseline(*args, **kwargs)
        finally:
            BASELINE_CPU.append(time.thread_time() - started)

    fitting.fit_network, fitting.statistical_baseline = watched, timed_baseline


def flow_run(model_id: str, points: int) -> Run:
    from chronos_core.storage.artifact_store import ArtifactStore
    from chronos_core.storage.database import get_database
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from flows.training import train_model

    global FLOW_HELPERS
    FLOW_HELPERS = helper_pids(HELPER_PIDS)
    helpers = helper_cpu(FLOW_HELPERS)
    with RssSampler() as sampler:
        called = time.time()
        wall, cpu = time.perf_counter(), time.process_time()
        job_id = train_model(model_id, last_n=points)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        returned = time.time()
    helpers = helper_cpu(FLOW_HELPERS) - helpers
    db = get_database()
    job = TrainingJobRepository(db).get(job_id)
    metadata = json.loads(ArtifactStore(db).download(job.metadata_artifact_id or ""))
    phases = flow_phases(job.flow_run_id or "", called, returned)
    peak_time, peak = sampler.peak()
    where = next((name for name, begin, end in phases if begin <= peak_time <= end), "between")
    fit_helpers, fit_cpu, parameters = FLOW_FITS[-1]
    return Run(
        "flow",
        wall,
        cpu,
        float(metadata["training_history"]["duration_seconds"]),
        helpers,
        fit_helpers,
        fit_cpu,
        parameters,
        phases,
        job_id,
        peak,
        where,
    )


def flow_phases(flow_run_id: str, called: float, returned: float) -> list[tuple[str, float, float]]:
    """(name, start, end) wall-clock spans: the flow's task runs (collect chunks merged into one
    span) and the orchestration before and after them."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                offset=len(runs),
                limit=200,
            )
            runs += page
            if len(page) < 200:
                break
    spans: dict[str, list[float]] = {}
    for run in runs:
        if run.start_time is None or run.end_time is None:
            continue
        name = run.name.rsplit("-", 1)[0]  # collect-chunk-<index>, or <task>-<random suffix>
        begin, end = _epoch(run.start_time), _epoch(run.end_time)
        span = spans.setdefault(name, [begin, end])
        span[0], span[1] = min(span[0], begin), max(span[1], end)
    ordered = sorted(((name, b, e) for name, (b, e) in spans.items()), key=lambda s: s[1])
    if ordered:
        ordered.insert(0, ("flow start", called, ordered[0][1]))
        ordered.append(("flow end", ordered[-1][2], returned))
    return ordered


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


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
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_phases(run: Run) -> None:
    print(f"flow phases (run with the median wall time, job {run.job_id}):")
    previous_end = None
    for name, begin, end in run.phases:
        gap = 0.0 if previous_end is None else max(0.0, begin - previous_end)
        note = f"  (+{gap:.2f} s before it)" if gap >= 0.05 else ""
        print(f"  {name:26s} {end - begin:7.2f} s{note}")
        previous_end = end
    print(f"  {'keras fit inside fit-network':26s} {run.fit:7.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--lookback", type=int, default=48)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each side")
    parser.add_argument("--flow-only", action="store_true", help="skip the plain fit")
    parser.add_argument(
        "--sandbox",
        choices=("process", "thread"),
        default="process",
        help="serve the sandbox from a child process (default) or from this process",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="chronos-bench-"))
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    print(f"machine: {machine()}; load average at start: {load()}")

    started = time.perf_counter()
    sandbox = Sandbox(args.points, args.sandbox)
    print(f"sandbox ({args.sandbox}) seeded with {args.points} points in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip

    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server

    server = ensure_embedded_server(work / "db", port=0, exit_with_parent=os.getpid())
    global HELPER_PIDS
    HELPER_PIDS = (server.pid,)
    os.environ.update(
        {
            "CHRONOS_MONGODB_URI": server.uri,
            "CHRONOS_MONGODB_DATABASE": "chronos_bench",
            "CHRONOS_DATA_DIR": str(work / "data"),
            "CHRONOS_STH_URL": sandbox.urls["sth_url"],
            "CHRONOS_ORION_URL": sandbox.urls["orion_url"],
            "CHRONOS_IOT_AGENT_URL": sandbox.urls["iot_agent_url"],
        }
    )
    from prefect.testing.utilities import prefect_test_harness

    from chronos_core.ml import tf_runtime
    from chronos_core.services.models import register_model
    from chronos_core.settings import get_settings
    from chronos_core.storage.database import get_database
    from chronos_core.storage.model_repository import ModelRepository

    get_settings.cache_clear()
    settings = get_settings()
    definition = {
        "model_type": "lstm",
        "feature": "temperature",
        "entity_type": "Room",
        "entity_id": MAIN_ENTITY,
        "epochs": args.epochs,
        "early_stopping_patience": args.epochs,
        "batch_size": args.batch_size,
        "rnn_layers": [{"units": args.units, "dropout": 0.0}],
        "dense_layers": [],
        "lookback_window": args.lookback,
        "forecast_horizon": args.horizon,
    }
    warmup = {**definition, "entity_id": WARMUP_ENTITY, "epochs": 1, "early_stopping_patience": 1}
    data = None if args.flow_only else series(args.points)

    with prefect_test_harness(server_startup_timeout=240):
        db = get_database()
        models = ModelRepository(db)
        model = models.get(register_model(db, definition).id)
        warmup_model = models.get(register_model(db, warmup).id)

        watch_flow_fits()
        cold = time.perf_counter()
        tf_runtime.configure(threads=settings.tf_threads, seed=settings.random_seed)
        print(f"warm-up: TensorFlow import {time.perf_counter() - cold:.1f} s", end="")
        if data is not None:
            run = plain_fit(warmup_model, series(WARMUP_POINTS), settings.random_seed)
            print(f", first plain fit {run.wall:.1f} s", end="")
        run = flow_run(warmup_model.id, WARMUP_POINTS)
        print(f", first flow run {run.wall:.1f} s ({WARMUP_POINTS} points, 1 epoch)")
        rss_before = current_rss_mb()

        plain: list[Run] = []
        flows: list[Run] = []
        for repeat in range(args.repeats):
            order = ("plain", "flow") if repeat % 2 == 0 else ("flow", "plain")
            for side in order:
                if side == "plain" and data is not None:
                    plain.append(plain_fit(model, data, settings.random_seed))
                    print(f"  plain #{repeat + 1}: {plain[-1].wall:.1f} s")
                elif side == "flow":
                    flows.append(flow_run(model.id, args.points))
                    print(f"  flow  #{repeat + 1}: {flows[-1].wall:.1f} s")

    print(
        f"points: {args.points}, epochs: {args.epochs}, lstm units: {args.units}, lookback "
        f"{args.lookback}, horizon {args.horizon}, batch {args.batch_size}, "
        f"repeats: {args.repeats}, tf threads: {tf_runtime.current_settings()}"
    )

    def median(values: Any) -> float:
        return statistics.median(list(values))

    def summary(runs: list[Run]) -> str:
        return (
            f"median {median(r.wall for r in runs):.1f} s wall "
            f"[{', '.join(f'{r.wall:.1f}' for r in runs)}], "
            f"keras fit {median(r.fit for r in runs):.1f} s "
            f"[{', '.join(f'{r.fit:.1f}' for r in runs)}], "
            f"cpu {median(r.cpu for r in runs):.1f} s (during the fit "
            f"{median(r.fit_cpu for r in runs):.1f} s), helper processes' cpu "
            f"{median(r.helpers for r in runs):.1f} s (during the fit "
            f"{median(r.fit_helpers for r in runs):.2f} s), network parameters "
            f"{sorted({r.parameters for r in runs})}"
        )

    if plain:
        print(f"plain (prepare + build + fit): {summary(plain)}")
    print(f"flow  (train-model, all steps): {summary(flows)}")
    if plain:
        plain_wall = median(r.wall for r in plain)

        def ratios(values: list[float], against: list[float]) -> str:
            pairs = ", ".join(f"{v / a:.2f}" for v, a in zip(values, against, strict=False))
            return f"{median(values) / median(against):.2f} (per repeat: {pairs})"

        print(
            "ratio fit in the flow / plain fit (Keras fit times): "
            + ratios([r.fit for r in flows], [r.fit for r in plain])
        )
        print(
            "ratio whole flow / plain (prepare + build + fit): "
            + ratios([r.wall for r in flows], [r.wall for r in plain])
        )
        # CPU seconds, this process's and the helper processes': what the sides cost the machine,
        # which other load on a shared machine changes much less than their wall times.
        print(
            "CPU ratios: fit in the flow / plain fit "
            + ratios([r.fit_cpu for r in flows], [r.fit_cpu for r in plain])
            + "; whole flow / plain, helpers included "
            + ratios([r.cpu + r.helpers for r in flows], [r.cpu + r.helpers for r in plain])
        )
        # Keras fit times swing by 20-30 % on a shared machine; the time each side spends
        # outside its fit is steadier, so also compare the sides as if their fits were equal.
        flow_extra = median(r.wall - r.fit for r in flows)
        plain_extra = median(r.wall - r.fit for r in plain)
        print(
            f"time outside the Keras fit (medians): flow {flow_extra:.1f} s, plain "
            f"{plain_extra:.1f} s; whole-flow ratio at equal fit times: "
            f"{(plain_wall - plain_extra + flow_extra) / plain_wall:.2f}"
        )
    print_phases(sorted(flows, key=lambda r: r.wall)[len(flows) // 2])
    highest = max(flows, key=lambda r: r.peak_rss)
    print(
        f"peak RSS of this process: {peak_rss_mb():.0f} MB (before the measured runs: "
        f"{rss_before:.0f} MB; highest sample during a flow run: {highest.peak_rss:.0f} MB, "
        f"in {highest.peak_at})"
    )
    print(f"load average at end: {load()}")
    sandbox.stop()
    stop_embedded_server(work / "db")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
