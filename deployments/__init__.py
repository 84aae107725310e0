"""Chronos deployments: the catalog (one place), ``serve.py`` (one process, no worker) and the
``prefect.yaml`` at the project root (work pool plus ``prefect worker``)."""
