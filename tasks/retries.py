"""The retry condition shared by Chronos tasks: one retry owner per failure.

The FIWARE HTTP layer (:mod:`chronos_core.fiware.http`, ``CHRONOS_HTTP_RETRIES``) owns the
retries of a FIWARE request: a FIWARE error reaching a task has already been retried as far as
is safe, so a task retrying the whole step again would only multiply the attempts. A task retries
a whole step only for a transient failure its client does not retry: the database was unreachable
or failing. (The forecast publication keeps its own configured whole-step retries, see
``CHRONOS_FORECAST_PUBLICATION_RETRIES``.)
"""

from __future__ import annotations

from typing import Any

from chronos_core.fiware.errors import FiwareError, is_transient_error


def is_step_retryable(error: BaseException | None) -> bool:
    """A transient failure that no client below the task retried: not a FIWARE error (its HTTP
    client retried it already), not a 4xx answer or bad input (the same again next time)."""
    return is_transient_error(error) and not isinstance(error, FiwareError)


def retry_when_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn`` of the task-level retries: see :func:`is_step_retryable`."""
    return is_step_retryable(state.result(raise_on_failure=False))


def retry_publication(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn`` of the publication's whole-step retries: any transient
    failure, FIWARE included (an Orion outage longer than the HTTP retries' back-off)."""
    return is_transient_error(state.result(raise_on_failure=False))
