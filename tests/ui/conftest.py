"""A real local Prefect server, started the way ``chronos serve`` starts it, on a free port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.local_server import LocalPrefectServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def local_prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    """``prefect server start`` on a port that is not 4200, with its own ``PREFECT_HOME``."""
    port = free_port()
    assert port != 4200
    home = Path(tmp_path_factory.mktemp("prefect-home"))
    with LocalPrefectServer(home, port=port) as server:
        yield server
