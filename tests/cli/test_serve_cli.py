"""``chronos serve`` and ``chronos sandbox``: what they start and stop.

Serving blocks until SIGTERM and a Prefect server takes tens of seconds to start, so the
blocking parts are replaced by recorders here; docs/operations.md records the same commands run
for real against a Prefect server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from chronos_core.settings import Settings
from tests import patient_http

Invoke = Callable[..., Any]  # the `chronos` fixture (tests/cli/conftest.py)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import deployments.serve as serve_module

    seen: dict[str, Any] = {}

    def fake_serve_deployments(specs: Any = None, *, limit: int | None = None) -> None:
        import os

        seen["limit"] = limit
        seen["api_url"] = os.environ.get("PREFECT_API_URL")

    monkeypatch.setattr(serve_module, "serve_deployments", fake_serve_deployments)
    return seen


def test_serve_uses_the_configured_server(
    chronos: Invoke, served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    result = chronos("serve", "--limit", "3")
    assert result.exit_code == 0, result.stderr
    assert served == {"limit": 3, "api_url": "http://prefect.example:4200/api"}


def test_serve_starts_and_stops_a_local_server(
    chronos: Invoke,
    served: dict[str, Any],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cli.local_server as local_server

    events: list[str] = []
    state_during_serve: dict[str, Any] = {}
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(
        local_server.LocalPrefectServer, "start", lambda self: events.append("start")
    )
    monkeypatch.setattr(local_server.LocalPrefectServer, "stop", lambda self: events.append("stop"))

    import deployments.serve as serve_module

    inner = serve_module.serve_deployments

    def record_state(specs: Any = None, *, limit: int | None = None) -> None:
        state_file = settings.data_dir / "prefect" / "serve.json"
        state_during_serve.update(json.loads(state_file.read_text()))
        inner(specs, limit=limit)

    monkeypatch.setattr(serve_module, "serve_deployments", record_state)
    result = chronos("serve", "--port", "4399")
    assert result.exit_code == 0, result.stderr
    assert events == ["start", "stop"]
    assert served["api_url"] == "http://127.0.0.1:4399/api"
    assert state_during_serve["api_url"] == "http://127.0.0.1:4399/api"
    assert not (settings.data_dir / "prefect" / "serve.json").exists()
    assert "Prefect UI: http://127.0.0.1:4399" in result.stdout


def test_serve_refuses_a_bad_port(chronos: Invoke) -> None:
    result = chronos("serve", "--port", "70000")
    assert result.exit_code == 2 and result.stderr.startswith("Error: Invalid value for '--port'")


def test_sandbox_serves_until_stopped(chronos: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import fiware_sandbox as sandbox_package

    real_run_sandbox = sandbox_package.run_sandbox
    stop = threading.Event()
    answers: dict[str, int] = {}

    def run_and_probe(*args: Any, **kwargs: Any) -> None:
        on_ready = args[4]

        def probe(urls: dict[str, str]) -> None:
            on_ready(urls)
            answers.update(
                {key: patient_http.get(f"{url}/version").status_code for key, url in urls.items()}
            )
            stop.set()

        real_run_sandbox(*args[:4], probe, stop_event=stop)

    monkeypatch.setattr(sandbox_package, "run_sandbox", run_and_probe)
    result = chronos("sandbox", "--sth-port", "0", "--orion-port", "0", "--iot-agent-port", "0")
    assert result.exit_code == 0, result.stderr
    assert answers == {"sth_url": 200, "orion_url": 200, "iot_agent_url": 200}
    assert "export CHRONOS_STH_URL=http://127.0.0.1:" in result.stdout
    assert "FIWARE sandbox stopped." in result.stdout


def test_sandbox_ngsi_ld_serves_the_ld_parts_and_prints_ld_exports(
    chronos: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fiware_sandbox as sandbox_package

    real_run_sandbox = sandbox_package.run_sandbox
    stop = threading.Event()
    answers: dict[str, int] = {}

    def run_and_probe(*args: Any, **kwargs: Any) -> None:
        on_ready = args[4]

        def probe(urls: dict[str, str]) -> None:
            on_ready(urls)
            ld = urls["orion_ld_url"]
            answers["orion_ld"] = patient_http.get(f"{ld}/version").status_code
            answers["context"] = patient_http.get(f"{ld}/chronos/context.jsonld").status_code
            temporal = f"{urls['ngsi_ld_temporal_url']}/ngsi-ld/v1/temporal/entities/urn:x:y"
            answers["temporal"] = patient_http.get(temporal).status_code
            stop.set()

        real_run_sandbox(*args[:4], probe, stop_event=stop, **kwargs)

    monkeypatch.setattr(sandbox_package, "run_sandbox", run_and_probe)
    ports = ["--sth-port", "0", "--orion-port", "0", "--iot-agent-port", "0"]
    ld_ports = ["--orion-ld-port", "0", "--temporal-port", "0"]
    result = chronos("sandbox", "--ngsi-ld", *ports, *ld_ports)
    assert result.exit_code == 0, result.stderr
    # The temporal API answers 404 for an unknown entity (Orion-LD itself would say 501).
    assert answers == {"orion_ld": 200, "context": 200, "temporal": 404}
    exports = dict(
        line.strip().removeprefix("export ").split("=", 1)
        for line in result.stdout.splitlines()
        if line.strip().startswith("export ")
    )
    assert exports["CHRONOS_NGSI_FLAVOUR"] == "ld"
    assert exports["CHRONOS_ORION_LD_URL"].startswith("http://127.0.0.1:")
    assert exports["CHRONOS_NGSI_LD_TEMPORAL_URL"].startswith("http://127.0.0.1:")
    assert exports["CHRONOS_NGSI_LD_CONTEXT_URL"] == (
        exports["CHRONOS_ORION_LD_URL"] + "/chronos/context.jsonld"
    )
    assert {"CHRONOS_STH_URL", "CHRONOS_ORION_URL", "CHRONOS_IOT_AGENT_URL"} <= set(exports)
