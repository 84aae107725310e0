"""The FIWARE clients are tested against the local sandbox, served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chronos_core.settings import Settings
from fiware_sandbox import FiwareSandbox


@pytest.fixture(scope="module")
def served_sandbox() -> Iterator[FiwareSandbox]:
    with FiwareSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(served_sandbox: FiwareSandbox) -> Iterator[FiwareSandbox]:
    """A served sandbox emptied before each test."""
    served_sandbox.clear()
    yield served_sandbox
    served_sandbox.clear()


@pytest.fixture
def settings(sandbox: FiwareSandbox) -> Settings:
    """Settings pointing at the sandbox: 3 retries without backoff, short timeouts."""
    return Settings(
        sth_url=sandbox.sth_url,
        orion_url=sandbox.orion_url,
        iot_agent_url=sandbox.iot_agent_url,
        fiware_service="smartcity",
        fiware_servicepath="/rooms",
        http_timeout_seconds=2.0,
        http_retries=3,
        http_backoff_seconds=0.0,
        sth_max_page_size=100,
    )
