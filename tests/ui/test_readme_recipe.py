"""The README's several-machines recipe, run as written against a real local Prefect server."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cli.local_server import LocalPrefectServer
from tests import patient_http
from tests.ui.schema_checks import missing_help
from tests.waiting import ANSWER_SECONDS, BOUND_SECONDS, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def readme_recipe() -> list[str]:
    """The command lines of the README's bash block that starts a worker (comments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text("utf-8"), re.S)
    recipe = [block for block in blocks if "prefect worker start" in block]
    assert len(recipe) == 1, "the README should have one several-machines recipe"
    lines = [line.split("#", 1)[0].strip() for line in recipe[0].splitlines()]
    return [line for line in lines if line]


def prefect_command(line: str) -> list[str]:
    words = shlex.split(line)
    assert words[0] == "prefect", line
    return [sys.executable, "-m", "prefect", *words[1:]]


def workers_of(api_url: str, pool: str) -> list[dict[str, object]]:
    response = patient_http.post(f"{api_url}/work_pools/{pool}/workers/filter", json={})
    response.raise_for_status()
    return list(response.json())


def stop_as_documented(worker: subprocess.Popen[bytes], output: Path) -> None:
    """docs/operations.md: the first SIGTERM stops an idle worker. Prefect turns it into a SIGINT
    to the worker itself, and on a loaded machine that stop was seen lost (the worker went on
    polling for 300 s); the second SIGTERM then kills it (Prefect sends itself SIGKILL)."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=ANSWER_SECONDS)
    except subprocess.TimeoutExpired:
        log = output.read_text("utf-8", "replace")
        assert "Received SIGTERM" in log, log
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=BOUND_SECONDS) == -signal.SIGKILL, log


def test_several_machines_recipe_runs_as_written(
    local_prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    lines = readme_recipe()
    assert lines[0].startswith("export PREFECT_API_URL=")
    assert any(line.startswith("prefect work-pool create chronos") for line in lines)
    env = {
        **os.environ,
        # The README's URL names the default port; the test server runs on another one.
        "PREFECT_API_URL": local_prefect_server.api_url,
        "PREFECT_HOME": str(tmp_path / "client-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    for line in lines[1:]:
        command = prefect_command(line)
        if "worker" in line:
            # The deployed schedules make a sweep due every minute. A worker that took one would
            # finish it before stopping (a minute or more on a loaded machine), so the pool
            # hands out no runs here: the worker polls and stays idle.
            patient_http.patch(
                f"{local_prefect_server.api_url}/work_pools/chronos",
                json={"concurrency_limit": 0},
            ).raise_for_status()
            # Its output goes to a file, shown if the test fails (an unread pipe could fill up).
            output = tmp_path / "worker.log"
            with output.open("wb") as sink:
                worker = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
                )
            try:

                def polling(worker: subprocess.Popen[bytes] = worker, log: Path = output) -> bool:
                    assert worker.poll() is None, log.read_text("utf-8", "replace")
                    return bool(workers_of(local_prefect_server.api_url, "chronos"))

                wait_for(polling, "the worker to poll its pool")
                stop_as_documented(worker, output)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
            continue
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    deployments = patient_http.post(
        f"{local_prefect_server.api_url}/deployments/filter", json={}
    ).json()
    assert len(deployments) >= 12
    assert {d["work_pool_name"] for d in deployments} == {"chronos"}
    # `prefect deploy` builds the forms itself: they carry the same help as `chronos serve`'s.
    for deployment in deployments:
        assert missing_help(deployment["parameter_openapi_schema"]) == [], deployment["name"]
