"""Error reports to Sentry, when SENTRY_DSN is set: unhandled errors with the request
that raised them, and (SENTRY_TRACES_SAMPLE_RATE) traces, from FastAPI and SQLAlchemy.

Nothing secret leaves: the SDK sends no cookies, no `Authorization` header and no
personal data by default, no local variables (`include_local_variables=False`), and `scrub`
replaces, in every event, the values of fields named like a secret (`password`,
`newPassword`, `refreshToken`, `apiKey`, ...) in the request and extra data, anything
that looks like a JWT or an API token wherever it is, and secrets in URLs' query
strings. The SDK is imported only when a DSN is set.
"""

import re
from typing import Any

from app.core.config import Settings
from app.core.logs import CAMEL_HUMP, REDACTED, SECRET_NAME, redact

TOKEN = re.compile(r"sqa_pat_[\w-]+|eyJ[\w-]*\.[\w-]*\.[\w-]*")
# `"newPassword": "..."` inside a body the SDK kept as text.
SECRET_FIELD = re.compile(
    r'("[\w-]*(?:password|passwd|token|secret|key|code|authorization|cookie)[\w-]*"\s*:\s*)"[^"]*"',
    re.IGNORECASE,
)
BY_NAME = ("request", "extra", "breadcrumbs", "contexts")  # where field names are the user's


def install(settings: Settings, dsn: str) -> None:
    """Start the Sentry SDK for this process, reporting to `dsn`."""
    import sentry_sdk
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=settings.environment,
        release=f"{settings.app_name}@{settings.app_version}",
        include_local_variables=False,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        integrations=[StarletteIntegration(), FastApiIntegration(), SqlalchemyIntegration()],
        before_send=scrub,
        before_send_transaction=scrub,
    )


def scrub(event: Any, _hint: Any = None) -> Any:
    """`event` with every secret replaced by `[redacted]`."""
    return {key: _scrubbed(value, by_name=key in BY_NAME) for key, value in event.items()}


def _secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(CAMEL_HUMP.sub("_", name).lower().replace("-", "_")))


def _scrubbed_field(key: Any, value: Any, *, by_name: bool) -> Any:
    if by_name and isinstance(key, str) and _secret_name(key):
        return REDACTED
    if key == "query_string" and isinstance(value, str):  # a query without its "?"
        return redact(f"?{value}")[1:]
    return _scrubbed(value, by_name=by_name)


def _scrubbed(value: Any, *, by_name: bool) -> Any:
    if isinstance(value, dict):
        return {key: _scrubbed_field(key, item, by_name=by_name) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item, by_name=by_name) for item in value]
    if isinstance(value, str):
        value = SECRET_FIELD.sub(rf'\1"{REDACTED}"', TOKEN.sub(REDACTED, value))
        return redact(value) if "?" in value else value
    return value
