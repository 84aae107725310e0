"""The route table every emulator answers through: method and path template to handler.

A handler is called with the request, the context its service passes along (the fault, the
tenant, ...) and the path parameters. Templates are written like
``/STH/v2/entities/{entity_id}/attrs/{attribute}``; a ``{name}`` matches one percent-decoded
path segment (so an encoded ``%2F`` stays inside its segment) and is passed as a keyword
argument. A final ``*`` matches any remaining segments (none included). Methods are
space-separated (``"POST PATCH PUT"``); ``*`` matches any method, so a service can say which
paths answer 405. The first route that matches answers: the table is read top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx

from fiware_sandbox.wire import path_segments

C = TypeVar("C")
Handler = Callable[..., httpx.Response]


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    template: tuple[str, ...]
    handler: Handler

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        template = self.template
        if "*" not in self.methods and method not in self.methods:
            return None
        if template[-1:] == ("*",):
            template = template[:-1]
            segments = segments[: len(template)]
        if len(segments) != len(template):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(template, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


class Router(Generic[C]):
    """``convert`` maps a parameter name to a check run on its value before the handler (the
    check may raise the service's error, as the real service validates an id first)."""

    def __init__(self, convert: Mapping[str, Callable[[str], str]] | None = None) -> None:
        self._routes: list[Route] = []
        self._convert = dict(convert or {})

    def add(self, methods: str, template: str, handler: Handler) -> None:
        parts = tuple(template.split("/")[1:])
        self._routes.append(Route(frozenset(methods.upper().split()), parts, handler))

    def dispatch(self, request: httpx.Request, context: C) -> httpx.Response | None:
        """The first matching route's answer; None when no route matches."""
        segments = path_segments(request)
        for route in self._routes:
            params = route.match(request.method, segments)
            if params is not None:
                for name, check in self._convert.items():
                    if name in params:
                        params[name] = check(params[name])
                return route.handler(request, context, **params)
        return None
