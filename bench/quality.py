"""Forecast quality benchmark: the ``train-model`` flow, default configuration, real and
synthetic series, several seeds.

Every run registers a model with only what a user must give (entity, attribute, network type and
the forecast horizon of the series) and trains it through the real flow: paged collection from
the FIWARE sandbox's STH-Comet, the embedded database, Prefect's test harness, ``last_n`` and
``lookback_window`` chosen from the data. The numbers come from the job document: ``job.metrics``
(and ``job.metrics["backtest"]`` / ``["intervals"]`` when the evaluation records them).

Series (all offline: shipped in PyPI packages, or generated with a fixed seed):

==========  ===================================================================  ========
name        source                                                               horizon
==========  ===================================================================  ========
buoy        the demo's sea-surface temperature (30 min, bokeh-sampledata)         24
seattle     vega_datasets seattle-temps (hourly climatological normals)           24
co2         statsmodels weekly Mauna Loa CO2 (NaN dropped: missing weeks)        13
commits     hourly commit counts from bokeh-sampledata's commit timestamps       24
synthetic   30 min, daily + weekly cycles, trend, AR noise, outliers, gaps        48
==========  ===================================================================  ========

    .venv/bin/python bench/quality.py                       # everything, seeds 1 2 3
    .venv/bin/python bench/quality.py --series synthetic buoy --seeds 1
    .venv/bin/python bench/quality.py --quick               # 3 epochs, one seed: a smoke run

Needs the ``bench`` extra (``pip install -e '.[bench]'``). Run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TENANT = ("smart", "/")
ENTITY_TYPE = "Series"
ATTRIBUTE = "value"


# --------------------------------------------------------------------------- series


def buoy() -> pd.Series:
    path = Path(__file__).resolve().parents[1] / "chronos_core/data/sea_surface_temperature.csv.gz"
    frame = pd.read_csv(path)
    index = pd.to_datetime(frame.iloc[:, 0], utc=True)
    return pd.Series(frame.iloc[:, 1].to_numpy(dtype=float), index=index)


def seattle() -> pd.Series:
    from vega_datasets import data

    frame = data.seattle_temps()
    index = pd.to_datetime(frame["date"]).dt.tz_localize("UTC")
    return pd.Series(frame["temp"].to_numpy(dtype=float), index=pd.DatetimeIndex(index))


def co2() -> pd.Series:
    import statsmodels.api as sm

    frame = sm.datasets.co2.load_pandas().data
    values = frame["co2"].dropna()
    return pd.Series(values.to_numpy(dtype=float), index=values.index.tz_localize("UTC"))


def commits() -> pd.Series:
    from bokeh_sampledata.commits import data

    stamps = pd.DatetimeIndex(data.index).tz_convert("UTC").floor("h")
    counts = pd.Series(1.0, index=stamps).groupby(level=0).sum()
    full = pd.date_range(counts.index.min(), counts.index.max(), freq="h", tz="UTC")
    return counts.reindex(full, fill_value=0.0)


def synthetic(points: int = 10 * 7 * 48 + 480, seed: int = 13) -> pd.Series:
    """Half-hourly load-like series: a two-peak daily profile, quieter weekends, a slow trend,
    AR(1) noise, a few outliers and a few gaps (short and one of half a day)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=points, freq="30min", tz="UTC")
    hour = np.asarray(index.hour + index.minute / 60, dtype=float)
    weekend = np.asarray(index.day_of_week >= 5)
    daily = np.exp(-((hour - 9) ** 2) / 6) + 0.8 * np.exp(-((hour - 19) ** 2) / 4)
    noise = np.zeros(points)
    shocks = rng.normal(0, 2.0, points)
    for i in range(1, points):
        noise[i] = 0.8 * noise[i - 1] + shocks[i]
    values = 100 + 40 * daily * np.where(weekend, 0.45, 1.0) + 0.002 * np.arange(points) + noise
    outliers = rng.choice(points, size=points // 500, replace=False)
    values[outliers] += rng.choice([-1, 1], size=outliers.size) * 30
    keep = np.ones(points, dtype=bool)
    for start in rng.choice(points - 30, size=6, replace=False):
        keep[start : start + int(rng.integers(1, 4))] = False  # short outages
    keep[points // 2 : points // 2 + 24] = False  # half a day
    return pd.Series(values[keep], index=index[keep])


SERIES: dict[str, tuple[Callable[[], pd.Series], int]] = {
    "buoy": (buoy, 24),
    "seattle": (seattle, 24),
    "co2": (co2, 13),
    "commits": (commits, 24),
    "synthetic": (synthetic, 48),
}


# --------------------------------------------------------------------------- one run


def _skills(metrics: dict[str, Any]) -> tuple[float | None, dict[str, float | None], str | None]:
    """Model MAE, skill against each baseline and the best baseline: from the backtest when the
    job has one, else from the single test pass."""
    backtest = metrics.get("backtest") or {}
    if backtest:
        model_mae = (backtest.get("model") or {}).get("mae")
        skills = dict(backtest.get("skill_by_baseline") or {})
        return model_mae, skills, backtest.get("best_baseline")
    model_mae = metrics.get("mae")
    skills: dict[str, float | None] = {}
    for name, values in (metrics.get("baselines") or {}).items():
        baseline_mae = values.get("mae")
        skills[name] = (
            None
            if model_mae is None or not baseline_mae
            else round(1.0 - model_mae / baseline_mae, 4)
        )
    return model_mae, skills, metrics.get("best_baseline")


def run_one(db: Any, name: str, seed: int, horizon: int, epochs: int | None) -> dict[str, Any]:
    from chronos_core.services.models import register_model
    from chronos_core.settings import get_settings
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from flows.training import train_model

    os.environ["CHRONOS_RANDOM_SEED"] = str(seed)
    get_settings.cache_clear()
    definition: dict[str, Any] = {
        "model_type": "lstm",
        "feature": ATTRIBUTE,
        "entity_type": ENTITY_TYPE,
        "entity_id": name,
        "forecast_horizon": horizon,
    }
    if epochs is not None:
        definition["epochs"] = epochs
    model = register_model(db, definition, get_settings())
    started = time.perf_counter()
    job = TrainingJobRepository(db).get(train_model(model.id))
    wall = time.perf_counter() - started
    metrics = job.metrics.model_dump() if job.metrics else {}
    model_mae, skills, best = _skills(metrics)
    intervals = metrics.get("intervals") or {}
    return {
        "series": name,
        "seed": seed,
        "points": job.total_data_points_collected,
        "last_n": job.last_n,
        "lookback": job.lookback_window_used,
        "seasons": "+".join(s["name"] for s in job.seasons) or "none",
        "anchor": _anchor(job.network_inputs),
        "mae": model_mae,
        "best_baseline": best,
        "skill": skills.get(best) if best else metrics.get("skill"),
        "skills": skills,
        "coverage": intervals.get("coverage") or {},
        "epochs": metrics.get("epochs_trained"),
        "best_epoch": metrics.get("best_epoch"),
        "training_s": job.training_duration_seconds,
        "wall_s": wall,
    }


def _anchor(inputs: dict[str, Any] | None) -> str:
    if not inputs or inputs.get("anchor_season_steps") is None:
        return "last value"
    return f"{inputs.get('season_cycles', 1)}x{inputs['anchor_season_steps']}"


# --------------------------------------------------------------------------- output


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown(rows: list[dict[str, Any]]) -> str:
    baselines = sorted({name for row in rows for name in row["skills"]})
    levels = sorted({level for row in rows for level in row["coverage"]})
    header = (
        ["series", "seed", "points", "lookback", "seasons", "anchor", "MAE", "skill (best)"]
        + [f"skill vs {name}" for name in baselines]
        + [f"coverage {level} %" for level in levels]
        + ["epochs (best)", "training s"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            row["series"],
            str(row["seed"]),
            str(row["points"]),
            str(row["lookback"]),
            row["seasons"],
            row["anchor"],
            _number(row["mae"]),
            f"{_number(row['skill'], 3)} ({row['best_baseline']})",
            *(_number(row["skills"].get(name), 3) for name in baselines),
            *(_number(row["coverage"].get(level), 3) for level in levels),
            f"{row['epochs']} ({row['best_epoch']})",
            _number(row["training_s"], 3),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spread(rows: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "| series | seeds | headline skill: mean | spread (max - min) |",
        "|---|---|---|---|",
    ]
    for name in dict.fromkeys(row["series"] for row in rows):
        skills = [
            row["skill"] for row in rows if row["series"] == name and row["skill"] is not None
        ]
        if skills:
            lines.append(
                f"| {name} | {len(skills)} | {statistics.mean(skills):+.3f} | "
                f"{max(skills) - min(skills):.3f} |"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", nargs="+", choices=sorted(SERIES), default=list(SERIES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument(
        "--quick", action="store_true", help="3 epochs and the first seed only (a smoke run)"
    )
    parser.add_argument(
        "--json", type=Path, help="also write the rows as JSON (rewritten after every run)"
    )
    args = parser.parse_args()
    seeds = args.seeds[:1] if args.quick else args.seeds
    epochs = 3 if args.quick else None

    work = Path(tempfile.mkdtemp(prefix="chronos-quality-"))
    os.environ["PREFECT_HOME"] = str(work / "prefect")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

    from chronos_core.fiware.tenant import Tenant
    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server
    from fiware_sandbox import FiwareSandbox

    data = {name: SERIES[name][0]() for name in args.series}
    sandbox = FiwareSandbox().start()
    for name, series in data.items():
        sandbox.sth.seed(Tenant(*TENANT), ENTITY_TYPE, name, ATTRIBUTE, series)
    server = ensure_embedded_server(work / "db", port=0, exit_with_parent=os.getpid())
    os.environ.update(
        {
            "CHRONOS_MONGODB_URI": server.uri,
            "CHRONOS_MONGODB_DATABASE": "chronos_quality",
            "CHRONOS_DATA_DIR": str(work / "data"),
            "CHRONOS_STH_URL": sandbox.urls["sth_url"],
            "CHRONOS_ORION_URL": sandbox.urls["orion_url"],
            "CHRONOS_IOT_AGENT_URL": sandbox.urls["iot_agent_url"],
            "CHRONOS_FIWARE_SERVICE": TENANT[0],
            "CHRONOS_FIWARE_SERVICEPATH": TENANT[1],
        }
    )
    from prefect.testing.utilities import prefect_test_harness

    from chronos_core.storage.database import get_database

    rows: list[dict[str, Any]] = []
    try:
        with prefect_test_harness(server_startup_timeout=240):
            db = get_database()
            for name in args.series:
                for seed in seeds:
                    row = run_one(db, name, seed, SERIES[name][1], epochs)
                    rows.append(row)
                    if args.json is not None:
                        args.json.write_text(json.dumps(rows, indent=1, default=str))
                    print(
                        f"{name} seed {seed}: MAE {_number(row['mae'])}, skill "
                        f"{_number(row['skill'], 3)} vs {row['best_baseline']}, lookback "
                        f"{row['lookback']}, {row['training_s']:.0f} s training",
                        file=sys.stderr,
                    )
    finally:
        sandbox.stop()
        stop_embedded_server(work / "db")
    print(markdown(rows))
    print(spread(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
