"""One retry owner per failure: tasks retry a whole step only for what no client retried."""

from __future__ import annotations

from pymongo.errors import ServerSelectionTimeoutError

from chronos_core.errors import InvalidInput
from chronos_core.fiware.errors import FiwareHTTPError, FiwareUnavailable
from chronos_core.storage.database import DatabaseUnavailable
from chronos_core.storage.embedded import EmbeddedDatabaseError
from tasks.retries import is_step_retryable


def _unavailable() -> FiwareUnavailable:
    return FiwareUnavailable(
        "STH-Comet is unavailable", attempts=4, last_status=503,
        service="STH-Comet", method="GET", path="/STH/v2/entities",
    )  # fmt: skip


def test_an_unreachable_database_was_waited_for_by_the_driver_and_is_not_retried_again() -> None:
    # pymongo's server selection already waited for it; the job's lease ends the run later.
    assert not is_step_retryable(DatabaseUnavailable("the database is unreachable"))
    assert not is_step_retryable(ServerSelectionTimeoutError("no server"))


def test_a_failure_no_client_retried_is_retried_by_the_task() -> None:
    assert is_step_retryable(EmbeddedDatabaseError("the embedded database did not start"))


def test_a_fiware_failure_was_retried_by_the_http_client_and_is_not_retried_again() -> None:
    assert not is_step_retryable(_unavailable())
    answered = FiwareHTTPError(
        "Orion answered 500", status=500, server_error=None, server_message=None,
        service="Orion", method="POST", path="/v2/op/update",
    )  # fmt: skip
    assert not is_step_retryable(answered)


def test_bad_input_is_never_retried() -> None:
    assert not is_step_retryable(InvalidInput("bad"))
    assert not is_step_retryable(None)
