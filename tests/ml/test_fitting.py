"""Really training tiny networks: results, best weights, cancellation, reproducibility."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chronos_core.domain.model import RNNLayer
from chronos_core.errors import Cancelled, InvalidInput
from chronos_core.ml.fitting import TrainingDiverged, default_patience, fit_network, lr_patience
from chronos_core.ml.rnn import build_network


def _tiny(seed: int = 3, dropout: float = 0.1):
    return build_network("lstm", 12, 3, [RNNLayer(units=4, dropout=dropout)], [], 0.01, seed=seed)


@pytest.mark.parametrize(
    ("epochs", "patience"),
    [(1, 1), (3, 3), (4, 4), (5, 5), (10, 5), (60, 6), (100, 10), (1000, 20)],
)
def test_default_patience_never_exceeds_epochs(epochs, patience):
    assert default_patience(epochs) == patience


def test_lr_patience_lets_the_rate_drop_before_stopping():
    assert [lr_patience(p) for p in (1, 2, 3, 5, 10, 20)] == [1, 1, 1, 1, 3, 6]


def test_fit_result(trained, sine_prepared):
    _, result, epochs = trained
    assert result.epochs_trained == 2 and not result.stopped_early
    assert len(result.history["loss"]) == len(result.history["val_loss"]) == 2
    assert result.best_epoch == int(np.argmin(result.history["val_loss"]))
    assert result.best_val_loss == result.history["val_loss"][result.best_epoch]
    assert result.best_train_loss == result.history["loss"][result.best_epoch]
    assert result.duration_seconds > 0
    assert result.final_learning_rate == pytest.approx(0.01)
    assert [e for e, _ in epochs] == [0, 1]
    assert set(epochs[0][1]) == {"loss", "val_loss", "learning_rate"}
    assert epochs[1][1]["val_loss"] == pytest.approx(result.history["val_loss"][1])
    document = result.to_dict()
    assert document["history"] == result.history and document["best_epoch"] == result.best_epoch


def test_network_keeps_the_best_validation_weights(trained, sine_prepared):
    network, result, _ = trained
    loss = network.compute_loss(
        y=sine_prepared.y_val, y_pred=network(sine_prepared.x_val, training=False)
    )
    assert float(loss) == pytest.approx(result.best_val_loss, rel=1e-4)


def test_same_seed_same_history(keras_runtime, sine_prepared):
    histories = []
    weights = []
    for _ in range(2):
        network = _tiny(seed=11)
        histories.append(fit_network(network, sine_prepared, epochs=2, batch_size=32).history)
        weights.append(network.get_weights())
    assert histories[0] == histories[1]
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_should_stop_after_an_epoch_raises_cancelled(keras_runtime, sine_prepared):
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return True

    with pytest.raises(Cancelled, match="cancelled on request after 1 epoch"):
        fit_network(
            _tiny(),
            sine_prepared,
            epochs=50,
            batch_size=32,
            should_stop=should_stop,
            stop_check_seconds=3600,
        )
    assert len(calls) == 1


def test_should_stop_is_polled_between_batches(keras_runtime, sine_prepared):
    polls = []

    def should_stop() -> bool:
        polls.append(1)
        return len(polls) >= 2  # the second poll comes after the second batch

    with pytest.raises(Cancelled):
        fit_network(
            _tiny(),
            sine_prepared,
            epochs=50,
            batch_size=8,
            should_stop=should_stop,
            stop_check_seconds=0,
        )
    assert len(polls) == 2


def test_diverging_training_is_reported(keras_runtime, sine_prepared):
    poisoned = dataclasses.replace(
        sine_prepared, y_train=np.full_like(sine_prepared.y_train, np.nan)
    )
    with pytest.raises(TrainingDiverged, match="lower learning_rate"):
        fit_network(_tiny(), poisoned, epochs=3, batch_size=64)


@pytest.mark.parametrize(
    "kwargs",
    [{"epochs": 0}, {"batch_size": 0}, {"early_stopping_patience": 0}, {"epochs": 2.0}],
)
def test_bad_arguments_are_rejected(keras_runtime, sine_prepared, kwargs):
    arguments = {"epochs": 2, "batch_size": 32, **kwargs}
    with pytest.raises(InvalidInput):
        fit_network(_tiny(), sine_prepared, **arguments)
