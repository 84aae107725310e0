"""The forecast worker: a Prefect task worker that runs the scheduler sweep's batches.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.forecast_worker [--limit N]

``chronos serve`` starts one next to its deployments; with ``prefect.yaml`` and process workers,
run one on every worker host (systemd unit in docs/operations.md). The ``run-due-forecasts``
sweep submits its batches with ``.delay()``; the Prefect server hands each batch to exactly one
subscribed worker. The worker is a long-lived process, so the models it loaded for one sweep
are still in its cache for the next one (every flow run of a deployment, on the other hand,
runs in a new process). Claims stay in MongoDB (a compare-and-set per job and slot), so any
number of workers on any number of hosts forecast each slot once.

Stopping (SIGTERM or SIGINT): running batches claim no further job (the rest of each batch
stays due for the next sweep), the worker waits for them to finish (at most
``DRAIN_SECONDS``), then unsubscribes. A claimed job is never left without its run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from typing import Any

#: Longest wait for running batches after a stop request (systemd's TimeoutStopSec is 60 s).
DRAIN_SECONDS = 45.0
#: How often an orphaned worker checks that the process that started it is still there.
PARENT_POLL_SECONDS = 1.0


def _own_result_key(context: Any, _parameters: Any) -> str:
    return str(context.task_run.id)


def import_flows_as_scripts() -> None:
    """Make the sweep's flow module importable under the name a ``prefect.yaml`` run gives it.

    A flow run started from ``prefect.yaml`` (file entrypoint ``flows/predictions.py``) loads
    that file as the module ``predictions``, and Prefect stores the flow-run context, its flow
    object pickled by reference to that module, with each batch it submits. The worker imports
    the flows as the package modules (``flows.predictions``), so it aliases the script names.
    """
    import importlib
    import sys
    from pathlib import PurePosixPath

    from deployments.catalog import DEPLOYMENTS

    for spec in DEPLOYMENTS:
        if spec.flow_name == "run-due-forecasts":
            script = PurePosixPath(spec.entrypoint.split(":")[0]).stem
            if script not in sys.modules:
                sys.modules[script] = importlib.import_module(spec.module)


def forecast_tasks() -> list[Any]:
    """The tasks a forecast worker serves. A background task's result must be stored for the
    sweep to read it; it is stored under its task run id, so nothing is hashed or looked up
    first (Prefect's default key hashes the parameters and the task's source for every batch)."""
    from prefect.cache_policies import CacheKeyFnPolicy

    from tasks.forecasting import run_due_batch_task

    own_key = CacheKeyFnPolicy(cache_key_fn=_own_result_key)
    return [run_due_batch_task.with_options(cache_policy=own_key, persist_result=True)]


async def aserve_forecast_worker(
    *, limit: int | None = None, parent_pid: int | None = None
) -> None:
    """Serve the forecast tasks until SIGTERM/SIGINT (or until ``parent_pid`` is gone)."""
    from prefect.task_worker import TaskWorker

    from chronos_core.ml import tf_runtime
    from chronos_core.settings import get_settings
    from tasks.forecasting import STOPPING

    settings = get_settings()
    import_flows_as_scripts()
    # TensorFlow's import takes seconds: pay it before taking a batch, not in the first sweep.
    tf_runtime.configure(settings.tf_threads, settings.random_seed)
    worker = TaskWorker(*forecast_tasks(), limit=limit or settings.forecast_concurrency)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop(signum: int | None = None, frame: object = None) -> None:
        STOPPING.set()
        loop.call_soon_threadsafe(stop.set)

    # Prefect's TaskWorker installs ``handle_sigterm`` (which exits at once) when it starts;
    # ours drains first.
    worker.handle_sigterm = request_stop  # type: ignore[method-assign]
    signal.signal(signal.SIGINT, request_stop)

    async def watch_parent() -> None:
        while parent_pid is not None:
            await asyncio.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent_pid:
                request_stop()
                return

    serving = asyncio.create_task(worker.astart())
    watching = asyncio.create_task(watch_parent())
    stopped = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if serving in done:
            serving.result()
            return
        deadline = loop.time() + DRAIN_SECONDS
        while (worker.current_tasks or 0) > 0 and loop.time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for pending in (serving, watching, stopped):
            pending.cancel()
        for pending in (serving, watching, stopped):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending


def serve_forecast_worker(*, limit: int | None = None, parent_pid: int | None = None) -> None:
    """Blocking :func:`aserve_forecast_worker`."""
    asyncio.run(aserve_forecast_worker(limit=limit, parent_pid=parent_pid))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deployments.forecast_worker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="most batches running at once (default: CHRONOS_FORECAST_CONCURRENCY)",
    )
    parser.add_argument(
        "--exit-with-parent",
        type=int,
        default=None,
        metavar="PID",
        help="stop when the process PID (the one that started this worker) is gone",
    )
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import get_current_settings

        if get_current_settings().api.url is None:
            parser.error("PREFECT_API_URL must point at the Prefect server")
    serve_forecast_worker(limit=args.limit, parent_pid=args.exit_with_parent)


if __name__ == "__main__":
    main()
