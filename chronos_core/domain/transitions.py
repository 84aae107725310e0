"""The status state machines of training jobs and models.

Every status change in Chronos goes through :func:`check_training_transition` or
:func:`check_model_transition`; storage then applies it with a conditional update on the expected
current status, so two processes can never both move the same document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chronos_core.domain.enums import ModelStatus, TrainingStatus
from chronos_core.errors import IllegalTransition

_T = TrainingStatus
_CANCEL_OR_FAIL = {_T.FAILED, _T.CANCEL_REQUESTED, _T.CANCELLED}

TRAINING_TRANSITIONS: dict[TrainingStatus, frozenset[TrainingStatus]] = {
    _T.PENDING: frozenset({_T.COLLECTING_DATA, *_CANCEL_OR_FAIL}),
    _T.COLLECTING_DATA: frozenset({_T.PREPROCESSING, *_CANCEL_OR_FAIL}),
    _T.PREPROCESSING: frozenset({_T.TRAINING, *_CANCEL_OR_FAIL}),
    _T.TRAINING: frozenset({_T.COMPLETED, *_CANCEL_OR_FAIL}),
    # A run that was asked to stop ends cancelled (or failed if it crashed), never completed.
    _T.CANCEL_REQUESTED: frozenset({_T.CANCELLED, _T.FAILED}),
    _T.COMPLETED: frozenset(),
    _T.FAILED: frozenset(),
    _T.CANCELLED: frozenset(),
}

_M = ModelStatus
MODEL_TRANSITIONS: dict[ModelStatus, frozenset[ModelStatus]] = {
    _M.DRAFT: frozenset({_M.TRAINING}),
    # A finished job sets trained; a failed or cancelled one restores the previous status.
    _M.TRAINING: frozenset({_M.TRAINED, _M.DRAFT}),
    # Retraining; draft when recovery finds no successful training behind the model.
    _M.TRAINED: frozenset({_M.TRAINING, _M.DRAFT}),
}


def _check(machine: Mapping[Any, frozenset[Any]], what: str, current: Any, target: Any) -> None:
    if target not in machine[current]:
        allowed = ", ".join(sorted(s.value for s in machine[current])) or "none"
        raise IllegalTransition(
            f"{what} cannot go from {current.value} to {target.value} "
            f"(allowed from {current.value}: {allowed})"
        )


def check_training_transition(current: TrainingStatus, target: TrainingStatus) -> None:
    _check(TRAINING_TRANSITIONS, "a training job", current, target)


def check_model_transition(current: ModelStatus, target: ModelStatus) -> None:
    _check(MODEL_TRANSITIONS, "a model", current, target)


def sources_for_training(target: TrainingStatus) -> list[TrainingStatus]:
    """Every status from which ``target`` may be reached (for conditional updates)."""
    return [s for s, targets in TRAINING_TRANSITIONS.items() if target in targets]
