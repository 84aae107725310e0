"""``chronos demo --fast`` end to end: sandbox, embedded database, training, forecast, PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chronos_core.settings import get_settings
from cli.main import app

pytestmark = pytest.mark.slow


def test_fast_demo_trains_forecasts_publishes_and_draws(
    settings: Any, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo points CHRONOS_*_URL at its own sandbox; monkeypatch restores them afterwards.
    for name in ("STH_URL", "ORION_URL", "IOT_AGENT_URL"):
        monkeypatch.setenv(f"CHRONOS_{name}", "http://127.0.0.1:9")
    output = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--fast", "--output-dir", str(output)])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Seeded STH-Comet with 1500 readings" in text
    assert "completed" in text
    assert "naive (repeat the last value)" in text and "statsforecast" in text
    assert "Published to Orion as urn:ngsi-ld:Forecast:Buoy:NERACOOS-B01:temperature" in text
    assert "chronos serve" in text
    for name in ("forecast.png", "loss_curve.png", "test_forecasts.png"):
        assert (output / name).read_bytes().startswith(b"\x89PNG"), name
    assert db["models"].count_documents({"status": "trained"}) == 1
    assert db["forecasts"].count_documents({}) == 1


def test_fast_demo_in_ngsi_ld_mode(
    settings: Any, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # History through the sandbox's NGSI-LD temporal API, the forecast to its Orion-LD.
    for name in (
        "STH_URL",
        "ORION_URL",
        "IOT_AGENT_URL",
        "ORION_LD_URL",
        "NGSI_LD_TEMPORAL_URL",
        "NGSI_LD_CONTEXT_URL",
    ):
        monkeypatch.setenv(f"CHRONOS_{name}", "http://127.0.0.1:9")
    monkeypatch.setenv("CHRONOS_NGSI_FLAVOUR", "v2")
    output = tmp_path / "demo-ld"
    result = CliRunner().invoke(app, ["demo", "--fast", "--ngsi-ld", "--output-dir", str(output)])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Seeded the NGSI-LD temporal API with 1500 readings" in text
    assert "completed" in text
    forecast_id = "urn:ngsi-ld:Forecast:Buoy:NERACOOS-B01:temperature"
    assert f"Published to Orion-LD as {forecast_id}" in text
    assert '"refEntity"' in text and "urn:ngsi-ld:Buoy:NERACOOS-B01" in text
    assert "The NGSI-LD temporal API holds 1 forecast(s) for it." in text
    assert (output / "forecast.png").read_bytes().startswith(b"\x89PNG")
    assert db["models"].count_documents({"status": "trained"}) == 1
    assert db["forecasts"].count_documents({}) == 1
