"""The training-job and model status machines: every allowed and every forbidden move."""

from __future__ import annotations

import itertools

import pytest

from chronos_core.domain.enums import (
    ACTIVE_TRAINING_STATUSES,
    TERMINAL_TRAINING_STATUSES,
    ModelStatus,
    TrainingStatus,
)
from chronos_core.domain.transitions import (
    TRAINING_TRANSITIONS,
    check_model_transition,
    check_training_transition,
    sources_for_training,
)
from chronos_core.errors import Conflict, IllegalTransition

T = TrainingStatus
M = ModelStatus

ALLOWED_TRAINING = {
    (T.PENDING, T.COLLECTING_DATA),
    (T.PENDING, T.FAILED),
    (T.PENDING, T.CANCEL_REQUESTED),
    (T.PENDING, T.CANCELLED),
    (T.COLLECTING_DATA, T.PREPROCESSING),
    (T.COLLECTING_DATA, T.FAILED),
    (T.COLLECTING_DATA, T.CANCEL_REQUESTED),
    (T.COLLECTING_DATA, T.CANCELLED),
    (T.PREPROCESSING, T.TRAINING),
    (T.PREPROCESSING, T.FAILED),
    (T.PREPROCESSING, T.CANCEL_REQUESTED),
    (T.PREPROCESSING, T.CANCELLED),
    (T.TRAINING, T.COMPLETED),
    (T.TRAINING, T.FAILED),
    (T.TRAINING, T.CANCEL_REQUESTED),
    (T.TRAINING, T.CANCELLED),
    (T.CANCEL_REQUESTED, T.CANCELLED),
    (T.CANCEL_REQUESTED, T.FAILED),
}
ALLOWED_MODEL = {
    (M.DRAFT, M.TRAINING),
    (M.TRAINING, M.TRAINED),
    (M.TRAINING, M.DRAFT),
    (M.TRAINED, M.TRAINING),
    (M.TRAINED, M.DRAFT),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(T, T)))
def test_training_transition(current: TrainingStatus, target: TrainingStatus) -> None:
    if (current, target) in ALLOWED_TRAINING:
        assert target in TRAINING_TRANSITIONS[current]
        check_training_transition(current, target)
    else:
        assert target not in TRAINING_TRANSITIONS[current]
        with pytest.raises(IllegalTransition) as caught:
            check_training_transition(current, target)
        message = str(caught.value)
        assert f"from {current.value} to {target.value}" in message
        assert "allowed from" in message


@pytest.mark.parametrize(("current", "target"), list(itertools.product(M, M)))
def test_model_transition(current: ModelStatus, target: ModelStatus) -> None:
    if (current, target) in ALLOWED_MODEL:
        check_model_transition(current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"from {current.value} to {target.value}"):
            check_model_transition(current, target)


def test_terminal_statuses_go_nowhere() -> None:
    for status in TERMINAL_TRAINING_STATUSES:
        assert status.is_terminal and not status.is_active
        with pytest.raises(IllegalTransition, match=r"allowed from .*: none"):
            check_training_transition(status, T.FAILED if status is not T.FAILED else T.PENDING)


def test_active_and_terminal_partition_the_statuses() -> None:
    assert set(T) == ACTIVE_TRAINING_STATUSES | TERMINAL_TRAINING_STATUSES
    assert not ACTIVE_TRAINING_STATUSES & TERMINAL_TRAINING_STATUSES
    assert T.CANCEL_REQUESTED.is_active


def test_sources() -> None:
    assert set(sources_for_training(T.COMPLETED)) == {T.TRAINING}
    assert set(sources_for_training(T.CANCELLED)) == ACTIVE_TRAINING_STATUSES
    assert set(sources_for_training(T.PENDING)) == set()


def test_illegal_transition_is_a_conflict() -> None:
    assert issubclass(IllegalTransition, Conflict)
