"""The process's runtime: one holder of settings, clients and caches, rebuilt after a fork."""

from __future__ import annotations

import os

import pytest

from chronos_core import runtime
from chronos_core.settings import get_settings
from chronos_core.storage.database import client_for


def test_one_runtime_holds_the_settings_and_clients(mongodb_uri: str) -> None:
    state = runtime.current()
    assert runtime.current() is state
    assert get_settings() is state.settings
    client = client_for(mongodb_uri)
    assert state.database_clients[mongodb_uri] is client
    get_settings.cache_clear()
    assert state.settings is None and get_settings() is state.settings


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_runtime_with_the_same_settings(mongodb_uri: str) -> None:
    parent, settings = runtime.current(), get_settings()
    client_for(mongodb_uri)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        child = runtime.current()
        ok = child is not parent and child.settings is settings and not child.database_clients
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert runtime.current() is parent
