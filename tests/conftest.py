"""Shared fixtures: a real MongoDB-wire server for the session, a fresh database per test, and
settings pointing at it.

Set ``CHRONOS_TEST_MONGODB_URI`` to run the suite against an existing MongoDB server instead of
the embedded SecantusDB one.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from chronos_core.domain.model import Model, ModelDefinition
from chronos_core.settings import Settings, get_settings

TEST_DB_PREFIX = "chronos_test_"


def pytest_sessionfinish() -> None:
    """Stop any temporary API server Prefect started and still runs, quietly, now: left to
    Prefect's exit hook, the stop is logged to a stream pytest has already closed, and a
    logging traceback ends the test output. (Prefect keeps them in a private registry.)"""
    server = sys.modules.get("prefect.server.api.server")
    if server is None:
        return
    logging.getLogger("prefect").disabled = True
    for instance in list(server.SubprocessASGIServer._instances.values()):
        instance.stop()


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """URI of the session's MongoDB-wire server (SecantusDB on a free port in a temp dir)."""
    external = os.environ.get("CHRONOS_TEST_MONGODB_URI")
    if external:
        yield external
        return
    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server

    data_dir = Path(tempfile.mkdtemp(prefix="chronos-test-db-"))
    # exit_with_parent: the server also goes if this test process is killed.
    server = ensure_embedded_server(data_dir, port=0, exit_with_parent=os.getpid())
    try:
        yield server.uri
    finally:
        from chronos_core.storage.database import close_clients

        close_clients()
        stop_embedded_server(data_dir)


@pytest.fixture
def db(mongodb_uri: str) -> Iterator[Database[dict[str, Any]]]:
    """A fresh, bootstrapped database with a unique name, dropped after the test."""
    from chronos_core.storage.database import bootstrap, client_for

    client = client_for(mongodb_uri)
    database = client[f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:12]}"]
    bootstrap(database)
    try:
        yield database
    finally:
        client.drop_database(database.name)


@pytest.fixture
def settings(
    mongodb_uri: str,
    db: Database[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """Settings on the test database, also exported as ``CHRONOS_*`` variables so that code
    calling ``get_settings()`` (or a subprocess) sees the same configuration."""
    values = {
        "mongodb_uri": mongodb_uri,
        "mongodb_database": db.name,
        "data_dir": str(tmp_path / "chronos-data"),
        "http_backoff_seconds": "0.001",
    }
    for name, value in values.items():
        monkeypatch.setenv(f"CHRONOS_{name.upper()}", value)
    get_settings.cache_clear()
    configured = Settings(_env_file=None)
    try:
        yield configured
    finally:
        get_settings.cache_clear()


@pytest.fixture
def model_definition() -> dict[str, Any]:
    """A small valid model definition (what a user submits)."""
    return {
        "model_type": "lstm",
        "feature": "temperature",
        "entity_type": "Room",
        "entity_id": "Room1",
        "epochs": 2,
        "rnn_layers": [{"units": 4}],
        "lookback_window": 6,
    }


@pytest.fixture
def make_model(model_definition: dict[str, Any]) -> Callable[..., Model]:
    """``make_model(**changes)``: a draft ``Model`` (not stored) from the definition above."""

    def build(**changes: Any) -> Model:
        definition = ModelDefinition.model_validate({**model_definition, **changes})
        return Model.register(definition, service="smart", service_path="/")

    return build


Race = Callable[[int, Callable[[int], Any]], list[Any]]


@pytest.fixture
def race() -> Race:
    """``race(n, action)``: run ``action(i)`` in ``n`` threads released at the same instant;
    returns each thread's result, or the exception it raised."""

    def run_all(n: int, action: Callable[[int], Any]) -> list[Any]:
        barrier = threading.Barrier(n)
        results: list[Any] = [None] * n

        def run(i: int) -> None:
            barrier.wait()
            try:
                results[i] = action(i)
            except Exception as error:
                results[i] = error

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    return run_all


@pytest.fixture(scope="session")
def fiware_sandbox() -> Iterator[Any]:
    """One FIWARE sandbox (STH-Comet, Orion, IoT Agent on free ports) for the session."""
    from fiware_sandbox import FiwareSandbox

    with FiwareSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def fiware(
    fiware_sandbox: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The sandbox, emptied, with CHRONOS_*_URL pointing at it (on top of ``settings``)."""
    fiware_sandbox.clear()
    for key, url in fiware_sandbox.urls.items():
        monkeypatch.setenv(f"CHRONOS_{key.upper()}", url)
    get_settings.cache_clear()
    yield fiware_sandbox
    fiware_sandbox.clear()
    get_settings.cache_clear()
