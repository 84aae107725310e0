"""The deployment catalog, prefect.yaml and the flows' signatures agree with each other."""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployments.catalog import DEFAULT_WORK_POOL, DEPLOYMENTS, SCHEDULE_TIMEZONE, DeploymentSpec

ROOT = Path(__file__).resolve().parents[2]

# Flows every other engineer's modules must provide; a missing module is reported as a skip
# naming it, never silently ignored.
EXPECTED = {
    "register-model/on-demand",
    "update-model/on-demand",
    "delete-model/on-demand",
    "train-model/on-demand",
    "cancel-training/on-demand",
    "forecast/on-demand",
    "enable-forecasts/on-demand",
    "disable-forecasts/on-demand",
    "run-due-forecasts/every-minute",
    "discover-devices/on-demand",
    "chronos-health/on-demand",
    "chronos-maintenance/hourly",
}


@pytest.fixture(scope="module")
def prefect_yaml() -> dict[str, Any]:
    with (ROOT / "prefect.yaml").open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


def _yaml_deployment(prefect_yaml: dict[str, Any], spec: DeploymentSpec) -> dict[str, Any]:
    matches = [
        d
        for d in prefect_yaml["deployments"]
        if d["entrypoint"] == spec.entrypoint and d["name"] == spec.name
    ]
    assert len(matches) == 1, f"{spec.full_name}: {len(matches)} entries in prefect.yaml"
    return matches[0]


def _flow_or_skip(spec: DeploymentSpec) -> Any:
    if importlib.util.find_spec(spec.module) is None:
        pytest.skip(f"{spec.module} does not exist yet ({spec.full_name})")
    return spec.load_flow()


def test_catalog_names_the_agreed_deployments() -> None:
    names = [spec.full_name for spec in DEPLOYMENTS]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED


def test_entrypoint_functions_are_named_after_their_flows() -> None:
    # `prefect deploy -n flow-name/deployment-name` finds a deployment by its entrypoint's
    # function name (dashes read as underscores).
    for spec in DEPLOYMENTS:
        assert spec.function == spec.flow_name.replace("-", "_"), spec.full_name


def test_prefect_yaml_is_generated_from_the_catalog() -> None:
    from deployments.prefect_yaml import PREFECT_YAML, render

    assert PREFECT_YAML == ROOT / "prefect.yaml"
    assert PREFECT_YAML.read_text(encoding="utf-8") == render(), (
        "prefect.yaml differs from the catalogue: run `chronos deployments export`"
    )


def test_export_check_reports_a_stale_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    target = tmp_path / "prefect.yaml"
    runner = CliRunner()
    stale = runner.invoke(app, ["deployments", "export", "--check", "--output", str(target)])
    assert stale.exit_code == 1
    assert runner.invoke(app, ["deployments", "export", "--output", str(target)]).exit_code == 0
    fresh = runner.invoke(app, ["deployments", "export", "--check", "--output", str(target)])
    assert fresh.exit_code == 0, fresh.output


def test_prefect_yaml_has_exactly_the_catalog(prefect_yaml: dict[str, Any]) -> None:
    in_yaml = sorted((d["entrypoint"], d["name"]) for d in prefect_yaml["deployments"])
    in_catalog = sorted((spec.entrypoint, spec.name) for spec in DEPLOYMENTS)
    assert in_yaml == in_catalog


@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda spec: spec.full_name)
def test_prefect_yaml_entry_matches_catalog(
    prefect_yaml: dict[str, Any], spec: DeploymentSpec
) -> None:
    entry = _yaml_deployment(prefect_yaml, spec)
    assert " ".join(entry["description"].split()) == spec.description
    assert tuple(entry["tags"]) == spec.tags
    assert entry.get("parameters", {}) == dict(spec.parameters)
    assert entry["work_pool"]["name"] == DEFAULT_WORK_POOL

    schedules = entry.get("schedules") or []
    if spec.interval_seconds is not None:
        assert schedules == [
            {
                "interval": spec.interval_seconds,
                "timezone": SCHEDULE_TIMEZONE,
                "slug": spec.name,
                "active": True,
            }
        ]
    elif spec.cron is not None:
        assert schedules == [
            {"cron": spec.cron, "timezone": SCHEDULE_TIMEZONE, "slug": spec.name, "active": True}
        ]
    else:
        assert schedules == []

    if spec.concurrency_limit is None:
        assert "concurrency_limit" not in entry
    else:
        assert entry["concurrency_limit"] == {
            "limit": spec.concurrency_limit,
            "collision_strategy": spec.collision_strategy,
        }


def test_work_pool_and_pull_step(prefect_yaml: dict[str, Any]) -> None:
    pools = {d["work_pool"]["name"] for d in prefect_yaml["deployments"]}
    assert pools == {DEFAULT_WORK_POOL}
    (step,) = prefect_yaml["pull"]
    assert list(step) == ["prefect.deployments.steps.set_working_directory"]
    assert prefect_yaml["build"] is None and prefect_yaml["push"] is None


def test_scheduler_deployments_never_overlap() -> None:
    for spec in DEPLOYMENTS:
        if spec.is_scheduled:
            assert spec.concurrency_limit == 1 and spec.collision_strategy == "CANCEL_NEW", spec
    sweep = next(spec for spec in DEPLOYMENTS if spec.flow_name == "run-due-forecasts")
    assert sweep.interval_seconds == 60


def _jsonable_default(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda spec: spec.full_name)
def test_deployment_matches_flow_signature(spec: DeploymentSpec) -> None:
    from prefect.utilities.callables import parameter_schema

    flow = _flow_or_skip(spec)
    assert flow.name == spec.flow_name
    signature = inspect.signature(flow.fn)
    assert set(spec.parameters) <= set(signature.parameters), (
        f"{spec.full_name} binds parameters its flow does not take"
    )
    for name, value in spec.parameters.items():
        assert value != signature.parameters[name].default, (
            f"{spec.full_name}: parameter {name} repeats the flow default; leave it out"
        )

    schema = parameter_schema(flow).model_dump()
    assert list(schema["properties"]) == list(signature.parameters)
    for name, parameter in signature.parameters.items():
        if parameter.default is inspect.Parameter.empty:
            assert name in schema["required"]
        else:
            assert schema["properties"][name].get("default") == _jsonable_default(
                parameter.default
            ), f"{spec.full_name}: default of {name}"


@pytest.mark.parametrize("spec", DEPLOYMENTS, ids=lambda spec: spec.full_name)
def test_runner_deployment_builds(spec: DeploymentSpec) -> None:
    _flow_or_skip(spec)
    deployment = spec.to_runner_deployment()
    assert deployment.name == spec.name
    assert deployment.entrypoint == f"{spec.module}.{spec.function}"
    assert deployment.paused is False
    assert len(deployment.schedules or []) == (1 if spec.is_scheduled else 0)
    if spec.concurrency_limit is not None:
        assert deployment.concurrency_limit == spec.concurrency_limit
        options = deployment.concurrency_options
        assert options is not None
        assert options.collision_strategy.value == spec.collision_strategy


def test_serve_never_pauses_schedules_on_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect

    from deployments import serve as serve_module

    seen: dict[str, Any] = {}

    def fake_serve(*deployments: Any, **kwargs: Any) -> None:
        seen["deployments"] = deployments
        seen.update(kwargs)

    # Serving blocks until SIGTERM; what matters is how it is called.
    monkeypatch.setattr(prefect, "serve", fake_serve)
    specs = [spec for spec in DEPLOYMENTS if spec.flow_name == "chronos-health"]
    serve_module.serve_deployments(specs, limit=3)
    assert seen["pause_on_shutdown"] is False
    assert seen["limit"] == 3
    assert [d.name for d in seen["deployments"]] == ["on-demand"]
