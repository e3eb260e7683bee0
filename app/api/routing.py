"""How a route's work reaches a thread, decided here once for every router.

An `async def` route runs on the event loop, as FastAPI runs it. A `def` route runs on
one of the app's threads (`app.core.threads`) together with every `def` dependency it
uses, in a single hop: GET and HEAD routes on a reading thread (once more if their
connection turned out dropped), other methods on a writing thread, and a route that
takes the password hasher (`Hasher`) on a hashing thread once a hashing slot is free.
Its `def` dependencies are made there, each once per request as FastAPI makes them,
and those with `yield` are closed there as soon as the route returns, as nested
`with` blocks would be: the session dependency commits before the response is sent.

FastAPI would give each `def` dependency and the route a hop of its own through
anyio's threads (four hops for a route with a session and a signed-in user), and solve
the dependencies' tree on the event loop for every request: `make bench` (a), (b) and
(g) gave 0.21, 0.25 and 0.27 x the limit app that way, 0.42, 0.41 and 0.42 with this
(3 runs each, 2026-12-04).

How: for a `def` route, `ThreadedRoute` gives FastAPI an `async` endpoint whose
signature holds what FastAPI must solve (the route's own parameters and, taken from
its `def` dependencies at any depth, their HTTP parameters and `async` dependencies)
and the request. The endpoint then makes the `def` dependencies and calls the route
on a thread (`Plan.call`).
"""

import dataclasses
import inspect
import typing
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack, contextmanager
from functools import partial
from typing import Annotated, Any, get_args, get_origin

from fastapi import Request, params
from fastapi.routing import APIRoute

from app.api.deps import get_hasher
from app.core.db import read_again_if_dropped
from app.core.state import app_state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST = "route_request_"


class ThreadedRoute(APIRoute):
    """A route whose `def` endpoint runs with its `def` dependencies on one thread."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not _is_async(endpoint):
            endpoint = Plan(endpoint).endpoint()
        super().__init__(path, endpoint, **kwargs)


def _is_async(call: Callable[..., Any]) -> bool:
    if inspect.isclass(call):
        return False
    function = call if inspect.isroutine(call) else getattr(call, "__call__", call)  # noqa: B004
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _depends(parameter: inspect.Parameter) -> params.Depends | None:
    """The `Depends` a parameter declares, in its annotation or as its default."""
    metadata = get_args(parameter.annotation)[1:] if _annotated(parameter) else ()
    found = [item for item in (*metadata, parameter.default) if isinstance(item, params.Depends)]
    return found[0] if found else None


def _annotated(parameter: inspect.Parameter) -> bool:
    return get_origin(parameter.annotation) is Annotated


def _signature(call: Callable[..., Any]) -> inspect.Signature:
    """`call`'s signature, with annotations written as strings resolved."""
    signature = inspect.signature(call)
    hints = typing.get_type_hints(
        call.__init__ if inspect.isclass(call) else call, include_extras=True
    )

    def resolved(name: str, annotation: Any) -> Any:
        return hints[name] if isinstance(annotation, str) else annotation

    parameters = [
        parameter.replace(annotation=resolved(parameter.name, parameter.annotation))
        for parameter in signature.parameters.values()
    ]
    return signature.replace(
        parameters=parameters, return_annotation=resolved("return", signature.return_annotation)
    )


@dataclasses.dataclass
class Plan:
    """What a `def` route needs, sorted into what FastAPI solves (`leaves`, by the
    name given to FastAPI) and how each `def` dependency is made on the thread."""

    route: Callable[..., Any]
    leaves: dict[str, inspect.Parameter] = dataclasses.field(default_factory=dict)
    # For each function called on the thread: its arguments, by parameter name, as
    # ("leaf", name given to FastAPI) | ("call", dependency) | ("request", None).
    recipes: dict[Callable[..., Any], dict[str, tuple[str, Any]]] = dataclasses.field(
        default_factory=dict
    )
    # The dependencies with `yield`, as context managers.
    generators: dict[Callable[..., Any], Callable[..., AbstractContextManager[Any]]] = (
        dataclasses.field(default_factory=dict)
    )

    def __post_init__(self) -> None:
        self._learn(self.route, top=True)

    def _learn(self, call: Callable[..., Any], *, top: bool = False) -> None:
        if call in self.recipes:
            return
        recipe: dict[str, tuple[str, Any]] = {}
        for parameter in _signature(call).parameters.values():
            depends = _depends(parameter)
            if (
                depends is not None
                and depends.dependency is not None
                and not _is_async(depends.dependency)
            ):
                if isinstance(depends, params.Security) or not depends.use_cache:
                    raise TypeError(f"{call!r}: a `def` dependency with scopes or no cache")
                self._learn(depends.dependency)
                recipe[parameter.name] = ("call", depends.dependency)
                if inspect.isgeneratorfunction(depends.dependency):
                    self.generators[depends.dependency] = contextmanager(depends.dependency)
            elif parameter.annotation is Request and not top:
                recipe[parameter.name] = ("request", None)
            else:
                recipe[parameter.name] = ("leaf", self._leaf(call, parameter, top=top))
        self.recipes[call] = recipe

    def _leaf(self, call: Callable[..., Any], parameter: inspect.Parameter, *, top: bool) -> str:
        """Hand `parameter` of `call` to FastAPI to solve; returns its name there. A
        dependency's parameters keep their names, which HTTP parameters are known by;
        the same name twice must be the same parameter."""
        depends = _depends(parameter)
        if depends is not None and depends.dependency is not None:
            _refuse_def_below(depends.dependency)
        name = parameter.name if top or depends is None else f"{parameter.name}_{id(call)}"
        known = self.leaves.get(name)
        if known is not None and known.annotation != parameter.annotation:
            raise TypeError(f"{call!r}: parameter {name!r} is already a different one")
        self.leaves[name] = parameter.replace(name=name, kind=inspect.Parameter.KEYWORD_ONLY)
        return name

    def endpoint(self) -> Callable[..., Awaitable[Any]]:
        """The route as FastAPI will call it: an `async` function that makes the
        `def` dependencies and calls the route on one of the app's threads."""
        hashing = get_hasher in self.recipes
        route = self.route

        async def run_on_a_thread(**solved: Any) -> Any:
            request: Request = solved.pop(REQUEST)
            threads = app_state(request.app).threads
            call = partial(self.call, request, solved)
            if hashing:
                return await threads.run_hashing(call, abandoned=request.is_disconnected)
            if request.method in SAFE_METHODS:
                return await threads.run(partial(read_again_if_dropped, call), writes=False)
            return await threads.run(call, writes=True)

        request = inspect.Parameter(REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        returns = _signature(route).return_annotation
        run_on_a_thread.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [*self.leaves.values(), request], return_annotation=returns
        )
        run_on_a_thread.__name__ = route.__name__
        run_on_a_thread.__doc__ = route.__doc__
        return run_on_a_thread

    def call(self, request: Request, solved: dict[str, Any]) -> Any:
        """Make the `def` dependencies (each once), call the route, then close the
        dependencies with `yield` in reverse order, with its outcome."""
        with ExitStack() as stack:
            made: dict[Callable[..., Any], Any] = {}
            return self.route(**self._arguments(self.route, request, solved, made, stack))

    def _arguments(
        self,
        call: Callable[..., Any],
        request: Request,
        solved: dict[str, Any],
        made: dict[Callable[..., Any], Any],
        stack: ExitStack,
    ) -> dict[str, Any]:
        arguments = {}
        for name, (kind, source) in self.recipes[call].items():
            if kind == "leaf":
                arguments[name] = solved[source]
            elif kind == "request":
                arguments[name] = request
            else:
                if source not in made:
                    inner = self._arguments(source, request, solved, made, stack)
                    opened = self.generators.get(source)
                    made[source] = (
                        source(**inner) if opened is None else stack.enter_context(opened(**inner))
                    )
                arguments[name] = made[source]
        return arguments


def _refuse_def_below(call: Callable[..., Any]) -> None:
    """An `async` dependency of a `def` route may not use a `def` one: FastAPI would
    make that one apart, so the route and it could get two database sessions."""
    for parameter in inspect.signature(call).parameters.values():
        depends = _depends(parameter)
        if depends is not None and depends.dependency is not None:
            if not _is_async(depends.dependency):
                raise TypeError(f"{call!r} is async and depends on {depends.dependency!r}")
            _refuse_def_below(depends.dependency)
