"""Trained-model artifacts in the GridFS bucket ``model_artifacts``.

Each file carries ``metadata = {model_id, training_job_id, artifact_type, content_type, sha256,
size, ...}``; downloads are checked against the stored SHA-256. Artifacts are plain bytes
(``.keras`` archives, JSON scaler parameters, JSON metadata): nothing here unpickles anything.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from gridfs import GridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError

from chronos_core.domain.enums import ACTIVE_TRAINING_STATUSES, ArtifactType, TrainingStatus
from chronos_core.errors import ChronosError, InvalidInput, NotFound
from chronos_core.storage.documents import find_in, to_bson
from chronos_core.storage.schema import ARTIFACT_BUCKET, MODELS, TRAINING_JOBS

#: The metadata keys :meth:`ArtifactStore.upload` sets itself (its ``extra`` cannot override them).
CORE_METADATA_KEYS = frozenset(
    {"model_id", "training_job_id", "artifact_type", "content_type", "sha256", "size"}
)
_JOB_ARTIFACT_FIELDS = (
    "model_artifact_id",
    "x_scaler_artifact_id",
    "y_scaler_artifact_id",
    "metadata_artifact_id",
)
_ACTIVE_VALUES = {status.value for status in ACTIVE_TRAINING_STATUSES}


class ArtifactIntegrityError(ChronosError):
    """A stored artifact's bytes do not match the checksum recorded when it was written."""


@dataclass(frozen=True)
class ArtifactInfo:
    """One stored artifact's file record."""

    id: str
    filename: str
    length: int
    upload_date: datetime
    model_id: str | None
    training_job_id: str | None
    artifact_type: str | None
    content_type: str | None
    sha256: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file_document(cls, document: Mapping[str, Any]) -> ArtifactInfo:
        metadata = dict(document.get("metadata") or {})
        return cls(
            id=str(document["_id"]),
            filename=str(document.get("filename", "")),
            length=int(document.get("length", 0)),
            upload_date=document["uploadDate"],
            model_id=metadata.get("model_id"),
            training_job_id=metadata.get("training_job_id"),
            artifact_type=metadata.get("artifact_type"),
            content_type=metadata.get("content_type"),
            sha256=metadata.get("sha256"),
            metadata=metadata,
        )


def _object_id(artifact_id: object) -> ObjectId:
    if isinstance(artifact_id, ObjectId):
        return artifact_id
    if not isinstance(artifact_id, str):
        raise InvalidInput(f"artifact id must be a string, got {type(artifact_id).__name__}")
    try:
        return ObjectId(artifact_id)
    except InvalidId:
        raise InvalidInput(
            f"artifact id {artifact_id[:40]!r} is not valid (expected 24 hexadecimal digits)"
        ) from None


def _checked(artifact_id: str, file: Mapping[str, Any], pieces: list[bytes]) -> bytes:
    """A file's bytes from its chunks, checked against its GridFS record and SHA-256."""
    payload = b"".join(pieces)
    length, chunk_size = int(file.get("length", -1)), int(file.get("chunkSize", 0))
    expected_chunks = -(-length // chunk_size) if chunk_size > 0 else -1
    if len(payload) != length or len(pieces) != expected_chunks:
        raise ArtifactIntegrityError(
            f"artifact {artifact_id} is corrupted (its chunks do not add up to its recorded "
            f"{length} bytes)"
        )
    expected = (file.get("metadata") or {}).get("sha256")
    if expected and hashlib.sha256(payload).hexdigest() != expected:
        raise ArtifactIntegrityError(
            f"artifact {artifact_id} is corrupted (its SHA-256 does not match the one "
            "recorded at upload)"
        )
    return payload


def _require_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    return value


class ArtifactStore:
    """Upload, download, list and delete artifacts; find the ones nothing references."""

    def __init__(self, db: Database[dict[str, Any]], bucket_name: str = ARTIFACT_BUCKET) -> None:
        self._db = db
        self._bucket = GridFSBucket(db, bucket_name=bucket_name)
        self._files: Collection[dict[str, Any]] = db[f"{bucket_name}.files"]
        self._chunks: Collection[dict[str, Any]] = db[f"{bucket_name}.chunks"]

    def upload(
        self,
        data: bytes,
        filename: str,
        *,
        model_id: str,
        training_job_id: str,
        artifact_type: ArtifactType | str,
        content_type: str,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Store ``data``; returns the artifact id (a 24-hex-digit string)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"artifact data must be bytes, got {type(data).__name__}")
        payload = bytes(data)
        try:
            kind = ArtifactType(artifact_type)
        except ValueError:
            allowed = ", ".join(t.value for t in ArtifactType)
            raise InvalidInput(
                f"artifact_type must be one of {allowed}, got {artifact_type!r}"
            ) from None
        extras = dict(extra or {})
        clashing = sorted(CORE_METADATA_KEYS & extras.keys())
        if clashing:
            raise InvalidInput(f"artifact metadata cannot override {', '.join(clashing)}")
        metadata = {
            **to_bson(extras),
            "model_id": _require_text(model_id, "model_id"),
            "training_job_id": _require_text(training_job_id, "training_job_id"),
            "artifact_type": kind.value,
            "content_type": _require_text(content_type, "content_type"),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "size": len(payload),
        }
        stream = self._bucket.open_upload_stream(
            _require_text(filename, "filename"), metadata=metadata
        )
        # The database's bootstrap created GridFS's indexes. Left unmarked, pymongo checks for
        # them with a find_one on both collections on every upload, which the embedded
        # database answers with a full collection scan (with 1,000 files stored, 100 uploads
        # cost it 8.3 s of CPU that way, 0.11 s without; BENCHMARKS.md). Were pymongo to
        # rename the flag, the check would come back: slower, not wrong.
        object.__setattr__(stream, "_ensured_index", True)
        try:
            stream.write(payload)
            stream.close()
        except BaseException:
            with contextlib.suppress(PyMongoError):
                stream.abort()  # no chunks left behind by a failed upload
            raise
        return str(stream._id)

    def download(self, artifact_id: str) -> bytes:
        """The artifact's bytes; NotFound if missing, ArtifactIntegrityError if corrupted."""
        return self.download_many([artifact_id])[artifact_id]

    def download_many(self, artifact_ids: Iterable[str]) -> dict[str, bytes]:
        """The bytes of each artifact, by id: the files (:func:`find_in`), then all their chunks
        in order in one query (a model's four artifacts: two queries). NotFound names the first
        one missing; ArtifactIntegrityError if a file's chunks or SHA-256 do not match its
        record."""
        wanted = {artifact_id: _object_id(artifact_id) for artifact_id in artifact_ids}
        files = {d["_id"]: d for d in find_in(self._files, "_id", wanted.values())}
        for artifact_id, oid in wanted.items():
            if oid not in files:
                raise NotFound(f"artifact {artifact_id} not found")
        parts: dict[ObjectId, list[bytes]] = {oid: [] for oid in files}
        chunks = self._chunks.find(
            {"files_id": {"$in": list(files)}},
            {"_id": False, "files_id": True, "n": True, "data": True},
        ).sort([("files_id", ASCENDING), ("n", ASCENDING)])
        for chunk in chunks:
            pieces = parts[chunk["files_id"]]
            if chunk["n"] != len(pieces):
                pieces.append(b"\0")  # a missing or repeated chunk: caught below
            pieces.append(bytes(chunk["data"]))
        return {
            artifact_id: _checked(artifact_id, files[oid], parts[oid])
            for artifact_id, oid in wanted.items()
        }

    def info(self, artifact_id: str) -> ArtifactInfo:
        document = self._files.find_one({"_id": _object_id(artifact_id)})
        if document is None:
            raise NotFound(f"artifact {artifact_id} not found")
        return ArtifactInfo.from_file_document(document)

    def exists(self, artifact_id: str) -> bool:
        return self._files.count_documents({"_id": _object_id(artifact_id)}, limit=1) > 0

    def list_for_model(self, model_id: str) -> builtins.list[ArtifactInfo]:
        return self._list({"metadata.model_id": _require_text(model_id, "model_id")})

    def list_for_job(self, training_job_id: str) -> builtins.list[ArtifactInfo]:
        return self._list(
            {"metadata.training_job_id": _require_text(training_job_id, "training_job_id")}
        )

    def _list(self, query: dict[str, Any]) -> builtins.list[ArtifactInfo]:
        cursor = self._files.find(query).sort([("uploadDate", ASCENDING), ("_id", ASCENDING)])
        return [ArtifactInfo.from_file_document(document) for document in cursor]

    def delete(self, artifact_id: str) -> bool:
        """Delete one artifact (file and chunks); ``False`` if it did not exist."""
        try:
            self._bucket.delete(_object_id(artifact_id))
        except NoFile:
            return False
        return True

    def delete_many(self, artifact_ids: Iterable[str]) -> int:
        return sum(self.delete(artifact_id) for artifact_id in artifact_ids)

    def delete_for_job(self, training_job_id: str) -> int:
        return self.delete_many(a.id for a in self.list_for_job(training_job_id))

    def delete_for_model(self, model_id: str) -> int:
        return self.delete_many(a.id for a in self.list_for_model(model_id))

    def find_orphans(
        self, *, uploaded_before: datetime | None = None
    ) -> builtins.list[ArtifactInfo]:
        """Artifacts nothing needs: their job or model is gone, their job failed or was
        cancelled, or their job completed without referencing them. Files of active jobs are
        never orphans (training writes them before it completes)."""
        query: dict[str, Any] = {}
        if uploaded_before is not None:
            query["uploadDate"] = {"$lt": to_bson(uploaded_before)}
        files = [ArtifactInfo.from_file_document(d) for d in self._files.find(query)]
        job_ids = sorted({f.training_job_id for f in files if f.training_job_id})
        model_ids = sorted({f.model_id for f in files if f.model_id})
        fields = {"_id": False, "id": True, "status": True}
        fields.update(dict.fromkeys(_JOB_ARTIFACT_FIELDS, True))
        jobs = {doc["id"]: doc for doc in find_in(self._db[TRAINING_JOBS], "id", job_ids, fields)}
        models = {
            doc["id"]
            for doc in find_in(self._db[MODELS], "id", model_ids, {"_id": False, "id": True})
        }
        return [f for f in files if _is_orphan(f, jobs, models)]


def _is_orphan(
    artifact: ArtifactInfo, jobs: Mapping[str, Mapping[str, Any]], models: set[str]
) -> bool:
    if artifact.model_id is None or artifact.model_id not in models:
        return True
    if artifact.training_job_id is None:
        return False  # cannot tell which job wrote it; its model still exists
    job = jobs.get(artifact.training_job_id)
    if job is None:
        return True
    status = job.get("status")
    if status in _ACTIVE_VALUES:
        return False
    if status != TrainingStatus.COMPLETED.value:
        return True
    return artifact.id not in {job.get(name) for name in _JOB_ARTIFACT_FIELDS}
