"""A flow called from Python with a value the Prefect API would refuse (a 1 MB string gets a
bare ``422 Unprocessable Entity``) fails with Chronos's own message, before any run exists."""

from __future__ import annotations

from typing import Any

import pytest

from chronos_core.errors import InvalidInput
from chronos_core.storage.schema import MODELS

pytestmark = pytest.mark.prefect

BASE = {"model_type": "lstm", "feature": "temperature", "entity_type": "Room", "entity_id": "Room1"}


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("name", "at most 100 characters"),
        ("description", "at most 1000 characters"),
        ("entity_id", "at most 256 characters"),
    ],
)
def test_register_model_with_a_1_mb_string_gets_chronos_message(
    db: Any, settings: Any, field: str, message: str
) -> None:
    from flows.models import register_model

    with pytest.raises(InvalidInput, match=message):
        register_model({**BASE, field: "x" * 1_000_000})
    assert db[MODELS].count_documents({}) == 0


def test_update_model_checks_its_parameters_too(db: Any, settings: Any) -> None:
    from flows.models import update_model

    with pytest.raises(InvalidInput, match="model_id"):
        update_model("not-a-uuid", {"epochs": 3})
