"""Recurring forecasts: turning them on and off, and the scheduler's claim-and-run sweep.

A job with recurring forecasts has slots ``next_prediction_at + k * interval``. A sweep:

1. finds the jobs whose ``next_prediction_at`` is due (``<= now``);
2. **claims** each one with a compare-and-set on ``next_prediction_at`` that moves it to the
   first slot strictly after now: of several schedulers racing for the same slot exactly one
   wins, and all slots missed while nothing ran are coalesced into this one run;
3. forecasts, stores the forecast (unique per job and slot in the database too), publishes it;
4. records the outcome on the job. From the second consecutive failure the next run is pushed
   back (``interval * 2**min(failures - 1, 6)``, at most
   ``CHRONOS_FORECAST_MAX_BACKOFF_SECONDS``); a job whose stored model is gone is disabled with
   the reason.

A scheduler that dies after a claim holds nothing: the job simply runs at its next slot.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pymongo.database import Database

from chronos_core.clock import as_utc, utc_now
from chronos_core.domain.forecast import ForecastRecord, ForecastTrigger, PublicationStatus
from chronos_core.domain.training_job import TrainingJob
from chronos_core.domain.validation import check_int
from chronos_core.errors import ChronosError, DuplicateForecast, NotFound
from chronos_core.fiware.errors import is_transient_error
from chronos_core.fiware.ngsi import format_datetime
from chronos_core.forecasting.errors import ArtifactsUnusable
from chronos_core.forecasting.forecaster import (
    artifact_key,
    compute_forecast,
    iso_or_none,
    missing_artifacts,
)
from chronos_core.forecasting.model_cache import ModelCache
from chronos_core.forecasting.publication import publish_forecast
from chronos_core.settings import Settings
from chronos_core.storage.documents import IN_CHUNK, bson_datetime
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.model_repository import MAX_PAGE_SIZE
from chronos_core.storage.training_job_repository import DueJob, TrainingJobRepository

Db = Database[dict[str, Any]]
logger = logging.getLogger(__name__)

#: Consecutive failures that keep the normal cadence; from the next one on, runs back off.
FAILURES_BEFORE_BACKOFF = 1
#: Largest doubling of the interval (2**6 = 64 intervals).
MAX_BACKOFF_EXPONENT = 6
MAX_ERROR_LENGTH = 2000
NOT_CLAIMED_STOPPING = "not claimed: the forecast worker is stopping; the job stays due"

# ---------------------------------------------------------------------------- slot arithmetic


def next_slot(due_at: datetime, interval_seconds: int, now: datetime) -> datetime:
    """The first ``due_at + k * interval`` (k >= 1) strictly after ``now``.

    Every slot missed up to ``now`` is skipped (coalesced), and the grid never drifts.
    """
    step = timedelta(seconds=check_int(interval_seconds, "interval_seconds"))
    due, moment = as_utc(due_at), as_utc(now)
    if moment < due:
        return due + step
    return due + step * ((moment - due) // step + 1)


def slot_at_or_after(due_at: datetime, interval_seconds: int, moment: datetime) -> datetime:
    """The first slot ``due_at + k * interval`` (k >= 1) that is not before ``moment``."""
    step = timedelta(seconds=check_int(interval_seconds, "interval_seconds"))
    due, target = as_utc(due_at), as_utc(moment)
    if target <= due + step:
        return due + step
    return due + step * -((due - target) // step)


def backoff_seconds(interval_seconds: int, consecutive_failures: int, max_seconds: int) -> int:
    """Delay before the next run of a job that failed ``consecutive_failures`` times in a row.

    The interval itself while failures <= FAILURES_BEFORE_BACKOFF; then the interval doubled per
    further failure (at most 2**6 times), capped at ``max_seconds`` but never below the interval.
    """
    interval = check_int(interval_seconds, "interval_seconds")
    if consecutive_failures <= FAILURES_BEFORE_BACKOFF:
        return interval
    exponent = min(consecutive_failures - FAILURES_BEFORE_BACKOFF, MAX_BACKOFF_EXPONENT)
    return max(interval, min(interval * 2**exponent, max_seconds))


def retry_slot(
    due_at: datetime,
    interval_seconds: int,
    now: datetime,
    consecutive_failures: int,
    max_backoff_seconds: int,
) -> datetime:
    """When a job that just failed for the ``consecutive_failures``-th time runs next."""
    regular = next_slot(due_at, interval_seconds, now)
    delay = backoff_seconds(interval_seconds, consecutive_failures, max_backoff_seconds)
    if delay <= interval_seconds:
        return regular
    return max(
        regular, slot_at_or_after(due_at, interval_seconds, as_utc(now) + timedelta(seconds=delay))
    )


# ---------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class Claim:
    """A won claim: this run owns slot ``slot``; the job's next slot is ``next_at``."""

    job_id: str
    slot: datetime
    next_at: datetime
    interval_seconds: int


class RunOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    PUBLICATION_FAILED = "publication_failed"
    FAILED = "failed"
    DISABLED = "disabled"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ScheduledRun:
    """What one due job's run did."""

    job_id: str
    outcome: RunOutcome
    model_id: str | None = None
    forecast_id: str | None = None
    error: str | None = None
    next_prediction_at: datetime | None = None
    model_loaded: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["next_prediction_at"] = iso_or_none(self.next_prediction_at)
        return data


def find_due_jobs(db: Db, now: datetime | None = None, *, limit: int = 200) -> list[DueJob]:
    """Jobs whose recurring forecast is due, earliest first (at most ``limit``, up to 500)."""
    return TrainingJobRepository(db).find_due_predictions(
        now or utc_now(), limit=min(limit, MAX_PAGE_SIZE)
    )


def claim(db: Db, due: DueJob, now: datetime | None = None) -> Claim | None:
    """Take ``due``'s slot (atomic) and record ``now`` as the job's last run; ``None`` when
    another scheduler took it or the job changed (disabled, rescheduled)."""
    moment = now or utc_now()
    next_at = next_slot(due.due_at, due.interval_seconds, moment)
    if not TrainingJobRepository(db).claim_prediction(
        due.job_id, due.due_at, next_at, run_at=moment
    ):
        return None
    return Claim(
        due.job_id, bson_datetime(due.due_at), bson_datetime(next_at), due.interval_seconds
    )


def _message(error: BaseException) -> str:
    text = str(error) if isinstance(error, ChronosError) else f"{type(error).__name__}: {error}"
    return text[:MAX_ERROR_LENGTH]


def record_failure(
    db: Db, claimed: Claim, message: str, now: datetime, settings: Settings
) -> datetime:
    """Count the failure, keep the error and back the job off; returns its next run."""
    jobs = TrainingJobRepository(db)
    job = jobs.find(claimed.job_id)
    if job is None:
        return claimed.next_at
    failures = job.prediction_config.consecutive_failures + 1
    jobs.set_fields(
        claimed.job_id,
        {
            "prediction_config.last_run_at": now,
            "prediction_config.last_error": message,
            "prediction_config.consecutive_failures": failures,
        },
    )
    later = retry_slot(
        claimed.slot, claimed.interval_seconds, now, failures, settings.forecast_max_backoff_seconds
    )
    if later > claimed.next_at and jobs.claim_prediction(claimed.job_id, claimed.next_at, later):
        logger.warning(
            "recurring forecast of training job %s failed %d times in a row; next run %s",
            claimed.job_id,
            failures,
            format_datetime(later),
        )
        return later
    return claimed.next_at


def disable_after_error(db: Db, job: TrainingJob, message: str, now: datetime) -> None:
    """Switch off a job whose runs cannot succeed (its stored model is unusable)."""
    with contextlib.suppress(NotFound):
        TrainingJobRepository(db).set_fields(
            job.id,
            {
                "prediction_config.enabled": False,
                "prediction_config.disabled_reason": message,
                "prediction_config.last_error": message,
                "prediction_config.last_run_at": now,
                "prediction_config.consecutive_failures": job.prediction_config.consecutive_failures
                + 1,
                "prediction_config.updated_at": now,
                "next_prediction_at": None,
            },
        )


@dataclass(frozen=True)
class PendingPublication:
    """A claimed run whose forecast is stored but not (yet) published."""

    claim: Claim
    model_id: str
    forecast_id: str
    model_loaded: bool
    started_at: datetime
    record: ForecastRecord | None = field(default=None, compare=False, repr=False)
    #: The model's own NGSI flavour, known where the forecast was computed (not in params).
    ngsi_flavour: str | None = field(default=None, compare=False, repr=False)

    def as_params(self) -> dict[str, Any]:
        return {
            "job_id": self.claim.job_id,
            "slot": self.claim.slot,
            "next_at": self.claim.next_at,
            "interval_seconds": self.claim.interval_seconds,
            "model_id": self.model_id,
            "forecast_id": self.forecast_id,
            "model_loaded": self.model_loaded,
            "started_at": self.started_at,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PendingPublication:
        return cls(
            claim=Claim(
                params["job_id"], params["slot"], params["next_at"], params["interval_seconds"]
            ),
            model_id=params["model_id"],
            forecast_id=params["forecast_id"],
            model_loaded=params["model_loaded"],
            started_at=params["started_at"],
        )


def forecast_due_job(
    db: Db,
    due: DueJob,
    job: TrainingJob | None,
    *,
    settings: Settings,
    cache: ModelCache,
    now: datetime | None = None,
) -> ScheduledRun | PendingPublication:
    """Claim ``due``'s slot of ``job`` (as its batch read it; ``None``: gone), forecast and
    store the forecast (not published yet).

    Returns the finished run when nothing is left to publish (skipped, failed, disabled; the
    outcome is recorded on the job), else the pending publication. Errors are not raised. A
    cached model is not checked to still exist here (see :func:`run_due_batch`).
    """
    moment = now or utc_now()
    claimed = None if job is None else claim(db, due, moment)
    if job is None or claimed is None:  # taken, changed or deleted meanwhile
        return ScheduledRun(due.job_id, RunOutcome.SKIPPED, error="claimed by another scheduler")
    try:
        computed = compute_forecast(
            db,
            job,
            settings=settings,
            cache=cache,
            trigger=ForecastTrigger.SCHEDULE,
            scheduled_for=claimed.slot,
            now=moment,
            verify_cached=False,
        )
    except ArtifactsUnusable as error:
        message = f"recurring forecasts disabled: {_message(error)}"
        disable_after_error(db, job, message[:MAX_ERROR_LENGTH], moment)
        logger.error("training job %s: %s", job.id, message)
        return ScheduledRun(job.id, RunOutcome.DISABLED, model_id=job.model_id, error=message)
    except DuplicateForecast as error:
        return ScheduledRun(job.id, RunOutcome.SKIPPED, model_id=job.model_id, error=str(error))
    except Exception as error:
        return _failed(db, claimed, job, error, moment, settings)
    return PendingPublication(
        claim=claimed,
        model_id=job.model_id,
        forecast_id=computed.record.id,
        model_loaded=computed.model_loaded,
        started_at=moment,
        record=computed.record,
        ngsi_flavour=computed.ngsi_flavour,
    )


def _succeeded(pending: PendingPublication) -> ScheduledRun:
    return ScheduledRun(
        pending.claim.job_id,
        RunOutcome.SUCCEEDED,
        model_id=pending.model_id,
        forecast_id=pending.forecast_id,
        next_prediction_at=pending.claim.next_at,
        model_loaded=pending.model_loaded,
    )


def finish_run(
    db: Db,
    pending: PendingPublication,
    error: BaseException | None,
    *,
    settings: Settings,
) -> ScheduledRun:
    """Record how publishing ``pending``'s forecast ended (``error`` None: it was published)."""
    claimed = pending.claim
    if error is None:
        TrainingJobRepository(db).record_successes([claimed.job_id])
        return _succeeded(pending)
    message = (f"forecast {pending.forecast_id} was computed but not published: {_message(error)}")[
        :MAX_ERROR_LENGTH
    ]
    next_at = record_failure(db, claimed, message, pending.started_at, settings)
    logger.warning("recurring forecast of training job %s: %s", claimed.job_id, message)
    return ScheduledRun(
        claimed.job_id,
        RunOutcome.PUBLICATION_FAILED,
        model_id=pending.model_id,
        forecast_id=pending.forecast_id,
        error=message,
        next_prediction_at=next_at,
        model_loaded=pending.model_loaded,
    )


def _failed(
    db: Db,
    claimed: Claim,
    job: TrainingJob,
    error: BaseException,
    moment: datetime,
    settings: Settings,
) -> ScheduledRun:
    message = _message(error)
    next_at = record_failure(db, claimed, message, moment, settings)
    logger.warning("recurring forecast of training job %s failed: %s", job.id, message)
    return ScheduledRun(
        job.id,
        RunOutcome.FAILED,
        model_id=job.model_id,
        error=message,
        next_prediction_at=next_at,
    )


def run_due_batch(
    db: Db,
    dues: Iterable[DueJob],
    *,
    settings: Settings,
    cache: ModelCache,
    now: Callable[[], datetime] = utc_now,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[ScheduledRun], list[PendingPublication]]:
    """Forecast and publish each due job in turn.

    Returns the finished runs and the publications left for a later attempt: after the first
    transient publication failure (Orion unreachable or failing) the rest of the batch is not
    published now but left pending too, so an outage is not hammered once per job.

    ``should_stop()`` is asked before each job is claimed: once it says yes (the process is
    stopping), the rest of the batch is not claimed and stays due for the next sweep (outcome
    ``skipped``), so a stopping process never leaves a claimed job without its run.

    The batch reads its jobs in one query before its first claim; each claim is a
    compare-and-set on the job's slot, so a job disabled, rescheduled or deleted meanwhile is
    skipped, and one otherwise edited meanwhile runs this slot as it was read.

    The successes are recorded :data:`IN_CHUNK` at a time (and at the end of the batch), on
    their forecasts in one write and on their jobs in another, and the cached models the batch
    used are checked to still exist at the end: a model whose artifacts were deleted leaves
    the cache, so its job's next run finds it gone (disabled).
    """
    runs: list[ScheduledRun] = []
    pending: list[PendingPublication] = []
    succeeded: list[PendingPublication] = []
    cached: list[TrainingJob] = []

    def flush_successes() -> None:
        if succeeded:
            ForecastRepository(db).mark_published((s.forecast_id for s in succeeded), now())
            TrainingJobRepository(db).record_successes(s.claim.job_id for s in succeeded)
            succeeded.clear()

    dues = list(dues)
    # A forecast needs neither the training metrics nor the collection chunks (most of a job).
    jobs = TrainingJobRepository(db).find_many(
        (due.job_id for due in dues), without=("metrics", "data_collection_jobs")
    )
    try:
        for due in dues:
            if should_stop is not None and should_stop():
                stopped = ScheduledRun(due.job_id, RunOutcome.SKIPPED, error=NOT_CLAIMED_STOPPING)
                runs.append(stopped)
                continue
            job = jobs.get(due.job_id)
            step = forecast_due_job(db, due, job, settings=settings, cache=cache, now=now())
            if isinstance(step, ScheduledRun):
                runs.append(step)
                continue
            if not step.model_loaded:
                cached.append(jobs[due.job_id])
            if pending:
                pending.append(step)
                continue
            try:
                publish_forecast(
                    db,
                    step.forecast_id,
                    settings=settings,
                    record=step.record,
                    flavour=step.ngsi_flavour or settings.ngsi_flavour,
                    record_success=False,
                )
            except Exception as error:
                if is_transient_error(error):
                    pending.append(step)
                else:
                    runs.append(finish_run(db, step, error, settings=settings))
                continue
            runs.append(_succeeded(step))
            succeeded.append(step)
            if len(succeeded) >= IN_CHUNK:
                flush_successes()
    finally:
        flush_successes()
    _forget_deleted_models(db, cache, cached)
    return runs, pending


def _forget_deleted_models(db: Db, cache: ModelCache, jobs: list[TrainingJob]) -> None:
    if not jobs:
        return
    by_id = {job.id: job for job in jobs}
    for job_id in missing_artifacts(db, jobs):
        cache.discard(artifact_key(db, by_id[job_id]))


def publish_pending(db: Db, pending: Iterable[PendingPublication], *, settings: Settings) -> None:
    """One more attempt at each pending publication not yet published.

    Stops at the first transient failure and raises it (the caller retries later); other
    failures are recorded on their forecast and skipped.
    """
    for item in pending:
        try:
            publish_forecast(db, item.forecast_id, settings=settings)
        except Exception as error:
            if is_transient_error(error):
                raise


def finish_pending(
    db: Db,
    pending: Iterable[PendingPublication],
    *,
    settings: Settings,
    last_error: str | None = None,
) -> list[ScheduledRun]:
    """Record the outcome of each pending publication from its forecast's publication state."""
    repo = ForecastRepository(db)
    runs = []
    for item in pending:
        record = repo.find(item.forecast_id)
        if record is not None and record.publication.status is PublicationStatus.PUBLISHED:
            runs.append(finish_run(db, item, None, settings=settings))
            continue
        reason = (record.publication.error if record is not None else None) or last_error
        error = ChronosError(reason or "the publication was not attempted (Orion unavailable)")
        if record is not None and record.publication.status is PublicationStatus.PENDING:
            # Never attempted after an earlier failure in the sweep: say so on the forecast.
            with contextlib.suppress(NotFound):
                repo.update_publication(
                    record,
                    record.publication.model_copy(
                        update={"status": PublicationStatus.FAILED, "error": str(error)}
                    ),
                    count_attempt=False,
                )
        runs.append(finish_run(db, item, error, settings=settings))
    return runs


@dataclass
class SweepReport:
    """What one sweep did (counts per outcome, model loads, throughput)."""

    due: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    model_loads: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    runs: list[ScheduledRun] = field(default_factory=list)

    @classmethod
    def build(
        cls, runs: Iterable[ScheduledRun], *, seconds: float, model_loads: int, cache_hits: int
    ) -> SweepReport:
        listed = list(runs)
        counts = Counter(run.outcome.value for run in listed)
        return cls(
            due=len(listed),
            outcomes={outcome.value: counts.get(outcome.value, 0) for outcome in RunOutcome},
            model_loads=model_loads,
            cache_hits=cache_hits,
            seconds=seconds,
            runs=listed,
        )

    @property
    def forecasts(self) -> int:
        return self.outcomes.get(RunOutcome.SUCCEEDED.value, 0) + self.outcomes.get(
            RunOutcome.PUBLICATION_FAILED.value, 0
        )

    def as_dict(self) -> dict[str, Any]:
        rate = self.forecasts / self.seconds if self.seconds > 0 else None
        return {
            "due": self.due,
            **self.outcomes,
            "forecasts": self.forecasts,
            "model_loads": self.model_loads,
            "cache_hits": self.cache_hits,
            "seconds": round(self.seconds, 3),
            "forecasts_per_second": None if rate is None else round(rate, 2),
            "runs": [run.as_dict() for run in self.runs],
        }


#: Jobs per batch: a batch costs a Prefect task run (its states, parameters and result, the
#: FIWARE slots), so a sweep makes few, large batches, one per worker slot.
MIN_BATCH, MAX_BATCH = 25, 250


def batches(due: list[DueJob], width: int) -> list[list[DueJob]]:
    """Split the due jobs in ``width`` batches (at least ``MIN_BATCH``, at most ``MAX_BATCH``
    jobs each, the last one shorter)."""
    size = min(MAX_BATCH, max(MIN_BATCH, -(-len(due) // max(1, width))))
    return [due[i : i + size] for i in range(0, len(due), size)]


def _retry_pending(
    db: Db, pending: list[PendingPublication], *, settings: Settings
) -> list[ScheduledRun]:
    last_error: str | None = None
    for attempt in range(settings.forecast_publication_retries):
        if not pending:
            break
        if attempt or settings.forecast_publication_retry_delay_seconds:
            time.sleep(settings.forecast_publication_retry_delay_seconds)
        try:
            publish_pending(db, pending, settings=settings)
        except Exception as error:
            last_error = _message(error)
            continue
        last_error = None
        break
    return finish_pending(db, pending, settings=settings, last_error=last_error)


BatchResult = tuple[list[ScheduledRun], list[PendingPublication]]
RunBatches = Callable[[list[list[DueJob]]], Iterable[BatchResult]]


def collect_due_runs(
    *,
    limit: int,
    width: int,
    find_due: Callable[[int], list[DueJob]],
    run_batches: RunBatches,
) -> BatchResult:
    """The sweep loop, whatever runs the batches: find at most ``limit`` due jobs page by page,
    split each page in batches for ``width`` workers and hand them to ``run_batches`` (threads
    here, Prefect tasks or task workers in the flow). Returns the finished runs and the
    publications left pending."""
    runs: list[ScheduledRun] = []
    pending: list[PendingPublication] = []
    while len(runs) + len(pending) < limit:
        asked = min(limit - len(runs) - len(pending), MAX_PAGE_SIZE)
        due = find_due(asked)
        if not due:
            break
        for done, left in run_batches(batches(due, width)):
            runs.extend(done)
            pending.extend(left)
        if len(due) < asked or any(run.error == NOT_CLAIMED_STOPPING for run in runs):
            break
    return runs, pending


def cache_use(runs: Iterable[ScheduledRun]) -> tuple[int, int]:
    """``(model loads, cache hits)`` of finished runs: a run that computed a forecast loaded its
    model or found it cached (counted per run, so it works across processes)."""
    loads = hits = 0
    for run in runs:
        if run.model_loaded:
            loads += 1
        elif run.forecast_id is not None:
            hits += 1
    return loads, hits


def run_sweep(
    db: Db,
    *,
    settings: Settings,
    cache: ModelCache,
    limit: int = 200,
    now: Callable[[], datetime] = utc_now,
) -> SweepReport:
    """One scheduler sweep without an orchestrator: every due job (at most ``limit``) in
    batches, ``settings.forecast_concurrency`` at a time in threads; publications that failed
    on a transient error get ``settings.forecast_publication_retries`` more attempts."""
    limit = check_int(limit, "limit")
    started = time.perf_counter()
    due_by = now()  # what was due when the sweep started (not what falls due meanwhile)
    width = settings.forecast_concurrency
    with ThreadPoolExecutor(max_workers=width) as pool:
        runs, pending = collect_due_runs(
            limit=limit,
            width=width,
            find_due=lambda asked: find_due_jobs(db, due_by, limit=asked),
            run_batches=lambda parts: pool.map(
                lambda batch: run_due_batch(db, batch, settings=settings, cache=cache, now=now),
                parts,
            ),
        )
    runs.extend(_retry_pending(db, pending, settings=settings))
    loads, hits = cache_use(runs)
    return SweepReport.build(
        runs, seconds=time.perf_counter() - started, model_loads=loads, cache_hits=hits
    )
