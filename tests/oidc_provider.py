"""A real OpenID Connect provider on loopback for the tests: `oidc-provider-mock` (Flask
and Authlib's authorization server) served by werkzeug on a free port in a thread.

Its discovery document, JWKS, RS256-signed ID tokens (with `nonce` and `at_hash`) and
single-use codes are its own. A test chooses the person's claims (`set_user`) and
plays the person at the provider's authorization page (`authorize`). Version 0.3 does
not check PKCE, which real providers do (GitHub, Google, Keycloak...): `RequirePkce`
adds RFC 7636's check in front of it, so a wrong or missing verifier is refused by
the provider as it would be in production.

`python -m tests.oidc_provider` serves one for the browser tests (tests/browser): it
prints `issuer <URL>` once it answers, and stops when its standard input closes.
"""

import base64
import hashlib
import io
import json
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx2
from werkzeug.serving import make_server

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Wsgi = Callable[[Environ, StartResponse], Iterable[bytes]]


def s256(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class RequirePkce:
    """WSGI middleware: an authorization needs an S256 `code_challenge`, and its code
    is exchanged only with the verifier that matches it."""

    def __init__(self, app: Wsgi) -> None:
        self.app = app
        self.challenges: dict[str, str] = {}  # code -> challenge

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/oauth2/authorize" and method == "POST":
            return self._authorize(environ, start_response)
        if path == "/oauth2/token" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            form = parse_qs(body.decode())
            code = form.get("code", [""])[0]
            verifier = form.get("code_verifier", [""])[0]
            expected = self.challenges.get(code)
            if expected is not None and s256(verifier) != expected:
                return _invalid_grant(start_response)
        return self.app(environ, start_response)

    def _authorize(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        query = parse_qs(environ["QUERY_STRING"])
        challenge = query.get("code_challenge", [""])[0]
        if not challenge or query.get("code_challenge_method") != ["S256"]:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"PKCE with S256 is required"]

        def remember(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            location = dict(headers).get("Location", "")
            for code in parse_qs(urlsplit(location).query).get("code", []):
                self.challenges[code] = challenge
            return start_response(status, headers, *args)

        return self.app(environ, remember)


def _invalid_grant(start_response: StartResponse) -> Iterable[bytes]:
    start_response("400 Bad Request", [("Content-Type", "application/json")])
    return [json.dumps({"error": "invalid_grant", "error_description": "PKCE"}).encode()]


@contextmanager
def running_provider() -> Iterator[str]:
    """Serve a provider on 127.0.0.1; yields its issuer URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # it imports authlib.jose
        import oidc_provider_mock

    app = oidc_provider_mock.app(require_nonce=True)
    app.wsgi_app = RequirePkce(app.wsgi_app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()


def set_user(issuer: str, subject: str, **claims: Any) -> None:
    """Tell the provider the claims of person `subject` (email, email_verified, name)."""
    response = httpx2.put(f"{issuer}/users/{quote(subject, safe='')}", json=claims)
    assert response.status_code == 204, response.text


def authorize(location: str, subject: str | None, *, deny: bool = False) -> str:
    """Play the person at the provider's authorization page `location`: sign in as
    `subject` (or decline); returns where the provider sends the browser back."""
    data = {"action": "deny"} if deny else {"sub": subject or ""}
    response = httpx2.post(location, data=data)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def main() -> None:
    """Serve a provider until standard input closes; its issuer URL goes to stdout."""
    with running_provider() as issuer:
        print(f"issuer {issuer}", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
