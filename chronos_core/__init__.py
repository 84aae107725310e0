"""Chronos core: framework-free domain, storage, FIWARE clients and ML code.

Nothing in this package imports Prefect; orchestration lives in ``tasks/`` and ``flows/``.
"""

__version__ = "0.1.0"
