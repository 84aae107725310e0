"""The ``chronos-maintenance`` flow: keep the database consistent with what really runs."""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.failures import one_line_failures
from flows.parameters import titled
from tasks.maintenance import (
    expire_forecasts_task,
    reconcile_dead_jobs_task,
    remove_orphan_artifacts_task,
)

MAINTENANCE_ARTIFACT_KEY = "chronos-maintenance"


@flow(name="chronos-maintenance")
@one_line_failures
def chronos_maintenance(
    reconcile_jobs: Annotated[bool, titled("Reconcile dead training jobs")] = True,
    remove_orphan_artifacts: Annotated[bool, titled("Remove orphan artifacts")] = True,
    expire_forecasts: Annotated[bool, titled("Expire old forecasts")] = True,
    grace_minutes: Annotated[int, Field(ge=0, le=10_080), titled("Grace (minutes)")] = 10,
) -> dict[str, Any]:
    """Reconcile dead training runs, remove orphan artifacts and expire old forecasts.

    Args:
        reconcile_jobs: End training jobs that are still marked active although their lease
            expired (their process stopped renewing it) or their Prefect flow run is no longer
            scheduled, pending, running, paused or cancelling (it crashed, or its worker died).
            They end failed (cancelled if cancellation was asked) and their model gets its
            status back.
        remove_orphan_artifacts: Delete stored model files that no model or completed training
            job references (left by runs that died while saving).
        expire_forecasts: Delete stored forecasts older than CHRONOS_FORECAST_RETENTION_DAYS.
        grace_minutes: Leave alone training jobs updated, and files written, less than this
            many minutes ago.
    """
    grace_seconds = grace_minutes * 60.0
    summary: dict[str, Any] = {
        "dead_training_jobs": None,
        "orphan_artifacts_removed": None,
        "orphan_artifact_bytes": None,
        "forecasts_expired": None,
    }
    if reconcile_jobs:
        summary["dead_training_jobs"] = reconcile_dead_jobs_task(grace_seconds)
    if remove_orphan_artifacts:
        removed = remove_orphan_artifacts_task(grace_seconds)
        summary["orphan_artifacts_removed"] = removed["removed"]
        summary["orphan_artifact_bytes"] = removed["bytes"]
    if expire_forecasts:
        summary["forecasts_expired"] = expire_forecasts_task()
    create_table_artifact(
        table=[
            {
                "step": "reconcile dead training runs",
                "result": _describe(summary["dead_training_jobs"], reconcile_jobs),
            },
            {
                "step": "remove orphan artifacts",
                "result": _describe(summary["orphan_artifacts_removed"], remove_orphan_artifacts),
            },
            {
                "step": "expire forecasts",
                "result": _describe(summary["forecasts_expired"], expire_forecasts),
            },
        ],
        key=MAINTENANCE_ARTIFACT_KEY,
        description="Chronos maintenance",
    )
    return summary


def _describe(result: Any, enabled: bool) -> str:
    if not enabled:
        return "skipped (disabled)"
    if isinstance(result, list):
        return f"{len(result)} ended" + (f": {', '.join(result)}" if result else "")
    return f"{result} removed"
