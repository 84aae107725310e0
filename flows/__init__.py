"""Prefect flows: each orchestrates tasks from ``tasks/`` and passes only ids and small values.

Import a flow from its module (``from flows.training import train_model``); this package does
not import them all, so loading one flow never imports the others' dependencies.
"""
