"""Serve every Chronos deployment from one process: a single machine, no work pool, no worker.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.serve

(or ``chronos serve``, which also starts a local Prefect server when no API URL is set). Each flow
run executes in its own subprocess; a forecast worker process (``deployments/forecast_worker.py``)
runs the scheduler sweep's batches and keeps the models loaded between sweeps. Schedules are
registered unpaused and are *not* paused on shutdown, so a restart (systemd sends SIGTERM)
never leaves ``run-due-forecasts`` or the maintenance schedule switched off.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deployments.catalog import DEPLOYMENTS, DeploymentSpec

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment


def build_deployments(
    specs: Iterable[DeploymentSpec] = DEPLOYMENTS,
) -> list[RunnerDeployment]:
    """The runner deployments for ``specs`` (imports every flow module)."""
    return [spec.to_runner_deployment() for spec in specs]


PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Longest wait for the forecast worker to drain after SIGTERM before it is killed.
FORECAST_WORKER_STOP_SECONDS = 60.0


def start_forecast_worker(*, limit: int | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m deployments.forecast_worker`` (same environment, same Prefect API),
    bound to this process: it stops by itself if this process dies."""
    command = [
        sys.executable,
        "-m",
        "deployments.forecast_worker",
        "--exit-with-parent",
        str(os.getpid()),
    ]
    if limit is not None:
        command += ["--limit", str(limit)]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=os.environ.copy())


def stop_forecast_worker(
    process: subprocess.Popen[bytes], timeout: float = FORECAST_WORKER_STOP_SECONDS
) -> int:
    """SIGTERM the worker (it finishes its running batches) and wait; kill it after
    ``timeout``. Returns its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def serve_deployments(
    specs: Iterable[DeploymentSpec] = DEPLOYMENTS,
    *,
    limit: int | None = None,
    forecast_worker: bool = True,
) -> None:
    """Register ``specs`` and execute their runs until SIGINT/SIGTERM. Blocks.

    Also creates the FIWARE concurrency limits (``tasks/fiware_limits.py``) and, with
    ``forecast_worker``, runs a forecast worker process for the sweep's batches for as long as
    it serves (see ``deployments/forecast_worker.py``).
    """
    from prefect import serve

    from tasks.fiware_limits import ensure_fiware_limits

    deployments = build_deployments(specs)
    ensure_fiware_limits()
    worker = start_forecast_worker() if forecast_worker else None
    try:
        serve(
            *deployments,
            # SIGTERM would otherwise pause every schedule until the next start.
            pause_on_shutdown=False,
            limit=limit,
        )
    finally:
        if worker is not None:
            stop_forecast_worker(worker)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deployments.serve", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="most flow runs executing at once (default: no limit)",
    )
    parser.add_argument(
        "--no-forecast-worker",
        action="store_true",
        help="do not start a forecast worker (run one elsewhere, or let sweeps run their "
        "batches themselves)",
    )
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    serve_deployments(limit=args.limit, forecast_worker=not args.no_forecast_worker)


if __name__ == "__main__":
    main()
