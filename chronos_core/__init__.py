"""Chronos core: framework-free domain, storage, FIWARE clients and ML code.

Nothing in this package imports Prefect; orchestration lives in ``tasks/`` and ``flows/``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # Single-sourced: the version in pyproject.toml, as installed.
    __version__ = version("chronos")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
