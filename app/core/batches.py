"""A whole filtered list read in batches, for exports: each batch a short query of its
own that goes on after the last row read (a keyset, not an offset), so that no
connection is held between batches, a batch costs the same at the end of a long
list as at its start, and rows added or removed meanwhile never make one appear
twice. The order is the list's (`pagination.sort_order`): the sort column, missing
values last when ascending and first when descending, then the primary key.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import and_, inspect, or_
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, select

from app.core.pagination import ListFilter, list_of, public_columns, sort_order

T = TypeVar("T", bound=BaseModel)
Keyset = tuple[Any, Any]  # the sort value and the primary key of the last row read
SORT_KEY, ROW_KEY = "sort_key_", "row_key_"


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """Rows of a list, and where the next batch starts (`None`: there is no more)."""

    rows: list[T]
    after: Keyset | None


def _past(query: ListFilter, after: Keyset) -> ColumnElement[bool]:
    """The rows that come after the row whose sort value and key are `after`."""
    value, key = after
    column = query.sort_columns[query.sort.removeprefix("-")]
    primary = inspect(query.table).primary_key[0]
    if query.sort.startswith("-"):  # missing values first, then the largest
        if value is None:
            return or_(and_(column.is_(None), primary < key), column.is_not(None))
        return or_(column < value, and_(column == value, primary < key))
    if value is None:  # ascending: missing values last
        return and_(column.is_(None), primary > key)
    return or_(column > value, and_(column == value, primary > key), column.is_(None))


def fetch_batch(
    db: Session,
    query: ListFilter,
    public: type[T],
    *,
    filters: Sequence[ColumnElement[bool]] = (),
    after: Keyset | None = None,
    size: int,
) -> Batch[T]:
    """Up to `size` rows of the list that `query` (and `filters`) ask for, as `public`
    models, from the row after `after` on."""
    conditions = [*filters, *query.conditions()]
    if after is not None:
        conditions.append(_past(query, after))
    sort_column = query.sort_columns[query.sort.removeprefix("-")]
    primary = inspect(query.table).primary_key[0]
    statement = (
        select(sort_column.label(SORT_KEY), primary.label(ROW_KEY), *public_columns(query, public))
        .where(*conditions)
        .order_by(*sort_order(query))
        .limit(size)
    )
    rows = db.connection().execute(statement).mappings().all()
    last = (rows[-1][SORT_KEY], rows[-1][ROW_KEY]) if len(rows) == size else None
    return Batch(list_of(public).validate_python(rows), last)
