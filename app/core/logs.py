"""Logging: one format for the app and uvicorn, each line tagged with its request id."""

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from app.core.context import origin_var


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or `-` outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = origin_var.get().request_id
        return True


# Query parameters whose name or value says they carry a secret: `?access_token=`,
# `?password=`, an API token or a JWT under any name.
SECRET_NAME = re.compile(
    r"(?:^|[_.-])(?:token|password|passwd|pwd|secret|key|code|signature|sig|auth|"
    r"authorization|session|credentials?|jwt)(?:$|[_.-])"
)
SECRET_VALUE = re.compile(r"sqa_pat_|eyJ[\w-]*\.[\w-]*\.")
CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
REDACTED = "[redacted]"


def redact(path: str) -> str:
    """`path` with the values of secret-looking query parameters replaced."""
    base, question, query = path.partition("?")
    if not question:
        return path
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        words = CAMEL_HUMP.sub("_", unquote_plus(name)).lower()  # apiKey: api_key
        if equals and (SECRET_NAME.search(words) or SECRET_VALUE.search(value)):
            pair = f"{name}={REDACTED}"
        pairs.append(pair)
    return f"{base}?{'&'.join(pairs)}"


class RedactSecretsFilter(logging.Filter):
    """Keeps secrets sent in a query string out of uvicorn's access log, whose
    arguments are (client, method, path with query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def logging_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the app and uvicorn (also used by its workers)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "redact_secrets": {"()": RedactSecretsFilter},
        },
        "formatters": {
            "default": {
                "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id", "redact_secrets"],
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "app": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["access"], "level": level.upper(), "propagate": False},
        },
    }
