"""The lease of a running training job: who runs it, and until when that is known to be true.

The process running a job records its host and pid on the job and keeps moving
``lease_expires_at`` forward (every third of ``CHRONOS_TRAINING_LEASE_SECONDS``) from a small
daemon thread, in every phase. A process that is killed outright (``kill -9``, out of memory,
host lost) stops renewing; once the lease is older than ``CHRONOS_TRAINING_LEASE_GRACE_SECONDS``
the job is dead whatever the orchestrator says, and reconciliation ends it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.training_job import TrainingJob
from chronos_core.storage.training_job_repository import TrainingJobRepository

log = logging.getLogger(__name__)
Db = Database[dict[str, Any]]


def lease_owner() -> tuple[str, int]:
    """This process: (host name, pid)."""
    return socket.gethostname(), os.getpid()


def lease_fields(lease_seconds: float, now: datetime | None = None) -> dict[str, Any]:
    """The owner and first expiry to record on a job this process starts."""
    host, pid = lease_owner()
    moment = now or utc_now()
    return {
        "owner_host": host,
        "owner_pid": pid,
        "lease_expires_at": moment + timedelta(seconds=lease_seconds),
    }


def lease_expired(job: TrainingJob, now: datetime, grace_seconds: float) -> bool:
    """Whether the job had a lease and it ran out more than ``grace_seconds`` before ``now``."""
    expires = job.lease_expires_at
    return expires is not None and expires + timedelta(seconds=grace_seconds) < now


class LeaseKeeper:
    """Renew a job's lease from a daemon thread until stopped.

    A failed renewal (the database unreachable) is logged and tried again at the next beat; the
    keeper stops by itself once the job is no longer active.
    """

    def __init__(
        self,
        db: Db,
        job_id: str,
        lease_seconds: float,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._jobs = TrainingJobRepository(db)
        self._job_id = job_id
        self._lease = lease_seconds
        self._clock = clock
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"chronos-lease-{job_id[:8]}", daemon=True
        )
        self.renewals = 0

    def renew(self) -> bool:
        expires = self._clock() + timedelta(seconds=self._lease)
        held = self._jobs.renew_lease(self._job_id, expires, owner_pid=self._pid)
        if held:
            self.renewals += 1
        return held

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._lease / 3):
            try:
                if not self.renew():
                    return  # ended (or taken over): nothing left to keep
                if failing:
                    log.info("training job %s: lease renewed again", self._job_id)
                failing = False
            except Exception as error:  # keep beating: the database may come back
                if not failing:
                    log.warning(
                        "training job %s: cannot renew its lease: %s",
                        self._job_id,
                        str(error).splitlines()[0][:200] if str(error) else type(error).__name__,
                    )
                failing = True

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)
