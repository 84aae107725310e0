"""A JSON-safe standard scaler for one univariate series (no pickle, ever)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chronos_core.errors import InsufficientData, InvalidInput

SCALER_FORMAT = "chronos.standard_scaler"
SCALER_FORMAT_VERSION = 1


@dataclass(frozen=True)
class StandardScaler:
    """``z = (x - mean) / scale``, fitted on the training part only.

    Same semantics as scikit-learn's ``StandardScaler`` for one feature: ``scale`` is the
    population standard deviation (ddof 0), and a constant series gets ``scale = 1`` so nothing
    is divided by zero.
    """

    mean: float
    scale: float
    n_samples_seen: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.scale)) or self.scale <= 0:
            raise InvalidInput(
                f"invalid scaler parameters: mean={self.mean!r}, scale={self.scale!r} "
                "(both must be finite and scale > 0)"
            )
        if self.n_samples_seen < 1:
            raise InvalidInput(
                f"invalid scaler: n_samples_seen={self.n_samples_seen} (must be >= 1)"
            )

    @classmethod
    def fit(cls, values: ArrayLike) -> StandardScaler:
        """Fit on the finite values of ``values`` (any shape, NaN ignored)."""
        data = np.asarray(values, dtype=np.float64).ravel()
        data = data[np.isfinite(data)]
        n = int(data.size)
        if n == 0:
            raise InsufficientData("cannot fit a scaler: no finite training values")
        mean = float(data.mean())
        var = float(data.var())
        # scikit-learn's rule for "constant feature": variance within float rounding error.
        eps = float(np.finfo(np.float64).eps)
        if not math.isfinite(var):
            raise InvalidInput("cannot fit a scaler: values are too large (variance overflows)")
        constant = var <= n * eps * var + (n * mean * eps) ** 2
        scale = 1.0 if constant else math.sqrt(var)
        return cls(mean=mean, scale=scale, n_samples_seen=n)

    def transform(self, values: ArrayLike) -> NDArray[np.float64]:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.scale

    def inverse_transform(self, values: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(values, dtype=np.float64) * self.scale + self.mean

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe parameters; :meth:`from_dict` rebuilds the identical scaler."""
        return {
            "format": SCALER_FORMAT,
            "format_version": SCALER_FORMAT_VERSION,
            "mean": self.mean,
            "scale": self.scale,
            "n_samples_seen": self.n_samples_seen,
            "numpy_version": np.__version__,
        }

    @classmethod
    def from_dict(cls, data: Any) -> StandardScaler:
        """Rebuild from :meth:`to_dict` output; anything else raises ``InvalidInput``."""
        if not isinstance(data, dict):
            raise InvalidInput(
                f"invalid scaler document: expected an object, got {type(data).__name__}"
            )
        if data.get("format") != SCALER_FORMAT:
            raise InvalidInput(
                f"invalid scaler document: format {data.get('format')!r}, "
                f"expected {SCALER_FORMAT!r}"
            )
        version = data.get("format_version")
        if version != SCALER_FORMAT_VERSION:
            raise InvalidInput(
                f"unsupported scaler format_version {version!r} "
                f"(supported: {SCALER_FORMAT_VERSION})"
            )
        try:
            mean = data["mean"]
            scale = data["scale"]
            seen = data["n_samples_seen"]
        except KeyError as missing:
            raise InvalidInput(f"invalid scaler document: missing {missing.args[0]!r}") from None
        numbers = (mean, scale)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers):
            raise InvalidInput("invalid scaler document: mean and scale must be numbers")
        if isinstance(seen, bool) or not isinstance(seen, int):
            raise InvalidInput("invalid scaler document: n_samples_seen must be an integer")
        return cls(mean=float(mean), scale=float(scale), n_samples_seen=seen)
