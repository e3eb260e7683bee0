"""The service with audit writes disabled, for scenario (i) only: never deploy this.

`create_app` replaces `app.services.audit.record` with a no-op before building the service.
Every caller reaches it as `audit.record` through the module, so the no-op is what
they call; `create_app` checks that no module holds the original under another name.
"""

import sys
from typing import Any

from fastapi import FastAPI

from app.main import create_app as create_service
from app.services import audit

RECORD = audit.record


def not_recorded(*_args: Any, **_kwargs: Any) -> None:
    """Stands in for `audit.record`: no event, no log line."""


def holders_of_record() -> list[str]:
    """Modules of the service, but `app.services.audit`, that hold the original `record`."""
    return [
        name
        for name, module in list(sys.modules.items())
        if name.startswith("app.")
        and name != "app.services.audit"
        and any(value is RECORD for value in vars(module).values())
    ]


def create_app() -> FastAPI:
    audit.record = not_recorded
    service = create_service()
    if holders := holders_of_record():
        raise RuntimeError(f"audit.record is imported by name in {holders}: cannot disable it")
    return service
