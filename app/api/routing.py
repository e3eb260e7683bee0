"""How a route's work reaches a thread, decided here once for every router; and the
`row` path convertor, which keeps a row's id from taking a collection's own paths.

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
on a thread (`Plan.call`). What `Plan.call` needs is worked out once, when the route is
built.
"""

import dataclasses
import inspect
import typing
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated, Any, get_args, get_origin

from fastapi import APIRouter, Request, params
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor

from app.api.deps import get_hasher
from app.core.db import read_again_if_dropped
from app.core.errors import ErrorCode, responses
from app.core.state import app_state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST = "route_request_"


class RowId(Convertor[str]):
    """A row's id in a path (`/items/{itemId:row}`): any segment but the names of the
    collection's own routes, so `PATCH /items/import` is 405 (that path has POST only),
    not an id that fails to parse. The id itself is checked by the route (422)."""

    regex = r"(?!(?:import|export\.csv)(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        """The segment as it is."""
        return value

    def to_string(self, value: str) -> str:
        """The segment as it is."""
        return value


register_url_convertor("row", RowId())


def feature_router(prefix: str, tag: str, *errors: ErrorCode) -> APIRouter:
    """A feature's router: its routes are `ThreadedRoute`s under `prefix`, tagged `tag`,
    and each documents `errors`, the refusals every route of the router may answer with."""
    return APIRouter(
        prefix=prefix, tags=[tag], responses=responses(*errors), route_class=ThreadedRoute
    )


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


@dataclasses.dataclass(frozen=True)
class Step:
    """A `def` dependency made on the thread: `call` with its `arguments` (the name of
    each parameter's value), its result kept as `made`; `opens` is `call` as a context
    manager when it has `yield`."""

    call: Callable[..., Any]
    arguments: dict[str, str]
    made: str
    opens: Callable[..., AbstractContextManager[Any]] | None


class Plan:
    """What a `def` route needs, sorted once, when the route is built: what FastAPI
    solves (`leaves`, by the name given to FastAPI), and the `def` dependencies to make
    on the thread (`steps`, each after those it uses).

    A request's values are kept by name in one dict: what FastAPI solved (the request
    under `REQUEST`), then each dependency made."""

    def __init__(self, route: Callable[..., Any]) -> None:
        self.route = route
        self.leaves: dict[str, inspect.Parameter] = {}
        self.steps: list[Step] = []
        self.arguments = self._learn(route, top=True)
        self.hashing = any(step.call is get_hasher for step in self.steps)

    def _learn(self, call: Callable[..., Any], *, top: bool = False) -> dict[str, str]:
        """The names of the values of `call`'s arguments; the `def` dependencies they
        need become steps first."""
        arguments: dict[str, str] = {}
        for parameter in _signature(call).parameters.values():
            depends = _depends(parameter)
            if (
                depends is not None
                and depends.dependency is not None
                and not _is_async(depends.dependency)
            ):
                if isinstance(depends, params.Security) or not depends.use_cache:
                    raise TypeError(f"{call!r}: a `def` dependency with scopes or no cache")
                arguments[parameter.name] = self._step(depends.dependency)
            elif parameter.annotation is Request and not top:
                arguments[parameter.name] = REQUEST
            else:
                arguments[parameter.name] = self._leaf(call, parameter, top=top)
        return arguments

    def _step(self, dependency: Callable[..., Any]) -> str:
        """The name of `dependency`'s value, made once per request: no parameter's name,
        since it has a space."""
        made = f"made {id(dependency)}"
        if all(step.made != made for step in self.steps):
            arguments = self._learn(dependency)
            generator = inspect.isgeneratorfunction(dependency)
            opens = contextmanager(dependency) if generator else None
            self.steps.append(Step(dependency, arguments, made, opens))
        return made

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

        async def run_on_a_thread(**values: Any) -> Any:
            request: Request = values[REQUEST]
            threads = app_state(request.app).threads
            if self.hashing:
                return await threads.run_hashing(
                    self.call, values, abandoned=request.is_disconnected
                )
            if request.method in SAFE_METHODS:
                return await threads.run(read_again_if_dropped, self.call, values, writes=False)
            return await threads.run(self.call, values, writes=True)

        request = inspect.Parameter(REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        returns = _signature(self.route).return_annotation
        run_on_a_thread.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [*self.leaves.values(), request], return_annotation=returns
        )
        run_on_a_thread.__name__ = self.route.__name__
        run_on_a_thread.__doc__ = self.route.__doc__
        return run_on_a_thread

    def call(self, values: dict[str, Any]) -> Any:
        """Make the `def` dependencies, then call the route."""
        return self._make(0, values)

    def _make(self, first: int, values: dict[str, Any]) -> Any:
        """Make the dependencies from step `first` on, then call the route. One with
        `yield` stays open around the rest, as a `with` block: it is closed, with the
        route's outcome, in reverse order."""
        for index in range(first, len(self.steps)):
            step = self.steps[index]
            arguments = {parameter: values[name] for parameter, name in step.arguments.items()}
            if step.opens is not None:
                with step.opens(**arguments) as values[step.made]:
                    return self._make(index + 1, values)
            values[step.made] = step.call(**arguments)
        return self.route(**{parameter: values[name] for parameter, name in self.arguments.items()})


def _refuse_def_below(call: Callable[..., Any]) -> None:
    """An `async` dependency of a `def` route may not use a `def` one: FastAPI would
    make that one apart, so the route and it could get two database sessions."""
    for parameter in inspect.signature(call).parameters.values():
        depends = _depends(parameter)
        if depends is not None and depends.dependency is not None:
            if not _is_async(depends.dependency):
                raise TypeError(f"{call!r} is async and depends on {depends.dependency!r}")
            _refuse_def_below(depends.dependency)
