"""Who acts and where a request comes from.

The request's origin (its id, client address and user agent) is set by the request-id
middleware in a context variable, which follows the request into the threads that do
its work. Who acts is kept with the database session that does the work
(`app.services.audit.act_as`): the signed-in user, the system (the command line), or
nobody known.
"""

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request comes from."""

    request_id: str = "-"
    ip_address: str | None = None
    user_agent: str | None = None


class ActorKind(StrEnum):
    USER = "user"  # signed in with a session
    API_TOKEN = "api_token"
    SYSTEM = "system"  # the command line
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an account (and the session or API token it proved itself with), the
    system, or nobody known."""

    kind: ActorKind
    user_id: uuid.UUID | None = None
    email: str | None = None
    credential_id: uuid.UUID | None = None


ANONYMOUS = Actor(ActorKind.ANONYMOUS)
SYSTEM = Actor(ActorKind.SYSTEM)

NO_ORIGIN = Origin()
origin_var: ContextVar[Origin] = ContextVar("origin", default=NO_ORIGIN)
