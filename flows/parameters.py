"""Parameter types shared by Chronos flows.

The constraints travel into the deployment's parameter schema, so the Prefect UI checks a value
before it submits a run, the API refuses a bad one, and a direct call fails before the flow body
runs. Prefect titles a parameter with its name and takes its description from the flow
docstring's ``Args:`` section; :func:`titled` gives a parameter a readable title instead (JSON
schema extras are the one part of an annotation Prefect keeps).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from chronos_core.domain.identifiers import parse_id
from chronos_core.errors import InvalidInput

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
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
