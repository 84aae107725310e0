"""``chronos models``: register, list, inspect, change and delete forecasting models."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from chronos_core.domain.enums import ModelStatus, ModelType
from chronos_core.errors import InvalidInput
from cli.output import console, print_fields, print_json, print_table

app = typer.Typer(
    help="Register, list, inspect, change and delete forecasting models.", no_args_is_help=True
)

#: Fields of a stored model that are not part of a definition: ignored in ``--from-json`` input,
#: so the output of ``chronos models show ID --json`` can be fed back.
READ_ONLY_FIELDS = frozenset(
    {"id", "status", "has_successful_training", "created_at", "updated_at"}
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModelIdArgument = Annotated[str, typer.Argument(metavar="MODEL_ID", help="The model's id.")]
FromJson = Annotated[
    str | None,
    typer.Option(
        "--from-json",
        metavar="FILE",
        help="A model definition as a JSON object (the stored field names); '-' reads stdin. "
        "Options given as well override its fields.",
    ),
]
# The common fields as options (None: not given).
EntityType = Annotated[str | None, typer.Option(help="NGSI entity type, e.g. Room.")]
EntityId = Annotated[str | None, typer.Option(help="NGSI entity id, e.g. Room1.")]
Feature = Annotated[str | None, typer.Option(help="The attribute to forecast, e.g. temperature.")]
Type = Annotated[ModelType | None, typer.Option("--model-type", help="Network type.")]
Name = Annotated[
    str | None,
    typer.Option(help="Display name (default: type and feature, e.g. 'LSTM - temperature')."),
]
Description = Annotated[str | None, typer.Option(help="Free text.")]
Service = Annotated[
    str | None, typer.Option(help="FIWARE service (default: CHRONOS_FIWARE_SERVICE).")
]
ServicePath = Annotated[
    str | None, typer.Option(help="FIWARE service path (default: CHRONOS_FIWARE_SERVICEPATH).")
]
Lookback = Annotated[int | None, typer.Option(help="Input points per forecast.")]
Horizon = Annotated[int | None, typer.Option(help="Points forecast at once.")]
Epochs = Annotated[int | None, typer.Option(help="Training epochs.")]
BatchSize = Annotated[int | None, typer.Option(help="Training batch size.")]
LearningRate = Annotated[float | None, typer.Option(help="Adam learning rate.")]
Patience = Annotated[
    int | None, typer.Option(help="Epochs without improvement before training stops.")
]
RnnUnits = Annotated[
    list[int] | None,
    typer.Option(
        "--rnn-units",
        help="Units of a recurrent layer; repeat for a deeper stack "
        "(--rnn-units 64 --rnn-units 32).",
    ),
]
DenseUnits = Annotated[
    list[int] | None,
    typer.Option("--dense-units", help="Units of a dense hidden layer; repeat for more."),
]
PublishNext = Annotated[
    bool | None,
    typer.Option(
        "--publish-next-value/--no-publish-next-value",
        help="Also publish the next-step value as a plain Number attribute.",
    ),
]


#: The definition fields offered as options by ``create`` and ``update`` (field: option type).
DEFINITION_OPTIONS: dict[str, Any] = {
    "entity_type": EntityType,
    "entity_id": EntityId,
    "feature": Feature,
    "model_type": Type,
    "name": Name,
    "description": Description,
    "service": Service,
    "service_path": ServicePath,
    "lookback_window": Lookback,
    "forecast_horizon": Horizon,
    "epochs": Epochs,
    "batch_size": BatchSize,
    "learning_rate": LearningRate,
    "early_stopping_patience": Patience,
    "rnn_layers": RnnUnits,
    "dense_layers": DenseUnits,
    "publish_next_value": PublishNext,
}


def with_definition_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the :data:`DEFINITION_OPTIONS`, declared once for every command that
    takes them; it receives the options that were given as ``fields`` (definition field names).

    The options stand where ``fields`` stands in the command's signature.
    """
    options = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
        for name, kind in DEFINITION_OPTIONS.items()
    ]
    parameters: list[inspect.Parameter] = []
    for parameter in inspect.signature(command, eval_str=True).parameters.values():
        if parameter.name == "fields":
            parameters.extend(options)
        elif parameters and parameters[-1].kind is inspect.Parameter.KEYWORD_ONLY:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
        else:
            parameters.append(parameter)

    @functools.wraps(command)
    def run(**values: Any) -> None:
        given = {name: values.pop(name) for name in DEFINITION_OPTIONS}
        command(**values, fields=_field_options(**given))

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return run


def _field_options(**values: Any) -> dict[str, Any]:
    """The options that were given, as definition fields."""
    fields = {name: value for name, value in values.items() if value is not None}
    if "rnn_layers" in fields:
        fields["rnn_layers"] = [{"units": units} for units in fields["rnn_layers"]]
    if "dense_layers" in fields:
        fields["dense_layers"] = [{"units": units} for units in fields["dense_layers"]]
    if isinstance(fields.get("model_type"), ModelType):
        fields["model_type"] = fields["model_type"].value
    return fields


def _definition_input(from_json: str | None, options: dict[str, Any]) -> dict[str, Any]:
    from cli.input_files import read_json_object

    data: dict[str, Any] = {}
    if from_json is not None:
        data = {
            key: value
            for key, value in read_json_object(from_json).items()
            if key not in READ_ONLY_FIELDS
        }
    data.update(options)
    return data


def _summary(model: Any) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "model_type": model.model_type,
        "entity_type": model.entity_type,
        "entity_id": model.entity_id,
        "feature": model.feature,
        "status": model.status,
        "updated_at": model.updated_at,
    }


@app.command("create")
@with_definition_options
def create(
    fields: dict[str, Any],
    from_json: FromJson = None,
    as_json: JsonOption = False,
) -> None:
    """Register a model (a draft) and print its id.

    Either give the fields as options (--entity-type, --entity-id and --feature at least; the
    network type defaults to lstm) or a whole definition with --from-json.
    """
    from chronos_core.services.models import register_model
    from cli.context import load_settings, open_database

    data = _definition_input(from_json, fields)
    if not data:
        raise InvalidInput(
            "give the model's fields (at least --entity-type, --entity-id and --feature) "
            "or --from-json FILE"
        )
    data.setdefault("model_type", ModelType.LSTM.value)
    from chronos_core.domain.model import ModelDefinition
    from chronos_core.domain.validation import parse_input

    definition = parse_input(ModelDefinition, data)  # validate before touching the database
    model = register_model(open_database(), definition, load_settings())
    if as_json:
        print_json(model)
        return
    typer.echo(f"Registered model {model.name!r} ({model.status.value}).", err=True)
    typer.echo(model.id)


@app.command("list")
def list_models(
    status: Annotated[ModelStatus | None, typer.Option(help="Only models in this status.")] = None,
    model_type: Annotated[
        ModelType | None, typer.Option("--model-type", help="Only models of this network type.")
    ] = None,
    entity_id: Annotated[str | None, typer.Option(help="Only models of this entity.")] = None,
    feature: Annotated[str | None, typer.Option(help="Only models of this attribute.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Most models to show.")] = 50,
    skip: Annotated[int, typer.Option(min=0, help="Models to skip (paging).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List models, newest first."""
    from chronos_core.services.models import count_models
    from chronos_core.services.models import list_models as find_models
    from cli.context import open_database

    filters = {
        "status": status.value if status else None,
        "model_type": model_type.value if model_type else None,
        "entity_id": entity_id,
        "feature": feature,
    }
    db = open_database()
    models = find_models(db, filters, skip=skip, limit=limit)
    if as_json:
        print_json(models)
        return
    total = count_models(db, filters)
    print_table(
        (_summary(model) for model in models),
        {
            "id": "Id",
            "name": "Name",
            "model_type": "Type",
            "entity_type": "Entity type",
            "entity_id": "Entity id",
            "feature": "Feature",
            "status": "Status",
            "updated_at": "Updated (UTC)",
        },
        title=f"Models {skip + 1 if models else 0}-{skip + len(models)} of {total}",
        empty="No models.",
    )


@app.command("show")
def show(model_id: ModelIdArgument, as_json: JsonOption = False) -> None:
    """Show one model and its training jobs."""
    from chronos_core.domain.identifiers import parse_id
    from chronos_core.services.models import get_model
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from cli.context import open_database

    db = open_database()
    model = get_model(db, model_id)
    if as_json:
        print_json(model)
        return
    data = model.model_dump()
    layers = data.pop("rnn_layers")
    dense = data.pop("dense_layers")
    print_fields(data, title=f"Model {model.id}")
    print_table(
        ({"layer": i + 1, **layer} for i, layer in enumerate(layers)),
        {"layer": "#", "units": "Units", "dropout": "Dropout", "recurrent_dropout": "Rec. dropout"},
        title=f"Recurrent layers ({model.model_type.label})",
    )
    if dense:
        print_table(
            ({"layer": i + 1, **layer} for i, layer in enumerate(dense)),
            {"layer": "#", "units": "Units", "activation": "Activation", "dropout": "Dropout"},
            title="Dense layers",
        )
    jobs = TrainingJobRepository(db).list_for_model(parse_id(model_id, "model id"), limit=10)
    print_table(
        (
            {
                "id": job.id,
                "status": job.status,
                "last_n": job.last_n,
                "created_at": job.created_at,
                "rmse": job.metrics.rmse if job.metrics else None,
                "forecasts": "on" if job.prediction_config.enabled else "",
            }
            for job in jobs
        ),
        {
            "id": "Training job",
            "status": "Status",
            "last_n": "last_n",
            "created_at": "Created (UTC)",
            "rmse": "RMSE",
            "forecasts": "Recurring",
        },
        title="Latest training jobs",
        empty="No training jobs yet (chronos train MODEL_ID).",
    )


@app.command("update")
@with_definition_options
def update(
    model_id: ModelIdArgument,
    fields: dict[str, Any],
    from_json: FromJson = None,
    as_json: JsonOption = False,
) -> None:
    """Change fields of a draft model (only the given fields change)."""
    from chronos_core.services.models import update_model
    from cli.context import open_database

    changes = _definition_input(from_json, fields)
    model = update_model(open_database(), model_id, changes)
    if as_json:
        print_json(model)
        return
    typer.echo(f"Updated model {model.id} ({', '.join(sorted(changes))}).")


@app.command("delete")
def delete(
    model_id: ModelIdArgument,
    delete_forecast_entity: Annotated[
        bool,
        typer.Option(
            "--delete-forecast-entity",
            help="Also delete the model's forecast entity from Orion (runs the delete-model flow).",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a model with its training jobs and stored artifacts."""
    from chronos_core.domain.identifiers import parse_id
    from chronos_core.services.models import get_model
    from cli.context import open_database

    model_id = parse_id(model_id, "model id")
    db = open_database()
    model = get_model(db, model_id)
    if not yes:
        if not sys.stdin.isatty():
            raise InvalidInput("refusing to delete without confirmation; add --yes")
        typer.confirm(
            f"Delete model {model.id} ({model.name}) with all its training jobs?", abort=True
        )
    if delete_forecast_entity:
        from cli.prefect_runtime import announce

        announce("Running delete-model")
        from flows.models import delete_model as delete_model_flow

        delete_model_flow(model_id, delete_forecast_entity=True)
        result: dict[str, Any] = {"model_id": model_id, "delete_forecast_entity": True}
    else:
        from dataclasses import asdict

        from chronos_core.services.models import delete_model as delete_model_records

        result = asdict(delete_model_records(db, model_id))
    if as_json:
        print_json(result)
        return
    console().print(f"Deleted model {model_id}.")
