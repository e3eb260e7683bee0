"""What every screen of the back office shares: reads and writes on the app's threads.

SQLAdmin builds the list, search, filter, sort, page and detail queries; they run
here on a reading thread, like the API's reads. Writes never use SQLAdmin's own: each
screen overrides `insert_model`, `update_model` and `remove` (the rows ticked, in one
transaction) to call the service functions that the API calls, on a writing thread (a
hashing one when a password is set) in a transaction of the signed-in admin
(`write`); a refusal (`AppError`) comes back to the page as `FormError`, whose text
SQLAdmin shows above the form or the list. A change done says so on the next page
(`notices.py`), naming the row by its `label`.
"""

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl

from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from sqladmin import ModelView
from sqladmin.formatters import BASE_FORMATTERS
from sqladmin.helpers import get_object_identifier
from sqlalchemy import Executable, Select, false, or_, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.auth import SignedIn, as_admin
from app.admin.notices import notify
from app.core.config import describe_validation_error
from app.core.db import Database, read_again_if_dropped
from app.core.errors import AppError, ErrorCode, RowsInvalid
from app.core.state import AppState
from app.models.fields import ensure_storable

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
logger = logging.getLogger(__name__)
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError)
SAVE_FAILED = "The change could not be saved; the error was logged."


class FormError(ValueError):
    """A refusal to show on the page as it is (SQLAdmin renders `str(error)`)."""


class _ExpectedRefusals(logging.Filter):
    # SQLAdmin logs every error of insert, update and delete with its traceback;
    # a refused change (the last admin, a taken email) is not an error.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], FormError))


logging.getLogger("sqladmin.application").addFilter(_ExpectedRefusals())


def when(value: datetime) -> str:
    """A timestamp as the back office shows it."""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def when_in_list(value: datetime) -> Markup:
    """A timestamp in a list: the date above the time, so that wide tables still fit."""
    two_lines = Markup('{}<br><span class="text-secondary">{}</span>')
    return two_lines.format(value.strftime("%Y-%m-%d"), value.strftime("%H:%M UTC"))


def validated(model: type[M], data: dict[str, Any]) -> M:
    """`data` checked by a service model; its complaints as a `FormError`."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise FormError(describe_validation_error(error)) from None


def parse_id(value: object) -> uuid.UUID | None:
    """The UUID in a path or query value, or `None`."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def parse_ids(request: Request) -> list[uuid.UUID]:
    """The ids an action was asked for (`?pks=a,b`); 404 when one is not an id, or
    for more than a page can show."""
    ids = [parse_id(pk) for pk in request.query_params.get("pks", "").split(",") if pk]
    if None in ids or len(ids) > 100:
        raise HTTPException(status_code=404)
    return [pk for pk in ids if pk is not None]


def back(request: Request, identity: str, *, error: str | None = None) -> Response:
    """After an action: back to the back-office page it came from, else the list;
    with `error` (a message of the service's), to the list as it was, showing it."""
    referer = request.headers.get("referer", "")
    home, listed = request.url_for("admin:index"), request.url_for("admin:list", identity=identity)
    if error is not None:
        kept = dict(parse_qsl(URL(referer).query)) if referer.startswith(str(listed)) else {}
        return RedirectResponse(listed.include_query_params(**{**kept, "error": error}), 303)
    return RedirectResponse(referer if referer.startswith(str(home)) else listed, 303)


def _all(database: Database, statement: Executable) -> list[Any]:
    def read() -> list[Any]:
        with database.session(read_only=True) as db:
            return list(db.scalars(statement).unique().all())

    return read_again_if_dropped(read)


class ServiceView(ModelView):
    """A screen on one table of the service (subclassed per app by `mount_back_office`)."""

    state: ClassVar[AppState]
    noun_plural: ClassVar[str | None] = None  # what its rows are called; else name_plural
    can_export = False
    page_size = 25
    page_size_options = [25, 50, 100]
    column_type_formatters = {**BASE_FORMATTERS, datetime: when_in_list}
    column_type_formatters_detail = {**BASE_FORMATTERS, datetime: when}

    def noun(self, count: int = 1) -> str:
        """What `count` rows of this screen are called: "user", "users"."""
        return (self.name if count == 1 else self.noun_plural or self.name_plural).lower()

    def counted(self, count: int) -> str:
        """`count` rows, in words: "1 user", "3 users"."""
        return f"{count} {self.noun(count)}"

    def label(self, row: Any) -> str:
        """How pages and notices name a row (its id, unless a screen says better)."""
        return str(get_object_identifier(row))

    def filtered(self, request: Request) -> bool:
        """Whether a filter of the list is in use."""
        names = [found.parameter_name for found in self.get_filters()]
        return any(request.query_params.get(name) for name in names)

    def narrowed(self, request: Request) -> bool:
        """Whether the list is searched or filtered (an empty one then says "match")."""
        return bool(request.query_params.get("search")) or self.filtered(request)

    async def delete_rows(self, request: Request, ids: list[uuid.UUID]) -> None:
        """Delete the rows `ids` with the screen's `remove`, all or none; the next page
        names the row, or counts them."""
        one = await self.get_object_for_delete(str(ids[0])) if len(ids) == 1 else None
        await self.remove(request, ids)
        done = f'{self.name} "{self.label(one)}"' if one is not None else self.counted(len(ids))
        notify(request, f"{done} deleted.")

    async def remove(self, request: Request, ids: list[uuid.UUID]) -> None:
        """Delete the rows `ids` through the service in one transaction (screens that
        delete say how)."""
        raise NotImplementedError

    async def _run_query(self, stmt: Any) -> Any:
        return await self.state.threads.run(partial(_all, self.state.database, stmt), writes=False)

    def _stmt_by_identifier(self, identifier: str) -> Select[Any]:
        # Every page that names a row by id: one that is not a UUID names none (404).
        if parse_id(identifier) is None:
            return select(self.model).where(false())
        return super()._stmt_by_identifier(identifier)

    async def check_can_view_details(self, request: Request, model: Any) -> bool:
        return _exists(model) and await super().check_can_view_details(request, model)

    async def check_can_edit(self, request: Request, model: Any) -> bool:
        return _exists(model) and await super().check_can_edit(request, model)

    async def check_can_delete(self, request: Request, model: Any) -> bool:
        return _exists(model) and await super().check_can_delete(request, model)

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """Like the API's `q`: case-insensitive, `%` and `_` taken literally."""
        try:
            term = ensure_storable(term[:255])
        except ValueError:
            return stmt.where(false())
        matches, joined = [], set[str]()
        for field in self._search_fields:
            stmt, model = self._join_relationship_paths(stmt, field, joined)
            column = getattr(model, field.rsplit(".", 1)[-1])
            matches.append(column.icontains(term, autoescape=True))
        return stmt.where(or_(*matches))

    def sort_query(self, stmt: Select[Any], request: Request) -> Select[Any]:
        """The chosen order, ties broken by id, so that pages never overlap."""
        return super().sort_query(stmt, request).order_by(*self.pk_columns)

    async def act(
        self,
        request: Request,
        fn: Callable[Concatenate[Session, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`fn(db, ...)` in a transaction of the signed-in admin (see `as_admin`), on a
        writing thread; a refusal (`AppError`) is answered with an error page."""
        signed_in: SignedIn = request.state.back_office
        work = partial(as_admin, self.state.database, signed_in, fn, *args, **kwargs)
        return await self.state.threads.run(work, writes=True)

    async def write(
        self,
        request: Request,
        fn: Callable[Concatenate[Session, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`act` for a form: a refusal is a `FormError` with the service's message."""
        with shown_on_page():
            return await self.act(request, fn, *args, **kwargs)

    async def write_hashing(
        self,
        request: Request,
        fn: Callable[Concatenate[Session, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`write`, on a hashing thread: for changes that hash a password."""
        signed_in: SignedIn = request.state.back_office
        work = partial(as_admin, self.state.database, signed_in, fn, *args, **kwargs)
        with shown_on_page():
            return await self.state.threads.run_hashing(work)


@contextmanager
def shown_on_page() -> Iterator[None]:
    """Turn what the service refuses into a `FormError` with its message; log and
    hide anything unexpected (SQLAdmin would show its text, perhaps SQL)."""
    try:
        yield
    except RowsInvalid:
        raise  # the page lists the rows
    except AppError as error:
        raise FormError(error.code.message) from None
    except UNAVAILABLE:
        raise FormError(ErrorCode.SERVICE_UNAVAILABLE.message) from None
    except (FormError, HTTPException):
        raise
    except Exception:
        logger.exception("A back-office change failed")
        raise FormError(SAVE_FAILED) from None


def _exists(model: Any) -> bool:
    """Pages about a row that is not there (an unknown or malformed id) are 404."""
    if model is None:
        raise HTTPException(status_code=404)
    return True
