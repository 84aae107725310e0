"""Command groups with a default command (``chronos forecast MODEL_ID`` = ``forecast run``)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup


class DefaultCommandGroup(TyperGroup):
    """A group that runs :attr:`default_command` when the first word is not a subcommand."""

    default_command = "run"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        help_options = set(ctx.help_option_names)
        if args and args[0] not in self.commands and args[0] not in help_options:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
