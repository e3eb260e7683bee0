"""CSV exports: the rows of a list, filtered and sorted as the list endpoint does it,
as a CSV file written while it is sent.

The file is read in batches (`app.core.batches`), each in a short read of its own
(`Reader`: on a reading thread, with a session of its own), so that neither the
table nor a connection is held for the length of a download. Its columns are the
fields of the list's public model (no hash, no secret can be among them), its cells
written by `app.core.csv_files` (formulas neutralised). At most `max_rows` rows.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from app.core.batches import Keyset, fetch_batch
from app.core.csv_files import csv_text, header_of
from app.core.pagination import ListFilter, total_of

T = TypeVar("T")
BATCH_ROWS = 500


class Reader(Protocol):
    """Runs `fn(db)` later, in a short read-only session of its own."""

    def __call__(self, fn: Callable[[Session], T], /) -> Awaitable[T]: ...


@dataclass(frozen=True, slots=True)
class Export:
    """A CSV file to send: how many rows matched, and the file, a piece at a time."""

    total: int  # the file holds at most `max_rows` of them
    chunks: AsyncIterator[bytes]


def export(
    db: Session,
    read: Reader,
    query: ListFilter,
    public: type[BaseModel],
    *,
    filters: Sequence[ColumnElement[bool]] = (),
    max_rows: int,
) -> Export:
    """The rows that `query` (and `filters`) select, as `public` models written to a
    CSV file (a header row of their camelCase names first): counted now with `db`,
    read later with `read`, `max_rows` at most."""
    total = total_of(db, query, filters=filters)
    return Export(total, _chunks(read, query, public, list(filters), max_rows))


async def _chunks(
    read: Reader,
    query: ListFilter,
    public: type[BaseModel],
    filters: list[ColumnElement[bool]],
    max_rows: int,
) -> AsyncIterator[bytes]:
    yield csv_text([header_of(public)]).encode()
    after: Keyset | None = None
    left = max_rows
    while left > 0:
        size = min(BATCH_ROWS, left)
        batch = partial(_batch, query=query, public=public, filters=filters, after=after, size=size)
        text, count, after = await read(batch)
        if text:
            yield text.encode()
        left -= count
        if after is None:
            return


def _batch(
    db: Session,
    *,
    query: ListFilter,
    public: type[BaseModel],
    filters: list[ColumnElement[bool]],
    after: Keyset | None,
    size: int,
) -> tuple[str, int, Keyset | None]:
    """The CSV lines of the next `size` rows, how many, and where the next batch starts."""
    batch = fetch_batch(db, query, public, filters=filters, after=after, size=size)
    text = csv_text(list(row.model_dump().values()) for row in batch.rows)
    return text, len(batch.rows), batch.after
