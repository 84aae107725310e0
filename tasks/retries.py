"""The retry condition shared by Chronos tasks: retry only what may succeed next time."""

from __future__ import annotations

from typing import Any

from chronos_core.fiware.errors import is_transient_error


def retry_when_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: a FIWARE service or the database was unreachable or
    failing (5xx, 429, timeouts); a 4xx answer or bad input fails the same way again."""
    return is_transient_error(state.result(raise_on_failure=False))
