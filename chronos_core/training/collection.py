"""Step 1, ``collecting_data``: plan the STH-Comet pages and collect them chunk by chunk."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import httpx
from pymongo.database import Database

from chronos_core import runtime
from chronos_core.clock import utc_now
from chronos_core.domain.enums import ACTIVE_TRAINING_STATUSES, DataCollectionStatus, TrainingStatus
from chronos_core.domain.model import Model
from chronos_core.domain.training_job import DataCollectionJob
from chronos_core.errors import ChronosError, Conflict, InsufficientData, NotFound
from chronos_core.fiware.history_source import history_client, history_page_size
from chronos_core.fiware.ngsi_ld_temporal import NgsiLdTemporalClient
from chronos_core.fiware.paging import ChunkPlan, PagePlan, collect_chunk, plan_chunks
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.ml.regular_grid import clean_series, detect_sampling_interval
from chronos_core.ml.window_choice import PROBE_POINTS, default_last_n, smallest_lookback
from chronos_core.ml.windowing import minimum_points
from chronos_core.settings import Settings
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from chronos_core.training.phases import CancelPoll, enter_phase
from chronos_core.training.workspace import JobWorkspace

Db = Database[dict[str, Any]]
#: A job is split into at most this many chunks: bigger collections get bigger chunks, so the
#: per-chunk bookkeeping (task runs, chunk updates on the job document) stays small.
MAX_COLLECTION_CHUNKS = 100
#: Between pages, a cancel request is looked up at most this often (and at each chunk's start).
CANCEL_POLL_SECONDS = 0.5


class _PooledTransport(httpx.BaseTransport):
    """The process's connection pool for STH-Comet reads: the client of each chunk comes and
    goes, the pool (TLS context, keep-alive connections) stays. Creating a client with its own
    transport costs tens of milliseconds of CPU, once per chunk."""

    def __init__(self) -> None:
        self._transport = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport.handle_request(request)

    def close(self) -> None:
        """A closing client must not close the pool the other chunks use."""


def _sth_client(settings: Settings) -> SthCometClient | NgsiLdTemporalClient:
    """The history client (STH-Comet, or the NGSI-LD temporal API with
    ``CHRONOS_NGSI_FLAVOUR=ld``) on this process's pool (a forked child gets its own)."""
    transport = runtime.current().part("sth_pool", _PooledTransport)
    return history_client(settings, transport=transport)


def pages_per_chunk(total: int, last_n: int, settings: Settings) -> int:
    """``collection_pages_per_chunk``, raised so that the job needs at most
    :data:`MAX_COLLECTION_CHUNKS` chunks."""
    pages = math.ceil(min(total, last_n) / history_page_size(settings))
    return max(settings.collection_pages_per_chunk, math.ceil(pages / MAX_COLLECTION_CHUNKS))


def required_points(model: Model) -> int:
    """The fewest regular points this model's windows and split need (with an unset lookback,
    the shortest one it may get: :func:`~chronos_core.ml.window_choice.smallest_lookback`)."""
    lookback = model.lookback_window or smallest_lookback(model.forecast_horizon)
    return minimum_points(
        lookback, model.forecast_horizon, model.validation_ratio, model.test_ratio
    )


def probe_sampling_interval(
    client: SthCometClient | NgsiLdTemporalClient, model: Model
) -> int | None:
    """The sampling interval of the newest :data:`PROBE_POINTS` points (one page), or None when
    fewer than two distinct timestamps are there."""
    observations = client.fetch_last_n(
        _tenant(model), model.entity_type, model.entity_id, model.feature, PROBE_POINTS
    )
    clean = clean_series(observations.to_pandas())
    if clean.timestamps_ns.size < 2:
        return None
    return detect_sampling_interval(clean.timestamps_ns)


def plan_collection(db: Db, job_id: str, settings: Settings) -> list[str]:
    """Learn the total from STH-Comet, plan the newest ``last_n`` points in chunks of pages and
    record the chunks on the job; returns the chunk ids in order.

    The job moves ``pending`` → ``collecting_data``. Fails early, before anything is fetched,
    when STH-Comet holds fewer points than the model needs.
    """
    job = enter_phase(
        db,
        job_id,
        TrainingStatus.COLLECTING_DATA,
        TrainingStatus.PENDING,
        data_collection_start=utc_now(),
    )
    model = ModelRepository(db).get(job.model_id)
    needed = required_points(model)
    where = (
        f"{model.entity_type} {model.entity_id}, attribute {model.feature} "
        f"(service {model.service}, path {model.service_path})"
    )
    if job.last_n is not None and job.last_n < needed:
        raise InsufficientData(
            f"last_n={job.last_n} is too small: this model needs at least {needed} points "
            f"(lookback {model.lookback_window or 'chosen from the data'}, horizon "
            f"{model.forecast_horizon}, validation {model.validation_ratio}, test "
            f"{model.test_ratio})",
            details={"required": needed, "found": job.last_n},
        )
    with _sth_client(settings) as client:
        total = client.count(_tenant(model), model.entity_type, model.entity_id, model.feature)
        if total < needed:
            raise InsufficientData(
                f"{client.service_name} has {total} points for {where}; this model needs at "
                f"least {needed}",
                details={"required": needed, "found": total},
            )
        last_n = job.last_n
        if last_n is None:
            interval = probe_sampling_interval(client, model)
            last_n = max(
                needed,
                default_last_n(interval, model.forecast_horizon, max_last_n=settings.max_last_n),
            )
            TrainingJobRepository(db).set_fields(
                job_id, {"last_n": last_n, "last_n_chosen": True}, expected=ACTIVE_TRAINING_STATUSES
            )
    plans = plan_chunks(
        total, last_n, history_page_size(settings), pages_per_chunk(total, last_n, settings)
    )
    chunks = [
        DataCollectionJob(
            index=plan.index, h_offset=plan.h_offset, h_limit=plan.h_limit, pages=len(plan.pages)
        )
        for plan in plans
    ]
    requested = sum(chunk.h_limit for chunk in chunks)
    TrainingJobRepository(db).set_collection_plan(job_id, chunks, requested)
    return [chunk.id for chunk in chunks]


def collect_chunk_points(
    db: Db, job_id: str, chunk_id: str, workspace: JobWorkspace, settings: Settings
) -> int:
    """Fetch one chunk's pages, save its points in the workspace and record its progress.

    Returns the number of points collected. A cancel request is noticed between pages (looked up
    at the chunk's start and then at most every :data:`CANCEL_POLL_SECONDS`).
    """
    jobs = TrainingJobRepository(db)
    job = jobs.update_chunk(
        job_id,
        chunk_id,
        status=DataCollectionStatus.IN_PROGRESS,
        start_time=utc_now(),
        error=None,
    )
    chunk = next((c for c in job.data_collection_jobs if c.id == chunk_id), None)
    if chunk is None:  # pragma: no cover - update_chunk raised NotFound already
        raise NotFound(f"training job {job_id} has no collection chunk {chunk_id}")
    try:
        model = ModelRepository(db).get(job.model_id)
        plan = _chunk_plan(chunk, history_page_size(settings))
        with _sth_client(settings) as client:
            series = collect_chunk(
                client,
                _tenant(model),
                model.entity_type,
                model.entity_id,
                model.feature,
                plan,
                should_cancel=CancelPoll(db, job_id, CANCEL_POLL_SECONDS),
            )
        workspace.save_chunk(chunk.index, series.to_pandas())
    except BaseException as error:
        _record_chunk_failure(jobs, job_id, chunk_id, error)
        raise
    jobs.update_chunk(job_id, chunk_id, status=DataCollectionStatus.COMPLETED, end_time=utc_now())
    jobs.add_collected_points(
        job_id, chunk_id, len(series), dropped=series.dropped, duplicates=series.duplicates
    )
    return len(series)


def _record_chunk_failure(
    jobs: TrainingJobRepository, job_id: str, chunk_id: str, error: BaseException
) -> None:
    message = str(error) if isinstance(error, ChronosError) else f"{type(error).__name__}: {error}"
    # If the job already ended (e.g. cancelled), its chunks were closed with it.
    with contextlib.suppress(Conflict, NotFound):
        jobs.update_chunk(
            job_id,
            chunk_id,
            status=DataCollectionStatus.FAILED,
            end_time=utc_now(),
            error=message[:2000],
        )


def _chunk_plan(chunk: DataCollectionJob, page_size: int) -> ChunkPlan:
    end = chunk.h_offset + chunk.h_limit
    pages = tuple(
        PagePlan(offset, min(page_size, end - offset))
        for offset in range(chunk.h_offset, end, page_size)
    )
    return ChunkPlan(index=chunk.index, h_offset=chunk.h_offset, h_limit=chunk.h_limit, pages=pages)


def _tenant(model: Model) -> Tenant:
    return Tenant(model.service, model.service_path)
