"""Schemathesis hooks for the contract run (`python -m tests.contract`).

- Every generated request is signed in with a new admin session (the fuzzer may sign
  sessions out, so none is reused); `DELETE /users/me` gets a throw-away account of
  its own instead, so the run keeps its admin.
- Passwords: JSON Schema can bound a string's characters but not its bytes, so the
  schema states the byte limit as `x-max-utf8-bytes`; for requests meant to be valid,
  password fields are cut to that many bytes, as any client must.
"""

import os
import uuid
from typing import Any

import httpx
import schemathesis
from schemathesis import Case
from schemathesis.auths import AuthContext
from schemathesis.core.parameters import ParameterLocation
from schemathesis.hooks import HookContext
from sqlmodel import Session

from app.__main__ import system_session
from app.core.config import Settings
from app.core.passwords import PasswordHasher
from app.models import Role, UserCreate
from app.services import accounts

BASE = os.environ.get("CONTRACT_BASE_URL", "http://127.0.0.1:8000")
ADMIN = {
    "email": os.environ.get("CONTRACT_ADMIN_EMAIL", ""),
    "password": os.environ.get("CONTRACT_ADMIN_PASSWORD", ""),
}


def _restore_admin(db: Session) -> None:
    """Make the contract admin an active admin with its password again (the fuzzer may
    have changed any account, the admin included)."""
    user = accounts.find_by_email(db, ADMIN["email"])
    password_hash = PasswordHasher(4).hash(ADMIN["password"])
    if user is None:
        user_in = UserCreate(email=ADMIN["email"], password=ADMIN["password"], role=Role.ADMIN)
        accounts.create_user(db, user_in=user_in, password_hash=password_hash)
        return
    user.role, user.is_active = Role.ADMIN, True
    db.add(user)
    accounts.set_password(db, user, password_hash=password_hash)


def _token(credentials: dict[str, str]) -> str:
    response = httpx.post(f"{BASE}/api/v1/auth/login", json=credentials, timeout=60)
    if response.status_code != 200 and credentials is ADMIN:
        settings = Settings(_env_file=None, database_url=os.environ["CONTRACT_DATABASE_URL"])
        with system_session(settings) as db:
            _restore_admin(db)
        response = httpx.post(f"{BASE}/api/v1/auth/login", json=credentials, timeout=60)
    response.raise_for_status()
    token: str = response.json()["accessToken"]
    return token


def _throw_away_account() -> dict[str, str]:
    credentials = {"email": f"{uuid.uuid4().hex}@contract.example", "password": "a password 1"}
    httpx.post(f"{BASE}/api/v1/auth/register", json=credentials, timeout=60).raise_for_status()
    return credentials


@schemathesis.auth(refresh_interval=None)
class FreshSession:
    """A new access token before each request."""

    def get(self, case: Case[Any], context: AuthContext) -> str:
        deletes_itself = case.method == "DELETE" and case.path.endswith("/users/me")
        return _token(_throw_away_account() if deletes_itself else ADMIN)

    def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


_LIMITS: dict[int, dict[str, int]] = {}


def _byte_limited(raw_schema: Any) -> dict[str, int]:
    """Property name -> its `x-max-utf8-bytes`, from every schema of the document."""
    if id(raw_schema) in _LIMITS:
        return _LIMITS[id(raw_schema)]
    limits: dict[str, int] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in (node.get("properties") or {}).items():
                if isinstance(value, dict) and "x-max-utf8-bytes" in value:
                    limits[name] = value["x-max-utf8-bytes"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(raw_schema)
    _LIMITS[id(raw_schema)] = limits
    return limits


def _cut(value: str, limit: int) -> str:
    while len(value.encode("utf-8", "surrogatepass")) > limit:
        value = value[:-1]
    return value


@schemathesis.hook
def map_case(context: HookContext, case: Case[Any]) -> Case[Any]:
    meta = case._meta
    if not isinstance(case.body, dict) or meta is None:
        return case
    if meta.is_negative_at(ParameterLocation.BODY):
        return case
    for name, limit in _byte_limited(case.operation.schema.raw_schema).items():
        value = case.body.get(name)
        if isinstance(value, str):
            case.body[name] = _cut(value, limit)
    return case
