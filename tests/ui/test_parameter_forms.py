"""The deployment forms: help text on every parameter, what to forecast first, real defaults,
and the rules a form enforces before a run exists."""

from __future__ import annotations

import re

import pytest
from prefect.utilities.schema_tools.validation import validate

from chronos_core.domain.identifiers import _NGSI_FORBIDDEN, NGSI_NAME_PATTERN
from deployments.catalog import DEPLOYMENTS, DeploymentSpec
from tests.ui.schema_checks import missing_help


def deployment_schema(spec: DeploymentSpec) -> dict:
    """The parameter schema ``chronos serve`` registers for ``spec``."""
    return spec.to_runner_deployment()._parameter_openapi_schema.model_dump_for_openapi()


@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda spec: spec.full_name)
def test_every_parameter_has_a_title_and_a_description(spec: DeploymentSpec) -> None:
    assert missing_help(deployment_schema(spec)) == []


def register_schema() -> dict:
    (spec,) = [s for s in DEPLOYMENTS if s.flow_name == "register-model"]
    return deployment_schema(spec)


def test_register_form_asks_what_to_forecast_first_and_shows_real_defaults() -> None:
    definition = register_schema()["definitions"]["ModelDefinition"]["properties"]
    assert list(definition)[:3] == ["entity_type", "entity_id", "feature"]
    assert [definition[name]["position"] for name in list(definition)[:3]] == [0, 1, 2]
    assert definition["rnn_layers"]["default"] == [
        {"units": 64, "dropout": 0.1, "recurrent_dropout": 0.0}
    ]
    assert "sampling interval" in definition["lookback_window"]["description"]
    assert "sampling interval" in definition["forecast_horizon"]["description"]


def definition_with(**fields: str) -> dict:
    return {
        "definition": {
            "model_type": "lstm",
            "entity_type": "Room",
            "entity_id": "Room1",
            "feature": "temperature",
            **fields,
        }
    }


@pytest.mark.parametrize("bad", ["Room$1", "Room 1", "a/b", "x'y", "tab\there"])
def test_the_form_refuses_names_fiware_forbids(bad: str) -> None:
    schema = register_schema()
    assert validate(definition_with(), schema) == []
    errors = validate(definition_with(entity_id=bad), schema)
    assert errors, bad


def test_schema_pattern_matches_the_python_rule() -> None:
    for char in [*sorted(_NGSI_FORBIDDEN), " ", "\n", "\x01"]:
        assert not re.match(NGSI_NAME_PATTERN, f"a{char}b"), repr(char)
    assert re.match(NGSI_NAME_PATTERN, "urn:ngsi-ld:Room:1_a-b.c")


def test_a_bad_uuid_is_refused_without_quoting_a_regex() -> None:
    (spec,) = [s for s in DEPLOYMENTS if s.flow_name == "train-model"]
    errors = validate({"model_id": "not-a-uuid"}, deployment_schema(spec))
    messages = [error.message for error in errors]
    assert messages == ["'not-a-uuid' is not a 'uuid'"]
