"""``chronos db``: database administration."""

from __future__ import annotations

from typing import Any

import typer

from cli.output import JsonOption, print_json, print_table

app = typer.Typer(help="Database administration.", no_args_is_help=True)


@app.command("init")
def init(as_json: JsonOption = False) -> None:
    """Create Chronos' collections and indexes (idempotent) and list what was created."""
    from chronos_core.storage.database import bootstrap, connect, database_uri, redact_uri
    from cli.context import load_settings

    settings = load_settings()
    db = connect(settings)
    rows = [
        {"collection": collection, "index": name, "created": created}
        for collection, name, created in bootstrap(db)
    ]
    created = sum(1 for row in rows if row["created"])
    uri = redact_uri(database_uri(settings))
    if as_json:
        print_json({"database": db.name, "uri": uri, "created": created, "indexes": rows})
        return
    print_table(
        rows,
        {
            "Collection": "collection",
            "Index": "index",
            "State": lambda row: "created" if row["created"] else "exists",
        },
        title=f"Database {db.name} at {uri}",
    )
    typer.echo(f"{created} index(es) created, {len(rows) - created} already existed.")


@app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Say which database Chronos uses and whether the embedded one is running."""
    from chronos_core.storage.database import redact_uri
    from chronos_core.storage.embedded import log_file, running_embedded_server
    from cli.context import load_settings

    settings = load_settings()
    if settings.mongodb_uri is not None:
        uri = redact_uri(settings.mongodb_uri.get_secret_value())
        report: dict[str, Any] = {"embedded": False, "uri": uri, "running": None}
        message = f"Chronos uses the MongoDB at {uri} (CHRONOS_MONGODB_URI); nothing embedded runs."
    else:
        data_dir = settings.data_dir.expanduser()
        server = running_embedded_server(data_dir)
        report = {
            "embedded": True,
            "running": server is not None,
            "data_dir": str(data_dir),
            "uri": server.uri if server else None,
            "pid": server.pid if server else None,
            "log": str(log_file(data_dir)),
        }
        message = (
            f"The embedded database runs (pid {server.pid}) at {server.uri}, data in "
            f"{data_dir}. Stop it with `chronos db stop`."
            if server
            else f"The embedded database is not running (data in {data_dir}); any chronos "
            "command that needs it starts it."
        )
    if as_json:
        print_json(report)
    else:
        typer.echo(message)


@app.command("stop")
def stop(as_json: JsonOption = False) -> None:
    """Stop the embedded database (it otherwise keeps running for later commands).

    Stop `chronos serve`, workers and running flows first: they lose their database.
    """
    from chronos_core.errors import ChronosError
    from chronos_core.storage.embedded import stop_embedded_server
    from cli.context import load_settings

    settings = load_settings()
    if settings.mongodb_uri is not None:
        raise ChronosError("CHRONOS_MONGODB_URI is set: Chronos runs no embedded database to stop")
    stopped = stop_embedded_server(settings.data_dir.expanduser())
    if as_json:
        print_json({"stopped": stopped})
    elif stopped:
        typer.echo("Embedded database stopped.")
    else:
        typer.echo("The embedded database was not running.")
