"""``chronos --version``, ``chronos db status|stop`` and the one-line answer when Prefect's
temporary API does not start."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from chronos_core.settings import Settings

Invoke = Callable[..., Any]  # the `chronos` fixture (tests/cli/conftest.py)


def test_version_comes_from_the_package_metadata(chronos: Invoke) -> None:
    result = chronos("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"chronos {version('chronos')}"


def test_db_status_with_a_configured_uri_names_it_redacted(
    chronos: Invoke, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHRONOS_MONGODB_URI", "mongodb://alice:secret@db.example:27017/")
    result = chronos("db", "status", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["embedded"] is False and "secret" not in result.stdout
    refused = chronos("db", "stop")
    assert refused.exit_code == 1
    assert "CHRONOS_MONGODB_URI is set" in refused.stderr


def test_db_status_and_stop_of_the_embedded_database(
    chronos: Invoke, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from chronos_core.storage.embedded import ensure_embedded_server, running_embedded_server

    data_dir = tmp_path / "own-data"
    monkeypatch.delenv("CHRONOS_MONGODB_URI")
    monkeypatch.setenv("CHRONOS_DATA_DIR", str(data_dir))
    # exit_with_parent: never outlives the test process, even if the test fails midway.
    server = ensure_embedded_server(data_dir, port=0, exit_with_parent=os.getpid())
    try:
        running = chronos("db", "status", "--json").json()
        assert running["running"] is True and running["pid"] == server.pid
        assert "chronos db stop" in chronos("db", "status").stdout
        stopped = chronos("db", "stop")
        assert stopped.exit_code == 0 and "stopped" in stopped.stdout
        assert running_embedded_server(data_dir) is None
        assert chronos("db", "status", "--json").json()["running"] is False
        assert "was not running" in chronos("db", "stop").stdout
    finally:
        from chronos_core.storage.embedded import stop_embedded_server

        stop_embedded_server(data_dir)


def test_a_slow_temporary_prefect_api_ends_in_one_line(
    chronos: Invoke,
    settings: Settings,
    db: Any,
    model_definition: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cli.prefect_runtime as runtime
    import flows.training
    from chronos_core.services.models import register_model

    model = register_model(db, model_definition, settings)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)
    monkeypatch.setattr(runtime, "running_local_server", lambda: None)

    def timed_out(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")

    monkeypatch.setattr(flows.training, "train_model", timed_out)
    result = chronos("train", model.id, "--last-n", "100")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: the temporary Prefect API did not start in time")
    assert "Traceback" not in result.stderr
    # Set for the flows this process runs, wherever the command is started from.
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "240"


def run_seeded_sandbox(
    chronos: Invoke, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[Any, dict[str, Any]]:
    """``chronos sandbox ARGS`` on free ports, stopped once ready; returns the result and what
    its STH-Comet and Orion held."""
    import threading

    import fiware_sandbox as sandbox_package

    real_run_sandbox = sandbox_package.run_sandbox
    stop = threading.Event()
    seen: dict[str, Any] = {}

    def run_and_look(*positional: Any, setup: Any = None, **kwargs: Any) -> None:
        on_ready = positional[4]

        def setup_and_look(box: Any) -> None:
            setup(box)
            seen["box"] = box

        def ready(urls: dict[str, str]) -> None:
            on_ready(urls)
            box = seen["box"]
            seen["entities"] = box.orion.entity("smart", "/", "Room1", "Room")
            seen["points"] = box.sth.points(("smart", "/"), "Room", "Room1", "temperature")
            stop.set()

        real_run_sandbox(*positional[:4], ready, setup=setup_and_look, stop_event=stop)

    monkeypatch.setattr(sandbox_package, "run_sandbox", run_and_look)
    ports = ("--sth-port", "0", "--orion-port", "0", "--iot-agent-port", "0")
    return chronos("sandbox", *ports, *args), seen


def test_sandbox_seeds_a_users_csv(
    chronos: Invoke, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    csv = tmp_path / "room.csv"
    csv.write_text(
        "timestamp,value\n"
        + "".join(f"2024-01-01T{hour:02d}:00:00Z,{20 + hour / 10}\n" for hour in range(24)),
        encoding="utf-8",
    )
    result, seen = run_seeded_sandbox(
        chronos, monkeypatch, "--seed", str(csv), "--entity-type", "Room",
        "--entity-id", "Room1", "--attribute", "temperature",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "Seeded 24 points of Room Room1 temperature (service smart, path /)" in result.stdout
    assert len(seen["points"]) == 24
    assert seen["entities"]["temperature"]["value"] == pytest.approx(22.3)


def test_sandbox_seed_options_are_checked_before_anything_starts(chronos: Invoke) -> None:
    missing = chronos("sandbox", "--seed", "no-such.csv")
    assert missing.exit_code == 2
    assert "--seed must be 'demo' or a CSV file" in missing.stderr
    bad = chronos("sandbox", "--seed", "demo", "--entity-id", "Room$1")
    assert bad.exit_code == 2 and "characters FIWARE does not allow" in bad.stderr
    alone = chronos("sandbox", "--entity-id", "Room1")
    assert alone.exit_code == 2 and "only apply with --seed" in alone.stderr
