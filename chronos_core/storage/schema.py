"""Collection names and the indexes :func:`chronos_core.storage.database.bootstrap` creates.

Each collection lists its index specs in :data:`COLLECTION_INDEXES`; a new collection adds its
entry here and ``bootstrap`` picks it up. Index names are fixed so that bootstrapping is
idempotent and databases written by the earlier Chronos keep their indexes.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from chronos_core.domain.enums import ACTIVE_TRAINING_STATUSES

MODELS = "models"
TRAINING_JOBS = "training_jobs"
ARTIFACT_BUCKET = "model_artifacts"
ARTIFACT_FILES = f"{ARTIFACT_BUCKET}.files"
ARTIFACT_CHUNKS = f"{ARTIFACT_BUCKET}.chunks"
FORECASTS = "forecasts"

ONE_ACTIVE_JOB_INDEX = "one_active_job_per_model"
ONE_FORECAST_PER_SLOT_INDEX = "one_forecast_per_slot"
ACTIVE_STATUS_VALUES = sorted(status.value for status in ACTIVE_TRAINING_STATUSES)

MODEL_INDEXES = [
    IndexModel([("id", ASCENDING)], name="id_unique", unique=True),
    IndexModel([("created_at", ASCENDING)], name="created_at_idx"),
    IndexModel([("status", ASCENDING)], name="status_idx"),
    IndexModel([("model_type", ASCENDING)], name="model_type_idx"),
    IndexModel([("entity_id", ASCENDING)], name="entity_id_idx"),
    IndexModel([("feature", ASCENDING)], name="feature_idx"),
    IndexModel([("model_type", ASCENDING), ("status", ASCENDING)], name="model_type_status_idx"),
    IndexModel([("entity_id", ASCENDING), ("feature", ASCENDING)], name="entity_feature_idx"),
]

TRAINING_JOB_INDEXES = [
    IndexModel([("id", ASCENDING)], name="id_unique", unique=True),
    # Cascade deletes, "jobs of this model" listings and the active-job lookup all filter on
    # model_id; without this index each of them scans the whole collection.
    IndexModel([("model_id", ASCENDING)], name="model_id_idx"),
    # At most one active job per model, enforced by the server: a second insert for the same
    # model while one is pending/collecting/preprocessing/training/cancel_requested fails with a
    # duplicate-key error, however many processes race. ($in in a partial filter: MongoDB 6.0+.)
    IndexModel(
        [("model_id", ASCENDING)],
        name=ONE_ACTIVE_JOB_INDEX,
        unique=True,
        partialFilterExpression={"status": {"$in": ACTIVE_STATUS_VALUES}},
    ),
    IndexModel([("prediction_config.enabled", ASCENDING)], name="prediction_enabled_idx"),
    IndexModel([("next_prediction_at", ASCENDING)], name="next_prediction_at_idx"),
]

# GridFS's own indexes, created up front: ArtifactStore.upload tells the driver they exist (its own
# check, on every upload, is a full collection scan on the embedded database).
ARTIFACT_FILE_INDEXES = [
    IndexModel(
        [("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"
    ),
]
ARTIFACT_CHUNK_INDEXES = [
    IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], name="files_id_1_n_1", unique=True),
]

FORECAST_INDEXES = [
    IndexModel([("id", ASCENDING)], name="id_unique", unique=True),
    # History listings: a model's (or a job's) forecasts, newest first.
    IndexModel([("model_id", ASCENDING), ("issued_at", DESCENDING)], name="model_issued_idx"),
    IndexModel([("training_job_id", ASCENDING), ("issued_at", DESCENDING)], name="job_issued_idx"),
    # Exactly one scheduled forecast per job and slot, whatever the schedulers do.
    IndexModel(
        [("training_job_id", ASCENDING), ("scheduled_for", ASCENDING)],
        name=ONE_FORECAST_PER_SLOT_INDEX,
        unique=True,
        partialFilterExpression={"trigger": "schedule"},
    ),
    # TTL: MongoDB deletes a forecast once its expires_at has passed (the retention is set per
    # document, so changing CHRONOS_FORECAST_RETENTION_DAYS never conflicts with this index).
    IndexModel([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
]

#: The expiry index on the embedded database instead of the TTL index: SecantusDB's TTL monitor
#: reads every forecast once a minute (about 3 s of its one core per minute at 50,000
#: forecasts), so there the hourly ``chronos-maintenance`` run deletes expired forecasts alone,
#: with a range query on this index.
EXPIRY_INDEX_WITHOUT_TTL = IndexModel([("expires_at", ASCENDING)], name="expires_at_idx")
EXPIRY_TTL_INDEX = "expires_at_ttl"

COLLECTION_INDEXES: dict[str, list[IndexModel]] = {
    MODELS: MODEL_INDEXES,
    TRAINING_JOBS: TRAINING_JOB_INDEXES,
    ARTIFACT_FILES: ARTIFACT_FILE_INDEXES,
    ARTIFACT_CHUNKS: ARTIFACT_CHUNK_INDEXES,
    FORECASTS: FORECAST_INDEXES,
}


def indexes_for(collection: str, *, ttl_monitor: bool = True) -> list[IndexModel]:
    """``collection``'s indexes; without a TTL monitor (the embedded database) the forecasts'
    expiry index is :data:`EXPIRY_INDEX_WITHOUT_TTL`."""
    indexes = COLLECTION_INDEXES[collection]
    if ttl_monitor:
        return indexes
    return [
        EXPIRY_INDEX_WITHOUT_TTL if index.document["name"] == EXPIRY_TTL_INDEX else index
        for index in indexes
    ]
