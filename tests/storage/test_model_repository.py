"""ModelRepository against a real MongoDB-wire server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from pymongo.database import Database

from chronos_core.domain.enums import ModelStatus, ModelType
from chronos_core.domain.model import Model
from chronos_core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from chronos_core.storage.model_repository import MAX_PAGE_SIZE, ModelRepository

Db = Database[dict[str, Any]]
MakeModel = Callable[..., Model]
Race = Callable[[int, Callable[[int], Any]], list[Any]]


def full_model(make_model: MakeModel) -> Model:
    return make_model(
        name="Kitchen temperature",
        description="Forecasts the kitchen",
        model_type="gru",
        batch_size=16,
        epochs=7,
        learning_rate=0.01,
        validation_ratio=0.2,
        test_ratio=0.1,
        early_stopping_patience=3,
        rnn_layers=[{"units": 8, "dropout": 0.2, "recurrent_dropout": 0.1}, {"units": 4}],
        dense_layers=[{"units": 3, "activation": "tanh", "dropout": 0.0}],
        lookback_window=12,
        forecast_horizon=3,
        service="other",
        service_path="/x/y",
        publish_next_value=True,
    )


def test_round_trip_of_every_field(db: Db, make_model: MakeModel) -> None:
    repository = ModelRepository(db)
    model = full_model(make_model)
    repository.insert(model)
    assert repository.get(model.id) == model

    raw = db["models"].find_one({"id": model.id})
    assert raw is not None
    expected_fields = set(Model.model_fields) | {"_id"}
    assert set(raw) == expected_fields
    assert raw["id"] == model.id and isinstance(raw["id"], str)
    assert raw["model_type"] == "gru" and type(raw["model_type"]) is str
    assert raw["status"] == "draft" and type(raw["status"]) is str
    assert isinstance(raw["created_at"], datetime) and raw["created_at"].tzinfo is not None
    assert isinstance(raw["updated_at"], datetime)
    assert raw["rnn_layers"] == [
        {"units": 8, "dropout": 0.2, "recurrent_dropout": 0.1},
        {"units": 4, "dropout": 0.1, "recurrent_dropout": 0.0},
    ]
    assert raw["dense_layers"] == [{"units": 3, "activation": "tanh", "dropout": 0.0}]
    assert raw["early_stopping_patience"] == 3
    assert raw["has_successful_training"] is False
    assert (raw["entity_type"], raw["entity_id"], raw["feature"]) == (
        "Room",
        "Room1",
        "temperature",
    )
    assert (raw["service"], raw["service_path"]) == ("other", "/x/y")
    assert "_id" not in repository.get(model.id).model_dump()


def test_get_missing_names_the_id(db: Db) -> None:
    with pytest.raises(NotFound, match="model 0000-missing not found"):
        ModelRepository(db).get("0000-missing")
    assert ModelRepository(db).find("0000-missing") is None


def test_ids_must_be_strings(db: Db) -> None:
    with pytest.raises(InvalidInput):
        ModelRepository(db).get({"$ne": None})  # type: ignore[arg-type]


def test_duplicate_id_is_a_conflict(db: Db, make_model: MakeModel) -> None:
    repository = ModelRepository(db)
    model = repository.insert(make_model())
    with pytest.raises(Conflict, match="already exists"):
        repository.insert(model)


def test_list_filters_and_pagination(db: Db, make_model: MakeModel) -> None:
    repository = ModelRepository(db)
    created = [
        make_model(model_type="lstm", entity_id="A", feature="t"),
        make_model(model_type="gru", entity_id="A", feature="h"),
        make_model(model_type="lstm", entity_id="B", feature="t"),
    ]
    for model in created:
        repository.insert(model)
    repository.transition(created[2].id, ModelStatus.DRAFT, ModelStatus.TRAINING)

    assert {m.id for m in repository.list()} == {m.id for m in created}
    assert {m.id for m in repository.list(model_type="lstm")} == {created[0].id, created[2].id}
    assert {m.id for m in repository.list(model_type=ModelType.GRU)} == {created[1].id}
    assert [m.id for m in repository.list(status="training")] == [created[2].id]
    assert {m.id for m in repository.list(entity_id="A", feature="t")} == {created[0].id}
    assert repository.count(entity_id="A") == 2
    page1 = repository.list(limit=2)
    page2 = repository.list(skip=2, limit=2)
    assert len(page1) == 2 and len(page2) == 1
    assert {m.id for m in page1 + page2} == {m.id for m in created}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be an integer from 1 to"),
        ({"limit": MAX_PAGE_SIZE + 1}, "limit"),
        ({"skip": -1}, "skip must be an integer >= 0"),
        ({"model_type": "LSTM"}, "model_type must be one of lstm, gru"),
        ({"status": "ready"}, "status must be one of draft, training, trained"),
        ({"entity_id": {"$ne": ""}}, "entity_id filter must be a string"),
    ],
)
def test_list_rejects_bad_arguments(db: Db, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ModelRepository(db).list(**kwargs)


def test_update_draft(db: Db, make_model: MakeModel) -> None:
    repository = ModelRepository(db)
    model = repository.insert(make_model())
    updated = repository.update_draft(model.id, {"epochs": 5, "rnn_layers": [{"units": 2}]})
    assert updated.epochs == 5 and updated.rnn_layers[0].units == 2
    assert updated.updated_at >= model.updated_at
    with pytest.raises(Conflict, match="changed by someone else"):
        repository.update_draft(model.id, {"epochs": 6}, expected_updated_at=datetime(2000, 1, 1))
    with pytest.raises(InvalidInput, match="cannot be set directly"):
        repository.update_draft(model.id, {"status": "trained"})
    with pytest.raises(InvalidInput, match="invalid value for batch_size"):
        repository.update_draft(model.id, {"batch_size": 0})
    with pytest.raises(InvalidInput, match="has no field"):
        repository.update_draft(model.id, {"nonsense": 1})
    repository.transition(model.id, ModelStatus.DRAFT, ModelStatus.TRAINING)
    with pytest.raises(Conflict, match="is training; only draft models can be changed"):
        repository.update_draft(model.id, {"epochs": 6})
    with pytest.raises(NotFound):
        repository.update_draft("missing", {"epochs": 6})


def test_transition(db: Db, make_model: MakeModel) -> None:
    repository = ModelRepository(db)
    model = repository.insert(make_model())
    moved = repository.transition(model.id, ModelStatus.DRAFT, ModelStatus.TRAINING)
    assert moved.status is ModelStatus.TRAINING
    trained = repository.transition(
        model.id, ModelStatus.TRAINING, ModelStatus.TRAINED, has_successful_training=True
    )
    assert trained.status is ModelStatus.TRAINED and trained.has_successful_training
    assert db["models"].find_one({"id": model.id})["status"] == "trained"  # type: ignore[index]
    with pytest.raises(IllegalTransition):  # the state machine forbids draft -> trained
        repository.transition(model.id, ModelStatus.DRAFT, ModelStatus.TRAINED)
    with pytest.raises(Conflict, match="is trained, not draft"):
        repository.transition(model.id, ModelStatus.DRAFT, ModelStatus.TRAINING)
    with pytest.raises(NotFound):
        repository.transition("missing", ModelStatus.DRAFT, ModelStatus.TRAINING)
    again = repository.transition(
        model.id, {ModelStatus.DRAFT, ModelStatus.TRAINED}, ModelStatus.TRAINING
    )
    assert again.status is ModelStatus.TRAINING


def test_racing_transitions_have_one_winner(db: Db, make_model: MakeModel, race: Race) -> None:
    repository = ModelRepository(db)
    for _ in range(5):
        model = repository.insert(make_model())
        results = race(
            6,
            lambda _i, m=model.id: repository.transition(
                m, ModelStatus.DRAFT, ModelStatus.TRAINING
            ),
        )
        winners = [r for r in results if isinstance(r, Model)]
        assert len(winners) == 1
        assert all(isinstance(r, Conflict) for r in results if r is not winners[0])
        assert repository.get(model.id).status is ModelStatus.TRAINING


def test_delete(db: Db, make_model: MakeModel) -> None:
    repository = ModelRepository(db)
    model = repository.insert(make_model())
    repository.transition(model.id, ModelStatus.DRAFT, ModelStatus.TRAINING)
    assert repository.delete(model.id, unless_status=[ModelStatus.TRAINING]) is False
    assert repository.exists(model.id)
    assert repository.delete(model.id) is True
    assert not repository.exists(model.id)
    assert repository.delete(model.id) is False


def test_the_stored_status_follows_the_state_machine_exactly(db: Db, make_model: MakeModel) -> None:
    from chronos_core.domain.transitions import MODEL_TRANSITIONS

    repository = ModelRepository(db)
    for current in ModelStatus:
        for target in ModelStatus:
            model = repository.insert(make_model().model_copy(update={"status": current}))
            if target in MODEL_TRANSITIONS[current]:
                assert repository.transition(model.id, current, target).status is target
            else:
                with pytest.raises(IllegalTransition):
                    repository.transition(model.id, current, target)
                assert repository.get(model.id).status is current
