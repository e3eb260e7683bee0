"""Two-factor sign-in of the caller's own account (`/users/me/two-factor`), managed
from a signed-in session (never with an API token), and an admin's reset of anyone's
(`POST /users/{userId}/two-factor/reset`: a POST, so that `/users/me/two-factor`
is never taken to allow a DELETE)."""

from app.api.deps import (
    AdminUser,
    Client,
    CurrentSessionId,
    Hasher,
    SessionDep,
    SessionUser,
    SettingsDep,
    UserId,
)
from app.api.routing import feature_router
from app.core.errors import (
    ADMIN_ONLY,
    CODE_CHECKED,
    PASSWORD_CHECKED,
    SESSION_ONLY,
    ErrorCode,
    responses,
)
from app.models import (
    RecoveryCodes,
    TwoFactorConfirm,
    TwoFactorDisable,
    TwoFactorEnrolment,
    TwoFactorStart,
    TwoFactorStatus,
)
from app.services import two_factor

router = feature_router("/users/me/two-factor", "two-factor", *SESSION_ONLY)
admin_router = feature_router("/users/{userId}/two-factor", "two-factor", *ADMIN_ONLY)
ALREADY_ON = responses(*PASSWORD_CHECKED, ErrorCode.TWO_FACTOR_ALREADY_ENABLED)
NOT_ON = responses(ErrorCode.USER_NOT_FOUND, ErrorCode.TWO_FACTOR_NOT_ENABLED)


@router.get("", operation_id="users-me-two-factor-read")
def read_two_factor(db: SessionDep, user: SessionUser) -> TwoFactorStatus:
    """Whether two-factor sign-in is on (or an enrolment awaits its code), and how
    many recovery codes are left."""
    return two_factor.status(db, user)


@router.post("", status_code=201, operation_id="users-me-two-factor-start", responses=ALREADY_ON)
def start_two_factor(
    body: TwoFactorStart,
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    user: SessionUser,
    client: Client,
) -> TwoFactorEnrolment:
    """Start an enrolment (the current password is checked like a sign-in): a new
    secret and its `otpauth://` URI for an authenticator app, shown this once. Then
    confirm it with a code; until then sign-in is unchanged."""
    return two_factor.start_enrolment(
        db, hasher, settings, user, current_password=body.current_password,
        ip_address=client.ip_address,
    )  # fmt: skip


@router.post(
    "/confirm",
    operation_id="users-me-two-factor-confirm",
    responses=responses(
        *CODE_CHECKED, ErrorCode.TWO_FACTOR_NOT_PENDING, ErrorCode.TWO_FACTOR_ALREADY_ENABLED
    ),
)
def confirm_two_factor(
    body: TwoFactorConfirm,
    db: SessionDep,
    settings: SettingsDep,
    user: SessionUser,
    session_id: CurrentSessionId,
    client: Client,
) -> RecoveryCodes:
    """Turn two-factor sign-in on with a first code; returns ten single-use recovery
    codes, shown this once."""
    return two_factor.confirm_enrolment(
        db, settings, user, code=body.code, session_id=session_id, ip_address=client.ip_address
    )


@router.post(
    "/disable",
    status_code=204,
    operation_id="users-me-two-factor-disable",
    responses=responses(
        *PASSWORD_CHECKED, ErrorCode.TWO_FACTOR_CODE_INVALID, ErrorCode.TWO_FACTOR_NOT_ENABLED
    ),
)
def disable_two_factor(
    body: TwoFactorDisable,
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    user: SessionUser,
    client: Client,
) -> None:
    """Turn two-factor sign-in off, with the current password and a code (or a
    recovery code)."""
    two_factor.disable(
        db, hasher, settings, user, current_password=body.current_password, code=body.code,
        ip_address=client.ip_address,
    )  # fmt: skip


@admin_router.post(
    "/reset", status_code=204, operation_id="users-two-factor-reset", responses=NOT_ON
)
def reset_two_factor(user_id: UserId, db: SessionDep, _admin: AdminUser) -> None:
    """Turn a user's two-factor sign-in off (a lost authenticator and lost recovery
    codes), or drop their pending enrolment; they sign in with their password again."""
    two_factor.reset_for(db, user_id=user_id)
