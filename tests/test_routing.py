"""How `def` routes run (`app.api.routing`): with their `def` dependencies on one thread,
each dependency made once per request, those with `yield` closed as the route ends,
and the thread chosen by what the route does."""

import threading
from collections.abc import Callable, Iterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.testclient import TestClient

from app.api.deps import Hasher
from app.api.routing import ThreadedRoute
from app.core.errors import AppError, ErrorCode

Log = list[tuple[str, str]]  # (event, thread name)


def routed_client(make_client: Callable[..., TestClient], router: APIRouter) -> TestClient:
    client = make_client()
    app = client.app
    assert isinstance(app, FastAPI)
    app.include_router(router)
    return client


@pytest.fixture
def log() -> Log:
    return []


@pytest.fixture
def router(log: Log) -> APIRouter:
    """Routes over a `def` dependency with `yield`, one that uses it, and an HTTP
    parameter declared by a dependency, recording where and when each ran."""
    router = APIRouter(route_class=ThreadedRoute)

    def resource() -> Iterator[str]:
        log.append(("open", threading.current_thread().name))
        try:
            yield "resource"
        except AppError:
            log.append(("rolled back", threading.current_thread().name))
            raise
        log.append(("closed", threading.current_thread().name))

    def user_of(
        opened: Annotated[str, Depends(resource)], name: Annotated[str, Query()] = "nobody"
    ) -> str:
        log.append(("user", threading.current_thread().name))
        return f"{name} with {opened}"

    @router.get("/both")
    def both(
        opened: Annotated[str, Depends(resource)], user: Annotated[str, Depends(user_of)]
    ) -> dict[str, str]:
        log.append(("route", threading.current_thread().name))
        return {"opened": opened, "user": user}

    @router.post("/failing")
    def failing(_opened: Annotated[str, Depends(resource)]) -> None:
        raise AppError(ErrorCode.ITEM_NOT_FOUND)

    @router.post("/hashing")
    def hashing(hasher: Hasher) -> dict[str, str]:
        log.append(("route", threading.current_thread().name))
        return {"cost": str(hasher.rounds)}

    return router


def test_a_route_and_its_dependencies_run_on_one_reading_thread(
    make_client: Callable[..., TestClient], router: APIRouter, log: Log
) -> None:
    client = routed_client(make_client, router)
    response = client.get("/both", params={"name": "ada"})
    assert response.json() == {"opened": "resource", "user": "ada with resource"}
    # Made once though two parameters need it, closed after the route, all on one thread.
    assert [event for event, _ in log] == ["open", "user", "route", "closed"]
    assert len({thread for _, thread in log}) == 1
    assert log[0][1].startswith("read")


def test_a_dependency_with_yield_sees_the_routes_failure(
    make_client: Callable[..., TestClient], router: APIRouter, log: Log
) -> None:
    client = routed_client(make_client, router)
    assert client.post("/failing").status_code == 404
    assert [event for event, _ in log] == ["open", "rolled back"]
    assert log[0][1].startswith("write")


def test_a_route_that_takes_the_hasher_runs_on_a_hashing_thread(
    make_client: Callable[..., TestClient], router: APIRouter, log: Log
) -> None:
    client = routed_client(make_client, router)
    assert client.post("/hashing").json() == {"cost": "4"}
    assert log[0][1].startswith("hash")


def test_an_http_parameter_of_a_dependency_is_in_the_openapi_document(
    make_client: Callable[..., TestClient], router: APIRouter
) -> None:
    client = routed_client(make_client, router)
    operation = client.get("/api/v1/openapi.json").json()["paths"]["/both"]["get"]
    assert [parameter["name"] for parameter in operation["parameters"]] == ["name"]


def test_an_async_dependency_may_not_use_a_def_one() -> None:
    # FastAPI would make the `def` one apart: a route could get two database sessions.
    def session() -> str:
        return "session"

    async def checked(value: Annotated[str, Depends(session)]) -> str:
        return value

    router = APIRouter(route_class=ThreadedRoute)
    with pytest.raises(TypeError, match="is async and depends on"):

        @router.get("/mixed")
        def mixed(value: Annotated[str, Depends(checked)]) -> str:
            return value


def test_async_routes_run_on_the_event_loop(make_client: Callable[..., TestClient]) -> None:
    router = APIRouter(route_class=ThreadedRoute)

    @router.get("/loop")
    async def on_the_loop() -> dict[str, str]:
        return {"thread": threading.current_thread().name}

    client = routed_client(make_client, router)
    assert not client.get("/loop").json()["thread"].startswith(("read", "write", "hash"))
