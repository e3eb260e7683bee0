"""Building blocks of the models: field types, validators and base classes.

`models.py` declares the tables and their payloads with these; nothing here knows
about a particular table.
"""

import itertools
import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import pydantic
import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_BYTES = 72  # bcrypt ignores anything longer; refuse instead of truncating
# Starts the stored hash of an account without a password (made by a sign-in provider):
# no bcrypt hash starts so, and no password ever matches it.
NO_PASSWORD_PREFIX = "!"

T = TypeVar("T")

# Every constraint gets a stable name, so migrations are deterministic.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware timestamp that reads back aware on every database.

    SQLite has no time zones: values are stored as UTC and marked UTC when loaded.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - the signature is SQLAlchemy's
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - the signature is SQLAlchemy's
    ) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def ensure_storable(value: str) -> str:
    """Refuse text that a database cannot store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _reject_null(value: object) -> object:
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


def _check_password(value: str) -> str:
    if len(value) < PASSWORD_MIN_CHARS:
        raise ValueError(f"must be at least {PASSWORD_MIN_CHARS} characters")
    if len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise ValueError(f"must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8")
    return value


# What `ensure_storable` refuses, as a regular expression class: NUL. (Lone surrogates,
# refused too, cannot be written in a pattern every JSON Schema validator understands.)
_UNSTORABLE = "\\u0000"
STORABLE_TEXT = f"^[^{_UNSTORABLE}]*$"
# The addresses `EmailStr` accepts, as far as a pattern can say it: no quoted local part,
# no domain literal, a dotted domain that is not special-use (.test, .local, ...).
EMAIL_PATTERN = (
    f'^[^\\s"@\\[\\]{_UNSTORABLE}]+@'
    "(?!.*\\.(?:arpa|invalid|local|localhost|onion|test)$)"
    f'(?:[^\\s"@\\[\\].{_UNSTORABLE}]+\\.)+[^\\s"@\\[\\].{_UNSTORABLE}]+$'
)
# RFC 3339, as JSON Schema's `date-time` says: a date, a time and an offset.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: object) -> object:
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise ValueError("must be a date-time with an offset, such as 2026-12-04T10:00:00Z")
    return value


# A date-time in a query string: only the RFC 3339 text that the schema promises
# (pydantic alone would also take a number of seconds, or no offset).
DateTimeParameter = Annotated[datetime, BeforeValidator(_rfc3339)]


# Alphabets whose letters look alike (Latin a, Cyrillic U+0430, Greek U+03B1): one
# address part may use only one of them.
LOOK_ALIKE_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC", "ARMENIAN", "CHEROKEE", "COPTIC"})


def _script(char: str) -> str:
    """The alphabet a letter belongs to, as its Unicode name starts ("LATIN ...")."""
    return unicodedata.name(char, "").partition(" ")[0] if char.isalpha() else ""


def refuse_look_alikes(email: str) -> str:
    """Refuse an address that could pass for another: compatibility forms (fullwidth
    letters, ligatures: anything NFKC changes), a local part or domain label mixing
    look-alike alphabets, or a combining mark on a letter of one of them (NFC has
    already composed the usual accented letters, so `josé` passes)."""
    if unicodedata.normalize("NFKC", email) != email:
        raise ValueError("must not contain compatibility characters such as fullwidth letters")
    local, _, domain = email.rpartition("@")
    for part in (local, *domain.split(".")):
        if len({_script(char) for char in part} & LOOK_ALIKE_SCRIPTS) > 1:
            raise ValueError("must not mix Latin, Greek, Cyrillic or other look-alike letters")
        for before, char in itertools.pairwise(part):
            if unicodedata.combining(char) and _script(before) in LOOK_ALIKE_SCRIPTS:
                raise ValueError("must not put a combining mark on a letter; type the letter")
    return email


Email = Annotated[
    EmailStr,
    pydantic.Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN}),
    AfterValidator(refuse_look_alikes),
    AfterValidator(str.lower),
]
# JSON Schema counts characters, not bytes: `x-max-utf8-bytes` states the byte limit.
Password = Annotated[
    str,
    AfterValidator(_check_password),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": PASSWORD_MIN_CHARS,
            "maxLength": PASSWORD_MAX_BYTES,
            "pattern": STORABLE_TEXT,
            "format": "password",
            "description": "8 characters to 72 bytes of UTF-8, without NUL characters",
            "x-max-utf8-bytes": PASSWORD_MAX_BYTES,
        }
    ),
]
Name = Annotated[str, Field(max_length=255)]
SearchText = Annotated[
    str,
    pydantic.Field(max_length=255, json_schema_extra={"pattern": STORABLE_TEXT}),
    AfterValidator(ensure_storable),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
# A field of a partial update that may be left out but, when sent, must not be null.
Omittable = Annotated[T | SkipJsonSchema[None], BeforeValidator(_reject_null)]


def human_title(name: str, _info: object) -> str:
    """A schema title from a Python field name: `is_active` -> `Is active`."""
    return name.replace("_", " ").capitalize()


def timestamp() -> Any:
    """A `created_at`/`updated_at` column: aware UTC, set when the row is built."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def new_id() -> Any:
    """A UUID primary key, generated when the row is built."""
    return Field(default_factory=uuid.uuid4, primary_key=True)


class CamelModel(SQLModel):
    """camelCase on the wire (snake_case is accepted on input too).

    Responses are serialized by alias (FastAPI's default); `model_dump()` in Python
    keeps the snake_case field names.
    """

    model_config = ConfigDict(  # type: ignore[assignment]  # SQLModel's TypedDict extends it
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        field_title_generator=human_title,
    )


class OutputModel(CamelModel):
    """A response body, built from table rows: fields are read by their Python names
    (looking up camelCase names on a row first would only cost time)."""

    model_config = ConfigDict(
        validate_by_name=True,
        validate_by_alias=False,
        # a field with a default is still always sent: required in the response schema
        json_schema_serialization_defaults_required=True,
    )


def state_storable_text(schema: dict[str, Any]) -> None:
    """Write the storable-text rule into every plain string property of a schema."""
    for prop in schema.get("properties", {}).values():
        for variant in prop.get("anyOf", [prop]):
            if variant.get("type") == "string" and "pattern" not in variant:
                variant["pattern"] = STORABLE_TEXT


def needs_with(field: str, other: str) -> Callable[[dict[str, Any]], None]:
    """An input schema's extra: storable text, and `other` required whenever `field`
    is sent (JSON Schema's `dependentRequired`)."""

    def complete(schema: dict[str, Any]) -> None:
        state_storable_text(schema)
        schema["dependentRequired"] = {field: [other]}

    return complete


class InputModel(CamelModel):
    """A request body: every string in it must be storable (and its schema says so)."""

    model_config = ConfigDict(json_schema_extra=state_storable_text)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return ensure_storable(value) if isinstance(value, str) else value
