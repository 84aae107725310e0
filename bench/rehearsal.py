"""Rehearsal of several machines on one: a Prefect server on PostgreSQL, two Chronos hosts.

What runs, each in its own process:

- PostgreSQL (``initdb`` + ``pg_ctl`` in a temporary directory, on a free port; as the
  ``postgres`` user when run as root) and the Prefect server on it
  (``PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://...``);
- one MongoDB-wire server (the embedded database, started on its own) and the FIWARE sandbox;
- two Chronos hosts, ``a`` and ``b``: ``PREFECT_API_URL=... chronos serve`` each (or, with
  ``--hosts-run worker``, ``prefect worker start --pool chronos`` and ``python -m
  deployments.forecast_worker`` each, after ``prefect deploy --all``), with its own
  ``CHRONOS_DATA_DIR`` and ``PREFECT_HOME``, and, when this runs as root with ``ip`` (iproute2),
  each in its own network namespace on a bridge, so a host reaches nothing but the Prefect API,
  MongoDB and FIWARE (without that, both use loopback). The only directory both hosts write
  to is Prefect's result storage for background tasks (``PREFECT_RESULTS_LOCAL_STORAGE_PATH``),
  which several real hosts share on NFS or S3 (docs/scaling.md).

One small model is trained by the real ``train-model`` flow and copied into N models with their
own artifacts; every job is made due before each observed scheduled ``run-due-forecasts`` sweep.
Per sweep: which host ran the sweep, how many jobs each host's forecast worker forecast (from
the hosts' own logs), and, from MongoDB, forecast records per job and slot (each must be 1).
Then the host that is not running the sweep gets SIGTERM while a sweep runs: no job may stay
claimed without its forecast, and the next sweep, on the remaining host, forecasts the rest
once. ``--hosts-run worker`` currently shows its batches refused by the forecast workers
(``No module named 'predictions'``, see docs/scaling.md). ``--keep`` keeps the hosts' logs.

    .venv/bin/python bench/rehearsal.py --models 60 --json rehearsal.json
    .venv/bin/python bench/rehearsal.py --models 60 --hosts-run worker

Run it from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler_bench import _serve_sandbox, machine, make_all_due, train_and_clone  # noqa: E402
from serving_bench import (  # noqa: E402
    MemorySampler,
    descendants,
    finished_sweeps,
    forecast_workers,
    free_port,
    observe_sweep,
    rss_mb,
    sweep_artifact,
)
from serving_bench import role as serving_role  # noqa: E402

from cli.local_server import LocalPrefectServer  # noqa: E402

HOSTS = ("a", "b")
STARTUP_SECONDS = 300.0
#: A batch's per-job log line (tasks/forecasting.py), as the forecast worker prints it.
JOB_LINE = re.compile(r"training job ([0-9a-f-]{36}): (succeeded|publication_failed)")


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl``, ``createdb`` and ``psql`` (Debian's
    layout, then PATH)."""
    tools = ("initdb", "pg_ctl", "createdb", "psql")
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    found = shutil.which("pg_ctl")
    for candidate in [*candidates, *([Path(found).parent] if found else [])]:
        if all((candidate / tool).exists() for tool in tools):
            return candidate
    return None


class Postgres:
    """A throw-away PostgreSQL cluster in a temporary directory, on 127.0.0.1 only."""

    def __init__(self, bindir: Path) -> None:
        # Its own directory: the unprivileged user must reach it.
        self.base = base = Path(tempfile.mkdtemp(prefix="chronos-rehearsal-pg-"))
        self.bindir = bindir
        self.data = base / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            user = pwd.getpwnam("postgres" if _has_user("postgres") else "nobody")
            os.chown(base, user.pw_uid, user.pw_gid)
            self.as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
            self.as_user += ["--clear-groups"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://prefect@127.0.0.1:{self.port}/prefect"

    def _pg(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return run([*self.as_user, str(self.bindir / tool), *args], cwd=self.base)
        except subprocess.CalledProcessError as error:
            raise SystemExit(f"{tool} failed: {error.stderr or error.stdout}") from None

    def start(self) -> str:
        self._pg("initdb", "-D", str(self.data), "-U", "prefect", "--auth=trust", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.base}"
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", "pg.log", "-w", "start")
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "prefect", "prefect")
        return self._pg("postgres", "--version").stdout.strip()

    def count(self, table: str) -> int:
        """Rows in one of Prefect's tables (proof that the server used this database)."""
        sql = f"SELECT count(*) FROM {table}"
        query = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "prefect", "-d", "prefect"]
        return int(self._pg("psql", *query, "-tAc", sql).stdout.strip())

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PostgresPrefectServer(LocalPrefectServer):
    """``prefect server start`` (as ``chronos serve`` starts it) with its database on
    PostgreSQL."""

    def __init__(self, home: Path, database_url: str, **kwargs: Any) -> None:
        super().__init__(home, **kwargs)
        self.database_url = database_url

    def server_environment(self) -> dict[str, str]:
        return {
            **super().server_environment(),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.database_url,
        }


# --------------------------------------------------------------------------- network


class Network:
    """Hosts ``a`` and ``b`` in their own network namespaces on a bridge (root and iproute2
    needed), or both on loopback. Shared services listen on :attr:`address`."""

    def __init__(self, isolate: bool) -> None:
        tag = os.getpid() % 10_000
        self.bridge = f"chrbr{tag}"
        self.subnet = f"10.231.{os.getpid() % 250}"
        self.namespaces = {host: f"chronos-{tag}-{host}" for host in HOSTS}
        self.mode = "loopback"
        self.address = "127.0.0.1"
        self.reason = ""
        if not isolate:
            self.reason = "--loopback asked"
        elif os.geteuid() != 0 or shutil.which("ip") is None:
            self.reason = "network namespaces need root and iproute2"
        else:
            try:
                self._create()
            except (subprocess.CalledProcessError, OSError) as error:
                stderr = getattr(error, "stderr", "") or str(error)
                self.reason = f"network namespaces unavailable: {stderr.strip()}"
                self.remove()
            else:
                self.mode = "netns"
                self.address = f"{self.subnet}.1"

    def _create(self) -> None:
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{self.subnet}.1/24", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        for index, (host, namespace) in enumerate(self.namespaces.items(), start=2):
            outside, inside = f"{self.bridge}{host}", "eth0"
            run(["ip", "netns", "add", namespace])
            run(["ip", "link", "add", outside, "type", "veth", "peer", "name", f"{outside}p"])
            run(["ip", "link", "set", f"{outside}p", "netns", namespace])
            run(["ip", "link", "set", outside, "master", self.bridge, "up"])
            inns = ["ip", "netns", "exec", namespace, "ip"]
            run([*inns, "link", "set", f"{outside}p", "name", inside])
            run([*inns, "addr", "add", f"{self.subnet}.{index}/24", "dev", inside])
            run([*inns, "link", "set", inside, "up"])
            run([*inns, "link", "set", "lo", "up"])

    def prefix(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[host]] if self.mode == "netns" else []

    def remove(self) -> None:
        for namespace in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)


# --------------------------------------------------------------------------- hosts


#: What each host runs: ``serve`` as docs/operations.md's single-machine recipe (its forecast
#: worker is a child), ``worker`` as its ``prefect.yaml`` recipe (after ``prefect deploy``).
HOST_COMMANDS = {
    "serve": [["-c", "from cli.main import app; app()", "serve"]],
    "worker": [
        ["-m", "prefect", "worker", "start", "--pool", "chronos", "--limit", "4"],
        ["-m", "deployments.forecast_worker"],
    ],
}


def role(pid: int) -> str:
    """What a host's process is, for the memory figures."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as handle:
        if b"worker\0start" in handle.read():
            return "prefect_worker"
    return serving_role(pid)


class HostSampler(MemorySampler):
    """Largest RSS per role over the processes of one host (each with its children)."""

    def __init__(self, roots: list[int], every: float = 0.25) -> None:
        super().__init__(roots[0], every)
        self.roots = roots

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in [p for root in self.roots for p in [root, *descendants(root)]]:
                value = rss_mb(pid)
                if value is not None:
                    name = role(pid)
                    self.peaks[name] = max(self.peaks.get(name, 0.0), round(value, 1))
            self._stop.wait(self.every)


@dataclass
class Host:
    name: str
    home: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.home / "host.log"

    def start(self, network: Network, env: dict[str, str], mode: str) -> None:
        env = {
            **env,
            "CHRONOS_DATA_DIR": str(self.home / "data"),
            "PREFECT_HOME": str(self.home / "prefect"),
            "PREFECT_LOGGING_LEVEL": "INFO",  # the batches' per-job lines go to host.log
        }
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.processes = [
                subprocess.Popen(
                    [*network.prefix(self.name), sys.executable, *arguments],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                for arguments in HOST_COMMANDS[mode]
            ]

    def mark(self) -> None:
        self.marks.append(self.log.stat().st_size if self.log.exists() else 0)

    def since_mark(self) -> str:
        with self.log.open("rb") as log:
            log.seek(self.marks[-1])
            return log.read().decode(errors="replace")

    def stop(self, timeout: float = 120.0) -> tuple[int | None, float]:
        """SIGTERM every process and wait: the worst exit status and the seconds it took."""
        processes, self.processes = self.processes, []
        started = time.monotonic()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in processes:
            try:
                codes.append(process.wait(timeout=max(1.0, timeout - time.monotonic() + started)))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return max(codes, key=abs, default=None), round(time.monotonic() - started, 1)


def wait_for(condition: Any, timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


# --------------------------------------------------------------------------- checks


def slots(db: Any, job_ids: list[str]) -> dict[str, Any]:
    from chronos_core.storage.schema import TRAINING_JOBS

    found = db[TRAINING_JOBS].find({"id": {"$in": job_ids}}, {"id": 1, "next_prediction_at": 1})
    return {doc["id"]: doc["next_prediction_at"] for doc in found}


def records_per_slot(db: Any) -> Counter[tuple[str, Any]]:
    """Scheduled forecast records per (job, slot), over the whole run."""
    found = db["forecasts"].find(
        {"trigger": "schedule"}, {"training_job_id": 1, "scheduled_for": 1}
    )
    return Counter((doc["training_job_id"], doc["scheduled_for"]) for doc in found)


def served_by(hosts: dict[str, Host]) -> dict[str, set[str]]:
    """Jobs each host forecast since its last mark, from its own log."""
    return {name: {m[0] for m in JOB_LINE.findall(h.since_mark())} for name, h in hosts.items()}


def sweep_host(hosts: dict[str, Host], flow_run_name: str) -> str | None:
    """The host whose runner ran the flow run (its log names the run)."""
    return next((n for n, h in hosts.items() if f"'{flow_run_name}'" in h.since_mark()), None)


def flow_run(flow_run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def finished(flow_run_id: Any) -> bool:
    state = flow_run(flow_run_id).state
    return bool(state and state.is_final())


def sweeps_since(marker: Any, *, running: bool = False) -> list[Any]:
    """``run-due-forecasts`` runs started after ``marker`` (finished ones, or running ones)."""
    if not running:
        return [r for r in finished_sweeps(marker) if r.start_time and r.start_time > marker]
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["every-minute"])),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=marker)),
        )
    return [r for r in runs if r.start_time and r.start_time > marker]


def check_slot(db: Any, job_ids: list[str], due: dict[str, Any]) -> dict[str, Any]:
    per_slot = records_per_slot(db)
    counts = Counter(per_slot[(job_id, due[job_id])] for job_id in job_ids)
    return {
        "jobs_forecast_once": counts[1],
        "jobs_not_forecast": counts[0],
        "jobs_forecast_twice_or_more": sum(n for c, n in counts.items() if c > 1),
        "duplicate_slots_in_run": sum(1 for n in per_slot.values() if n > 1),
    }


def scheduled_sweep(
    index: int, db: Any, job_ids: list[str], hosts: dict[str, Host], timeout: float
) -> dict[str, Any]:
    for host in hosts.values():
        host.mark()
    live = [h for h in hosts.values() if h.processes]
    with contextlib.ExitStack() as stack:
        samplers = {
            h.name: stack.enter_context(HostSampler([p.pid for p in h.processes])) for h in live
        }
        # observe_sweep makes every job due (slot = now); its own memory figures are replaced.
        result = observe_sweep(index, db, live[0].processes[0].pid, timeout)
    result["rss_mb"] = {name: dict(sorted(s.peaks.items())) for name, s in samplers.items()}
    # make_all_due gave every job the same slot: the latest one forecast.
    slot = max(doc["scheduled_for"] for doc in _latest(db, job_ids))
    due = dict.fromkeys(job_ids, slot)
    split = served_by(hosts)
    result["sweep_host"] = sweep_host(hosts, flow_run(result["flow_run"]).name)
    result["forecasts_by_host"] = {name: len(jobs) for name, jobs in split.items()}
    result["jobs_on_both_hosts"] = len(set.intersection(*split.values())) if split else 0
    result.update(check_slot(db, job_ids, due))
    print(
        f"  ran on host {result['sweep_host']}; forecasts by host {result['forecasts_by_host']}; "
        f"once {result['jobs_forecast_once']}, missing {result['jobs_not_forecast']}, "
        f"twice {result['jobs_forecast_twice_or_more']}",
        flush=True,
    )
    return result


def _latest(db: Any, job_ids: list[str]) -> list[dict[str, Any]]:
    """Each job's latest scheduled forecast record (its slot)."""
    latest: dict[str, dict[str, Any]] = {}
    for doc in db["forecasts"].find(
        {"trigger": "schedule", "training_job_id": {"$in": job_ids}},
        {"training_job_id": 1, "scheduled_for": 1},
    ):
        known = latest.get(doc["training_job_id"])
        if known is None or doc["scheduled_for"] > known["scheduled_for"]:
            latest[doc["training_job_id"]] = doc
    return list(latest.values())


def stop_during_sweep(
    db: Any, job_ids: list[str], hosts: dict[str, Host], timeout: float
) -> dict[str, Any]:
    """Make every job due, SIGTERM the host that is not running the sweep once the first
    forecasts of the slot are stored; nothing may stay claimed without its forecast. Then
    the next sweep (the remaining host alone, nothing made due) forecasts the jobs left due."""
    from prefect.types._datetime import now

    from chronos_core.storage.forecast_repository import ForecastRepository

    for host in hosts.values():
        host.mark()
    marker = now("UTC")
    make_all_due(db)
    due = slots(db, job_ids)
    sweep = wait_for(
        lambda: next(iter(sweeps_since(marker, running=True)), None), timeout, "a sweep"
    )
    repo = ForecastRepository(db)
    wait_for(
        lambda: any(repo.count_for_slot(j, due[j]) for j in job_ids) or finished(sweep.id),
        timeout,
        "the sweep's first forecast",
        every=0.1,
    )
    runner = sweep_host(hosts, sweep.name) or HOSTS[0]
    victim = next(name for name in HOSTS if name != runner)
    stored_at_stop = sum(bool(repo.count_for_slot(j, due[j])) for j in job_ids)
    code, seconds = hosts[victim].stop()
    print(f"stopped host {victim} (exit {code} in {seconds} s) during a sweep run by {runner}")
    wait_for(lambda: finished(sweep.id), timeout, "the interrupted sweep")
    wait_for(lambda: forecast_workers() == 1, 120, "the stopped worker to leave")
    after = slots(db, job_ids)
    claimed = [j for j in job_ids if after[j] != due[j]]
    left_due = [j for j in job_ids if after[j] == due[j]]
    split = served_by(hosts)
    rows, _ = sweep_artifact(sweep.id)
    result: dict[str, Any] = {
        "sweep_host": runner,
        "sweep_state": flow_run(sweep.id).state.type.value,
        "sweep_outcomes": dict(Counter(row["outcome"] for row in rows)),
        "sweep_not_claimed": sum(
            str(row.get("error") or "").startswith("not claimed") for row in rows
        ),
        "stopped_host": victim,
        "stopped_exit_code": code,
        "stop_seconds": seconds,
        "forecasts_stored_when_stopped": stored_at_stop,
        "forecasts_by_host": {name: len(jobs) for name, jobs in split.items()},
        "claimed": len(claimed),
        "claimed_without_forecast": sum(repo.count_for_slot(j, due[j]) == 0 for j in claimed),
        "left_due": len(left_due),
        "forecast_workers_subscribed_after": forecast_workers(),
    }
    print(f"  {result}", flush=True)

    for host in hosts.values():
        host.mark()
    marker = now("UTC")
    wait_for(lambda: sweeps_since(marker), timeout, "the next sweep on the remaining host")
    split = served_by(hosts)
    per_slot = records_per_slot(db)
    result["next_sweep"] = {
        "forecasts_by_host": {name: len(jobs) for name, jobs in split.items()},
        "left_due_forecast_once": sum(per_slot[(j, due[j])] == 1 for j in left_due),
        "duplicate_slots_in_run": sum(1 for n in per_slot.values() if n > 1),
        "scheduled_forecast_records": sum(per_slot.values()),
    }
    print(f"  next sweep: {result['next_sweep']}", flush=True)
    return result


# --------------------------------------------------------------------------- main


def deploy(env: dict[str, str]) -> float:
    """The ``prefect.yaml`` recipe's one-off steps: the work pool, ``prefect deploy --all`` and
    the FIWARE limits. Returns the seconds it took."""
    started = time.perf_counter()
    prefect = [sys.executable, "-m", "prefect"]
    run([*prefect, "work-pool", "create", "chronos", "--type", "process"], cwd=ROOT, env=env)
    run([*prefect, "--no-prompt", "deploy", "--all"], cwd=ROOT, env=env)
    from tasks.fiware_limits import ensure_fiware_limits

    ensure_fiware_limits()
    return round(time.perf_counter() - started, 1)


def rehearse(
    models: int,
    sweeps: int,
    *,
    mode: str = "serve",
    isolate: bool = True,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Run the whole rehearsal; the figures (raises SystemExit when a step does not happen)."""
    bindir = postgres_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries (initdb, pg_ctl) not found")
    work = Path(tempfile.mkdtemp(prefix="chronos-rehearsal-"))
    os.environ["PREFECT_HOME"] = str(work / "bench-prefect")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    results: dict[str, Any] = {"models": models, "mode": mode, "machine": machine()}
    results["sweeps"] = []
    results["uptime_start"] = run(["uptime"]).stdout.strip()
    print(f"machine: {machine()}; {results['uptime_start']}", flush=True)

    network = Network(isolate)
    results["network"] = {"mode": network.mode, "reason": network.reason}
    print(f"network: {network.mode} {network.reason}", flush=True)
    postgres = Postgres(bindir)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    sandbox = context.Process(
        target=_serve_sandbox, args=(models, child, network.address), daemon=True
    )
    hosts = {name: Host(name, work / f"host-{name}") for name in HOSTS}
    server: LocalPrefectServer | None = None
    from chronos_core.storage.embedded import ensure_embedded_server, stop_embedded_server

    try:
        started = time.perf_counter()
        results["postgres"] = postgres.start()
        print(f"{results['postgres']} up in {time.perf_counter() - started:.1f} s", flush=True)
        sandbox.start()
        urls = parent.recv()
        database = ensure_embedded_server(
            work / "db", host=network.address, port=0, exit_with_parent=os.getpid()
        )
        shared = {
            "CHRONOS_MONGODB_URI": database.uri,
            "CHRONOS_MONGODB_DATABASE": "chronos_rehearsal",
            "CHRONOS_STH_URL": urls["sth_url"],
            "CHRONOS_ORION_URL": urls["orion_url"],
            "CHRONOS_IOT_AGENT_URL": urls["iot_agent_url"],
            "CHRONOS_MIN_PREDICTION_INTERVAL_SECONDS": "60",
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(work / "shared-results"),
        }
        os.environ.update(shared | {"CHRONOS_DATA_DIR": str(work / "bench-data")})
        server = PostgresPrefectServer(
            work / "prefect-server", postgres.url, host=network.address, port=free_port()
        )
        started = time.perf_counter()
        server.start()
        results["prefect_server_start_s"] = round(time.perf_counter() - started, 1)
        os.environ["PREFECT_API_URL"] = server.api_url
        print(f"Prefect server on PostgreSQL up in {results['prefect_server_start_s']} s")

        from chronos_core.clock import utc_now
        from chronos_core.settings import get_settings
        from chronos_core.storage.database import get_database
        from chronos_core.storage.schema import TRAINING_JOBS

        get_settings.cache_clear()
        db = get_database()
        _, job_ids = train_and_clone(db, models, get_settings())
        later = utc_now().replace(year=utc_now().year + 1)
        db[TRAINING_JOBS].update_many({}, {"$set": {"next_prediction_at": later}})

        base_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("CHRONOS_", "PREFECT_"))
        }
        host_env = (
            base_env
            | shared
            | {
                "PREFECT_API_URL": server.api_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PYTHONPATH": str(ROOT),
            }
        )
        if mode == "worker":
            results["deploy_s"] = deploy(host_env | {"PREFECT_HOME": os.environ["PREFECT_HOME"]})
        started = time.perf_counter()
        for host in hosts.values():
            host.start(network, host_env, mode)
        wait_for(lambda: forecast_workers() == 2, STARTUP_SECONDS, "both hosts")
        results["hosts_start_s"] = round(time.perf_counter() - started, 1)
        on_host = [" ".join(["python", *arguments]) for arguments in HOST_COMMANDS[mode]]
        results["command_per_host"] = [
            " ".join([*network.prefix("a"), f"env PREFECT_API_URL={server.api_url}", command])
            for command in on_host
        ]
        print(f"hosts a and b serving in {results['hosts_start_s']} s", flush=True)
        for index in range(1, sweeps + 1):
            results["sweeps"].append(scheduled_sweep(index, db, job_ids, hosts, timeout))
        results["stop"] = stop_during_sweep(db, job_ids, hosts, timeout)
        results["postgres_rows"] = {t: postgres.count(t) for t in ("flow_run", "task_run")}
    finally:
        for host in hosts.values():
            host.stop()
        if server is not None:
            server.stop()
        if sandbox.is_alive():
            parent.send("stop")
            sandbox.join(timeout=10)
        stop_embedded_server(work / "db")
        postgres.stop()
        network.remove()
    results["uptime_end"] = run(["uptime"]).stdout.strip()
    results["work_dir"] = str(work)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--hosts-run",
        choices=sorted(HOST_COMMANDS),
        default="serve",
        help="each host runs `chronos serve` (default) or a process worker and a forecast "
        "worker after `prefect deploy --all`",
    )
    parser.add_argument("--loopback", action="store_true", help="no network namespaces")
    parser.add_argument("--sweep-timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the logs and the database")
    args = parser.parse_args()
    if args.models < 2 or args.sweeps < 1:
        parser.error("--models must be at least 2 and --sweeps at least 1")
    results = rehearse(
        args.models,
        args.sweeps,
        mode=args.hosts_run,
        isolate=not args.loopback,
        timeout=args.sweep_timeout,
    )
    if not args.keep:
        shutil.rmtree(results.pop("work_dir"), ignore_errors=True)
    print(json.dumps(results, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
