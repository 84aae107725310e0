"""``chronos train``: train a model now, in this process, with progress on the terminal."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.output import ModelIdArgument, VerboseOption, console, print_json

if TYPE_CHECKING:
    from rich.progress import Progress

#: How often the progress display reads the job from the database.
POLL_SECONDS = 1.0


class JobWatcher:
    """Follows the newest training job of a model (created after ``since``) in a thread and
    shows its phase and data-collection progress."""

    def __init__(self, db: Any, model_id: str, since: datetime, progress: Progress) -> None:
        self._db = db
        self._model_id = model_id
        self._since = since
        self._progress = progress
        self._task = progress.add_task("starting", total=None)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="chronos-train-progress", daemon=True
        )
        self.job_id: str | None = None

    def __enter__(self) -> JobWatcher:
        self._progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if exc_info[0] is None:
            self.poll()  # the last state (after a failure the caller reads the job itself)
        self._progress.stop()

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception:  # the display must never break the training
                continue

    def poll(self) -> None:
        from chronos_core.storage.training_job_repository import TrainingJobRepository

        jobs = TrainingJobRepository(self._db).list_for_model(self._model_id, limit=1)
        if not jobs or jobs[0].created_at < self._since:
            return
        job = jobs[0]
        self.job_id = job.id
        self._progress.update(
            self._task,
            description=f"{job.status.value.replace('_', ' ')} (job {job.id[:8]})",
            total=job.total_data_points_requested or None,
            completed=job.total_data_points_collected,
        )


def train(
    model_id: ModelIdArgument,
    last_n: Annotated[
        int | None,
        typer.Option(
            "--last-n",
            min=1,
            help="Train on the latest N points of the attribute (default: chosen from the "
            "data, enough for several cycles of its longest season).",
        ),
    ] = None,
    verbose: VerboseOption = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the finished job as JSON.")
    ] = False,
) -> None:
    """Train a model now and print the training job id.

    Runs the train-model flow in this process: collects the attribute's latest history from
    STH-Comet, trains the network and stores it. Progress shows on the terminal.
    """
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from chronos_core.clock import utc_now
    from chronos_core.errors import InvalidInput
    from chronos_core.services.models import get_model
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from cli.context import load_settings, open_database
    from cli.prefect_runtime import announce

    max_last_n = load_settings().max_last_n
    if last_n is not None and last_n > max_last_n:
        raise InvalidInput(f"--last-n must be at most {max_last_n}, got {last_n}")
    db = open_database()
    model = get_model(db, model_id)  # a wrong id fails here, before Prefect starts
    announce(
        f"Training model {model.id} ({model.name}) on the last "
        f"{'N (chosen from the data)' if last_n is None else last_n} points",
        verbose=verbose,
    )
    from flows.training import train_model

    err = console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} points"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,  # a live display only for a person watching
    )
    watcher = JobWatcher(db, model_id, utc_now().replace(microsecond=0), progress)
    try:
        with watcher:
            job_id = train_model(model_id, last_n=last_n)
    except BaseException as error:
        from chronos_core.storage.database import DatabaseUnavailable

        # With the database gone the job cannot be read: the error line says it all.
        if watcher.job_id is not None and not isinstance(error, DatabaseUnavailable):
            try:
                job = TrainingJobRepository(db).find(watcher.job_id)
                state = job.status.value if job is not None else "unknown"
            except Exception:
                state = "unknown"
            typer.echo(f"Training job {watcher.job_id} ended {state}.", err=True)
        raise
    job = TrainingJobRepository(db).get(job_id)
    if as_json:
        print_json(job)
        return
    metrics = job.metrics
    summary = f"Training job {job.id}: {job.status.value}"
    if metrics is not None and metrics.rmse is not None:
        summary += f"; test RMSE {metrics.rmse:.4g}, MAE {metrics.mae:.4g}"
        if metrics.skill is not None:
            summary += f", skill {metrics.skill:+.2f} vs {metrics.best_baseline}"
    typer.echo(summary, err=True)
    typer.echo(job.id)
