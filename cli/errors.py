"""How the CLI reports failures: one line on stderr and a documented exit code, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from typer.core import TyperGroup
from typer.exceptions import TyperException

from chronos_core.domain.validation import describe_validation_error
from chronos_core.errors import (
    ChronosError,
    Conflict,
    ExternalServiceError,
    InvalidInput,
    NotFound,
)

EXIT_ERROR = 1
EXIT_SERVICE_ERROR = 5
EXIT_INTERRUPTED = 130
#: The documented exit codes (docs/cli.md); 2 is also what typer uses for a wrong option.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (InvalidInput, 2),
    (ValidationError, 2),
    (NotFound, 3),
    (Conflict, 4),
    (ExternalServiceError, EXIT_SERVICE_ERROR),
)


def exit_code_for(error: BaseException) -> int:
    if _database_unreachable(error):
        return EXIT_SERVICE_ERROR
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), EXIT_ERROR)


def _database_unreachable(error: BaseException) -> bool:
    if not _is_instance_of(error, "pymongo.errors", "PyMongoError"):
        return False
    from chronos_core.storage.database import is_unreachable

    return is_unreachable(error)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_instance_of(error: BaseException, module: str, name: str) -> bool:
    """``isinstance`` against a class of a library that may not even be imported yet."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return isinstance(cls, type) and isinstance(error, cls)


def describe(error: BaseException) -> str | None:
    """The one-line message for a failure the user can act on; ``None`` for a bug."""
    if isinstance(error, ChronosError):
        return _one_line(str(error))
    if isinstance(error, ValidationError):
        return _one_line(describe_validation_error(error))
    if _is_instance_of(error, "pymongo.errors", "PyMongoError"):
        # A driver message lists every server and its topology: its first clause is enough.
        first = str(error).split(", Timeout:")[0].split(", Topology Description:")[0]
        if _database_unreachable(error):
            return _one_line(f"the database is unreachable ({type(error).__name__}: {first})")[:400]
        return _one_line(f"database error: {first}")[:400]
    if _is_instance_of(error, "httpx", "HTTPError"):
        request = getattr(error, "_request", None)
        where = f" ({request.method} {request.url})" if request is not None else ""
        return _one_line(f"HTTP error{where}: {error}")
    if _is_instance_of(error, "prefect.exceptions", "ParameterTypeError"):
        return _one_line(f"invalid input: {error}")
    if _is_instance_of(error, "prefect.exceptions", "CancelledRun"):
        return _one_line(f"the flow run was cancelled: {error}")
    if isinstance(error, RuntimeError) and "ephemeral Prefect API server" in str(error):
        return EPHEMERAL_TIMEOUT_MESSAGE
    return None


#: What to do when Prefect's temporary in-process API did not start (a busy machine).
EPHEMERAL_TIMEOUT_MESSAGE = (
    "the temporary Prefect API did not start in time (the machine is busy): run `chronos "
    "serve` in another shell and retry (commands then use its server), or raise "
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code``."""
    typer.echo(f"Error: {_one_line(message)}", err=True)
    raise typer.Exit(code)


class ChronosGroup(TyperGroup):
    """The root command group: every failure a user can act on (a wrong option, a bad value,
    an unknown id, an unreachable service) becomes one ``Error: ...`` line on stderr and an
    exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except TyperException as error:  # a usage error: a wrong command, option or value
            if type(error).__name__ == "NoArgsIsHelpError":
                sys.exit(error.exit_code)  # the help text has been printed already
            context = getattr(error, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            message = _one_line(error.format_message()).replace("Value error, ", "")
            typer.echo(f"Error: {message}{hint}", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as error:
            message = describe(error)
            if message is None:
                raise
            typer.echo(f"Error: {message}", err=True)
            raise typer.Exit(exit_code_for(error)) from None
