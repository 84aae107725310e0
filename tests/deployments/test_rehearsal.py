"""Several machines on one: ``bench/rehearsal.py`` with few models, as a test.

A Prefect server on PostgreSQL, two ``chronos serve`` hosts sharing only the Prefect API,
MongoDB and the FIWARE sandbox (in network namespaces where this runs as root). Each due slot
is forecast exactly once, both hosts forecast, and stopping one host during a sweep leaves no
claimed job without its forecast. Runs only with ``CHRONOS_REHEARSAL_TEST=1`` (about 7
minutes on 2 cores), and is skipped where the PostgreSQL server binaries are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from rehearsal import postgres_bindir  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CHRONOS_REHEARSAL_TEST") != "1",
        reason="about 7 minutes on 2 cores: set CHRONOS_REHEARSAL_TEST=1 to run it "
        "(bench/rehearsal.py records the full rehearsal in BENCHMARKS.md)",
    ),
    pytest.mark.skipif(
        postgres_bindir() is None,
        reason="PostgreSQL binaries (initdb, pg_ctl, createdb, psql) are not installed; "
        "the rehearsal starts its own PostgreSQL",
    ),
]
MODELS = 6


def test_two_hosts_on_a_postgres_prefect_server_forecast_each_slot_once(tmp_path: Path) -> None:
    figures = tmp_path / "rehearsal.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHRONOS_", "PREFECT_"))}
    # Its own process: the bench sets PREFECT_* and CHRONOS_* for itself.
    command = [sys.executable, "bench/rehearsal.py", "--models", str(MODELS), "--sweeps", "1"]
    completed = subprocess.run(
        [*command, "--json", str(figures), "--sweep-timeout", "300"],
        cwd=ROOT,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads(figures.read_text())
    assert results["postgres"].startswith("postgres (PostgreSQL)")

    (sweep,) = results["sweeps"]
    assert sweep["state"] == "COMPLETED" and sweep["executor"] == "workers"
    assert sweep["jobs_forecast_once"] == MODELS
    assert sweep["jobs_not_forecast"] == sweep["jobs_forecast_twice_or_more"] == 0
    # Which host takes a batch is Prefect's choice; no job may be forecast on both.
    assert sum(sweep["forecasts_by_host"].values()) == MODELS
    assert sweep["jobs_on_both_hosts"] == 0

    stop = results["stop"]
    assert stop["stopped_exit_code"] == 0
    assert stop["claimed_without_forecast"] == 0
    assert stop["claimed"] + stop["left_due"] == MODELS
    after = stop["next_sweep"]
    assert after["left_due_forecast_once"] == stop["left_due"]
    assert after["duplicate_slots_in_run"] == 0
    assert after["forecasts_by_host"][stop["stopped_host"]] == 0
