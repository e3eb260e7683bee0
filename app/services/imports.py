"""CSV imports: many creates at once, each by the rules of one.

A file's columns are the fields of the create payload in camelCase (`email`,
`password`, `name`, `role`, `isActive` for users; `title`, `description` for items);
the read-only columns of an export (`id`, `createdAt`, ...) are skipped, so an
exported file comes back in. A resource owned by whoever creates it (items, and those
copied from them) imports with `import_owned`. Every row is checked by the payload model of the
create route and by its rules (emails unique, in the file and against the database);
when any row is wrong, the answer lists every problem of every row and nothing is
created. Otherwise every row is created in the caller's transaction: all or none.
"""

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from sqlmodel import Session, col, select

from app.core.csv_files import Parsed, parse_rows, read_only_columns, read_table
from app.core.errors import RowProblem, RowsInvalid
from app.core.passwords import PasswordHasher
from app.models import User, UserCreate, UserPublic
from app.services import accounts

M = TypeVar("M", bound=BaseModel)
TAKEN = "Email already registered"


def _repeated(rows: list[Parsed[UserCreate]]) -> list[RowProblem]:
    """A row whose email an earlier row of the file has."""
    first: dict[str, int] = {}
    problems = []
    for row in rows:
        email = row.payload.email
        if email in first:
            message = f"Email also in row {first[email]}"
            problems.append(RowProblem(row=row.row, field="email", message=message))
        first.setdefault(email, row.row)
    return problems


def _taken(db: Session, rows: list[Parsed[UserCreate]]) -> list[RowProblem]:
    """A row whose email an account has."""
    emails = {row.payload.email for row in rows}
    taken = set(db.exec(select(User.email).where(col(User.email).in_(emails))).all())
    return [
        RowProblem(row=row.row, field="email", message=TAKEN)
        for row in rows
        if row.payload.email in taken
    ]


def import_users(db: Session, hasher: PasswordHasher, *, data: bytes, max_rows: int) -> int:
    """Create an account for each row of the CSV file `data`, as `POST /users` does
    (audited, emails verified); returns how many. `RowsInvalid` lists every problem
    of every row when any is wrong (nothing is created)."""
    table = read_table(data, max_rows=max_rows)
    checked = parse_rows(table, UserCreate, ignored=read_only_columns(UserPublic, UserCreate))
    rows = checked.rows
    problems = [*checked.problems, *_repeated(rows), *_taken(db, rows)]
    if problems:
        raise RowsInvalid(problems)
    db.commit()  # no connection is held while bcrypt runs
    hashes = [hasher.hash(row.payload.password) for row in rows]
    taken_meanwhile = _taken(db, rows)
    if taken_meanwhile:
        raise RowsInvalid(taken_meanwhile)
    for row, password_hash in zip(rows, hashes, strict=True):
        accounts.create_user(db, user_in=row.payload, password_hash=password_hash)
    return len(rows)


def import_owned(
    db: Session,
    owner: User,
    *,
    data: bytes,
    max_rows: int,
    payload: type[M],
    public: type[BaseModel],
    create: Callable[[Session, User, M], object],
) -> int:
    """Create a row owned by `owner` for each row of the CSV file `data`, checked by
    `payload` and made by the resource's `create` service (as its `POST` route does:
    `items.create` for items); returns how many. `RowsInvalid` lists every problem
    of every row when any is wrong (nothing is created)."""
    table = read_table(data, max_rows=max_rows)
    checked = parse_rows(table, payload, ignored=read_only_columns(public, payload))
    if checked.problems:
        raise RowsInvalid(checked.problems)
    for row in checked.rows:
        create(db, owner, row.payload)
    return len(checked.rows)
