"""A standard scaler for one univariate series, fitted by scikit-learn and stored as JSON (no
pickle, ever)."""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chronos_core.domain.validation import describe_validation_error
from chronos_core.errors import InsufficientData, InvalidInput

SCALER_FORMAT: Final = "chronos.standard_scaler"
SCALER_FORMAT_VERSION: Final = 1


class StandardScaler(BaseModel):
    """``z = (x - mean) / scale``, fitted on the training part only.

    :meth:`fit` is scikit-learn's ``StandardScaler`` on one feature (population standard
    deviation; a constant series gets ``scale = 1``); only its parameters are kept, so the scaler
    is stored and reloaded as a small JSON document (:meth:`to_dict` / :meth:`from_dict`).
    """

    model_config = ConfigDict(frozen=True, strict=True, allow_inf_nan=False)

    mean: float
    scale: float = Field(gt=0)
    n_samples_seen: int = Field(ge=1)

    @field_validator("mean", "scale", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        # strict mode refuses int for float; JSON writes 0.0 as 0.
        return float(value) if type(value) is int else value

    @classmethod
    def fit(cls, values: ArrayLike) -> StandardScaler:
        """Fit on the finite values of ``values`` (any shape, NaN and inf ignored)."""
        from sklearn.preprocessing import StandardScaler as SklearnStandardScaler

        data = np.asarray(values, dtype=np.float64).ravel()
        data = data[np.isfinite(data)]
        if data.size == 0:
            raise InsufficientData("cannot fit a scaler: no finite training values")
        with np.errstate(over="ignore", invalid="ignore"):
            fitted = SklearnStandardScaler().fit(data.reshape(-1, 1))
        mean, scale = float(fitted.mean_[0]), float(fitted.scale_[0])
        if not (np.isfinite(mean) and np.isfinite(scale)):
            raise InvalidInput("cannot fit a scaler: values are too large (variance overflows)")
        return cls(mean=mean, scale=scale, n_samples_seen=int(fitted.n_samples_seen_))

    def transform(self, values: ArrayLike) -> NDArray[np.float64]:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.scale

    def inverse_transform(self, values: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(values, dtype=np.float64) * self.scale + self.mean

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe parameters; :meth:`from_dict` rebuilds the identical scaler."""
        return _ScalerDocument(
            **self.model_dump(),
            format=SCALER_FORMAT,
            format_version=SCALER_FORMAT_VERSION,
            numpy_version=np.__version__,
        ).model_dump()

    @classmethod
    def from_dict(cls, data: Any) -> StandardScaler:
        """Rebuild from :meth:`to_dict` output; anything else raises ``InvalidInput``."""
        try:
            document = _ScalerDocument.model_validate(data)
        except ValidationError as error:
            raise InvalidInput(
                f"invalid scaler document: {describe_validation_error(error)}"
            ) from None
        return cls(mean=document.mean, scale=document.scale, n_samples_seen=document.n_samples_seen)


class _ScalerDocument(StandardScaler):
    """The stored form: the parameters with their format tag."""

    model_config = ConfigDict(frozen=True, strict=True, allow_inf_nan=False, extra="ignore")

    format: Literal["chronos.standard_scaler"]
    format_version: Literal[1]
    numpy_version: str | None = None
