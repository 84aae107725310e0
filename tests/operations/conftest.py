"""Fixtures for the operations services (health, device discovery): the FIWARE sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chronos_core.settings import Settings, get_settings


@pytest.fixture(scope="session")
def fiware_sandbox() -> Iterator[Any]:
    """One FIWARE sandbox (STH-Comet, Orion, IoT Agent on free ports) for the session."""
    from chronos_core.sandbox import FiwareSandbox

    with FiwareSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def fiware(
    fiware_sandbox: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The sandbox, emptied, with CHRONOS_*_URL pointing at it (on top of ``settings``)."""
    fiware_sandbox.clear()
    for key, url in fiware_sandbox.urls.items():
        monkeypatch.setenv(f"CHRONOS_{key.upper()}", url)
    get_settings.cache_clear()
    yield fiware_sandbox
    fiware_sandbox.clear()
    get_settings.cache_clear()
