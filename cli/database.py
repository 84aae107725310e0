"""``chronos db``: database administration."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.output import print_json, print_table

app = typer.Typer(help="Database administration.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("init")
def init(as_json: JsonOption = False) -> None:
    """Create Chronos' collections and indexes (idempotent) and list what was created."""
    from chronos_core.storage.database import bootstrap, connect, database_uri, redact_uri
    from chronos_core.storage.schema import COLLECTION_INDEXES
    from cli.context import load_settings

    settings = load_settings()
    db = connect(settings)
    before = {name: set(db[name].index_information()) for name in COLLECTION_INDEXES}
    bootstrap(db)
    rows: list[dict[str, Any]] = []
    for collection, indexes in COLLECTION_INDEXES.items():
        for index in indexes:
            name = index.document["name"]
            rows.append(
                {"collection": collection, "index": name, "created": name not in before[collection]}
            )
    created = sum(1 for row in rows if row["created"])
    uri = redact_uri(database_uri(settings))
    if as_json:
        print_json({"database": db.name, "uri": uri, "created": created, "indexes": rows})
        return
    print_table(
        ({**row, "created": "created" if row["created"] else "exists"} for row in rows),
        {"collection": "Collection", "index": "Index", "created": "State"},
        title=f"Database {db.name} at {uri}",
    )
    typer.echo(f"{created} index(es) created, {len(rows) - created} already existed.")
