"""The training pipeline: collect → prepare → fit → evaluate → store, one function per step.

Each step takes a training job id and a :class:`JobWorkspace` and returns small JSON-safe
values; large intermediate data (collected chunks, windows, the fitted network) stays in the
workspace on local disk, so the orchestration layer only ever passes ids between tasks.
"""
