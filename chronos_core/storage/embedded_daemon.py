"""The embedded database process: a SecantusDB server run as a detached daemon.

Started by :func:`chronos_core.storage.embedded.ensure_embedded_server` as
``python -m chronos_core.storage.embedded_daemon``. Once listening it writes a state file
(pid, host, port) that every Chronos process of the installation reads to find it; on SIGTERM
or SIGINT it closes the storage cleanly and removes the state file.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from chronos_core.process import process_alive

log = logging.getLogger("chronos.embedded_db")

# Connections from Chronos' own pools may sit idle for long stretches; the server only listens
# on the loopback interface, so there is no reason to drop them after SecantusDB's 5 minutes.
CLIENT_IDLE_TIMEOUT_S = 24 * 3600.0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chronos-embedded-db")
    parser.add_argument("--storage-path", required=True, type=Path)
    parser.add_argument("--state-file", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27027)
    parser.add_argument(
        "--fallback-any-port",
        action="store_true",
        help="If --port is taken, listen on any free port instead.",
    )
    parser.add_argument("--cache-size", default="256M")
    parser.add_argument(
        "--exit-with-parent",
        type=int,
        default=None,
        metavar="PID",
        help="Stop when process PID ends (used by test sessions).",
    )
    return parser.parse_args(argv)


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state file atomically (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def _remove_own_state(path: Path) -> None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if state.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _watch_parent(pid: int, stop: threading.Event) -> None:
    parent = os.getppid()
    while not stop.wait(1.0):
        if not process_alive(pid) or os.getppid() != parent:
            log.info("parent process %d ended; stopping", pid)
            stop.set()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        from secantus import SecantusDBServer, __version__
    except ImportError:
        log.error(
            "SecantusDB is not installed: install it with pip install 'chronos[embedded]' "
            "or set CHRONOS_MONGODB_URI to use an existing MongoDB server"
        )
        return 2

    args.storage_path.mkdir(parents=True, exist_ok=True)
    try:
        server = SecantusDBServer(
            host=args.host,
            port=args.port,
            storage_path=str(args.storage_path),
            replica_set_name=None,
            enable_test_commands=False,
            client_idle_timeout_s=CLIENT_IDLE_TIMEOUT_S,
            cache_size=args.cache_size,
        )
    except Exception as error:  # WiredTiger refuses files another server holds open
        log.error("cannot open the database files in %s: %s", args.storage_path, error)
        return 1
    try:
        server.start()
    except OSError as error:
        if error.errno != errno.EADDRINUSE or not args.fallback_any_port:
            log.error("cannot listen on %s:%d: %s", args.host, args.port, error)
            server.stop()
            return 1
        log.warning("port %d is taken; listening on a free port instead", args.port)
        server.port = 0
        server.start()

    host, port = server.address
    write_state(
        args.state_file,
        {
            "pid": os.getpid(),
            "host": host,
            "port": port,
            "storage_path": str(args.storage_path.resolve()),
            "started_at": datetime.now(UTC).isoformat(),
            "secantus_version": __version__,
        },
    )
    log.info(
        "embedded database (SecantusDB %s) on %s:%d, data in %s",
        __version__,
        host,
        port,
        args.storage_path,
    )

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if args.exit_with_parent:
        threading.Thread(
            target=_watch_parent, args=(args.exit_with_parent, stop), daemon=True
        ).start()

    while not stop.wait(0.5):
        pass
    log.info("stopping")
    _remove_own_state(args.state_file)
    # Wake the accept loop (closing a listening socket does not interrupt accept() on Linux),
    # so stopping takes milliseconds rather than SecantusDB's 2 s join timeout.
    listener = getattr(server, "_socket", None)
    if listener is not None:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
