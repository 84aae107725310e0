"""Prefect tasks: thin wrappers over ``chronos_core`` functions, adding retries, timeouts, tags
and run logging. Tasks open their own database connections and clients; they take and return
ids and small values only."""
