"""``chronos models``: register, list, inspect, change and delete forecasting models."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any, get_args

import typer
from pydantic_core import to_jsonable_python

from chronos_core.domain.enums import ModelStatus, ModelType
from chronos_core.domain.model import ModelDefinition
from chronos_core.errors import InvalidInput
from cli.output import (
    JsonOption,
    ModelIdArgument,
    console,
    print_fields,
    print_json,
    print_table,
)

app = typer.Typer(
    help="Register, list, inspect, change and delete forecasting models.", no_args_is_help=True
)

#: Fields of a stored model that are not part of a definition: ignored in ``--from-json`` input,
#: so the output of ``chronos models show ID --json`` can be fed back.
READ_ONLY_FIELDS = frozenset(
    {"id", "status", "has_successful_training", "created_at", "updated_at"}
)

FromJson = Annotated[
    str | None,
    typer.Option(
        "--from-json",
        metavar="FILE",
        help="A model definition as a JSON object (the stored field names); '-' reads stdin. "
        "Options given as well override its fields.",
    ),
]


def _field_option(name: str) -> Any:
    """The option of definition field ``name``: its type, its description as the help."""
    field = ModelDefinition.model_fields[name]
    kinds = [kind for kind in get_args(field.annotation) if kind is not type(None)]
    kind: Any = kinds[0] if kinds else field.annotation
    flag = f"--{name.replace('_', '-')}"
    if kind is bool:
        flag += f"/--no-{name.replace('_', '-')}"
    return Annotated[kind | None, typer.Option(flag, help=field.description)]


def _units_option(flag: str, help: str) -> Any:
    return Annotated[list[int] | None, typer.Option(flag, help=help)]


#: The definition fields offered as options by ``create`` and ``update`` (None: not given).
DEFINITION_OPTIONS: dict[str, Any] = {
    **{
        name: _field_option(name)
        for name in (
            "entity_type",
            "entity_id",
            "feature",
            "model_type",
            "name",
            "description",
            "service",
            "service_path",
            "lookback_window",
            "forecast_horizon",
            "epochs",
            "batch_size",
            "learning_rate",
            "early_stopping_patience",
            "publish_next_value",
        )
    },
    "rnn_layers": _units_option(
        "--rnn-units",
        "Units of a recurrent layer; repeat for a deeper stack (--rnn-units 64 --rnn-units 32).",
    ),
    "dense_layers": _units_option(
        "--dense-units", "Units of a dense hidden layer; repeat for more."
    ),
}


def with_definition_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the :data:`DEFINITION_OPTIONS` and ``--from-json`` in place of its
    ``fields`` parameter, which receives the definition fields they give: the document's
    (read-only fields ignored), overridden by the options given."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    options = [
        inspect.Parameter(name, keyword, default=None, annotation=kind)
        for name, kind in {**DEFINITION_OPTIONS, "from_json": FromJson}.items()
    ]
    parameters: list[inspect.Parameter] = []
    for parameter in inspect.signature(command, eval_str=True).parameters.values():
        parameters += options if parameter.name == "fields" else [parameter.replace(kind=keyword)]

    @functools.wraps(command)
    def run(from_json: str | None, **values: Any) -> None:
        from cli.input_files import read_json_object

        document = read_json_object(from_json) if from_json is not None else {}
        fields = {key: value for key, value in document.items() if key not in READ_ONLY_FIELDS}
        for name in DEFINITION_OPTIONS:
            if (value := values.pop(name)) is not None:
                layers = name in ("rnn_layers", "dense_layers")
                fields[name] = [{"units": units} for units in value] if layers else value
        command(**values, fields=to_jsonable_python(fields))

    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return run


@app.command("create")
@with_definition_options
def create(fields: dict[str, Any], as_json: JsonOption = False) -> None:
    """Register a model (a draft) and print its id.

    Either give the fields as options (--entity-type, --entity-id and --feature at least; the
    network type defaults to lstm) or a whole definition with --from-json.
    """
    from chronos_core.domain.validation import parse_input
    from chronos_core.services.models import register_model
    from cli.context import load_settings, open_database

    if not fields:
        raise InvalidInput(
            "give the model's fields (at least --entity-type, --entity-id and --feature) "
            "or --from-json FILE"
        )
    # Validated before the database is touched.
    definition = parse_input(ModelDefinition, {"model_type": ModelType.LSTM.value, **fields})
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

    filters = to_jsonable_python(
        {"status": status, "model_type": model_type, "entity_id": entity_id, "feature": feature}
    )
    db = open_database()
    models = find_models(db, filters, skip=skip, limit=limit)
    if as_json:
        print_json(models)
        return
    print_table(
        models,
        {
            "Id": "id",
            "Name": "name",
            "Type": "model_type",
            "Entity type": "entity_type",
            "Entity id": "entity_id",
            "Feature": "feature",
            "Status": "status",
            "Updated (UTC)": "updated_at",
        },
        title=f"Models {skip + 1 if models else 0}-{skip + len(models)} of "
        f"{count_models(db, filters)}",
        empty="No models.",
    )


@app.command("show")
def show(model_id: ModelIdArgument, as_json: JsonOption = False) -> None:
    """Show one model and its training jobs."""
    from chronos_core.services.models import get_model
    from chronos_core.storage.training_job_repository import TrainingJobRepository
    from cli.context import open_database

    db = open_database()
    model = get_model(db, model_id)
    if as_json:
        print_json(model)
        return
    data = model.model_dump()
    rnn, dense = data.pop("rnn_layers"), data.pop("dense_layers")
    print_fields(data, title=f"Model {model.id}")
    print_table(
        ({"#": i + 1, **layer} for i, layer in enumerate(rnn)),
        {"#": "#", "Units": "units", "Dropout": "dropout", "Rec. dropout": "recurrent_dropout"},
        title=f"Recurrent layers ({model.model_type.label})",
    )
    if dense:
        print_table(
            ({"#": i + 1, **layer} for i, layer in enumerate(dense)),
            {"#": "#", "Units": "units", "Activation": "activation", "Dropout": "dropout"},
            title="Dense layers",
        )
    print_table(
        TrainingJobRepository(db).list_for_model(model_id, limit=10),
        {
            "Training job": "id",
            "Status": "status",
            "last_n": "last_n",
            "Created (UTC)": "created_at",
            "RMSE": lambda job: job.metrics.rmse if job.metrics else None,
            "Recurring": lambda job: "on" if job.prediction_config.enabled else "",
        },
        title="Latest training jobs",
        empty="No training jobs yet (chronos train MODEL_ID).",
    )


@app.command("update")
@with_definition_options
def update(model_id: ModelIdArgument, fields: dict[str, Any], as_json: JsonOption = False) -> None:
    """Change fields of a draft model (only the given fields change)."""
    from chronos_core.services.models import update_model
    from cli.context import open_database

    model = update_model(open_database(), model_id, fields)
    if as_json:
        print_json(model)
        return
    typer.echo(f"Updated model {model.id} ({', '.join(sorted(fields))}).")


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
    from chronos_core.services.models import delete_model, get_model
    from cli.context import open_database
    from cli.prefect_runtime import run_flow

    db = open_database()
    model = get_model(db, model_id)
    if not yes:
        if not sys.stdin.isatty():
            raise InvalidInput("refusing to delete without confirmation; add --yes")
        typer.confirm(
            f"Delete model {model.id} ({model.name}) with all its training jobs?", abort=True
        )
    result: Any
    if delete_forecast_entity:
        run_flow("flows.models:delete_model", model_id, delete_forecast_entity=True, verbose=False)
        result = {"model_id": model_id, "delete_forecast_entity": True}
    else:
        result = delete_model(db, model_id)
    if as_json:
        print_json(result)
        return
    console().print(f"Deleted model {model_id}.")
