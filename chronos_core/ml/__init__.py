"""Chronos' machine-learning core: preprocessing, windowing, scalers, RNN builder, fitting,
metrics, baselines, evaluation, model IO and plots.

Framework-free (no Prefect, no database). Importing this package, ``windowing``, ``scalers``,
``metrics``, ``baselines`` or ``preprocessing`` never imports TensorFlow; the modules that need
Keras get it from :mod:`chronos_core.ml.tf_runtime` when first called.
"""
