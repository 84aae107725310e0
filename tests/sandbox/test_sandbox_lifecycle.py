"""Starting and stopping the sandbox: ports, disabled services, run_sandbox and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from fiware_sandbox import FiwareSandbox, SandboxStartError, run_sandbox
from tests import patient_http
from tests.waiting import BOUND_SECONDS

ROOT = Path(__file__).resolve().parents[2]


def test_disabled_services_have_no_url() -> None:
    with FiwareSandbox(orion_port=None, iot_agent_port=None) as sandbox:
        assert list(sandbox.urls) == ["sth_url"]
        assert patient_http.get(f"{sandbox.sth_url}/version").json() == {"version": "2.11.0-next"}
        with pytest.raises(RuntimeError, match="orion service is disabled"):
            _ = sandbox.orion_url
    with pytest.raises(RuntimeError, match="not started"):
        _ = sandbox.sth_url


def test_a_taken_port_is_a_clear_error() -> None:
    with FiwareSandbox(orion_port=None, iot_agent_port=None) as first:
        port = first.sth.bound_port
        with pytest.raises(SandboxStartError, match=f"STH-Comet on 127.0.0.1:{port}"):
            FiwareSandbox(sth_port=port).start()
    with pytest.raises(SandboxStartError, match="between 0 and 65535"):
        FiwareSandbox(sth_port=70000)


def test_run_sandbox_until_stopped() -> None:
    ready: list[dict[str, str]] = []
    is_ready = threading.Event()
    seeded = threading.Event()
    stop = threading.Event()

    def on_ready(urls: dict[str, str]) -> None:
        ready.append(urls)
        is_ready.set()

    thread = threading.Thread(
        target=run_sandbox,
        kwargs={
            "sth_port": 0,
            "orion_port": 0,
            "iot_agent_port": None,
            "on_ready": on_ready,
            "setup": lambda sandbox: seeded.set(),
            "stop_event": stop,
        },
    )
    thread.start()
    try:
        assert is_ready.wait(BOUND_SECONDS)
        assert seeded.is_set()
        assert sorted(ready[0]) == ["orion_url", "sth_url"]
        assert patient_http.get(f"{ready[0]['orion_url']}/version").status_code == 200
    finally:
        stop.set()
        thread.join(timeout=BOUND_SECONDS)
    assert not thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        patient_http.get(f"{ready[0]['sth_url']}/version")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_sandbox_stops_on_signals(signum: int) -> None:
    code = (
        "import json\n"
        "from fiware_sandbox import run_sandbox\n"
        "run_sandbox(sth_port=0, orion_port=0, iot_agent_port=0,\n"
        "            on_ready=lambda urls: print(json.dumps(urls), flush=True))\n"
        "print('stopped', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        urls = json.loads(process.stdout.readline())
        assert patient_http.get(f"{urls['iot_agent_url']}/iot/about").status_code == 200
        process.send_signal(signum)
        assert process.wait(timeout=BOUND_SECONDS) == 0
        assert process.stdout.read().strip() == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
