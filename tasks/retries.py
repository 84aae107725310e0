"""The retry condition shared by Chronos tasks: one retry owner per failure.

The FIWARE HTTP layer (:mod:`chronos_core.fiware.http`, ``CHRONOS_HTTP_RETRIES``) owns the
retries of a FIWARE request: a FIWARE error reaching a task has already been retried as far as
is safe, so a task retrying the whole step again would only multiply the attempts. Likewise the
database driver owns waiting for an unreachable database (server selection, retryable reads and
writes): once it gave up, the run stops at once and the job's lease ends it when the database is
back. A task retries a whole step only for a transient failure no client below it retried: a
database command that failed while the server was reachable. (The forecast publication keeps its
own configured whole-step retries, see ``CHRONOS_FORECAST_PUBLICATION_RETRIES``.)
"""

from __future__ import annotations

from typing import Any

from chronos_core.fiware.errors import FiwareError, is_transient_error
from chronos_core.storage.database import DatabaseUnavailable, is_unreachable


def is_step_retryable(error: BaseException | None) -> bool:
    """A transient failure that no client below the task retried: not a FIWARE error (its HTTP
    client retried it already), not an unreachable database (the driver waited for it already),
    not a 4xx answer or bad input (the same again next time)."""
    if error is None or isinstance(error, FiwareError | DatabaseUnavailable):
        return False
    return is_transient_error(error) and not is_unreachable(error)


def retry_when_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn`` of the task-level retries: see :func:`is_step_retryable`."""
    return is_step_retryable(state.result(raise_on_failure=False))


def retry_publication(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn`` of the publication's whole-step retries: any transient
    failure, FIWARE included (an Orion outage longer than the HTTP retries' back-off)."""
    return is_transient_error(state.result(raise_on_failure=False))
