"""Every Chronos deployment, declared once.

``deployments/serve.py`` serves this list from one process, and ``deployments/prefect_yaml.py``
writes it as the ``prefect.yaml`` at the project root (``chronos deployments export``; used with
``prefect deploy --all`` and a process worker). A test fails while the committed file differs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

#: The work pool the ``prefect.yaml`` deployments run on (also ``CHRONOS_WORK_POOL``'s default).
DEFAULT_WORK_POOL = "chronos"
#: Timezone of every cron schedule.
SCHEDULE_TIMEZONE = "UTC"

CollisionStrategy = Literal["ENQUEUE", "CANCEL_NEW"]


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment: which flow runs, under what name, when, and how many at a time."""

    flow_name: str
    """The Prefect flow name (``@flow(name=...)``), e.g. ``train-model``."""
    entrypoint: str
    """``path/to/file.py:function``, relative to the project root."""
    description: str
    name: str = "on-demand"
    """The deployment name: says how or when the flow runs (``on-demand``, ``hourly``)."""
    tags: tuple[str, ...] = ()
    interval_seconds: int | None = None
    cron: str | None = None
    concurrency_limit: int | None = None
    collision_strategy: CollisionStrategy = "ENQUEUE"
    parameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.interval_seconds is not None and self.cron is not None:
            raise ValueError(f"{self.full_name}: give an interval or a cron schedule, not both")
        if ":" not in self.entrypoint or not self.entrypoint.split(":")[0].endswith(".py"):
            raise ValueError(f"{self.full_name}: entrypoint must look like 'flows/x.py:function'")

    @property
    def full_name(self) -> str:
        """``flow-name/deployment-name``, as ``prefect deployment run`` expects."""
        return f"{self.flow_name}/{self.name}"

    @property
    def module(self) -> str:
        """The importable module of the flow (``flows.training``)."""
        path = self.entrypoint.split(":")[0]
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.split(":")[1]

    @property
    def is_scheduled(self) -> bool:
        return self.interval_seconds is not None or self.cron is not None

    def load_flow(self) -> Flow[..., Any]:
        """Import the flow object (imports its module, never TensorFlow at module level)."""
        module = importlib.import_module(self.module)
        flow = getattr(module, self.function)
        if getattr(flow, "name", None) != self.flow_name:
            raise ValueError(
                f"{self.entrypoint} is flow {getattr(flow, 'name', None)!r}, "
                f"expected {self.flow_name!r}"
            )
        return flow

    def to_runner_deployment(self) -> RunnerDeployment:
        """The deployment for ``serve()``: module entrypoint, schedules active, never paused."""
        from prefect.client.schemas.objects import (
            ConcurrencyLimitConfig,
            ConcurrencyLimitStrategy,
        )
        from prefect.deployments.runner import RunnerDeployment
        from prefect.schedules import Cron, Interval, Schedule
        from prefect.types.entrypoint import EntrypointType

        schedules: list[Schedule] = []
        if self.interval_seconds is not None:
            schedules.append(
                Interval(self.interval_seconds, timezone=SCHEDULE_TIMEZONE, slug=self.name)
            )
        if self.cron is not None:
            schedules.append(Cron(self.cron, timezone=SCHEDULE_TIMEZONE, slug=self.name))
        concurrency: ConcurrencyLimitConfig | None = None
        if self.concurrency_limit is not None:
            concurrency = ConcurrencyLimitConfig(
                limit=self.concurrency_limit,
                collision_strategy=ConcurrencyLimitStrategy(self.collision_strategy),
            )
        deployment = self.load_flow().to_deployment(
            name=self.name,
            schedules=schedules or None,
            # Explicitly unpaused: a restarted serve process resumes the schedules.
            paused=False,
            concurrency_limit=concurrency,
            parameters=dict(self.parameters),
            description=self.description,
            tags=list(self.tags),
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        # ``to_deployment`` is sync outside an event loop (its async twin is ``ato_deployment``).
        assert isinstance(deployment, RunnerDeployment)
        return deployment


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    # --- model management ---
    DeploymentSpec(
        flow_name="register-model",
        entrypoint="flows/models.py:register_model",
        description="Register a forecasting model (a draft) and return its id.",
        tags=("models",),
    ),
    DeploymentSpec(
        flow_name="update-model",
        entrypoint="flows/models.py:update_model",
        description="Change fields of a draft model.",
        tags=("models",),
    ),
    DeploymentSpec(
        flow_name="delete-model",
        entrypoint="flows/models.py:delete_model",
        description=(
            "Delete a model with its training jobs and artifacts, optionally also its forecast "
            "entity in Orion."
        ),
        tags=("models",),
    ),
    # --- training ---
    DeploymentSpec(
        flow_name="train-model",
        entrypoint="flows/training.py:train_model",
        description=(
            "Collect a model's history from STH-Comet, train the network and store it. "
            "At most two trainings run at once; one active job per model is enforced by "
            "the database."
        ),
        tags=("training",),
        concurrency_limit=2,
    ),
    DeploymentSpec(
        flow_name="cancel-training",
        entrypoint="flows/training.py:cancel_training",
        description="Cancel a training job and its Prefect flow run.",
        tags=("training",),
    ),
    # --- forecasting ---
    DeploymentSpec(
        flow_name="forecast",
        entrypoint="flows/forecast.py:forecast",
        description="Forecast with a trained model and (by default) publish it to Orion.",
        tags=("forecasting",),
    ),
    DeploymentSpec(
        flow_name="enable-forecasts",
        entrypoint="flows/predictions.py:enable_forecasts",
        description="Turn on recurring forecasts for a completed training job.",
        tags=("forecasting",),
    ),
    DeploymentSpec(
        flow_name="disable-forecasts",
        entrypoint="flows/predictions.py:disable_forecasts",
        description="Turn off recurring forecasts for a training job.",
        tags=("forecasting",),
    ),
    DeploymentSpec(
        flow_name="run-due-forecasts",
        name="every-minute",
        entrypoint="flows/predictions.py:run_due_forecasts",
        description="One scheduler sweep: run every recurring forecast that is due.",
        tags=("forecasting", "scheduler"),
        interval_seconds=60,
        concurrency_limit=1,
        collision_strategy="CANCEL_NEW",
    ),
    # --- operations ---
    DeploymentSpec(
        flow_name="discover-devices",
        entrypoint="flows/devices.py:discover_devices",
        description="List the IoT Agent's devices grouped by entity type and attribute.",
        tags=("operations",),
    ),
    DeploymentSpec(
        flow_name="chronos-health",
        entrypoint="flows/health.py:chronos_health",
        description="Check MongoDB, STH-Comet, Orion and the IoT Agent (reachability, latency).",
        tags=("operations",),
    ),
    DeploymentSpec(
        flow_name="chronos-maintenance",
        name="hourly",
        entrypoint="flows/maintenance.py:chronos_maintenance",
        description=(
            "Reconcile training jobs whose flow run died, remove orphan artifacts and expire "
            "old forecasts."
        ),
        tags=("operations", "scheduler"),
        cron="0 * * * *",
        concurrency_limit=1,
        collision_strategy="CANCEL_NEW",
    ),
)
