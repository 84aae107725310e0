"""A sweep started from ``prefect.yaml`` hands the forecast worker batches it can read.

Such a run loads ``flows/predictions.py`` as the module ``predictions`` and Prefect pickles the
flow-run context (the flow object, by reference to that module) with each batch's parameters.
Each side runs in its own interpreter, as on two hosts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PICKLE_AS_A_PREFECT_YAML_RUN = """
import sys, cloudpickle
from prefect.utilities.importtools import load_script_as_module
module = load_script_as_module("flows/predictions.py")
sys.stdout.buffer.write(cloudpickle.dumps(module.run_due_forecasts))
"""

LOAD_IN_THE_WORKER = """
import pickle, sys
{prepare}
flow = pickle.loads(sys.stdin.buffer.read())
print(flow.name)
"""


def _run(code: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        input=data,
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_the_worker_reads_what_a_prefect_yaml_sweep_pickled() -> None:
    pickled = _run(PICKLE_AS_A_PREFECT_YAML_RUN)
    assert pickled.returncode == 0, pickled.stderr.decode()[-2000:]

    plain = _run(LOAD_IN_THE_WORKER.format(prepare="import flows.predictions"), pickled.stdout)
    assert plain.returncode != 0 and b"No module named 'predictions'" in plain.stderr

    prepare = "from deployments.forecast_worker import import_flows_as_scripts\n"
    prepare += "import_flows_as_scripts()"
    aliased = _run(LOAD_IN_THE_WORKER.format(prepare=prepare), pickled.stdout)
    assert aliased.returncode == 0, aliased.stderr.decode()[-2000:]
    assert aliased.stdout.decode().strip() == "run-due-forecasts"
