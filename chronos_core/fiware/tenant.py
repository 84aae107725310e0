"""The FIWARE tenant a request belongs to: ``Fiware-Service`` and ``Fiware-ServicePath``."""

from __future__ import annotations

from dataclasses import dataclass

from chronos_core.domain.identifiers import check_fiware_service, check_fiware_servicepath
from chronos_core.errors import InvalidInput
from chronos_core.settings import Settings, get_settings


@dataclass(frozen=True)
class Tenant:
    """A FIWARE service (lowercase tenant name) and service path (``/`` or ``/a/b``)."""

    service: str
    servicepath: str = "/"

    def __post_init__(self) -> None:
        try:
            check_fiware_service(self.service)
            check_fiware_servicepath(self.servicepath)
        except ValueError as exc:
            raise InvalidInput(
                f"invalid FIWARE tenant ({self.service!r}, {self.servicepath!r}): {exc}"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Tenant:
        settings = settings or get_settings()
        return cls(settings.fiware_service, settings.fiware_servicepath)

    def headers(self) -> dict[str, str]:
        return {"Fiware-Service": self.service, "Fiware-ServicePath": self.servicepath}

    def __str__(self) -> str:
        return f"{self.service}{self.servicepath}"
