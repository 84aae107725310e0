"""Publish a stored forecast to Orion as an NGSI v2 entity.

One forecast entity per source entity and attribute, upserted in the model's service and
service path::

    {
      "id": "urn:ngsi-ld:Forecast:Room:Room1:temperature",
      "type": "Forecast",
      "refEntity": {"type": "Relationship", "value": "Room1"},
      "feature": {"type": "Text", "value": "temperature"},
      "modelId": {"type": "Text", "value": "<model id>"},
      "trainingJobId": {"type": "Text", "value": "<training job id>"},
      "generatedAt": {"type": "DateTime", "value": "2024-01-04T03:00:00.123Z"},
      "forecastSeries": {
        "type": "StructuredValue",
        "value": {"generatedAt": "...", "lastObservedAt": "...", "horizon": 3,
                  "samplingIntervalSeconds": 900,
                  "intervalLevels": [80, 95], "intervalMethod": "split-conformal",
                  "points": [{"step": 1, "value": 20.4, "targetTimestamp": "...",
                              "lower80": 19.9, "upper80": 20.9,
                              "lower95": 19.5, "upper95": 21.3}, ...]},
        "metadata": {"TimeInstant": {"type": "DateTime", "value": "<generatedAt>"}}
      },
      "temperature": {"type": "Number", "value": 20.4,             # publish_next_value only
                      "metadata": {"TimeInstant": {"type": "DateTime", "value": "<step 1>"}}}
    }

With ``CHRONOS_FORECAST_HISTORY_SUBSCRIPTION`` on, Chronos makes sure an Orion subscription
(``attrsFormat: legacy``) sends every change of that entity to STH-Comet, which stores each
forecast at its ``TimeInstant``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pymongo.database import Database

from chronos_core import runtime
from chronos_core.clock import utc_now
from chronos_core.domain.forecast import ForecastRecord, Publication, PublicationStatus
from chronos_core.domain.identifiers import check_ngsi_name
from chronos_core.errors import ChronosError, InvalidInput, NotFound
from chronos_core.fiware.errors import FiwareHTTPError
from chronos_core.fiware.ngsi import (
    attribute,
    datetime_attribute,
    entity,
    relationship_attribute,
    structured_attribute,
    text_attribute,
)
from chronos_core.fiware.orion import OrionClient, build_sth_subscription
from chronos_core.fiware.tenant import Tenant
from chronos_core.forecasting.clients import orion_client, orion_ld_client
from chronos_core.forecasting.ld_publication import (
    build_ld_forecast_entity,
    forecast_series,
    sdm_v2_attributes,
)
from chronos_core.settings import Settings
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.model_repository import ModelRepository

Db = Database[dict[str, Any]]
logger = logging.getLogger(__name__)

FORECAST_ENTITY_PREFIX = "urn:ngsi-ld:Forecast"
FORECAST_SERIES_ATTRIBUTE = "forecastSeries"
NEXT_VALUE_FALLBACK_ATTRIBUTE = "nextValue"
HISTORY_SUBSCRIPTION_DESCRIPTION = "Chronos forecast history"
#: Attributes of the forecast entity; a feature with one of these names publishes its next
#: value as ``nextValue`` instead.
RESERVED_ATTRIBUTES = frozenset(
    {"id", "type", "refEntity", "feature", "modelId", "trainingJobId", "generatedAt"}
    | {FORECAST_SERIES_ATTRIBUTE, NEXT_VALUE_FALLBACK_ATTRIBUTE}
    | {"dateIssued", "validFrom", "validTo", "dataProvider"}  # Smart Data Models names
)
#: How long this process trusts its knowledge of which history subscriptions exist.
SUBSCRIPTION_RECHECK_SECONDS = 600.0
MAX_ERROR_LENGTH = 2000


def forecast_entity_id(entity_type: str, entity_id: str, feature: str) -> str:
    """``urn:ngsi-ld:Forecast:{entity_type}:{entity_id}:{feature}`` (InvalidInput if too long)."""
    value = f"{FORECAST_ENTITY_PREFIX}:{entity_type}:{entity_id}:{feature}"
    try:
        return check_ngsi_name(value, "forecast entity id")
    except ValueError as error:
        raise InvalidInput(
            f"{error} (the forecast entity id {value[:80]!r}... is built from the source "
            "entity type, id and attribute)"
        ) from None


def next_value_attribute(feature: str) -> str:
    """The attribute that carries the next-step value: the feature's name, unless reserved."""
    return NEXT_VALUE_FALLBACK_ATTRIBUTE if feature in RESERVED_ATTRIBUTES else feature


def build_forecast_entity(
    record: ForecastRecord,
    *,
    entity_type: str,
    publish_next_value: bool,
    legacy_names: bool = True,
) -> dict[str, Any]:
    """The NGSI v2 entity (normalized) that publishes ``record``."""
    series = forecast_series(record, "generatedAt")
    if record.interval_levels:
        series["intervalLevels"] = list(record.interval_levels)
        series["intervalMethod"] = record.interval_method
    attributes: dict[str, Any] = {
        "refEntity": relationship_attribute(record.entity_id),
        "feature": text_attribute(record.feature),
        "modelId": text_attribute(record.model_id),
        "trainingJobId": text_attribute(record.training_job_id),
        "generatedAt": datetime_attribute(record.issued_at),
        FORECAST_SERIES_ATTRIBUTE: structured_attribute(series, observed_at=record.issued_at),
        **sdm_v2_attributes(record),  # Smart Data Models names (see ld_publication.py)
    }
    if not legacy_names:
        del attributes["generatedAt"]
    if publish_next_value and record.points:
        first = record.points[0]
        attributes[next_value_attribute(record.feature)] = attribute(
            "Number", first.value, observed_at=first.target_timestamp
        )
    entity_id = forecast_entity_id(record.entity_type, record.entity_id, record.feature)
    return entity(entity_id, entity_type, **attributes)


# ---------------------------------------------------------------------------- subscription


class _SubscriptionMemo:
    """Which forecast entities of a tenant already have a history subscription (per process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        #: When each tenant's subscriptions were last listed (by ``clock``) and what was found.
        #: A tenant without an entry was never listed, whatever the clock reads.
        self._known: dict[tuple[str, ...], tuple[float, set[str]]] = {}

    def ensure(
        self,
        orion: OrionClient,
        tenant: Tenant,
        *,
        orion_url: str,
        notify_url: str,
        entity_id: str,
        entity_type: str,
        attributes: Sequence[str],
    ) -> bool:
        """Create the subscription for ``entity_id`` unless it exists; True if created."""
        key = (orion_url, tenant.service, tenant.servicepath, notify_url)
        with self._lock:
            known = self._known.get(key)
            if known is None or self._clock() - known[0] > SUBSCRIPTION_RECHECK_SECONDS:
                subscribed = _subscribed_entities(orion.list_subscriptions(tenant), notify_url)
                self._known[key] = (self._clock(), subscribed)
            else:
                subscribed = known[1]
            if entity_id in subscribed:
                return False
            try:
                orion.create_subscription(
                    tenant,
                    build_sth_subscription(
                        entity_id=entity_id,
                        entity_type=entity_type,
                        attributes=list(attributes),
                        notify_url=notify_url,
                        description=HISTORY_SUBSCRIPTION_DESCRIPTION,
                    ),
                )
            except FiwareHTTPError as error:
                if error.status >= 500:
                    self._known.pop(key, None)  # it may have been created: list again first
                    raise
                # Orion refuses it (e.g. Orion 4 has no legacy notifications): publish anyway,
                # without STH history, and do not ask again until the next recheck.
                logger.warning(
                    "cannot create the forecast history subscription for %s (%s): %s",
                    entity_id,
                    tenant,
                    error,
                )
                subscribed.add(entity_id)
                return False
            except Exception:
                # The answer was lost (timeout, dropped connection) or never came: Orion may
                # have applied the request, so the next attempt lists before creating again.
                self._known.pop(key, None)
                raise
            subscribed.add(entity_id)
            return True

    def forget(self) -> None:
        with self._lock:
            self._known.clear()


def _subscribed_entities(subscriptions: Sequence[Any], notify_url: str) -> set[str]:
    found: set[str] = set()
    for subscription in subscriptions:
        try:
            url = subscription["notification"]["http"]["url"]
            entities = subscription["subject"]["entities"]
        except (KeyError, TypeError):
            continue
        if url != notify_url or subscription.get("status", "active") not in ("active", "failed"):
            continue
        found.update(e["id"] for e in entities if isinstance(e, dict) and "id" in e)
    return found


def _memo() -> _SubscriptionMemo:
    memo: _SubscriptionMemo = runtime.current().part("subscription_memo", _SubscriptionMemo)
    return memo


def remove_history_subscriptions(orion: OrionClient, tenant: Tenant, entity_id: str) -> int:
    """Delete the history subscriptions Chronos created for a forecast entity (when the entity
    itself is deleted); returns how many were deleted."""
    removed = 0
    for subscription in orion.list_subscriptions(tenant):
        if subscription.get("description") != HISTORY_SUBSCRIPTION_DESCRIPTION:
            continue
        entities = subscription.get("subject", {}).get("entities", [])
        if not any(isinstance(e, dict) and e.get("id") == entity_id for e in entities):
            continue
        if orion.delete_subscription(tenant, str(subscription["id"]), missing_ok=True):
            removed += 1
    _memo().forget()
    return removed


def forget_history_subscriptions() -> None:
    """Make this process look up the history subscriptions again (after Orion was reset)."""
    _memo().forget()


def history_notify_url(settings: Settings) -> str:
    """Where Orion sends forecast notifications: STH-Comet's ``/notify``."""
    return f"{settings.sth_notification_url or settings.sth_url}/notify"


# ---------------------------------------------------------------------------- publish


def publication_flavour(db: Db, model_id: str, settings: Settings) -> str:
    """``v2`` or ``ld``: the model's ``ngsi_flavour`` override, else the installation's."""
    try:
        override = ModelRepository(db).get(model_id).ngsi_flavour
    except NotFound:
        override = None
    return override or settings.ngsi_flavour


def publish_forecast(
    db: Db,
    forecast_id: str,
    *,
    settings: Settings,
    orion: OrionClient | None = None,
    record: ForecastRecord | None = None,
    flavour: str | None = None,
    record_success: bool = True,
) -> ForecastRecord:
    """Upsert the stored forecast's entity in Orion (NGSI v2) or the NGSI-LD broker, as the
    model's flavour says, and record the outcome on the forecast.

    ``record`` is the stored forecast and ``flavour`` (``v2``/``ld``) its model's publication
    flavour when the caller has them (each saves a read). A forecast already
    published is left as it is. On failure the forecast is marked ``failed`` with the error (it
    stays stored) and the error is raised. An NGSI-LD upsert replaces the previous forecast and
    needs no history subscription: a broker with a temporal store keeps every forecast. With
    ``record_success`` off, a publication that succeeded is returned but not written (the caller
    writes many at once).
    """
    repo = ForecastRepository(db)
    if record is None or record.id != forecast_id:
        record = repo.get(forecast_id)
    if record.publication.status is PublicationStatus.PUBLISHED:
        return record
    entity_type = record.publication.entity_type or settings.forecast_entity_type
    entity_id = record.publication.entity_id
    flavour = flavour or publication_flavour(db, record.model_id, settings)
    try:
        if flavour == "ld":
            payload = build_ld_forecast_entity(
                record, entity_type=entity_type, publish_next_value=record.publish_next_value
            )
            entity_id = payload["id"]
            orion_ld_client(settings).upsert_entity(record.service, payload)
        else:
            payload = build_forecast_entity(
                record,
                entity_type=entity_type,
                publish_next_value=record.publish_next_value,
                legacy_names=settings.forecast_legacy_attribute_names,
            )
            entity_id = payload["id"]
            _upsert_v2(record, payload, settings, orion or orion_client(settings))
    except Exception as error:
        message = (
            str(error) if isinstance(error, ChronosError) else f"{type(error).__name__}: {error}"
        )
        repo.update_publication(
            record,
            Publication(
                status=PublicationStatus.FAILED,
                entity_id=entity_id,
                entity_type=entity_type,
                error=message[:MAX_ERROR_LENGTH],
            ),
        )
        raise
    published = Publication(
        status=PublicationStatus.PUBLISHED,
        entity_id=entity_id,
        entity_type=entity_type,
        published_at=utc_now(),
    )
    if not record_success:
        attempts = record.publication.attempts + 1
        return record.model_copy(
            update={"publication": published.model_copy(update={"attempts": attempts})}
        )
    return repo.update_publication(record, published)


def _upsert_v2(
    record: ForecastRecord, payload: dict[str, Any], settings: Settings, client: OrionClient
) -> None:
    """Upsert the entity in Orion, first making sure its history subscription exists."""
    tenant = Tenant(record.service, record.service_path)
    if settings.forecast_history_subscription:
        _memo().ensure(
            client,
            tenant,
            orion_url=settings.orion_url,
            notify_url=history_notify_url(settings),
            entity_id=payload["id"],
            entity_type=payload["type"],
            attributes=[FORECAST_SERIES_ATTRIBUTE, next_value_attribute(record.feature)],
        )
    client.upsert_entity(tenant, payload)


def mark_not_published(db: Db, forecast_id: str) -> ForecastRecord:
    """Record that a forecast was deliberately not published (``publish=False``)."""
    repo = ForecastRepository(db)
    record = repo.get(forecast_id)
    return repo.update_publication(
        record,
        record.publication.model_copy(update={"status": PublicationStatus.SKIPPED}),
        count_attempt=False,
    )
