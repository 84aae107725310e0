"""Forecast entities named as the Smart Data Models forecasts are, and their NGSI-LD form.

Smart Data Models' ``WeatherForecast`` (``smart-data-models/dataModel.Weather``, developed with
the GSMA) names a forecast's issue time ``dateIssued``, its validity window ``validFrom`` /
``validTo``, its producer ``dataProvider`` and the thing it is about with a ``ref…``
Relationship (``refPointOfInterest``). Chronos uses the same names in both NGSI flavours:

- NGSI v2 (:func:`sdm_v2_attributes`): ``dateIssued``, ``validFrom``, ``validTo`` and
  ``dataProvider`` are added to the entity of :mod:`chronos_core.forecasting.publication`;
  its earlier names stay (``refEntity`` already follows the ``ref…`` convention);
  ``CHRONOS_FORECAST_LEGACY_ATTRIBUTE_NAMES=false`` drops ``generatedAt``, which
  ``dateIssued`` replaces.
- NGSI-LD (:func:`build_ld_forecast_entity`): Properties (``observedAt`` = the issue time; the
  next value's = its target time), ``refEntity`` a Relationship to the source entity, the series
  a JSON-valued Property, upserted with the Chronos ``@context``
  (``CHRONOS_NGSI_LD_CONTEXT_URL``). Orion-LD's upsert replaces the whole entity, so each
  forecast leaves no attribute of the previous one behind.
"""

from __future__ import annotations

from typing import Any

from chronos_core.domain.forecast import ForecastRecord
from chronos_core.errors import InvalidInput
from chronos_core.fiware.ngsi import format_datetime
from chronos_core.fiware.orion_ld import check_uri

DATA_PROVIDER = "Chronos"
LD_FORECAST_PREFIX = "urn:ngsi-ld:Forecast"
#: The terms of the Chronos @context (``chronos_core/data/chronos-context.jsonld``).
CHRONOS_VOCABULARY = "https://chronos.fiware.example/ngsi-ld/"
SDM_VOCABULARY = "https://smartdatamodels.org/"


def chronos_context_document() -> dict[str, Any]:
    """The Chronos ``@context``: SDM terms in the SDM vocabulary, Chronos' own in its own."""
    sdm = ("dateIssued", "validFrom", "validTo", "dataProvider")
    own = (
        "Forecast",
        "refEntity",
        "feature",
        "modelId",
        "trainingJobId",
        "forecastSeries",
        "nextValue",
    )
    terms = {name: SDM_VOCABULARY + name for name in sdm}
    terms.update({name: CHRONOS_VOCABULARY + name for name in own})
    return {"@context": terms}


def forecast_series(record: ForecastRecord, issued_name: str) -> dict[str, Any]:
    """The value of a published ``forecastSeries``, its issue time named ``issued_name``; the
    points carry their interval bounds when the forecast has them."""
    points = [
        {
            "step": point.step,
            "value": point.value,
            "targetTimestamp": format_datetime(point.target_timestamp),
            **point.intervals,
        }
        for point in record.points
    ]
    return {
        issued_name: format_datetime(record.issued_at),
        "lastObservedAt": format_datetime(record.last_observed_at),
        "horizon": record.forecast_horizon,
        "samplingIntervalSeconds": record.sampling_interval_seconds,
        "points": points,
    }


def _window(record: ForecastRecord) -> tuple[str, str]:
    if not record.points:
        moment = format_datetime(record.issued_at)
        return moment, moment
    targets = [p.target_timestamp for p in record.points]
    return format_datetime(min(targets)), format_datetime(max(targets))


def sdm_v2_attributes(record: ForecastRecord) -> dict[str, Any]:
    """The Smart Data Models attributes of the NGSI v2 forecast entity."""
    valid_from, valid_to = _window(record)
    return {
        "dateIssued": {"type": "DateTime", "value": format_datetime(record.issued_at)},
        "validFrom": {"type": "DateTime", "value": valid_from},
        "validTo": {"type": "DateTime", "value": valid_to},
        "dataProvider": {"type": "Text", "value": DATA_PROVIDER},
    }


def ld_forecast_entity_id(entity_type: str, entity_id: str, feature: str) -> str:
    """``urn:ngsi-ld:Forecast:{type}:{id}:{feature}``, where ``{id}`` is the source id without
    its ``urn:ngsi-ld:{type}:`` prefix (``urn:ngsi-ld:Room:Room1`` gives
    ``urn:ngsi-ld:Forecast:Room:Room1:temperature``)."""
    prefix = f"urn:ngsi-ld:{entity_type}:"
    short = entity_id[len(prefix) :] if entity_id.startswith(prefix) else entity_id
    value = f"{LD_FORECAST_PREFIX}:{entity_type}:{short}:{feature}"
    if len(value) > 256:
        raise InvalidInput(f"the forecast entity id {value[:80]!r}... is over 256 characters")
    return check_uri(value, "forecast entity id")


def build_ld_forecast_entity(
    record: ForecastRecord, *, entity_type: str, publish_next_value: bool
) -> dict[str, Any]:
    """The NGSI-LD entity (normalized, without ``@context``) that publishes ``record``."""
    check_uri(record.entity_id, "source entity id (NGSI-LD ids are URIs)")
    issued = format_datetime(record.issued_at)
    valid_from, valid_to = _window(record)

    def prop(value: Any, observed_at: str | None = issued) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "Property", "value": value}
        if observed_at is not None:
            out["observedAt"] = observed_at
        return out

    entity: dict[str, Any] = {
        "id": ld_forecast_entity_id(record.entity_type, record.entity_id, record.feature),
        "type": entity_type,
        "dateIssued": prop({"@type": "DateTime", "@value": issued}),
        "validFrom": prop({"@type": "DateTime", "@value": valid_from}),
        "validTo": prop({"@type": "DateTime", "@value": valid_to}),
        "dataProvider": prop(DATA_PROVIDER, None),
        "refEntity": {"type": "Relationship", "object": record.entity_id},
        "feature": prop(record.feature, None),
        "modelId": prop(record.model_id, None),
        "trainingJobId": prop(record.training_job_id, None),
        "forecastSeries": prop(forecast_series(record, "dateIssued")),
    }
    if publish_next_value and record.points:
        first = record.points[0]
        name = "nextValue" if record.feature in entity else record.feature
        entity[name] = prop(first.value, format_datetime(first.target_timestamp))
    return entity
