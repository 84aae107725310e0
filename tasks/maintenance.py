"""Prefect tasks for housekeeping: dead training runs, orphan artifacts, expired forecasts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect import get_client, get_run_logger, task
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound

from chronos_core.clock import utc_now
from chronos_core.forecasting.history import expire_forecasts
from chronos_core.services.training_jobs import reconcile_dead_jobs
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.database import get_database

#: A training job's flow run in one of these states may still finish the job itself.
ALIVE_STATE_TYPES = frozenset(
    {
        StateType.SCHEDULED,
        StateType.PENDING,
        StateType.RUNNING,
        StateType.PAUSED,
        StateType.CANCELLING,
    }
)

#: Where the forecasting service provides forecast expiry (optional in older installations).


def flow_run_states(flow_run_ids: list[str]) -> dict[str, StateType | None]:
    """The current state type of each flow run in the Prefect API (``None``: no such run).

    Errors reaching the API propagate: a run is never declared dead because Prefect was down.
    """
    states: dict[str, StateType | None] = {}
    with get_client(sync_client=True) as client:
        for run_id in flow_run_ids:
            try:
                run = client.read_flow_run(UUID(run_id))
            except (ValueError, ObjectNotFound):
                states[run_id] = None
                continue
            states[run_id] = run.state.type if run.state is not None else None
    return states


def prefect_run_liveness() -> Callable[[str | None], bool]:
    """``is_run_alive`` for :func:`reconcile_dead_jobs`, asking the Prefect API (cached per id)."""
    cache: dict[str, bool] = {}

    def is_run_alive(flow_run_id: str | None) -> bool:
        if not flow_run_id:
            return False
        if flow_run_id not in cache:
            state = flow_run_states([flow_run_id])[flow_run_id]
            cache[flow_run_id] = state in ALIVE_STATE_TYPES
        return cache[flow_run_id]

    return is_run_alive


@task(name="reconcile-dead-training-jobs", tags=["maintenance", "mongodb"], timeout_seconds=600)
def reconcile_dead_jobs_task(grace_seconds: float) -> list[str]:
    """End active training jobs whose flow run no longer runs; returns their ids."""
    ended = reconcile_dead_jobs(get_database(), prefect_run_liveness(), grace_seconds=grace_seconds)
    logger = get_run_logger()
    if ended:
        logger.warning("Ended %d training job(s) whose run was gone: %s", len(ended), ended)
    else:
        logger.info("No dead training runs")
    return ended


@task(name="remove-orphan-artifacts", tags=["maintenance", "mongodb"], timeout_seconds=1800)
def remove_orphan_artifacts_task(min_age_seconds: float) -> dict[str, Any]:
    """Delete GridFS files nothing references (older than ``min_age_seconds``)."""
    store = ArtifactStore(get_database())
    orphans = store.find_orphans(uploaded_before=utc_now() - timedelta(seconds=min_age_seconds))
    deleted = store.delete_many(artifact.id for artifact in orphans)
    size = sum(artifact.length for artifact in orphans)
    get_run_logger().info("Removed %d orphan artifact(s), %d bytes", deleted, size)
    return {"removed": deleted, "bytes": size}


@task(name="expire-forecasts", tags=["maintenance", "mongodb"], timeout_seconds=1800)
def expire_forecasts_task() -> int:
    """Delete stored forecasts past their retention (``CHRONOS_FORECAST_RETENTION_DAYS``)."""
    removed = expire_forecasts(get_database())
    get_run_logger().info("Expired %d stored forecast(s)", removed)
    return removed
