"""Schemathesis hooks: every generated request is signed in as a fresh admin session."""

import os
from typing import Any

import httpx
import schemathesis
from schemathesis import Case
from schemathesis.auths import AuthContext


@schemathesis.auth(refresh_interval=None)
class AdminToken:
    """A new access token for the contract admin before each request (the fuzzer may
    sign sessions out, so none is reused)."""

    def get(self, case: Case[Any], context: AuthContext) -> str:
        response = httpx.post(
            f"{os.environ['CONTRACT_BASE_URL']}/api/v1/auth/login",
            json={
                "email": os.environ["CONTRACT_ADMIN_EMAIL"],
                "password": os.environ["CONTRACT_ADMIN_PASSWORD"],
            },
            timeout=60,
        )
        response.raise_for_status()
        token: str = response.json()["accessToken"]
        return token

    def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"
