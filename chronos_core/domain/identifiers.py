"""Identifier rules: Chronos ids are UUID strings; NGSI names follow Orion's restrictions."""

from __future__ import annotations

import re
import uuid

from chronos_core.errors import InvalidInput

# Orion forbids these in ids, types and attribute names, plus whitespace; '$' would also be a
# MongoDB operator prefix, so it is refused everywhere.
_NGSI_FORBIDDEN = set("<>\"'=;()?/#&$%")
NGSI_NAME_MAX = 256
#: The same rule as a JSON-schema pattern, for parameter forms: printable ASCII (NGSI v2 allows
#: only ASCII) without the forbidden characters above.
NGSI_NAME_PATTERN = "^[!*-.0-:@-~]{1,256}$"


def new_id() -> str:
    return str(uuid.uuid4())


def parse_id(value: object, what: str = "id") -> str:
    """Return ``value`` as a canonical UUID string or raise ``InvalidInput``."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a UUID string, got {type(value).__name__}")
    text = value.strip()
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InvalidInput(
            f"{what} {shown!r} is not a valid id (expected a UUID such as "
            "'3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d')"
        ) from None
    return str(parsed)


def check_ngsi_name(value: str, what: str) -> str:
    """Validate an NGSI entity id, entity type or attribute name."""
    if not value or not value.strip():
        raise ValueError(f"{what} must not be empty")
    if len(value) > NGSI_NAME_MAX:
        raise ValueError(f"{what} must be at most {NGSI_NAME_MAX} characters")
    if not value.isascii():
        odd = " ".join(sorted({repr(c) for c in value if not c.isascii()})[:5])
        raise ValueError(
            f"{what} contains non-ASCII characters ({odd}): NGSI v2 allows only ASCII letters, "
            "digits and punctuation in entity ids, types and attribute names"
        )
    bad = sorted(
        {c for c in value if c in _NGSI_FORBIDDEN or c.isspace() or ord(c) < 32 or ord(c) == 127}
    )
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise ValueError(
            f"{what} contains characters FIWARE does not allow: {shown} "
            "(no whitespace or any of < > \" ' = ; ( ) ? / # & $ %)"
        )
    return value


def check_display_name(value: str, what: str = "name") -> str:
    """A name shown to people: no control characters (a newline could forge an output line)."""
    bad = sorted({c for c in value if ord(c) < 32 or 127 <= ord(c) < 160})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise ValueError(f"{what} must not contain control characters (found {shown})")
    return value


_SERVICE_RE = re.compile(r"^[a-z0-9_]{1,50}$")
_SERVICEPATH_RE = re.compile(r"^/([A-Za-z0-9_]{1,50}(/[A-Za-z0-9_]{1,50}){0,9})?$")


def check_fiware_service(value: str) -> str:
    if not _SERVICE_RE.match(value):
        raise ValueError("FIWARE service must be 1-50 lowercase letters, digits or underscores")
    return value


def check_fiware_servicepath(value: str) -> str:
    if not _SERVICEPATH_RE.match(value):
        raise ValueError(
            "FIWARE service path must be '/' or '/a/b' with up to 10 levels of 1-50 "
            "letters, digits or underscores"
        )
    return value
