"""TensorFlow stays out of processes that only validate, preprocess or score."""

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


def test_importing_the_ml_core_does_not_import_tensorflow():
    code = "\n".join(
        [
            "import importlib, sys",
            f"for name in {LIGHT_MODULES!r}:",
            "    importlib.import_module(name)",
            "heavy = ('tensorflow', 'keras', 'matplotlib.pyplot')",
            "print(','.join(sorted(m for m in heavy if m in sys.modules)))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == ""
