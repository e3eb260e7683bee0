"""Every failure the service answers with, defined once: stable code, status, message.

Services raise `AppError(ErrorCode.X)` (they know nothing of HTTP); one handler
(`handlers.py`) turns it into `{"detail": message, "code": "X"}` with its status, and
`responses(...)` builds a route's OpenAPI error entries from the same codes, so no
message is written twice. Frontends switch on `code`, never on the English text.
Messages are short and stable; cases an attacker must not tell apart share one.
"""

from collections.abc import Mapping, Sequence
from enum import StrEnum, auto
from typing import Any

from pydantic import BaseModel


class ErrorCode(StrEnum):
    """The `code` of every error body, with its HTTP status and message."""

    status: int
    message: str

    def __new__(cls, value: str, status: int, message: str) -> "ErrorCode":
        member = str.__new__(cls, value)
        member._value_ = value
        member.status, member.message = status, message
        return member

    @staticmethod
    def _generate_next_value_(name: str, _start: int, _count: int, _last: list[str]) -> str:
        return name  # `auto()` is the member's name

    # A table, `NAME = auto(), status, message` (the code is the name), one code a line
    # however long its message (E501 is off for this file).
    # fmt: off
    NOT_AUTHENTICATED = auto(), 401, "Not authenticated"
    TOKEN_INVALID = auto(), 401, "Could not validate credentials"
    LOGIN_BAD_CREDENTIALS = auto(), 401, "Invalid email or password"
    REFRESH_TOKEN_INVALID = auto(), 401, "Invalid refresh token"
    ACCOUNT_DISABLED = auto(), 403, "Account is disabled"
    REGISTRATION_DISABLED = auto(), 403, "Registration is disabled"
    ADMIN_REQUIRED = auto(), 403, "Admin privileges required"
    EMAIL_NOT_VERIFIED = auto(), 403, "Email address not verified"
    API_TOKEN_NOT_ALLOWED = auto(), 403, "Not allowed with an API token: sign in with your password"
    API_TOKEN_SCOPE = auto(), 403, "The API token's scopes do not allow this"
    ADMIN_TWO_FACTOR_REQUIRED = auto(), 403, "Admin access needs a sign-in with two-factor authentication: set it up at /users/me/two-factor, or sign in again with a code"
    TWO_FACTOR_LOGIN_REQUIRED = auto(), 403, "This account signs in with a second factor: use /auth/login"
    CROSS_SITE_REQUEST = auto(), 403, "Cross-site request refused: a cookie-signed-in call must come from an allowed origin"
    TOO_MANY_ATTEMPTS = auto(), 429, "Too many failed sign-ins; try again later"
    LIVE_TOO_MANY_STREAMS = auto(), 429, "Too many live update streams open for this account; close one first"
    EMAIL_ALREADY_REGISTERED = auto(), 409, "Email already registered"
    LAST_ADMIN = auto(), 409, "The last active admin must remain"
    CURRENT_PASSWORD_WRONG = auto(), 400, "Current password is wrong"
    RESET_TOKEN_INVALID = auto(), 400, "Invalid or expired reset token"
    VERIFICATION_TOKEN_INVALID = auto(), 400, "Invalid, expired or used verification token"
    TWO_FACTOR_CHALLENGE_INVALID = auto(), 401, "Invalid or expired sign-in challenge: sign in again"
    TWO_FACTOR_CODE_INVALID = auto(), 400, "Invalid or already used code"
    TWO_FACTOR_ALREADY_ENABLED = auto(), 409, "Two-factor authentication is already on"
    TWO_FACTOR_NOT_PENDING = auto(), 409, "No two-factor enrolment to confirm: start one first"
    TWO_FACTOR_NOT_ENABLED = auto(), 409, "Two-factor authentication is off"
    API_TOKEN_LIMIT = auto(), 409, "Too many API tokens: revoke one first"
    OAUTH_PROVIDER_UNKNOWN = auto(), 404, "No such sign-in provider"
    OAUTH_REDIRECT_INVALID = auto(), 400, "redirectTo must be a path or an address of an allowed frontend origin"
    OAUTH_STATE_INVALID = auto(), 400, "The sign-in could not be matched to this browser or has expired: start again"
    OAUTH_PROVIDER_DENIED = auto(), 400, "The provider did not grant the sign-in"
    OAUTH_EXCHANGE_FAILED = auto(), 400, "The provider refused the sign-in code, or its answer did not verify"
    OAUTH_PROVIDER_UNAVAILABLE = auto(), 502, "The sign-in provider could not be reached; try again shortly"
    OAUTH_CODE_INVALID = auto(), 400, "Invalid, expired or used sign-in code"
    OAUTH_EMAIL_MISSING = auto(), 400, "The provider gave no usable email address for this account"
    OAUTH_EMAIL_NOT_VERIFIED = auto(), 403, "The provider has not verified this email address: verify it there, or sign in with your password"
    LAST_SIGN_IN_METHOD = auto(), 409, "This is the account's last way to sign in: set a password first"
    IDENTITY_NOT_FOUND = auto(), 404, "Linked sign-in not found"
    CSV_CONTENT_TYPE = auto(), 415, "Upload a CSV file (text/csv)"
    CSV_UNREADABLE = auto(), 400, "The file is not CSV text in UTF-8 with a header row"
    CSV_TOO_MANY_ROWS = auto(), 413, "The file has more rows than allowed"
    CSV_INVALID_ROWS = auto(), 422, "Some rows are invalid: nothing was imported"
    USER_NOT_FOUND = auto(), 404, "User not found"
    ITEM_NOT_FOUND = auto(), 404, "Item not found"
    ATTACHMENT_NOT_FOUND = auto(), 404, "File not found"
    ATTACHMENT_TOO_LARGE = auto(), 413, "The file is larger than allowed"
    ATTACHMENT_TYPE_NOT_ALLOWED = auto(), 415, "This type of file is not accepted (judged by its content, not its name)"
    SESSION_NOT_FOUND = auto(), 404, "Session not found"
    API_TOKEN_NOT_FOUND = auto(), 404, "API token not found"
    SERVICE_UNAVAILABLE = auto(), 503, "The service is temporarily unavailable; try again shortly"
    # Raised by the framework itself: their messages come from it.
    NOT_FOUND = auto(), 404, "Not Found"
    METHOD_NOT_ALLOWED = auto(), 405, "Method Not Allowed"
    MALFORMED_REQUEST = auto(), 400, "There was an error parsing the body"
    BODY_TOO_LARGE = auto(), 413, "Request body too large"
    REQUEST_TIMEOUT = auto(), 408, "The request head did not arrive in time"
    HEADERS_TOO_LARGE = auto(), 431, "Request headers too large"
    VALIDATION_ERROR = auto(), 422, "Invalid request"
    INTERNAL_ERROR = auto(), 500, "Internal server error"
    # fmt: on


class ErrorBody(BaseModel):
    """An error response."""

    detail: str
    code: ErrorCode


class AppError(Exception):
    """A failure the client is told about: its code gives the status and message.

    `status` overrides the code's own where one contract says otherwise (a taken
    email at registration is 400, elsewhere 409); `set_cookies` are `Set-Cookie`
    values sent with it (a refused refresh in cookie mode clears the cookies).
    """

    def __init__(
        self,
        code: ErrorCode,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        set_cookies: Sequence[str] = (),
    ) -> None:
        super().__init__(code.message)
        self.code, self.status = code, status or code.status
        self.headers = dict(headers or {})
        self.set_cookies = tuple(set_cookies)
        if self.status == 401:
            self.headers["WWW-Authenticate"] = "Bearer"

    def body(self) -> dict[str, Any]:
        """The JSON body of the response."""
        return {"detail": self.code.message, "code": self.code}


class RowProblem(BaseModel):
    """What is wrong in one row of an uploaded file (row 1 is the header)."""

    row: int
    field: str | None
    message: str


class RowErrorsBody(ErrorBody):
    """An upload refused for its rows: every problem of every row."""

    errors: list[RowProblem]


class RowsInvalid(AppError):
    """`CSV_INVALID_ROWS`, with each problem found (by row, then as found)."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(ErrorCode.CSV_INVALID_ROWS)
        self.problems = sorted(problems, key=lambda problem: problem.row)

    def body(self) -> dict[str, Any]:
        """The JSON body: the code's, with the problems."""
        problems = [problem.model_dump() for problem in self.problems]
        return {**super().body(), "errors": problems}


def too_many_attempts(retry_after: int) -> AppError:
    """429 with `Retry-After` in seconds."""
    return AppError(ErrorCode.TOO_MANY_ATTEMPTS, headers={"Retry-After": str(retry_after)})


Responses = dict[int | str, dict[str, Any]]
SIGNED_IN = (ErrorCode.NOT_AUTHENTICATED, ErrorCode.TOKEN_INVALID)
# Signed in with a password (a session), never with an API token.
SESSION_ONLY = (*SIGNED_IN, ErrorCode.API_TOKEN_NOT_ALLOWED)
ADMIN_ONLY = (*SIGNED_IN, ErrorCode.ADMIN_REQUIRED, ErrorCode.ADMIN_TWO_FACTOR_REQUIRED)
# The refusals of a check counted like a sign-in: the caller's password, or a code.
PASSWORD_CHECKED = (ErrorCode.CURRENT_PASSWORD_WRONG, ErrorCode.TOO_MANY_ATTEMPTS)
CODE_CHECKED = (ErrorCode.TWO_FACTOR_CODE_INVALID, ErrorCode.TOO_MANY_ATTEMPTS)


def row_errors() -> Responses:
    """The OpenAPI entry of `RowsInvalid` (a 422 that FastAPI's validation errors share:
    see `app.core.openapi`)."""
    code = ErrorCode.CSV_INVALID_ROWS
    return {code.status: {"model": RowErrorsBody, "description": f"- `{code}`: {code.message}"}}


def responses(*codes: ErrorCode | tuple[ErrorCode, int]) -> Responses:
    """OpenAPI `responses` for the errors a route may answer with, grouped by status;
    each description lists the codes and messages. A `(code, status)` pair declares
    a code answered with another status than its own."""
    by_status: dict[int, list[ErrorCode]] = {}
    for entry in codes:
        code, status = entry if isinstance(entry, tuple) else (entry, entry.status)
        by_status.setdefault(status, []).append(code)
    return {
        status: {
            "model": ErrorBody,
            "description": "\n".join(f"- `{code}`: {code.message}" for code in group),
        }
        for status, group in sorted(by_status.items())
    }
