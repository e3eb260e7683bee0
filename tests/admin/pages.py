"""Driving the back office as a browser would: its pages, forms, actions and cookie."""

import html
import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from tests.helpers import PASSWORD

ADMIN = "/admin"
COOKIE = "admin_session"
# What a browser sends with a request made by one of the back office's own pages.
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
ERROR_ALERT = re.compile(r'class="alert alert-danger"[^>]*>\s*([^<]*?)\s*<')
NOTICE = re.compile(r'class="alert alert-success[^"]*"[^>]*>\s*([^<]*?)\s*<')
TOKEN_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def alerts(response: Response) -> list[str]:
    """The error messages shown on a page."""
    return ERROR_ALERT.findall(response.text)


def notices(response: Response) -> list[str]:
    """The notices of what was just done, shown on a page."""
    return [html.unescape(notice) for notice in NOTICE.findall(response.text)]


def ids_on(response: Response, identity: str) -> list[str]:
    """The ids of the rows linked from a page (`/admin/{identity}/details/{id}`)."""
    assert response.status_code == 200, response.text
    found = re.findall(rf"{ADMIN}/{identity}/details/([0-9a-f-]{{36}})", response.text)
    return list(dict.fromkeys(found))


class BackOffice:
    """A browser on the back office: it keeps the sign-in cookie and sends what the
    back office's pages send (fetch metadata, the CSRF token)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def sign_in(self, email: str, password: str = PASSWORD, **headers: str) -> Response:
        """Submit the sign-in form."""
        data = {"email": email, "password": password}
        return self.client.post(
            f"{ADMIN}/login",
            data=data,
            headers={**SAME_ORIGIN, **headers},
            follow_redirects=False,
        )

    def signed_in(self, email: str, password: str = PASSWORD, **headers: str) -> "BackOffice":
        """Sign in, asserting success."""
        response = self.sign_in(email, password, **headers)
        assert response.status_code == 303, response.text
        assert response.headers["location"].endswith(f"{ADMIN}/")
        return self

    def get(self, path: str, **headers: str) -> Response:
        """A page under /admin, as a navigation of this browser (redirects not followed)."""
        return self.client.get(
            f"{ADMIN}{path}", headers={**SAME_ORIGIN, **headers}, follow_redirects=False
        )

    def next_page(self, response: Response) -> Response:
        """The page that a redirect, or a delete's answer, sends the browser to."""
        target = response.headers.get("location") or response.text
        path = target.removeprefix("http://testserver").removeprefix(ADMIN)
        return self.get(path)

    def is_signed_in(self) -> bool:
        """Whether the home page opens (else it sends the browser to the sign-in page)."""
        response = self.get("/")
        if response.status_code == 303:
            assert response.headers["location"].endswith(f"{ADMIN}/login")
            return False
        assert response.status_code == 200, response.text
        return True

    def csrf_token(self) -> str:
        """The CSRF token that the pages of this sign-in carry."""
        match = TOKEN_META.search(self.get("/").text)
        assert match is not None
        assert match.group(1)
        return match.group(1)

    def submit(
        self, path: str, data: dict[str, Any], *, token: str | None = None, **headers: str
    ) -> Response:
        """Submit a form of the page `path` (with this sign-in's token unless given)."""
        fields = {"csrf_token": self.csrf_token() if token is None else token, **data}
        return self.client.post(
            f"{ADMIN}{path}",
            data={"save": "Save", **fields},
            headers={**SAME_ORIGIN, **headers},
            follow_redirects=False,
        )

    def delete(self, identity: str, *pks: str | uuid.UUID, **headers: str) -> Response:
        """The XHR of a page's delete button (with the CSRF token)."""
        token = self.csrf_token()
        return self.client.delete(
            f"{ADMIN}/{identity}/delete",
            params={"pks": ",".join(str(pk) for pk in pks)},
            headers={"Sec-Fetch-Site": "same-origin", "X-CSRF-Token": token, **headers},
            follow_redirects=False,
        )

    def action(self, identity: str, name: str, *pks: str | uuid.UUID, **headers: str) -> Response:
        """A custom action, as its button navigates to it."""
        query = ",".join(str(pk) for pk in pks)
        return self.get(f"/{identity}/action/{name}?pks={query}", **headers)

    def sign_out(self) -> Response:
        """The sign-out link."""
        return self.get("/logout")
