"""What code serving a request may know about it without being handed it: the request's
id, client address and user agent (set by the request-id middleware), and who acts
(set by `Caller` inside each unit). Context variables follow a request into the
worker thread of each unit, and no further."""

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
actor_var: ContextVar[Actor] = ContextVar("actor", default=ANONYMOUS)
