"""The embedded database: a local MongoDB-compatible server for installations without a URI.

With ``CHRONOS_MONGODB_URI`` unset, Chronos runs SecantusDB (a MongoDB wire-protocol server on
WiredTiger) as a detached daemon over ``<data_dir>/db``. Every process of the installation (the
CLI, Prefect workers, flow-run subprocesses) shares it:

* the daemon records ``{pid, host, port}`` in ``<data_dir>/embedded-db.json`` once it listens;
* a process that needs the database reads that file and pings the server (checking the pid it
  reports), and reuses it when it answers;
* otherwise it takes ``<data_dir>/embedded-db.lock`` (an OS file lock, released if the process
  dies), checks again, and starts the daemon, so two processes never start two servers on the
  same files (WiredTiger would refuse the second one anyway).

The daemon outlives the command that started it; :func:`stop_embedded_server` stops it.
SecantusDB is an optional dependency (``pip install 'chronos[embedded]'``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from chronos_core.errors import ExternalServiceError
from chronos_core.process import process_alive

DB_DIRNAME = "db"
STATE_FILENAME = "embedded-db.json"
LOCK_FILENAME = "embedded-db.lock"
LOG_FILENAME = "embedded-db.log"
DAEMON_MODULE = "chronos_core.storage.embedded_daemon"
INSTALL_HINT = (
    "install it with pip install 'chronos[embedded]', or set CHRONOS_MONGODB_URI to use an "
    "existing MongoDB server"
)
_LOG_ROTATE_BYTES = 5 * 1024 * 1024

# Daemons this process started, so that stopping one can reap it (no zombie left behind).
_children: dict[int, subprocess.Popen[bytes]] = {}


class EmbeddedDatabaseError(ExternalServiceError):
    """The embedded database is not installed, did not start, or does not answer."""


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded database, as recorded in its state file."""

    pid: int
    host: str
    port: int
    storage_path: Path

    @property
    def uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mongodb://{host}:{self.port}/?directConnection=true"


def embedded_available() -> bool:
    """Whether SecantusDB is installed."""
    return importlib.util.find_spec("secantus") is not None


def state_file(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_FILENAME


def log_file(data_dir: Path) -> Path:
    return Path(data_dir) / LOG_FILENAME


def ensure_embedded_server(
    data_dir: Path,
    *,
    port: int = 27027,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    exit_with_parent: int | None = None,
) -> EmbeddedServer:
    """Return the installation's running embedded server, starting it if needed.

    ``port`` is a preference: if it is taken the daemon listens on a free port, and the state
    file tells every process which one. ``exit_with_parent`` makes the daemon stop when that
    process ends (for test sessions; normally the daemon outlives its starter).
    """
    data_dir = Path(data_dir).expanduser()
    running = running_embedded_server(data_dir)
    if running is not None:
        return running
    data_dir.mkdir(parents=True, exist_ok=True)
    with _install_lock(data_dir, timeout):
        running = running_embedded_server(data_dir)
        if running is not None:
            return running
        if not embedded_available():
            raise EmbeddedDatabaseError(
                f"the embedded database (SecantusDB) is missing: {INSTALL_HINT}"
            )
        stuck = _read_state(state_file(data_dir))
        if stuck is not None and process_alive(stuck.pid) and _looks_like_daemon(stuck.pid):
            raise EmbeddedDatabaseError(
                f"the embedded database (pid {stuck.pid}) is running but does not answer on "
                f"{stuck.host}:{stuck.port}; stop that process and try again"
            )
        state_file(data_dir).unlink(missing_ok=True)
        return _spawn(
            data_dir, host=host, port=port, timeout=timeout, exit_with_parent=exit_with_parent
        )


def running_embedded_server(data_dir: Path) -> EmbeddedServer | None:
    """The embedded server recorded for ``data_dir`` if it is alive and answers, else ``None``."""
    server = _read_state(state_file(Path(data_dir).expanduser()))
    if server is None or not process_alive(server.pid):
        return None
    # The daemon writes its state file only once it listens, so a live one answers at once;
    # a few tries cover a momentarily busy server.
    for _ in range(3):
        if _probe(server):
            return server
    return None


def stop_embedded_server(data_dir: Path, *, timeout: float = 15.0) -> bool:
    """Stop the embedded server of ``data_dir``; ``False`` if none was running."""
    data_dir = Path(data_dir).expanduser()
    path = state_file(data_dir)
    if not path.exists():
        return False
    with _install_lock(data_dir, timeout):
        server = _read_state(path)
        if server is None or not process_alive(server.pid):
            path.unlink(missing_ok=True)
            return False
        if not (_probe(server) or _looks_like_daemon(server.pid)):
            # The recorded pid now belongs to some other process: never signal it.
            path.unlink(missing_ok=True)
            return False
        os.kill(server.pid, signal.SIGTERM)
        if not _wait_gone(server.pid, timeout):
            os.kill(server.pid, signal.SIGKILL)
            _wait_gone(server.pid, 5.0)
        path.unlink(missing_ok=True)
        return True


# --- internals -------------------------------------------------------------------------------


def _spawn(
    data_dir: Path, *, host: str, port: int, timeout: float, exit_with_parent: int | None
) -> EmbeddedServer:
    storage = data_dir / DB_DIRNAME
    storage.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        DAEMON_MODULE,
        "--storage-path",
        str(storage),
        "--state-file",
        str(state_file(data_dir)),
        "--host",
        host,
        "--port",
        str(port),
        "--fallback-any-port",
    ]
    if exit_with_parent is not None:
        command += ["--exit-with-parent", str(exit_with_parent)]
    env = dict(os.environ)
    # Let the daemon import chronos_core even when Chronos runs from a source checkout.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    log_path = log_file(data_dir)
    _rotate(log_path)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(data_dir),
            env=env,
            close_fds=True,
            **_detached_options(),
        )
    _children[process.pid] = process
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            _children.pop(process.pid, None)
            raise EmbeddedDatabaseError(
                f"the embedded database exited while starting (code {code}): "
                f"{_tail(log_path)} (log: {log_path})"
            )
        server = _read_state(state_file(data_dir))
        if server is not None and server.pid == process.pid and _probe(server):
            return server
        time.sleep(0.05)
    process.terminate()
    raise EmbeddedDatabaseError(
        f"the embedded database did not start within {timeout:.0f} s (log: {log_path})"
    )


def _detached_options() -> dict[str, Any]:
    if sys.platform == "win32":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
        return {"creationflags": flags}
    return {"start_new_session": True}


def _read_state(path: Path) -> EmbeddedServer | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return EmbeddedServer(
            pid=int(data["pid"]),
            host=str(data["host"]),
            port=int(data["port"]),
            storage_path=Path(data["storage_path"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _probe(server: EmbeddedServer, timeout_ms: int = 1000) -> bool:
    """Whether the server answers and is the process the state file names."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient[dict[str, Any]] = MongoClient(
        server.host,
        server.port,
        directConnection=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=5 * timeout_ms,
        appname="chronos-probe",
    )
    try:
        status = client.admin.command("serverStatus")
        return int(status.get("pid", -1)) == server.pid
    except PyMongoError:
        return False
    finally:
        client.close()


def _looks_like_daemon(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return DAEMON_MODULE.encode() in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child = _children.get(pid)
        if child is not None and child.poll() is not None:
            _children.pop(pid, None)
            return True
        if child is None:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def _install_lock(data_dir: Path, timeout: float) -> Iterator[None]:
    path = data_dir / LOCK_FILENAME
    deadline = time.monotonic() + timeout
    with open(path, "a+b") as handle:
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                raise EmbeddedDatabaseError(
                    f"another Chronos process holds {path} (starting or stopping the embedded "
                    "database); try again"
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            _unlock(handle)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[bytes]) -> None:
        with contextlib.suppress(OSError):
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _rotate(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size > _LOG_ROTATE_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "(empty log)"
