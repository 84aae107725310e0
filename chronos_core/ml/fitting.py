"""Fit a built network on prepared windows with early stopping, LR decay and cancellation."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from chronos_core.domain.model import default_patience
from chronos_core.domain.validation import check_int
from chronos_core.errors import Cancelled, ChronosError, InvalidInput
from chronos_core.ml import tf_runtime
from chronos_core.ml.preprocessing import PreparedData

if TYPE_CHECKING:
    import keras

__all__ = [
    "FitResult",
    "TrainingDiverged",
    "default_patience",
    "fit_network",
    "lr_patience",
]

MIN_LEARNING_RATE = 1e-6
LR_DECAY_FACTOR = 0.5


class TrainingDiverged(ChronosError):
    """The loss became NaN or infinite before any usable epoch."""


@dataclass(frozen=True)
class FitResult:
    """What a fit produced. Losses are MSE in scaled units (``None`` where not finite); epochs
    are 0-based."""

    history: dict[str, list[float | None]]
    best_epoch: int
    best_train_loss: float
    best_val_loss: float
    epochs_trained: int
    stopped_early: bool
    final_learning_rate: float
    duration_seconds: float
    learning_rates: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "history": {key: list(values) for key, values in self.history.items()},
            "best_epoch": self.best_epoch,
            "best_train_loss": self.best_train_loss,
            "best_val_loss": self.best_val_loss,
            "epochs_trained": self.epochs_trained,
            "stopped_early": self.stopped_early,
            "final_learning_rate": self.final_learning_rate,
            "learning_rates": list(self.learning_rates),
            "duration_seconds": self.duration_seconds,
        }


def lr_patience(early_stopping_patience: int) -> int:
    """Epochs without improvement before the learning rate is halved: ``max(1, patience // 3)``,
    so the rate can drop before early stopping ends the run."""
    return max(1, early_stopping_patience // 3)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def fit_network(
    network: keras.Model,
    prepared: PreparedData,
    epochs: int,
    batch_size: int,
    early_stopping_patience: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_epoch_end: Callable[[int, dict[str, float | None]], None] | None = None,
    *,
    stop_check_seconds: float = 1.0,
) -> FitResult:
    """Train ``network`` on ``prepared`` (validation on the validation windows).

    - ``EarlyStopping(val_loss, patience, restore_best_weights=True)``; ``None`` patience means
      :func:`default_patience` (``epochs``).
    - ``ReduceLROnPlateau(val_loss, factor 0.5, patience lr_patience(p), min_lr 1e-6)``.
    - ``shuffle=False``, silent.
    - ``should_stop()`` is polled after every epoch and, during an epoch, after a batch once
      ``stop_check_seconds`` have passed since the last poll; when it answers True training stops
      and :class:`~chronos_core.errors.Cancelled` is raised.
    - ``on_epoch_end(epoch, {"loss", "val_loss", "learning_rate"})`` reports progress (0-based
      epoch; a non-finite loss is reported as ``None``).

    When the run ends, the network holds the weights of the best validation epoch. Raises
    ``InvalidInput`` for bad arguments and :class:`TrainingDiverged` if the loss is never finite.
    """
    check_int(epochs, "epochs")
    check_int(batch_size, "batch_size")
    patience = (
        default_patience(epochs) if early_stopping_patience is None else early_stopping_patience
    )
    check_int(patience, "early_stopping_patience")
    if stop_check_seconds < 0:
        raise InvalidInput(f"stop_check_seconds must be >= 0, got {stop_check_seconds!r}")

    keras = tf_runtime.keras_module()
    learning_rates: list[float] = []
    progress_type, cancel_type = _callback_types(keras)
    progress = progress_type(learning_rates, on_epoch_end)
    cancel = cancel_type(should_stop, stop_check_seconds)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True, verbose=0
    )
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        early_stopping,
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss",
            factor=LR_DECAY_FACTOR,
            patience=lr_patience(patience),
            min_lr=MIN_LEARNING_RATE,
            verbose=0,
        ),
        progress,
        cancel,
    ]
    started = time.monotonic()
    history = network.fit(
        prepared.x_train,
        prepared.y_train,
        validation_data=(prepared.x_val, prepared.y_val),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    duration = time.monotonic() - started
    if cancel.cancelled:
        raise Cancelled(
            f"training cancelled on request after {len(history.history.get('loss', []))} epoch(s)"
        )

    loss = [_finite(v) for v in history.history.get("loss", [])]
    val_loss = [_finite(v) for v in history.history.get("val_loss", [])]
    usable = {
        epoch: (train, validation)
        for epoch, (train, validation) in enumerate(zip(loss, val_loss, strict=False))
        if train is not None and validation is not None
    }
    if not usable:
        raise TrainingDiverged(
            "training diverged: the loss became NaN or infinite; try a lower learning_rate"
        )
    best = min(usable, key=lambda epoch: usable[epoch][1])  # first epoch with the lowest val_loss
    return FitResult(
        history={"loss": loss, "val_loss": val_loss},
        best_epoch=best,
        best_train_loss=usable[best][0],
        best_val_loss=usable[best][1],
        epochs_trained=len(loss),
        stopped_early=len(loss) < epochs,
        final_learning_rate=_current_learning_rate(network),
        duration_seconds=duration,
        learning_rates=learning_rates,
    )


def _current_learning_rate(network: Any) -> float:
    return float(np.asarray(network.optimizer.learning_rate))


@functools.cache
def _callback_types(keras: Any) -> tuple[type, type]:
    """Keras callback classes, defined on first use so importing this module stays TF-free."""

    class Progress(keras.callbacks.Callback):
        """Records the learning rate and reports each epoch to ``report``."""

        def __init__(
            self,
            learning_rates: list[float],
            report: Callable[[int, dict[str, float | None]], None] | None,
        ) -> None:
            super().__init__()
            self.learning_rates = learning_rates
            self.report = report

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            rate = _current_learning_rate(self.model)
            self.learning_rates.append(rate)
            if self.report is not None:
                logs = logs or {}
                self.report(
                    epoch,
                    {
                        "loss": _finite(logs.get("loss", math.nan)),
                        "val_loss": _finite(logs.get("val_loss", math.nan)),
                        "learning_rate": rate,
                    },
                )

    class CancelCheck(keras.callbacks.Callback):
        """Polls ``should_stop`` after every epoch and, throttled, after batches."""

        def __init__(self, should_stop: Callable[[], bool] | None, interval_seconds: float) -> None:
            super().__init__()
            self.should_stop = should_stop
            self.interval_seconds = interval_seconds
            self.cancelled = False
            self._last_poll = time.monotonic()

        def _poll(self) -> None:
            self._last_poll = time.monotonic()
            if self.should_stop is not None and self.should_stop():
                self.cancelled = True
                self.model.stop_training = True

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if not self.cancelled and time.monotonic() - self._last_poll >= self.interval_seconds:
                self._poll()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if not self.cancelled:
                self._poll()

    return Progress, CancelCheck
