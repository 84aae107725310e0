"""docs/operations.md shows the deployments as they are declared (generated table), and the
automation it tells operators to create is valid.

Regenerate the table after changing deployments/catalog.py:

    CHRONOS_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/deployments/test_operations_doc.py
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from deployments.catalog import DEFAULT_WORK_POOL, DEPLOYMENTS, SCHEDULE_TIMEZONE, DeploymentSpec

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
START = "<!-- deployments-table:start (generated from deployments/catalog.py) -->"
END = "<!-- deployments-table:end -->"


def _schedule(spec: DeploymentSpec) -> str:
    if spec.interval_seconds is not None:
        return f"every {spec.interval_seconds} s"
    if spec.cron is not None:
        return f"cron `{spec.cron}` ({SCHEDULE_TIMEZONE})"
    return "on demand"


def _concurrency(spec: DeploymentSpec) -> str:
    if spec.concurrency_limit is None:
        return "no limit"
    strategy = (
        "later runs wait" if spec.collision_strategy == "ENQUEUE" else "overlapping run cancelled"
    )
    return f"{spec.concurrency_limit} at a time, {strategy}"


def render_deployments_table() -> str:
    lines = [
        "| Deployment | Entrypoint | Schedule | Concurrency | Work pool (`prefect.yaml`) |",
        "|---|---|---|---|---|",
    ]
    for spec in DEPLOYMENTS:
        lines.append(
            f"| `{spec.full_name}` | `{spec.entrypoint}` | {_schedule(spec)} "
            f"| {_concurrency(spec)} | `{DEFAULT_WORK_POOL}` |"
        )
    return "\n".join(lines)


def test_operations_doc_lists_the_deployments() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert START in text and END in text, f"{DOC} lost its generated-table markers"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    expected = f"{head}{START}\n{render_deployments_table()}\n{END}{tail}"
    if os.environ.get("CHRONOS_UPDATE_DOCS") == "1":
        DOC.write_text(expected, encoding="utf-8")
    assert text == expected, (
        "docs/operations.md is out of date with deployments/catalog.py; regenerate it with "
        "CHRONOS_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/deployments/test_operations_doc.py"
    )


def test_zombie_automation_is_valid() -> None:
    from prefect.automations import AutomationCore
    from prefect.client.schemas.objects import StateType

    path = ROOT / "deployments" / "automations" / "crash-zombie-flows.yaml"
    automation = AutomationCore.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert automation.trigger.within.total_seconds() == 540  # type: ignore[union-attr]
    (action,) = automation.actions
    assert action.state is StateType.CRASHED  # type: ignore[union-attr]
    assert "crash-zombie-flows.yaml" in DOC.read_text(encoding="utf-8")
