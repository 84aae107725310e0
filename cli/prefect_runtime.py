"""Preparing this process to run Chronos flows in-process (``chronos train``, ``forecast``, ...).

Call :func:`prepare` before anything imports Prefect: it decides which Prefect API the flows
report to and keeps Prefect's console logging out of the way of the command's own output.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import typer

from chronos_core.process import process_alive

SERVE_STATE_FILENAME = "serve.json"
#: Seconds the temporary in-process Prefect API may take to start (Prefect's default: 20).
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 240


def default_prefect_home() -> Path:
    """``PREFECT_HOME`` of the server ``chronos serve`` starts: ``<CHRONOS_DATA_DIR>/prefect``."""
    from cli.context import load_settings

    return load_settings().data_dir.expanduser() / "prefect"


def serve_state_file() -> Path:
    """Where ``chronos serve`` records the local Prefect server it started."""
    return default_prefect_home() / SERVE_STATE_FILENAME


def record_local_server(api_url: str) -> None:
    path = serve_state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"api_url": api_url, "pid": os.getpid()}), encoding="utf-8")


def forget_local_server() -> None:
    serve_state_file().unlink(missing_ok=True)


def running_local_server() -> str | None:
    """The API URL of a server started by ``chronos serve`` that is still up, else ``None``."""
    from cli.local_server import prefect_api_healthy

    try:
        state: dict[str, Any] = json.loads(serve_state_file().read_text("utf-8"))
        api_url = str(state["api_url"])
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return api_url if process_alive(pid) and prefect_api_healthy(api_url) else None


def prepare(*, verbose: bool = False) -> str:
    """Choose the Prefect API for this process; returns a short description of it.

    ``PREFECT_API_URL`` wins. Otherwise, if ``chronos serve`` is running its local server, flow
    runs go there (so they show in its UI and its maintenance sees them). Otherwise Prefect
    starts a temporary in-process API.
    """
    # Prefect's 20 s default is too short on a busy machine; prefect.toml says the same, but it
    # is only read when the command runs in the project directory.
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_TIMEOUT_SECONDS)
    )
    if not verbose:
        # Keep Prefect's log lines (and the tracebacks it logs for a failed run) off the
        # terminal: the command reports the outcome in one line. They still reach the API.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    api_url = os.environ.get("PREFECT_API_URL")
    if api_url:
        return f"Prefect server at {api_url}"
    local = running_local_server()
    if local is not None:
        os.environ["PREFECT_API_URL"] = local
        return f"Prefect server of `chronos serve` at {local}"
    return "a temporary local Prefect API"


def announce(action: str, *, verbose: bool = False) -> None:
    """Prepare Prefect and say on stderr what is about to run where."""
    where = prepare(verbose=verbose)
    typer.echo(f"{action} (flow runs report to {where}) ...", err=True)


def run_flow(
    entrypoint: str, *args: Any, verbose: bool, action: str | None = None, **kwargs: Any
) -> Any:
    """Announce ``action`` (default: ``Running flow-name``), then run the flow
    ``module:function`` in this process, imported only once :func:`prepare` chose the API."""
    module, function = entrypoint.split(":")
    announce(action or f"Running {function.replace('_', '-')}", verbose=verbose)
    return getattr(importlib.import_module(module), function)(*args, **kwargs)
