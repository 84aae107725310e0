"""Bad input, against a real local Prefect server: refused before a run exists where the form
can tell, otherwise a failed run whose state message is the one-line Chronos error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chronos_core.settings import Settings
from cli.local_server import LocalPrefectServer
from deployments.catalog import DEPLOYMENTS

pytestmark = pytest.mark.slow


@pytest.fixture
def on_local_server(local_prefect_server: LocalPrefectServer) -> Iterator[str]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: local_prefect_server.api_url}):
        yield local_prefect_server.api_url


def logs_of(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        return list(
            client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
        )


def test_unknown_model_fails_the_run_with_one_line(
    on_local_server: str, settings: Settings
) -> None:
    from flows.training import train_model

    model_id = str(uuid.uuid4())
    state = train_model(model_id=model_id, return_state=True)
    assert state.is_failed()
    assert state.message == f"model {model_id} not found"
    logs = logs_of(state.state_details.flow_run_id)
    errors = [log.message for log in logs if log.level >= 40]
    assert f"model {model_id} not found" in errors
    assert not [message for message in errors if "Traceback" in message], errors


def test_the_api_refuses_a_forbidden_entity_id_before_a_run_exists(on_local_server: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    (spec,) = [s for s in DEPLOYMENTS if s.full_name == "register-model/on-demand"]
    deployment_id = spec.to_runner_deployment().apply()
    parameters = {
        "definition": {
            "model_type": "lstm",
            "entity_type": "Room",
            "entity_id": "Room$1",
            "feature": "temperature",
        }
    }
    with get_client(sync_client=True) as client:
        with pytest.raises(PrefectHTTPStatusError) as refused:
            client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
        assert refused.value.response.status_code in (409, 422)
        assert "entity_id" in refused.value.response.text
        parameters["definition"]["entity_id"] = "Room1"
        run = client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
        client.delete_flow_run(run.id)
