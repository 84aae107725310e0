"""Persistence: MongoDB repositories, the GridFS artifact store and the embedded database.

Names are imported lazily so that the embedded-database daemon
(``python -m chronos_core.storage.embedded_daemon``) starts without loading pymongo and the
domain models.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chronos_core.storage.artifact_store import ArtifactInfo, ArtifactStore
    from chronos_core.storage.database import bootstrap, connect, get_database, redact_uri
    from chronos_core.storage.model_repository import ModelRepository
    from chronos_core.storage.training_job_repository import TrainingJobRepository

_EXPORTS = {
    "ArtifactInfo": "chronos_core.storage.artifact_store",
    "ArtifactStore": "chronos_core.storage.artifact_store",
    "ModelRepository": "chronos_core.storage.model_repository",
    "TrainingJobRepository": "chronos_core.storage.training_job_repository",
    "bootstrap": "chronos_core.storage.database",
    "connect": "chronos_core.storage.database",
    "get_database": "chronos_core.storage.database",
    "redact_uri": "chronos_core.storage.database",
}

__all__ = [
    "ArtifactInfo",
    "ArtifactStore",
    "ModelRepository",
    "TrainingJobRepository",
    "bootstrap",
    "connect",
    "get_database",
    "redact_uri",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
