"""CSV files in and out, as spreadsheets write and open them.

Written: RFC 4180 (commas, double quotes, CRLF line ends) in UTF-8, a header row
first. A cell that a spreadsheet would run as a formula (one starting with `=`, `+`,
`-`, `@`, a tab or a carriage return: OWASP's list) gets a leading `'`, so that it
stays text.

Read: UTF-8 with or without a byte order mark, the first row naming the columns.
Each row is checked by a payload model; every problem of every row is reported at
once (`RowsInvalid`), numbered as a spreadsheet numbers its rows (the header is 1).
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from app.core.errors import AppError, ErrorCode, RowProblem, RowsInvalid

M = TypeVar("M", bound=BaseModel)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER_ROW = 1
# What spreadsheets and browsers call a CSV file they upload.
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"})


def cell(value: object) -> str:
    """`value` as the text of a cell: empty for `None`, `true`/`false`, ISO 8601
    times, an enum's value; text that would start a formula gets a leading `'`."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, Enum):
        text = str(value.value)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """`rows` as CSV lines, each value written by `cell`."""
    out = io.StringIO()
    csv.writer(out).writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()


def header_of(model: type[BaseModel]) -> list[str]:
    """The wire (camelCase) names of `model`'s fields, in order: a file's columns."""
    return [field.alias or name for name, field in model.model_fields.items()]


def checked_upload(content_type: str | None, data: bytes, *, max_bytes: int) -> bytes:
    """An uploaded file's `data`: `CSV_CONTENT_TYPE` unless its type is a CSV type,
    `BODY_TOO_LARGE` past `max_bytes` (read `max_bytes + 1` bytes to tell)."""
    if (content_type or "").partition(";")[0].strip().lower() not in CSV_TYPES:
        raise AppError(ErrorCode.CSV_CONTENT_TYPE)
    if len(data) > max_bytes:
        raise AppError(ErrorCode.BODY_TOO_LARGE)
    return data


@dataclass(frozen=True, slots=True)
class Table:
    """A file's header and its rows (with their numbers; blank lines are skipped)."""

    header: list[str]
    rows: list[tuple[int, list[str]]]


def read_table(data: bytes, *, max_rows: int) -> Table:
    """The header and rows of a CSV file. `CSV_UNREADABLE` unless it is UTF-8 CSV
    text with a header row; `CSV_TOO_MANY_ROWS` past `max_rows` rows."""
    try:
        text = data.decode("utf-8-sig")  # a byte order mark is dropped
    except UnicodeDecodeError:
        raise AppError(ErrorCode.CSV_UNREADABLE) from None
    if "\x00" in text:
        raise AppError(ErrorCode.CSV_UNREADABLE)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        header = next(reader, [])
        for number, row in enumerate(reader, start=HEADER_ROW + 1):
            if not any(row):
                continue
            if len(rows) == max_rows:
                raise AppError(ErrorCode.CSV_TOO_MANY_ROWS)
            rows.append((number, row))
    except csv.Error:
        raise AppError(ErrorCode.CSV_UNREADABLE) from None
    if not any(header):
        raise AppError(ErrorCode.CSV_UNREADABLE)
    return Table([name.strip() for name in header], rows)


@dataclass(frozen=True, slots=True)
class Parsed(Generic[M]):
    """A row checked by the payload model, with its number in the file."""

    row: int
    payload: M


def _check_header(header: list[str], model: type[M], ignored: set[str]) -> list[RowProblem]:
    known = {*header_of(model), *model.model_fields}
    problems = [
        RowProblem(row=HEADER_ROW, field=name, message="Unknown column")
        for name in header
        if name not in known and name not in ignored
    ]
    if len(set(header)) != len(header):
        problems.append(RowProblem(row=HEADER_ROW, field=None, message="A column is named twice"))
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if field.is_required() and alias not in header and name not in header:
            problems.append(RowProblem(row=HEADER_ROW, field=alias, message="Missing column"))
    return problems


def _values(header: list[str], row: list[str], ignored: set[str]) -> dict[str, Any]:
    """A row as a payload: an empty cell is a field left out (its default applies)."""
    return {
        name: value
        for name, value in zip(header, row, strict=False)
        if value != "" and name not in ignored
    }


@dataclass(frozen=True, slots=True)
class Checked(Generic[M]):
    """The rows that `model` accepted, and the problems of the others."""

    rows: list[Parsed[M]]
    problems: list[RowProblem]


def read_only_columns(public: type[BaseModel], payload: type[BaseModel]) -> set[str]:
    """Columns of an export that an import skips: those `public` has and `payload` not."""
    return set(header_of(public)) - set(header_of(payload))


def _problems(number: int, error: ValidationError) -> list[RowProblem]:
    return [
        RowProblem(
            row=number,
            field=".".join(str(part) for part in found["loc"]) or None,
            message=found["msg"].removeprefix("Value error, "),
        )
        for found in error.errors()
    ]


def parse_rows(table: Table, model: type[M], *, ignored: Iterable[str] = ()) -> Checked[M]:
    """Every row of `table` checked by `model` (columns named `ignored` are skipped:
    see `read_only_columns`); `RowsInvalid` at once when a column is missing or
    unknown."""
    skipped = set(ignored)
    header_problems = _check_header(table.header, model, skipped)
    if header_problems:
        raise RowsInvalid(header_problems)
    checked: Checked[M] = Checked([], [])
    for number, row in table.rows:
        if len(row) > len(table.header):
            checked.problems.append(
                RowProblem(row=number, field=None, message="More cells than columns")
            )
            continue
        try:
            payload = model.model_validate(_values(table.header, row, skipped))
        except ValidationError as error:
            checked.problems.extend(_problems(number, error))
        else:
            checked.rows.append(Parsed(number, payload))
    return checked
