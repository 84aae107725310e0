"""Running the ``chronos`` CLI in-process against the test database."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from chronos_core.settings import Settings, get_settings


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Invoke = Callable[..., CliResult]


@pytest.fixture
def chronos(settings: Settings) -> Iterator[Invoke]:
    """``chronos(*args, input=None)`` runs the CLI with the test settings and returns its result."""
    from cli.main import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> CliResult:
        get_settings.cache_clear()
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    yield invoke
    get_settings.cache_clear()
