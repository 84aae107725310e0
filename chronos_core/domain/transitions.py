"""The status state machines of training jobs and models.

Every status change in Chronos goes through :func:`check_training_transition` or
:func:`check_model_transition`; storage then applies it with a conditional update on the expected
current status, so two processes can never both move the same document.
"""

from __future__ import annotations

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
    # Retraining, or back to draft when the last successful job is deleted.
    _M.TRAINED: frozenset({_M.TRAINING, _M.DRAFT}),
}


def can_transition_training(current: TrainingStatus, target: TrainingStatus) -> bool:
    return target in TRAINING_TRANSITIONS[current]


def check_training_transition(current: TrainingStatus, target: TrainingStatus) -> None:
    if not can_transition_training(current, target):
        allowed = ", ".join(sorted(s.value for s in TRAINING_TRANSITIONS[current])) or "none"
        raise IllegalTransition(
            f"a training job cannot go from {current.value} to {target.value} "
            f"(allowed from {current.value}: {allowed})"
        )


def sources_for_training(target: TrainingStatus) -> list[TrainingStatus]:
    """Every status from which ``target`` may be reached (for conditional updates)."""
    return [s for s, targets in TRAINING_TRANSITIONS.items() if target in targets]


def check_model_transition(current: ModelStatus, target: ModelStatus) -> None:
    if target not in MODEL_TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in MODEL_TRANSITIONS[current])) or "none"
        raise IllegalTransition(
            f"a model cannot go from {current.value} to {target.value} "
            f"(allowed from {current.value}: {allowed})"
        )


def sources_for_model(target: ModelStatus) -> list[ModelStatus]:
    return [s for s, targets in MODEL_TRANSITIONS.items() if target in targets]
