"""Settings and database access for CLI commands (imported lazily by each command)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from chronos_core.domain.validation import describe_validation_error
from chronos_core.errors import InvalidInput
from chronos_core.settings import Settings, get_settings

if TYPE_CHECKING:
    from pymongo.database import Database


def load_settings() -> Settings:
    """The process settings; a bad ``CHRONOS_*`` value is one clear error, not a traceback."""
    try:
        return get_settings()
    except ValidationError as error:
        details = describe_validation_error(error).removeprefix("invalid input: ")
        for name in Settings.model_fields:
            details = details.replace(f"{name}:", f"CHRONOS_{name.upper()}:")
        raise InvalidInput(f"invalid configuration: {details}") from None


def open_database() -> Database[dict[str, Any]]:
    """The Chronos database, indexes bootstrapped (starts the embedded database if needed)."""
    from chronos_core.storage.database import get_database

    return get_database(load_settings())
