"""Serve every Chronos deployment from one process: a single machine, no work pool, no worker.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.serve

(or ``chronos serve``, which also starts a local Prefect server when no API URL is set). Each flow
run executes in its own subprocess. Schedules are registered unpaused and are *not* paused on
shutdown, so a restart (systemd sends SIGTERM) never leaves ``run-due-forecasts`` or the
maintenance schedule switched off.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from deployments.catalog import DEPLOYMENTS, DeploymentSpec

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment


def build_deployments(
    specs: Iterable[DeploymentSpec] = DEPLOYMENTS,
) -> list[RunnerDeployment]:
    """The runner deployments for ``specs`` (imports every flow module)."""
    return [spec.to_runner_deployment() for spec in specs]


def serve_deployments(
    specs: Iterable[DeploymentSpec] = DEPLOYMENTS,
    *,
    limit: int | None = None,
) -> None:
    """Register ``specs`` and execute their runs until SIGINT/SIGTERM. Blocks."""
    from prefect import serve

    serve(
        *build_deployments(specs),
        # SIGTERM would otherwise pause every schedule until the next start.
        pause_on_shutdown=False,
        limit=limit,
    )


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
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    serve_deployments(limit=args.limit)


if __name__ == "__main__":
    main()
