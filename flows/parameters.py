"""Parameter types shared by Chronos flows.

The constraints travel into the deployment's parameter schema, so the Prefect UI checks a value
before it submits a run, the API refuses a bad one, and a direct call fails before the flow body
runs. (Prefect titles a parameter with its name and takes its description from the flow
docstring's ``Args:`` section.)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
FIWARE_SERVICE_PATTERN = r"^[a-z0-9_]{1,50}$"
FIWARE_SERVICEPATH_PATTERN = r"^/([A-Za-z0-9_]{1,50}(/[A-Za-z0-9_]{1,50}){0,9})?$"

ModelId = Annotated[str, Field(pattern=UUID_PATTERN)]
TrainingJobId = Annotated[str, Field(pattern=UUID_PATTERN)]
FiwareService = Annotated[str | None, Field(pattern=FIWARE_SERVICE_PATTERN)]
FiwareServicePath = Annotated[str | None, Field(pattern=FIWARE_SERVICEPATH_PATTERN)]
