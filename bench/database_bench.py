"""Database benchmark: the embedded server's CPU for a sweep's writes and a training's uploads.

Would batching the writes save any? A warm sweep writes two documents per job one at a time:
the claim (a compare-and-set ``update_one`` on the job's slot) and the forecast
(``insert_one``). This measures, side by side
on one temporary embedded database with the real indexes, the server's CPU for ``--jobs`` of
each written one at a time and in batches of 32: the claims as one ``bulk_write`` of
compare-and-set updates plus the read-back of a claim token (which jobs the batch won), the
forecasts as one ``insert_many``. Each variant runs twice, alternating, and the medians are
compared.

It also times GridFS uploads (the artifacts a training stores) into an empty database and into
one that already holds ``--artifacts`` files, with Chronos's upload and, alternating with it,
the driver's own: that one checks on every upload whether the files and chunks collections are
empty (to create its indexes), and the embedded server answers that ``find_one`` by reading the
whole collection. Chronos's upload skips the check (the bootstrap made the indexes).

And it times the claims with all five indexes of ``training_jobs`` against only the two a claim
uses (``id`` and ``next_prediction_at``): the embedded server rewrites a document's entries in
every index on each update.

    .venv/bin/python bench/database_bench.py --jobs 1000 --artifacts 1000

Run it from the repository root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_bench import process_cpu

BATCH = 32
UPLOADS = 100
ARTIFACT_BYTES = 60_000  # a small network's .keras file
HORIZON = 4
LOOKBACK = 24


def forecast_document(job_id: str, slot: Any) -> dict[str, Any]:
    from chronos_core.domain.forecast import ForecastPoint, ForecastRecord, ForecastTrigger
    from chronos_core.storage.documents import entity_to_document

    record = ForecastRecord(
        model_id=str(uuid.uuid4()),
        training_job_id=job_id,
        trigger=ForecastTrigger.SCHEDULE,
        scheduled_for=slot,
        issued_at=slot,
        service="smart",
        service_path="/",
        entity_type="Room",
        entity_id="Room1",
        feature="temperature",
        lookback_window=LOOKBACK,
        forecast_horizon=HORIZON,
        sampling_interval_seconds=900,
        last_observed_at=slot,
        context_values=[20.0] * LOOKBACK,
        points=[
            ForecastPoint(
                step=step + 1,
                value=20.0,
                target_timestamp=slot + timedelta(minutes=15 * (step + 1)),
                intervals={"80": 1.0, "95": 2.0},
            )
            for step in range(HORIZON)
        ],
        interval_levels=[80, 95],
        expires_at=slot + timedelta(days=30),
    )
    return entity_to_document(record)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--artifacts", type=int, default=1000, help="files stored before")
    args = parser.parse_args()

    from gridfs import GridFSBucket
    from pymongo import MongoClient, UpdateOne

    from chronos_core.clock import utc_now
    from chronos_core.storage import schema
    from chronos_core.storage.artifact_store import ArtifactStore
    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server

    work = Path(tempfile.mkdtemp(prefix="chronos-database-bench-"))
    server = ensure_embedded_server(work / "db", port=0, exit_with_parent=os.getpid())
    db: Any = MongoClient(server.uri)["chronos_bench"]
    jobs, forecasts = db[schema.TRAINING_JOBS], db[schema.FORECASTS]
    jobs.create_indexes(schema.TRAINING_JOB_INDEXES)
    forecasts.create_indexes(schema.FORECAST_INDEXES)
    slot = utc_now().replace(microsecond=0)
    ids = [str(uuid.uuid4()) for _ in range(args.jobs)]
    jobs.insert_many(
        [
            {
                "id": job_id,
                "model_id": str(uuid.uuid4()),
                "status": "completed",
                "prediction_config": {"enabled": True, "interval_seconds": 60},
                "next_prediction_at": slot,
                "metrics": {"padding": "x" * 3000},  # a job document is a few kB
            }
            for job_id in ids
        ]
    )
    slots = iter(slot + timedelta(minutes=minute) for minute in range(1, 1000))
    due = [slot]  # the slot every job holds now

    def claim_one_by_one() -> None:
        was, now = due[0], next(slots)
        for job_id in ids:
            jobs.update_one(
                {"id": job_id, "prediction_config.enabled": True, "next_prediction_at": was},
                {"$set": {"next_prediction_at": now, "prediction_config.last_run_at": was}},
            )
        due[0] = now

    def claim_in_batches() -> None:
        was, now = due[0], next(slots)
        for start in range(0, len(ids), BATCH):
            part, token = ids[start : start + BATCH], str(uuid.uuid4())
            update = {"next_prediction_at": now, "prediction_config.last_run_at": was}
            jobs.bulk_write(
                [
                    UpdateOne(
                        {
                            "id": job_id,
                            "prediction_config.enabled": True,
                            "next_prediction_at": was,
                        },
                        {"$set": {**update, "claim_token": token}},
                    )
                    for job_id in part
                ],
                ordered=False,
            )
            won = list(jobs.find({"id": {"$in": part}, "claim_token": token}, {"id": 1}))
            assert len(won) == len(part)
        due[0] = now

    def insert_one_by_one() -> None:
        moment = next(slots)
        for job_id in ids:
            forecasts.insert_one(forecast_document(job_id, moment))

    def insert_in_batches() -> None:
        moment = next(slots)
        for start in range(0, len(ids), BATCH):
            documents = [forecast_document(job_id, moment) for job_id in ids[start : start + BATCH]]
            forecasts.insert_many(documents, ordered=False)

    def measure(run: Callable[[], None]) -> float:
        before = process_cpu(server.pid)
        run()
        return process_cpu(server.pid) - before

    print(f"{args.jobs} jobs, batches of {BATCH}; load average at start: {os.getloadavg()[0]:.2f}")
    results: dict[str, list[float]] = {}
    started = time.perf_counter()
    for _ in range(2):
        for name, run in (
            ("claims one by one", claim_one_by_one),
            ("claims in batches", claim_in_batches),
            ("forecast inserts one by one", insert_one_by_one),
            ("forecast inserts in batches", insert_in_batches),
        ):
            results.setdefault(name, []).append(measure(run))
    for name, values in results.items():
        median, each = statistics.median(values), [round(v, 2) for v in values]
        print(f"  {name:30s} server CPU {median:5.2f} s {each}")
    for what in ("claims", "forecast inserts"):
        single = statistics.median(results[f"{what} one by one"])
        batched = statistics.median(results[f"{what} in batches"])
        print(f"ratio {what} in batches / one by one: {batched / single:.2f}")
    # An update rewrites the document's entries in every index of its collection: the same
    # claims with only the two indexes a claim uses, alternating with all five.
    used = {"id_unique", "next_prediction_at_idx"}
    others = [i for i in schema.TRAINING_JOB_INDEXES if i.document["name"] not in used]
    by_indexes: dict[str, list[float]] = {"all five indexes": [], "two indexes": []}
    for _ in range(2):
        by_indexes["all five indexes"].append(measure(claim_one_by_one))
        for index in others:
            jobs.drop_index(index.document["name"])
        by_indexes["two indexes"].append(measure(claim_one_by_one))
        jobs.create_indexes(others)
    for name, values in by_indexes.items():
        per_claim = statistics.median(values) / args.jobs * 1000
        print(f"  claims one by one, {name:17s} {per_claim:4.2f} ms of server CPU per claim")
    two, five = (statistics.median(by_indexes[k]) for k in ("two indexes", "all five indexes"))
    print(f"ratio claims with two indexes / all five: {two / five:.2f}")
    store = ArtifactStore(db)
    bucket = GridFSBucket(db, bucket_name=schema.ARTIFACT_BUCKET)
    artifact = os.urandom(ARTIFACT_BYTES)

    def upload(count: int, *, by_driver: bool = False) -> None:
        for _ in range(count):
            if by_driver:  # the driver's own upload: it checks for its indexes every time
                bucket.upload_from_stream("model.keras", artifact)
                continue
            store.upload(
                artifact,
                "model.keras",
                model_id=str(uuid.uuid4()),
                training_job_id=str(uuid.uuid4()),
                artifact_type="model",
                content_type="application/zip",
            )

    for name in (schema.ARTIFACT_FILES, schema.ARTIFACT_CHUNKS):
        db[name].create_indexes(schema.indexes_for(name))
    empty = measure(lambda: upload(UPLOADS))
    upload(args.artifacts - UPLOADS)
    stored: dict[str, list[float]] = {"Chronos's upload": [], "the driver's upload": []}
    for _ in range(2):
        stored["Chronos's upload"].append(measure(lambda: upload(UPLOADS)))
        stored["the driver's upload"].append(measure(lambda: upload(UPLOADS, by_driver=True)))
    print(
        f"  {UPLOADS} uploads of {ARTIFACT_BYTES // 1000} kB: server CPU {empty:.2f} s into an "
        "empty database (Chronos's upload)"
    )
    for name, values in stored.items():
        full, each = statistics.median(values), [round(v, 2) for v in values]
        print(f"  {name:20s} with {args.artifacts}+ files stored: server CPU {full:5.2f} s {each}")
        print(f"ratio {name} with {args.artifacts}+ stored / empty: {full / empty:.2f}")
    print(f"({time.perf_counter() - started:.0f} s; load average at end: {os.getloadavg()[0]:.2f})")
    stop_embedded_server(work / "db")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
