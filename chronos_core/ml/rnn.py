"""Build the LSTM/GRU direct multi-step network (MIMO: the whole horizon at once)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chronos_core.domain.enums import ModelType
from chronos_core.domain.model import KERAS_ACTIVATIONS
from chronos_core.domain.validation import check_int, check_number
from chronos_core.errors import InvalidInput
from chronos_core.ml import tf_runtime

if TYPE_CHECKING:
    import keras


class RNNLayerSpec(Protocol):
    """Anything with the fields of ``chronos_core.domain.model.RNNLayer``."""

    @property
    def units(self) -> int: ...
    @property
    def dropout(self) -> float: ...
    @property
    def recurrent_dropout(self) -> float: ...


class DenseLayerSpec(Protocol):
    """Anything with the fields of ``chronos_core.domain.model.DenseLayer``."""

    @property
    def units(self) -> int: ...
    @property
    def activation(self) -> str: ...
    @property
    def dropout(self) -> float: ...


def _model_type(value: Any) -> ModelType:
    try:
        return ModelType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in ModelType)
        raise InvalidInput(f"model_type must be one of {allowed}, got {value!r}") from None


def build_network(
    model_type: ModelType | str,
    lookback_window: int,
    forecast_horizon: int,
    rnn_layers: Sequence[RNNLayerSpec],
    dense_layers: Sequence[DenseLayerSpec],
    learning_rate: float,
    *,
    seed: int | None = None,
    jit_compile: bool = False,
    season_steps: int | None = None,
    season_cycles: int = 1,
    recent_steps: int | None = None,
    other_seasons: Sequence[int] = (),
) -> keras.Model:
    """A compiled Keras model: ``Input(lookback, 1)`` → recurrent stack → dense layers →
    linear ``Dense(forecast_horizon)``; Adam(``learning_rate``), MSE loss.

    Without ``season_steps`` the stack sees the window minus its last value and its output is
    added to that last value (a skip connection, no learned weights): the layers learn the change
    from the last observation, so the network starts from the naive forecast and copes with level
    shifts. With ``season_steps`` ``m``, ``season_cycles`` ``K`` and ``recent_steps`` ``R``
    (``K * m + R <= lookback``) the output is added to the seasonal mean instead (each target
    step takes the mean of the values 1, ..., K seasons before it, cut out of the window; K = 1
    is seasonal naive), and the stack reads only the newest ``R`` points, each as two features:
    its difference from the last value and from its own seasonal mean. The output layer also
    reads the last value, the seasonal naive of each of ``other_seasons`` (shorter seasons) and,
    when ``K > 1``, each of the K seasonal naives the mean is made of, minus the anchor. The
    layers then learn the residual over the seasonal mean without running over a whole season
    of steps. The output layer starts at zero weights, so an untrained network is exactly its
    anchor (the last value or the seasonal mean).
    The layers of the user's configuration are named ``rnn_*``, ``dense_*``, ``dropout_*`` and
    ``forecast``.

    - Recurrent layers return sequences except the last; each gets its own ``dropout`` and
      ``recurrent_dropout`` (no extra Dropout layer after it).
    - Each dense layer uses its activation and is followed by ``Dropout`` only if its dropout > 0.
    - No layer is added that was not asked for: empty ``dense_layers`` means the output layer
      follows the last recurrent layer directly.
    - ``seed`` re-seeds the Keras RNGs first, so the initial weights and dropout masks repeat.

    Layer names: ``rnn_1..``, ``dense_1..``, ``dropout_1..`` (after ``dense_i``), ``forecast``.
    Raises ``InvalidInput`` for any parameter out of range.
    """
    kind = _model_type(model_type)
    check_int(lookback_window, "lookback_window")
    check_int(forecast_horizon, "forecast_horizon")
    check_number(learning_rate, "learning_rate", "(0, 1]")
    if season_steps is not None:
        check_int(season_steps, "season_steps")
        recent_steps = check_int(recent_steps, "recent_steps")
        check_int(season_cycles, "season_cycles")
        if season_cycles * season_steps + recent_steps > lookback_window:
            raise InvalidInput(
                f"season_cycles ({season_cycles}) x season_steps ({season_steps}) + recent_steps "
                f"({recent_steps}) must not exceed lookback_window ({lookback_window})"
            )
    if not rnn_layers:
        raise InvalidInput("at least one recurrent layer is required")
    for i, layer in enumerate(rnn_layers):
        check_int(layer.units, f"rnn_layers[{i}].units")
        check_number(layer.dropout, f"rnn_layers[{i}].dropout", "[0, 1)")
        check_number(layer.recurrent_dropout, f"rnn_layers[{i}].recurrent_dropout", "[0, 1)")
    for i, dense in enumerate(dense_layers):
        check_int(dense.units, f"dense_layers[{i}].units")
        check_number(dense.dropout, f"dense_layers[{i}].dropout", "[0, 1)")
        if dense.activation not in KERAS_ACTIVATIONS:
            raise InvalidInput(
                f"dense_layers[{i}].activation {dense.activation!r} is not a Keras activation; "
                f"allowed: {', '.join(sorted(KERAS_ACTIVATIONS))}"
            )

    keras = tf_runtime.keras_module()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    recurrent = keras.layers.LSTM if kind is ModelType.LSTM else keras.layers.GRU
    window = keras.Input(shape=(lookback_window, 1), name="window")
    last = keras.layers.Flatten(name="last_value")(
        keras.layers.Cropping1D((lookback_window - 1, 0), name="last_step")(window)
    )
    if season_steps is None:
        # The network learns the change from the last observed value: the window is centred on
        # its last point and that point is added back to every output step. An untrained
        # network thus starts from the naive forecast, and a level the training part never saw
        # (a warm spring after a cold winter) does not push the inputs out of the range the
        # weights were fitted on.
        hidden = keras.layers.Subtract(name="centred_window")(
            [
                window,
                keras.layers.RepeatVector(lookback_window, name="last_value_over_window")(last),
            ]
        )
        anchor = keras.layers.Flatten(name="last_value_over_horizon")(
            keras.layers.RepeatVector(forecast_horizon, name="last_value_repeated")(last)
        )
    else:
        assert recent_steps is not None
        lags = [season_steps * k for k in range(1, season_cycles + 1)]
        hidden = _recent_features(keras, window, last, lookback_window, lags, recent_steps)
        naives = [
            _seasonal_naive(keras, window, lookback_window, forecast_horizon, lag) for lag in lags
        ]
        anchor = (
            naives[0] if len(naives) == 1 else keras.layers.Average(name="seasonal_mean")(naives)
        )
    for i, layer in enumerate(rnn_layers, start=1):
        hidden = recurrent(
            int(layer.units),
            return_sequences=i < len(rnn_layers),
            dropout=float(layer.dropout),
            recurrent_dropout=float(layer.recurrent_dropout),
            name=f"rnn_{i}",
        )(hidden)
    for i, dense in enumerate(dense_layers, start=1):
        hidden = keras.layers.Dense(
            int(dense.units), activation=dense.activation, name=f"dense_{i}"
        )(hidden)
        if dense.dropout > 0:
            hidden = keras.layers.Dropout(float(dense.dropout), name=f"dropout_{i}")(hidden)
    if season_steps is not None:
        # The output layer also reads how the other reference forecasts (the last value, the
        # seasonal naive of each shorter season) differ from the anchor, so it can lean on them
        # where they do better (the last value for the first steps, say).
        naive = keras.layers.Flatten(name="naive")(
            keras.layers.RepeatVector(forecast_horizon, name="last_value_repeated")(last)
        )
        references = [naive] + [
            _seasonal_naive(keras, window, lookback_window, forecast_horizon, steps)
            for steps in other_seasons
        ]
        if len(naives) > 1:
            references += naives  # each season of the mean alone (a trending level)
        hidden = keras.layers.Concatenate(name="head_inputs")(
            [hidden]
            + [
                keras.layers.Subtract(name=f"reference_{i}_minus_anchor")([reference, anchor])
                for i, reference in enumerate(references, start=1)
            ]
        )
    change = keras.layers.Dense(
        forecast_horizon, activation="linear", kernel_initializer="zeros", name="forecast"
    )(hidden)
    output = keras.layers.Add(name="anchored_forecast")([change, anchor])
    network = keras.Model(window, output, name=f"chronos_{kind.value}")
    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(learning_rate)),
        loss="mean_squared_error",
        jit_compile=jit_compile,
    )
    return network


def _recent_features(
    keras: Any, window: Any, last: Any, lookback: int, lags: Sequence[int], recent: int
) -> Any:
    """``(recent, 2)``: the newest ``recent`` points centred on the last one, and how far each is
    from the mean of the values ``lags`` steps before it (the anchor's error on the recent
    points)."""
    newest = keras.layers.Cropping1D((lookback - recent, 0), name="recent_window")(window)
    centred = keras.layers.Subtract(name="recent_centred")(
        [newest, keras.layers.RepeatVector(recent, name="last_value_over_recent")(last)]
    )
    before = [
        keras.layers.Cropping1D((lookback - recent - lag, lag), name=f"recent_{lag}_before")(window)
        for lag in lags
    ]
    reference = (
        before[0] if len(before) == 1 else keras.layers.Average(name="recent_seasonal_mean")(before)
    )
    seasonal_difference = keras.layers.Subtract(name="recent_seasonal_difference")(
        [newest, reference]
    )
    return keras.layers.Concatenate(axis=-1, name="recent_features")([centred, seasonal_difference])


def _seasonal_naive(keras: Any, window: Any, lookback: int, horizon: int, season: int) -> Any:
    """``(horizon,)``: target step ``h`` takes the window value ``season * k`` steps before it
    (the smallest whole number of seasons that lands inside the window)."""
    if horizon <= season:
        cut = keras.layers.Cropping1D(
            (lookback - season, season - horizon), name=f"season_{season}_before"
        )(window)
    else:
        last_season = keras.layers.Cropping1D((lookback - season, 0), name=f"last_{season}")(window)
        copies = -(-horizon // season)
        tiled = keras.layers.Concatenate(axis=1, name=f"last_{season}_repeated")(
            [last_season] * copies
        )
        cut = keras.layers.Cropping1D((0, copies * season - horizon), name=f"season_{season}_cut")(
            tiled
        )
    return keras.layers.Flatten(name=f"seasonal_naive_{season}")(cut)
