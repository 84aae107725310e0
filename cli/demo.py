"""``chronos demo``: the whole job in one command, on a fresh machine.

An embedded database and an in-process FIWARE sandbox seeded with a real sensor series (the
NERACOOS B01 buoy's sea-surface temperature, 30-minute readings); then the same flows a user runs:
register a model, train it, compare it with the naive baselines, forecast, publish to Orion and
draw history plus forecast. ``--ngsi-ld`` runs the same in NGSI-LD mode: the series is seeded in
the sandbox Orion-LD's temporal store, read through the NGSI-LD temporal API, and the forecast is
published to Orion-LD.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import console, print_table
from cli.sandbox import DEMO_ENTITY_ID, DEMO_ENTITY_TYPE, DEMO_FEATURE

#: The same buoy in NGSI-LD mode, where ids are URIs.
LD_ENTITY_ID = f"urn:ngsi-ld:{DEMO_ENTITY_TYPE}:{DEMO_ENTITY_ID}"


def demo(
    fast: Annotated[
        bool, typer.Option("--fast", help="Fewer points and epochs (about a minute).")
    ] = False,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Where to write the PNG plots.")
    ] = Path("demo-output"),
    ngsi_ld: Annotated[
        bool,
        typer.Option(
            "--ngsi-ld",
            help="Run in NGSI-LD mode: history from the temporal API, forecasts to Orion-LD.",
        ),
    ] = False,
) -> None:
    """Run the end-to-end demo: embedded database, FIWARE sandbox, training, forecasting."""
    from cli.prefect_runtime import prepare

    started = time.monotonic()
    out = console()
    where = prepare()
    out.rule("[bold]Chronos demo" + (" (NGSI-LD)" if ngsi_ld else ""))
    out.print(f"Flow runs report to {where}.")

    from chronos_core.domain.model import ModelDefinition
    from chronos_core.errors import ExternalServiceError
    from chronos_core.fiware.tenant import Tenant
    from chronos_core.settings import get_settings
    from chronos_core.storage.model_repository import ModelRepository
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from cli.context import open_database
    from cli.jobs import print_report
    from cli.sandbox import (
        load_demo_series,
        sandbox_environment,
        seed_series,
        serve_chronos_context,
    )
    from fiware_sandbox import FiwareSandbox
    from flows.forecast import forecast
    from flows.models import register_model
    from flows.training import train_model

    ld_port = 0 if ngsi_ld else None
    with FiwareSandbox(orion_ld_port=ld_port, temporal_port=ld_port) as sandbox:
        os.environ.update(sandbox_environment(sandbox.urls, ngsi_ld))
        if ngsi_ld:
            serve_chronos_context(sandbox)
            services = (
                f"Orion-LD {sandbox.orion_ld_url}, NGSI-LD temporal API {sandbox.temporal_url}"
            )
        else:
            services = f"STH-Comet {sandbox.sth_url}, Orion {sandbox.orion_url}"
        out.print(f"FIWARE sandbox: {services}, IoT Agent {sandbox.iot_agent_url}")
        get_settings.cache_clear()
        settings = get_settings()
        tenant = Tenant.from_settings(settings)
        db = open_database()
        database = (
            "embedded (SecantusDB)" if settings.uses_embedded_database else "CHRONOS_MONGODB_URI"
        )
        out.print(f"Database: {database}, database {settings.mongodb_database!r}")

        # 1. Seed the sensor history; the source entity exists in the broker too.
        points = 1500 if fast else 6000
        history = load_demo_series().iloc[-points:]
        source_id = LD_ENTITY_ID if ngsi_ld else DEMO_ENTITY_ID
        if ngsi_ld:
            seeded = _seed_ld(sandbox, settings, history)
            store = "the NGSI-LD temporal API"
        else:
            pairs = list(zip(history.index.to_pydatetime(), history.to_numpy(), strict=True))
            entity = (DEMO_ENTITY_TYPE, DEMO_ENTITY_ID, DEMO_FEATURE)
            seeded = seed_series(sandbox, settings, tenant, entity, pairs)
            store = "STH-Comet"
        out.print(
            f"Seeded {store} with {seeded} readings of {source_id} {DEMO_FEATURE} "
            f"({history.index[0]:%Y-%m-%d} to {history.index[-1]:%Y-%m-%d}, every 30 min)."
        )

        # 2. Register a model.
        definition = ModelDefinition(
            name="Buoy B01 sea-surface temperature",
            model_type="lstm",
            feature=DEMO_FEATURE,
            entity_type=DEMO_ENTITY_TYPE,
            entity_id=source_id,
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
        out.print("Training (collect → prepare → fit → evaluate → store) ...")
        job_id = train_model(model_id, last_n=points)
        job = TrainingJobRepository(db).get(job_id)
        out.print(
            f"Training job [bold]{job_id}[/] {job.status.value}: "
            f"{job.total_data_points_collected} points in {len(job.data_collection_jobs)} "
            f"chunk(s), {job.metrics.epochs_trained if job.metrics else '?'} epochs, "
            f"{job.total_duration_seconds or 0:.0f} s."
        )
        print_report(job, ModelRepository(db).get(model_id))

        # 4. Forecast and publish to Orion.
        result = forecast(model_id)
        print_table(
            result["points"],
            {"step": "step", "target time (UTC)": "target_timestamp", "°C": "value"},
            title="Forecast",
        )
        publication = result["publication"]
        if publication["status"] != "published":
            raise ExternalServiceError(f"the forecast was not published: {publication['error']}")
        _show_publication(out, sandbox, settings, tenant, publication["entity_id"], ngsi_ld)

        # 5. Plots.
        output_dir.mkdir(parents=True, exist_ok=True)
        for path in _write_plots(db, job, history, result, output_dir):
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


def _seed_ld(sandbox: Any, settings: Any, history: Any) -> int:
    """The history in the sandbox Orion-LD's temporal store (read through the temporal API);
    the source entity holds the last reading."""
    points = [(round(moment.timestamp() * 1000), float(value)) for moment, value in history.items()]
    sandbox.orion_ld.seed_history(
        settings.fiware_service,
        DEMO_ENTITY_TYPE,
        LD_ENTITY_ID,
        DEMO_FEATURE,
        points,
        context=settings.ngsi_ld_context_url,
    )
    return len(points)


def _show_publication(
    out: Any, sandbox: Any, settings: Any, tenant: Any, entity_id: str, ngsi_ld: bool
) -> None:
    """The published forecast entity, and how many forecasts its history store holds."""
    from chronos_core.fiware.ngsi_ld_temporal import NgsiLdTemporalClient
    from chronos_core.fiware.orion import OrionClient
    from chronos_core.fiware.orion_ld import OrionLdClient

    broker, client = ("Orion-LD", OrionLdClient) if ngsi_ld else ("Orion", OrionClient)
    with client(settings=settings) as orion:
        entity = orion.get_entity(tenant, entity_id)
    out.print(f"Published to {broker} as [bold]{entity_id}[/]:")
    out.print_json(json.dumps(_shorten(entity)))
    where = (settings.forecast_entity_type, entity_id, "forecastSeries")
    if ngsi_ld:
        with NgsiLdTemporalClient(settings=settings) as temporal:
            stored = temporal.count(tenant, *where)
        holder = "The NGSI-LD temporal API holds"
    else:
        sandbox.orion.wait_for_deliveries(timeout=10)  # notifications are asynchronous
        stored = sandbox.sth.count(tenant, *where)
        holder = "Orion notified STH-Comet, which now holds"
    if stored:
        out.print(f"{holder} {stored} forecast(s) for it.")


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


def _write_plots(
    db: Any, job: Any, history: Any, result: dict[str, Any], output_dir: Path
) -> list[Path]:
    """The forecast after a week of history, and the training's own plots."""
    import numpy as np
    import pandas as pd

    from chronos_core.ml.plotting import forecast_png
    from chronos_core.services.summaries import interval_levels, stored_training_plots

    points = result["points"]
    recent = history.iloc[-7 * 48 :]
    bounds = {
        str(level): ([p[f"lower{level}"] for p in points], [p[f"upper{level}"] for p in points])
        for level in interval_levels(points)
    }
    pngs = {
        "forecast": forecast_png(
            recent.index.to_numpy(),
            recent.to_numpy(),
            pd.to_datetime([p["target_timestamp"] for p in points], utc=True).to_numpy(),
            np.array([float(p["value"]) for p in points]),
            title="Buoy B01 sea-surface temperature: history and forecast",
            unit="°C",
            bounds=bounds,
        ),
        **stored_training_plots(db, job),
    }
    for name, png in pngs.items():
        (output_dir / f"{name}.png").write_bytes(png)
    return [output_dir / f"{name}.png" for name in pngs]
