"""The one list helper: offset/limit pages, allow-listed sorting and `q` search.

Every list endpoint uses it, so they all behave alike: `offset` >= 0, `limit` 1..100
(default 50), `sort` is a field from the endpoint's allow-list with `-` for
descending, ties are broken by id so pages never overlap, `q` is a case-insensitive
substring (with `%` and `_` taken literally), and the response carries the total
both in the body and in the `X-Total-Count` header.
"""

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Response
from pydantic import BaseModel
from sqlalchemy import inspect
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, SQLModel, func, or_, select

from app.models import SearchText

MAX_LIMIT = 100
MAX_OFFSET = 2**31 - 1

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page")]
Search = Annotated[
    SearchText | None, Query(description="Case-insensitive substring; % and _ are literal")
]

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


def fetch_page(
    session: Session,
    model: type[M],
    *,
    response: Response,
    filters: Sequence[ColumnElement[bool]],
    offset: int,
    limit: int,
    sort: str,
    sort_columns: Mapping[str, Any],
    search: str | None = None,
    search_columns: Sequence[Any] = (),
) -> tuple[Sequence[M], int]:
    """One page of `model` rows matching `filters` (and `search`), and their total.

    `sort` is an allow-listed wire name such as `-createdAt`, mapped to a column by
    `sort_columns`; the primary key breaks ties. The total is also sent as the
    `X-Total-Count` header.
    """
    conditions = list(filters)
    if search:
        conditions.append(
            or_(*(column.icontains(search, autoescape=True) for column in search_columns))
        )
    total = session.exec(select(func.count()).select_from(model).where(*conditions)).one()
    column, tiebreaker = sort_columns[sort.removeprefix("-")], inspect(model).primary_key[0]
    # Missing values sort as the largest on every database (PostgreSQL's rule).
    if sort.startswith("-"):
        order = [column.desc().nulls_first(), tiebreaker.desc()]
    else:
        order = [column.asc().nulls_last(), tiebreaker.asc()]
    rows = session.exec(
        select(model).where(*conditions).order_by(*order).offset(offset).limit(limit)
    ).all()
    response.headers["X-Total-Count"] = str(total)
    return rows, total
