"""Heavy libraries stay out of processes that do not use them: TensorFlow out of those that
only validate, preprocess or score, pandas out of the scheduler sweep's flow-run process."""

from __future__ import annotations

import subprocess
import sys

LIGHT_MODULES = [
    "chronos_core.ml",
    "chronos_core.ml.baselines",
    "chronos_core.ml.evaluation",
    "chronos_core.ml.fitting",
    "chronos_core.ml.inference",
    "chronos_core.ml.metrics",
    "chronos_core.ml.model_io",
    "chronos_core.ml.plotting",
    "chronos_core.ml.preprocessing",
    "chronos_core.ml.regular_grid",
    "chronos_core.ml.rnn",
    "chronos_core.ml.scalers",
    "chronos_core.ml.tf_runtime",
    "chronos_core.ml.windowing",
]


def heavy_imports(modules: list[str], heavy: tuple[str, ...]) -> str:
    """The ``heavy`` modules a fresh interpreter has loaded after importing ``modules``."""
    code = "\n".join(
        [
            "import importlib, sys",
            f"for name in {modules!r}:",
            "    importlib.import_module(name)",
            f"print(','.join(sorted(m for m in {heavy!r} if m in sys.modules)))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout.strip()


def test_importing_the_ml_core_does_not_import_tensorflow():
    assert heavy_imports(LIGHT_MODULES, ("tensorflow", "keras", "matplotlib.pyplot")) == ""


def test_the_sweep_flow_run_process_imports_neither_pandas_nor_tensorflow():
    # A served run-due-forecasts run is a new process every minute that loads only this flow
    # module; it finds the due jobs and hands the batches to the forecast workers. pandas was
    # 0.7 s of CPU and 69 MB of every such process (bench/serving_bench.py --breakdown).
    assert heavy_imports(["flows.predictions"], ("pandas", "tensorflow", "keras")) == ""
