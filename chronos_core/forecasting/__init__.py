"""Forecasting: on-demand and recurring forecasts, their publication to Orion and their history.

- :mod:`~chronos_core.forecasting.forecaster`: compute a forecast from a completed job's stored
  model and the newest STH-Comet points, and store it;
- :mod:`~chronos_core.forecasting.publication`: the Orion forecast entity and its upsert;
- :mod:`~chronos_core.forecasting.recurring`: turning recurring forecasts on and off;
- :mod:`~chronos_core.forecasting.scheduling`: slot arithmetic, back-off and the claim-and-run
  sweep;
- :mod:`~chronos_core.forecasting.model_cache`: loaded networks kept per process;
- :mod:`~chronos_core.forecasting.history`: past forecasts next to the actual values, expiry;
- :mod:`~chronos_core.forecasting.clients`: FIWARE clients shared by a process's forecasts.

The stored forecast itself (:class:`~chronos_core.domain.forecast.ForecastRecord`) is domain.

Framework-free: nothing here imports Prefect, and TensorFlow is only imported when a model is
first loaded.
"""
