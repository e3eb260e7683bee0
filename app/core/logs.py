"""Logging: one format for the app and uvicorn, each line tagged with its request id."""

import logging
from typing import Any

from app.core.context import origin_var


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or `-` outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = origin_var.get().request_id
        return True


def logging_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the app and uvicorn (also used by its workers)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
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
            }
        },
        "loggers": {
            "app": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }
