"""The one place that imports TensorFlow and Keras, lazily, and configures them for the process.

``import tensorflow`` costs seconds, so nothing in Chronos imports it at module level: code that
needs Keras calls :func:`keras_module` (which configures the runtime with defaults on first use),
and entry points that know better call :func:`configure` first with their thread count and seed.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from chronos_core.domain.validation import check_int

logger = logging.getLogger(__name__)

_lock = threading.RLock()
_configured: RuntimeSettings | None = None


@dataclass(frozen=True)
class RuntimeSettings:
    """What :func:`configure` applied to this process."""

    intra_op_threads: int
    inter_op_threads: int
    seed: int
    deterministic: bool
    gpus: int


def _quiet_environment() -> None:
    # Must be set before TensorFlow is imported to take effect.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def tensorflow_module() -> ModuleType:
    """The ``tensorflow`` module, imported on first call (Python caches it afterwards)."""
    _quiet_environment()
    import tensorflow

    return tensorflow


def keras_module() -> ModuleType:
    """The ``keras`` module, configuring the runtime with defaults if nothing configured it."""
    if _configured is None:
        configure()
    import keras

    return keras


def configure(threads: int = 0, seed: int = 42, *, deterministic: bool = False) -> RuntimeSettings:
    """Import and configure TensorFlow for this process; safe to call again.

    - ``threads``: intra-op thread count (0: ``os.cpu_count()``); inter-op gets
      ``min(2, threads)``. Thread counts can only be set before TensorFlow starts executing;
      a later call with other counts keeps the first ones (and logs it).
    - ``seed``: passed to ``keras.utils.set_random_seed`` (Python, NumPy and backend RNGs) on
      every call, so calling ``configure`` again re-seeds.
    - ``deterministic``: enables ``tf.config.experimental.enable_op_determinism()`` (slower,
      bit-for-bit repeatable runs on the same hardware). It cannot be switched off again.
    - GPUs, if any, get memory growth so TensorFlow does not reserve all their memory.
    """
    global _configured
    check_int(threads, "threads (0: all cores)", low=0)
    with _lock:
        tf = tensorflow_module()
        intra = threads or os.cpu_count() or 1
        inter = min(2, intra)
        if _configured is None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(intra)
                tf.config.threading.set_inter_op_parallelism_threads(inter)
            except RuntimeError:
                # TensorFlow already ran something in this process before Chronos configured it.
                logger.warning("TensorFlow already initialised; thread counts left unchanged")
            gpus = _enable_gpu_memory_growth(tf)
            logging.getLogger("tensorflow").setLevel(logging.ERROR)
        else:
            gpus = _configured.gpus
            if (intra, inter) != (_configured.intra_op_threads, _configured.inter_op_threads):
                logger.info(
                    "TensorFlow thread counts already set to %d/%d; keeping them",
                    _configured.intra_op_threads,
                    _configured.inter_op_threads,
                )
            intra, inter = _configured.intra_op_threads, _configured.inter_op_threads
        deterministic = deterministic or (_configured is not None and _configured.deterministic)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
        import keras

        keras.utils.set_random_seed(seed)
        _configured = RuntimeSettings(
            intra_op_threads=intra,
            inter_op_threads=inter,
            seed=seed,
            deterministic=deterministic,
            gpus=gpus,
        )
        return _configured


def set_seed(seed: int) -> None:
    """Re-seed Python, NumPy and the Keras backend (configuring the runtime first if needed)."""
    keras = keras_module()
    keras.utils.set_random_seed(seed)


def current_settings() -> RuntimeSettings | None:
    """What :func:`configure` applied, or ``None`` while TensorFlow is not configured."""
    return _configured


def library_versions() -> dict[str, str]:
    """Versions of the numerical libraries a trained network depends on (for artifacts)."""
    import numpy

    versions = {"numpy": numpy.__version__}
    tf = tensorflow_module()
    keras = keras_module()
    versions["tensorflow"] = tf.__version__
    versions["keras"] = keras.__version__
    return versions


def _enable_gpu_memory_growth(tf: Any) -> int:
    try:
        gpus = tf.config.list_physical_devices("GPU")
    except Exception:  # pragma: no cover - no GPU support compiled in
        return 0
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # pragma: no cover - GPU already initialised
            logger.warning("could not enable memory growth on %s", gpu)
    return len(gpus)
