"""``chronos demo``: the whole job in one command, on a fresh machine.

An embedded database and an in-process FIWARE sandbox seeded with a real sensor series (the
NERACOOS B01 buoy's sea-surface temperature, 30-minute readings); then the same flows a user runs:
register a model, train it, compare it with the naive baselines, forecast, publish to Orion and
draw history plus forecast.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import console

DATA_FILE = "sea_surface_temperature.csv.gz"
ENTITY_TYPE = "Buoy"
ENTITY_ID = "NERACOOS-B01"
FEATURE = "temperature"


def load_demo_series() -> Any:
    """The shipped buoy series as a float Series on a UTC index."""
    import pandas as pd

    raw = resources.files("chronos_core.data").joinpath(DATA_FILE).read_bytes()
    frame = pd.read_csv(
        __import__("io").StringIO(gzip.decompress(raw).decode("utf-8")),
    )
    index = pd.DatetimeIndex(pd.to_datetime(frame.iloc[:, 0], utc=True), name="timestamp")
    return pd.Series(frame.iloc[:, 1].to_numpy(dtype="float64"), index=index)


def demo(
    fast: Annotated[
        bool, typer.Option("--fast", help="Fewer points and epochs (about a minute).")
    ] = False,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Where to write the PNG plots.")
    ] = Path("demo-output"),
) -> None:
    """Run the end-to-end demo: embedded database, FIWARE sandbox, training, forecasting."""
    from cli.prefect_runtime import prepare

    started = time.monotonic()
    out = console()
    where = prepare()
    out.rule("[bold]Chronos demo")
    out.print(f"Flow runs report to {where}.")

    from chronos_core.fiware.orion import OrionClient
    from chronos_core.fiware.tenant import Tenant
    from chronos_core.sandbox import FiwareSandbox
    from chronos_core.settings import get_settings

    with FiwareSandbox() as sandbox:
        for name, url in (
            ("STH_URL", sandbox.sth_url),
            ("ORION_URL", sandbox.orion_url),
            ("IOT_AGENT_URL", sandbox.iot_agent_url),
        ):
            os.environ[f"CHRONOS_{name}"] = url
        get_settings.cache_clear()
        settings = get_settings()
        tenant = Tenant(settings.fiware_service, settings.fiware_servicepath)
        out.print(
            f"FIWARE sandbox: STH-Comet {sandbox.sth_url}, Orion {sandbox.orion_url}, "
            f"IoT Agent {sandbox.iot_agent_url}"
        )

        from cli.context import open_database

        db = open_database()
        out.print(
            "Database: "
            + (
                "embedded (SecantusDB)"
                if settings.uses_embedded_database
                else "CHRONOS_MONGODB_URI"
            )
            + f", database {settings.mongodb_database!r}"
        )

        # 1. Seed the sensor history; the source entity exists in Orion too.
        series = load_demo_series()
        points = 1500 if fast else 6000
        history = series.iloc[-points:]
        seeded = sandbox.sth.seed(tenant, ENTITY_TYPE, ENTITY_ID, FEATURE, history)
        with OrionClient(settings=settings) as orion:
            orion.upsert_entity(
                tenant,
                {
                    "id": ENTITY_ID,
                    "type": ENTITY_TYPE,
                    FEATURE: {"type": "Number", "value": float(history.iloc[-1])},
                },
            )
        out.print(
            f"Seeded STH-Comet with {seeded} readings of {ENTITY_ID} {FEATURE} "
            f"({history.index[0]:%Y-%m-%d} to {history.index[-1]:%Y-%m-%d}, every 30 min)."
        )

        # 2. Register a model.
        from chronos_core.domain.model import ModelDefinition
        from flows.models import register_model

        definition = ModelDefinition(
            name="Buoy B01 sea-surface temperature",
            model_type="lstm",
            feature=FEATURE,
            entity_type=ENTITY_TYPE,
            entity_id=ENTITY_ID,
            lookback_window=48,
            forecast_horizon=12,
            rnn_layers=[{"units": 16 if fast else 32, "dropout": 0.0}],
            dense_layers=[],
            epochs=2 if fast else 12,
            batch_size=64,
            learning_rate=0.003,
        )
        model_id = register_model(definition)
        out.print(f"Registered model [bold]{model_id}[/] (LSTM, 24 h in → 6 h out).")

        # 3. Train it.
        from chronos_core.storage.model_repository import ModelRepository
        from chronos_core.storage.training_job_repository import TrainingJobRepository
        from chronos_core.training.report import metrics_table, verdict
        from flows.training import train_model

        out.print("Training (collect → prepare → fit → evaluate → store) ...")
        job_id = train_model(model_id, last_n=points)
        job = TrainingJobRepository(db).get(job_id)
        out.print(
            f"Training job [bold]{job_id}[/] {job.status.value}: "
            f"{job.total_data_points_collected} points in {len(job.data_collection_jobs)} "
            f"chunk(s), {job.metrics.epochs_trained if job.metrics else '?'} epochs, "
            f"{job.total_duration_seconds or 0:.0f} s."
        )
        _print_metrics(out, metrics_table(job))
        out.print(f"[bold]{verdict(job)}[/]")

        # 4. Forecast and publish to Orion.
        from flows.forecast import forecast

        result = forecast(model_id)
        _print_forecast(out, result)
        entity_id = _forecast_entity_id(result, settings.forecast_entity_type)
        with OrionClient(settings=settings) as orion:
            entity = orion.get_entity(tenant, entity_id)
        out.print(f"Published to Orion as [bold]{entity_id}[/]:")
        out.print_json(json.dumps(_shorten(entity)))
        sandbox.orion.wait_for_deliveries(timeout=10)  # notifications are asynchronous
        stored = sandbox.sth.count(
            tenant, settings.forecast_entity_type, entity_id, "forecastSeries"
        )
        if stored:
            out.print(f"Orion notified STH-Comet, which now holds {stored} forecast(s) for it.")

        # 5. Plots.
        output_dir.mkdir(parents=True, exist_ok=True)
        written = _write_plots(db, job_id, history, result, output_dir)
        for path in written:
            out.print(f"Wrote {path}")

        model = ModelRepository(db).get(model_id)
        out.rule()
        out.print(
            f"Done in {time.monotonic() - started:.0f} s. Model {model.id} is {model.status.value}."
        )
        out.print(
            "To explore the same in the Prefect UI: run [bold]chronos serve[/] (UI at "
            "http://127.0.0.1:4200), then run [bold]chronos demo[/] again in another terminal: "
            "its flow runs, artifacts (metrics against the baselines, progress) and logs appear "
            "under Runs; the deployments page has forms for register-model, train-model, "
            "forecast and the rest."
        )


def _print_metrics(out: Any, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="Test-set errors (°C, all 12 horizon steps)")
    for column in ("forecaster", "mae", "rmse", "smape", "mase", "theil_u2"):
        table.add_column(column, justify="left" if column == "forecaster" else "right")
    for row in rows:
        table.add_row(
            str(row["forecaster"]),
            *(
                "—" if row[c] is None else f"{row[c]:.4f}"
                for c in ("mae", "rmse", "smape", "mase", "theil_u2")
            ),
        )
    out.print(table)


def _points(result: Any) -> list[dict[str, Any]]:
    data = result if isinstance(result, dict) else getattr(result, "__dict__", {})
    for key in ("points", "predictions", "forecast", "series"):
        value = data.get(key)
        if isinstance(value, list):
            return value
    return []


def _print_forecast(out: Any, result: Any) -> None:
    from rich.table import Table

    table = Table(title="Forecast")
    table.add_column("step", justify="right")
    table.add_column("target time (UTC)")
    table.add_column("°C", justify="right")
    for point in _points(result):
        table.add_row(
            str(point.get("step")),
            str(point.get("target_timestamp") or point.get("targetTimestamp")),
            f"{float(point['value']):.3f}",
        )
    out.print(table)


def _forecast_entity_id(result: Any, entity_type: str) -> str:
    data = result if isinstance(result, dict) else {}
    publication = data.get("publication") or {}
    return str(
        data.get("entity_id")
        or publication.get("entity_id")
        or f"urn:ngsi-ld:{entity_type}:{ENTITY_TYPE}:{ENTITY_ID}:{FEATURE}"
    )


def _shorten(entity: dict[str, Any]) -> dict[str, Any]:
    """The entity with long series cut to their first points, for the terminal."""
    shown = json.loads(json.dumps(entity))
    for attribute in shown.values():
        value = attribute.get("value") if isinstance(attribute, dict) else None
        if isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(inner, list) and len(inner) > 3:
                    value[key] = [*inner[:3], f"... {len(inner) - 3} more"]
    return shown


def _write_plots(db: Any, job_id: str, history: Any, result: Any, output_dir: Path) -> list[Path]:
    import numpy as np
    import pandas as pd

    from chronos_core.ml.plotting import forecast_png
    from chronos_core.storage.artifact_store import ArtifactStore
    from chronos_core.storage.training_job_repository import TrainingJobRepository

    written = []
    points = _points(result)
    recent = history.iloc[-7 * 48 :]
    target = pd.to_datetime(
        [p.get("target_timestamp") or p.get("targetTimestamp") for p in points], utc=True
    )
    png = forecast_png(
        recent.index.to_numpy(),
        recent.to_numpy(),
        target.to_numpy(),
        np.array([float(p["value"]) for p in points]),
        title="Buoy B01 sea-surface temperature: history and forecast",
        unit="°C",
    )
    path = output_dir / "forecast.png"
    path.write_bytes(png)
    written.append(path)

    job = TrainingJobRepository(db).get(job_id)
    if job.metadata_artifact_id:
        metadata = json.loads(ArtifactStore(db).download(job.metadata_artifact_id))
        for key, name in (
            ("loss_curve_png_base64", "loss_curve.png"),
            ("test_forecasts_png_base64", "test_forecasts.png"),
        ):
            encoded = metadata.get("plots", {}).get(key)
            if encoded:
                target_path = output_dir / name
                target_path.write_bytes(base64.b64decode(encoded))
                written.append(target_path)
    return written
