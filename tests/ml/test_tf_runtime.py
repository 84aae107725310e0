"""The process-wide TensorFlow configuration."""

from __future__ import annotations

import os

import pytest

from chronos_core.errors import InvalidInput
from chronos_core.ml import tf_runtime


def test_configure_is_idempotent_and_keeps_the_first_thread_counts(keras_runtime):
    first = tf_runtime.current_settings()
    assert first is not None and first.intra_op_threads == 2 and first.deterministic
    again = tf_runtime.configure(threads=3, seed=123)
    assert (again.intra_op_threads, again.inter_op_threads) == (2, 2)
    assert again.seed == 123 and again.deterministic  # determinism cannot be switched off
    tf = tf_runtime.tensorflow_module()
    assert tf.config.threading.get_intra_op_parallelism_threads() == 2
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    tf_runtime.configure(threads=2, seed=7)


def test_library_versions(keras_runtime):
    assert set(tf_runtime.library_versions()) == {"numpy", "tensorflow", "keras"}


@pytest.mark.parametrize("threads", [-1, 1.5, True])
def test_bad_thread_counts_are_rejected(threads):
    with pytest.raises(InvalidInput, match=r"threads \(0: all cores\) must be an integer >= 0"):
        tf_runtime.configure(threads=threads)
