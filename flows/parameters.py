"""Parameter types shared by Chronos flows.

The constraints travel into the deployment's parameter schema, so the Prefect UI checks a value
before it submits a run, the API refuses a bad one, and a direct call fails before the flow body
runs. Prefect titles a parameter with its name and takes its description from the flow
docstring's ``Args:`` section; :func:`titled` gives a parameter a readable title instead (JSON
schema extras are the one part of an annotation Prefect keeps).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_type_hints

from prefect import Flow
from prefect.exceptions import ParameterTypeError
from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from chronos_core.domain.identifiers import parse_id
from chronos_core.domain.validation import describe_validation_error
from chronos_core.errors import InvalidInput

FIWARE_SERVICE_PATTERN = r"^[a-z0-9_]{1,50}$"
FIWARE_SERVICEPATH_PATTERN = r"^/([A-Za-z0-9_]{1,50}(/[A-Za-z0-9_]{1,50}){0,9})?$"


def titled(title: str, description: str | None = None, **schema: Any) -> Any:
    """A ``Field`` whose title (and description) show in the deployment's parameter form."""
    extra: dict[str, Any] = {"title": title, **schema}
    if description is not None:
        extra["description"] = description
    return Field(json_schema_extra=extra)


def _uuid(what: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_id(value, what)
        except InvalidInput as error:  # pydantic reports ValueErrors as validation errors
            raise ValueError(str(error)) from None

    return AfterValidator(check)


# A UUID is declared as ``format: uuid`` rather than a regex pattern: the form and the API then
# answer "'abc' is not a 'uuid'" instead of quoting the regex.
ModelId = Annotated[str, _uuid("model id"), titled("Model id", format="uuid")]
TrainingJobId = Annotated[str, _uuid("training job id"), titled("Training job id", format="uuid")]
OptionalTrainingJobId = Annotated[
    str | None, _uuid("training job id"), titled("Training job id", format="uuid")
]
FiwareService = Annotated[
    str | None, Field(pattern=FIWARE_SERVICE_PATTERN), titled("FIWARE service")
]
FiwareServicePath = Annotated[
    str | None, Field(pattern=FIWARE_SERVICEPATH_PATTERN), titled("FIWARE service path")
]


F = TypeVar("F", bound=Flow[Any, Any])


class CheckedFlow(Flow[Any, Any]):
    """A flow whose direct call validates its parameters before Prefect creates the run, so a
    bad value (e.g. a 1 MB string, which the Prefect API refuses with a bare 422) gets Chronos's
    own message, as from the CLI and the services."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        check_parameters(self.fn, args, kwargs)
        return super().__call__(*args, **kwargs)


def checked(flow_: F) -> F:
    """Make ``flow_`` a :class:`CheckedFlow` (its deployments and options are unchanged)."""
    flow_.__class__ = CheckedFlow  # type: ignore[assignment]
    return flow_


def check_parameters(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Validate the call's arguments against ``fn``'s annotations; InvalidInput if one is bad."""
    call = {k: v for k, v in kwargs.items() if k not in _PREFECT_CALL_OPTIONS}
    try:
        bound = inspect.signature(fn).bind_partial(*args, **call)
    except TypeError as error:
        raise InvalidInput(str(error)) from None
    hints = get_type_hints(fn, include_extras=True)
    for name, value in bound.arguments.items():
        if name not in hints:
            continue
        try:
            TypeAdapter(hints[name]).validate_python(value)
        except ValidationError as error:
            message = describe_validation_error(error)
            # A plain value's errors have no location of their own: name the parameter.
            message = message.replace("invalid input: input:", f"invalid input: {name}:", 1)
            raise InvalidFlowParameters(message) from None


class InvalidFlowParameters(InvalidInput, ParameterTypeError):
    """Chronos's message for a bad flow parameter (also what Prefect raises for one)."""


_PREFECT_CALL_OPTIONS = frozenset({"return_state", "wait_for"})
