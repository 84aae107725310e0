"""One line per failure: a failed Chronos flow run's state message is the Chronos error.

Prefect ends a run whose flow raised with the message "Flow run encountered an exception" and
logs the traceback at ERROR level, and a task that raised logs its traceback too, so the UI
shows a traceback with the one useful line at its end. :func:`one_line_failures` makes the
run's state message ``str(error)`` (the exception still reaches a Python caller), and
:func:`quiet_chronos_tracebacks` keeps the tracebacks of Chronos errors at DEBUG level.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from chronos_core.errors import ChronosError

P = ParamSpec("P")
R = TypeVar("R")

#: Loggers on which Prefect's engines report a failed run (with its traceback).
ENGINE_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def failure_message(error: BaseException) -> str:
    """The one line a person reads: the Chronos message, else ``Type: message``."""
    text = str(error) if isinstance(error, ChronosError) else f"{type(error).__name__}: {error}"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:2000]


def one_line_failures(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a flow function (under ``@flow``): an exception ends the run ``Failed`` with
    :func:`failure_message` as its message; the traceback is logged at DEBUG level."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            from prefect import get_run_logger
            from prefect.states import Failed

            message = failure_message(error)
            logger = get_run_logger()
            logger.error(message)
            logger.debug("traceback of the failure", exc_info=error)
            # Failed(data=error): the run fails with this message and a Python caller of the
            # flow still gets ``error`` raised.
            return Failed(message=message, data=error)  # type: ignore[return-value]

    # Prefect resolves string annotations (``from __future__ import annotations``) in the
    # namespace of the function it is given: hand it the evaluated ones of ``fn``.
    with contextlib.suppress(NameError, TypeError):
        wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return wrapper


class _ChronosTracebacksAtDebug(logging.Filter):
    """Drop the traceback of an ERROR record about a ChronosError; repeat it at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if record.levelno >= logging.ERROR and exc_info and isinstance(exc_info[1], ChronosError):
            record.exc_info = None
            record.exc_text = None
            logging.getLogger(record.name).debug("traceback of: %s", exc_info[1], exc_info=exc_info)
        return True


_FILTER = _ChronosTracebacksAtDebug()


def quiet_chronos_tracebacks(names: tuple[str, ...] = ENGINE_LOGGERS) -> None:
    """Install the filter on Prefect's run loggers (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


quiet_chronos_tracebacks()
