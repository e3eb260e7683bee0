"""Two-factor sign-in (TOTP): enrolment, confirmation, sign-in with a code or a
recovery code, replay, challenge tokens, throttling, disabling, REQUIRE_ADMIN_2FA,
and the secret kept out of logs, audit rows and answers."""

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select, update

from app.core.errors import ErrorCode
from app.core.state import app_state
from app.core.tokens import create_reset_token, create_token, decode_session_token
from app.models import AuditEvent, AuthSession, RecoveryCode, Role, TotpFactor
from app.models.fields import utcnow
from app.services import live, totp_codes
from tests.helpers import (
    API,
    ME,
    NEW_PASSWORD,
    PASSWORD,
    Account,
    at_once,
    bearer,
    change_password,
    count_rows,
    error_body,
    fresh,
    login,
    settings_of,
    stored,
    unverified_claims,
)

TWO_FACTOR = f"{ME}/two-factor"
LOGIN = f"{API}/auth/login"
LOGIN_CODE = f"{API}/auth/login/two-factor"


# Helpers


def enrol(client: TestClient, account: Account) -> str:
    """Start an enrolment; returns the secret."""
    response = client.post(
        TWO_FACTOR, json={"currentPassword": account.password}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return str(body["secret"])


def forget_used_codes(db: Session, user_id: uuid.UUID) -> None:
    """Let the current code be accepted again (as a later 30-second step would)."""
    fresh(db).exec(
        update(TotpFactor).where(col(TotpFactor.user_id) == user_id).values(last_used_step=None)
    )
    db.commit()


def turn_on(client: TestClient, db: Session, account: Account) -> tuple[str, list[str]]:
    """Enrol and confirm; returns the secret and the recovery codes (the code used to
    confirm is forgotten again, so a test can sign in with the current code)."""
    secret = enrol(client, account)
    response = client.post(
        f"{TWO_FACTOR}/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    forget_used_codes(db, account.id)
    return secret, response.json()["recoveryCodes"]


def challenge(client: TestClient, account: Account) -> str:
    """Sign in with the password; returns the challenge token (asserting 202)."""
    response = client.post(LOGIN, json={"email": account.email, "password": account.password})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["twoFactorRequired"] is True
    assert set(body) == {"twoFactorRequired", "challengeToken", "expiresIn"}
    return str(body["challengeToken"])


def send_code(client: TestClient, token: str, code: str) -> Any:
    return client.post(LOGIN_CODE, json={"challengeToken": token, "code": code})


def code_status(client: TestClient, token: str, code: str) -> int:
    status: int = send_code(client, token, code).status_code
    return status


def sign_in_with_code(client: TestClient, account: Account, code: str) -> dict[str, Any]:
    response = send_code(client, challenge(client, account), code)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def actions(db: Session) -> list[str]:
    rows = fresh(db).exec(select(AuditEvent).order_by(col(AuditEvent.occurred_at))).all()
    db.commit()
    return [row.action for row in rows]


# Enrolment


def test_enrolment_answers_a_secret_and_its_otpauth_uri(client: TestClient, user: Account) -> None:
    response = client.post(TWO_FACTOR, json={"currentPassword": PASSWORD}, headers=user.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"secret", "otpauthUri", "digits", "period", "algorithm"}
    parsed = pyotp.parse_uri(body["otpauthUri"])
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == body["secret"]
    assert parsed.name == user.email
    assert parsed.issuer == settings_of(client).app_name
    assert len(body["secret"]) == 32  # 160 bits, as RFC 4226 recommends
    status = client.get(TWO_FACTOR, headers=user.headers).json()
    assert status == {"enabled": False, "pending": True, "enabledAt": None, "recoveryCodesLeft": 0}
    # Until confirmed, signing in is unchanged.
    assert "accessToken" in login(client, user.email)


def test_enrolment_needs_the_current_password(client: TestClient, user: Account) -> None:
    response = client.post(TWO_FACTOR, json={"currentPassword": "wrong"}, headers=user.headers)
    assert response.status_code == 400
    assert response.json() == error_body(ErrorCode.CURRENT_PASSWORD_WRONG)


def test_enrol_confirm_and_sign_in_with_a_code(
    client: TestClient, user: Account, db: Session
) -> None:
    secret = enrol(client, user)
    totp = pyotp.TOTP(secret)
    confirmed = client.post(
        f"{TWO_FACTOR}/confirm", json={"code": totp.now()}, headers=user.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    status = client.get(TWO_FACTOR, headers=user.headers).json()
    assert status["enabled"] is True
    assert status["pending"] is False
    assert status["recoveryCodesLeft"] == 10
    # The session that confirmed has proven a second factor.
    session = stored(db, AuthSession, unverified_claims(user.access_token)["sid"])
    assert session is not None
    assert session.two_factor is True

    forget_used_codes(db, user.id)
    pair = sign_in_with_code(client, user, totp.now())
    assert set(pair) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert client.get(ME, headers=bearer(pair["accessToken"])).status_code == 200
    opened = stored(db, AuthSession, unverified_claims(pair["accessToken"])["sid"])
    assert opened is not None
    assert opened.two_factor is True
    assert {
        "two_factor.enrolment_started",
        "two_factor.enabled",
        "auth.login.challenged",
        "auth.login.succeeded",
    } <= set(actions(db))


def test_a_wrong_code_does_not_confirm(client: TestClient, user: Account) -> None:
    secret = enrol(client, user)
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    response = client.post(f"{TWO_FACTOR}/confirm", json={"code": wrong}, headers=user.headers)
    assert response.status_code == 400
    assert response.json() == error_body(ErrorCode.TWO_FACTOR_CODE_INVALID)
    assert client.get(TWO_FACTOR, headers=user.headers).json()["enabled"] is False


def test_confirming_needs_an_enrolment(client: TestClient, user: Account, db: Session) -> None:
    response = client.post(f"{TWO_FACTOR}/confirm", json={"code": "123456"}, headers=user.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "TWO_FACTOR_NOT_PENDING"
    turn_on(client, db, user)
    again = client.post(TWO_FACTOR, json={"currentPassword": PASSWORD}, headers=user.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "TWO_FACTOR_ALREADY_ENABLED"


def test_starting_again_replaces_a_pending_secret(client: TestClient, user: Account) -> None:
    first = enrol(client, user)
    second = enrol(client, user)
    assert first != second
    old_code = pyotp.TOTP(first).now()
    if old_code != pyotp.TOTP(second).now():  # one in a million they agree
        response = client.post(
            f"{TWO_FACTOR}/confirm", json={"code": old_code}, headers=user.headers
        )
        assert response.status_code == 400


def test_api_tokens_cannot_manage_two_factor(client: TestClient, user: Account) -> None:
    created = client.post(
        f"{ME}/tokens", json={"name": "script", "scopes": ["write"]}, headers=user.headers
    )
    token = bearer(created.json()["token"])
    assert client.get(TWO_FACTOR, headers=token).status_code == 403
    response = client.post(TWO_FACTOR, json={"currentPassword": PASSWORD}, headers=token)
    assert response.json()["code"] == "API_TOKEN_NOT_ALLOWED"


# Signing in


def test_a_password_alone_gives_no_session(client: TestClient, user: Account, db: Session) -> None:
    turn_on(client, db, user)
    before = count_rows(db, AuthSession)
    token = challenge(client, user)
    assert count_rows(db, AuthSession) == before
    claims = unverified_claims(token)
    assert claims["type"] == "two_factor"
    assert claims["exp"] - claims["iat"] == 5 * 60
    # The challenge is no access token.
    assert client.get(ME, headers=bearer(token)).status_code == 401


def test_a_wrong_code_is_refused(client: TestClient, user: Account, db: Session) -> None:
    secret, _codes = turn_on(client, db, user)
    token = challenge(client, user)
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    for code in (wrong, "abcdef", "12345", "1234567"):
        response = send_code(client, token, code)
        assert response.status_code == 401, code
        assert response.json() == error_body(ErrorCode.TWO_FACTOR_CODE_INVALID)
        assert response.headers["www-authenticate"] == "Bearer"
    failed = (
        fresh(db).exec(select(AuditEvent).where(AuditEvent.action == "auth.login.failed")).all()
    )
    assert {event.reason for event in failed} == {"bad_code"}


def test_a_code_is_accepted_once(client: TestClient, user: Account, db: Session) -> None:
    secret, _codes = turn_on(client, db, user)
    code = pyotp.TOTP(secret).now()
    sign_in_with_code(client, user, code)
    replayed = send_code(client, challenge(client, user), code)
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "TWO_FACTOR_CODE_INVALID"


def test_codes_of_the_steps_around_now_are_accepted_but_never_an_older_one(
    client: TestClient, user: Account, db: Session
) -> None:
    secret, _codes = turn_on(client, db, user)
    totp, now = pyotp.TOTP(secret), utcnow()
    sign_in_with_code(client, user, totp.at(now + timedelta(seconds=30)))  # the next step
    # The current step comes before the one accepted: refused, like a replay.
    refused = send_code(client, challenge(client, user), totp.at(now))
    assert refused.status_code == 401
    far = send_code(client, challenge(client, user), totp.at(now + timedelta(minutes=5)))
    assert far.status_code == 401


def test_the_same_code_sent_twice_at_once_signs_in_once(
    make_client: Callable[..., TestClient], make_account: Callable[..., Account], db: Session
) -> None:
    client = make_client(login_max_failures_per_email=100)
    user = make_account()
    user.access_token = login(client, user.email)["accessToken"]
    secret, _codes = turn_on(client, db, user)
    totp = pyotp.TOTP(secret)
    for _round in range(8):
        forget_used_codes(db, user.id)
        tokens = [challenge(client, user), challenge(client, user)]
        code = totp.now()
        statuses = at_once(
            [functools.partial(code_status, client, token, code) for token in tokens]
        )
        assert sorted(statuses) == [200, 401], statuses


def test_the_same_recovery_code_sent_twice_at_once_signs_in_once(
    client: TestClient, user: Account, db: Session
) -> None:
    _secret, codes = turn_on(client, db, user)
    for code in codes[:2]:
        tokens = [challenge(client, user), challenge(client, user)]
        statuses = at_once(
            [functools.partial(code_status, client, token, code) for token in tokens]
        )
        assert sorted(statuses) == [200, 401], statuses


def test_a_recovery_code_stands_in_for_a_code_once(
    client: TestClient, user: Account, db: Session
) -> None:
    _secret, codes = turn_on(client, db, user)
    pair = sign_in_with_code(client, user, codes[0].upper().replace("-", " "))  # as typed
    assert "accessToken" in pair
    again = send_code(client, challenge(client, user), codes[0])
    assert again.status_code == 401
    status = client.get(TWO_FACTOR, headers=bearer(pair["accessToken"])).json()
    assert status["recoveryCodesLeft"] == 9
    used = (
        fresh(db)
        .exec(select(AuditEvent).where(AuditEvent.action == "two_factor.recovery_code_used"))
        .all()
    )
    assert len(used) == 1
    assert used[0].target_id == str(user.id)


@pytest.mark.parametrize(
    "case", ["expired", "tampered", "other_key", "access", "refresh", "reset", "no_type", "garbage"]
)
def test_only_a_valid_challenge_token_is_accepted(
    client: TestClient, user: Account, db: Session, case: str
) -> None:
    secret, _codes = turn_on(client, db, user)
    settings = settings_of(client)
    real = challenge(client, user)
    claims = unverified_claims(real)
    now = utcnow()
    if case == "expired":
        token = create_token(
            settings, token_type="two_factor", subject=user.id,
            issued_at=now - timedelta(minutes=10), expires_at=now - timedelta(seconds=1),
            claims={"acct": claims["acct"]},
        )  # fmt: skip
    elif case == "tampered":
        head, body, signature = real.split(".")
        token = f"{head}.{body}.{signature[::-1]}"
    elif case == "other_key":
        token = jwt.encode(claims, "another-key-that-is-long-enough-for-hs256", algorithm="HS256")
    elif case in ("access", "refresh"):
        token = user.access_token if case == "access" else user.refresh_token
    elif case == "reset":
        token = create_reset_token(
            settings, user_id=user.id, email=user.email, email_changes=0, password_hash="x"
        )
    elif case == "no_type":
        token = create_token(
            settings, token_type="two_factor", subject=user.id, issued_at=now,
            expires_at=now + timedelta(minutes=5), claims={},
        )  # fmt: skip
    else:
        token = "not a token"
    response = send_code(client, token, pyotp.TOTP(secret).now())
    assert response.status_code == 401
    assert response.json() == error_body(ErrorCode.TWO_FACTOR_CHALLENGE_INVALID)
    # The code was not spent by the refusal.
    sign_in_with_code(client, user, pyotp.TOTP(secret).now())


def test_a_challenge_dies_with_a_password_change(
    client: TestClient, user: Account, db: Session
) -> None:
    secret, _codes = turn_on(client, db, user)
    token = challenge(client, user)
    changed = change_password(
        client, user.access_token, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert changed.status_code == 204
    response = send_code(client, token, pyotp.TOTP(secret).now())
    assert response.json()["code"] == "TWO_FACTOR_CHALLENGE_INVALID"


def test_a_challenge_dies_with_the_enrolment(
    client: TestClient, user: Account, db: Session
) -> None:
    secret, codes = turn_on(client, db, user)
    token = challenge(client, user)
    off = client.post(
        f"{TWO_FACTOR}/disable",
        json={"currentPassword": PASSWORD, "code": codes[0]},
        headers=user.headers,
    )
    assert off.status_code == 204
    response = send_code(client, token, pyotp.TOTP(secret).now())
    assert response.json()["code"] == "TWO_FACTOR_CHALLENGE_INVALID"


def test_a_deactivated_account_cannot_finish_signing_in(
    client: TestClient, user: Account, admin: Account, db: Session
) -> None:
    secret, _codes = turn_on(client, db, user)
    token = challenge(client, user)
    client.patch(f"{API}/users/{user.id}", json={"isActive": False}, headers=admin.headers)
    response = send_code(client, token, pyotp.TOTP(secret).now())
    assert response.status_code == 403
    assert response.json()["code"] == "ACCOUNT_DISABLED"


def test_code_attempts_are_throttled(client: TestClient, user: Account, db: Session) -> None:
    secret, _codes = turn_on(client, db, user)
    token = challenge(client, user)
    for _attempt in range(5):
        assert send_code(client, token, "000000").status_code in (401,)
    throttled = send_code(client, token, pyotp.TOTP(secret).now())
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert throttled.json()["code"] == "TOO_MANY_ATTEMPTS"
    # Recovery codes are counted by the same budget.
    assert send_code(client, token, "aaaaa-aaaaa").status_code == 429


def test_the_oauth2_form_refuses_an_account_with_two_factor(
    client: TestClient, user: Account, db: Session
) -> None:
    turn_on(client, db, user)
    form = {"username": user.email, "password": PASSWORD}
    response = client.post(f"{API}/auth/token", data=form)
    assert response.status_code == 403
    assert response.json()["code"] == "TWO_FACTOR_LOGIN_REQUIRED"
    wrong = client.post(f"{API}/auth/token", data={**form, "password": "wrong password"})
    assert wrong.status_code == 401


# Disabling


def test_disabling_needs_the_password_and_a_code(
    client: TestClient, user: Account, db: Session
) -> None:
    secret, _codes = turn_on(client, db, user)
    code = pyotp.TOTP(secret).now()
    url = f"{TWO_FACTOR}/disable"
    wrong_password = client.post(
        url, json={"currentPassword": "wrong password", "code": code}, headers=user.headers
    )
    assert wrong_password.json()["code"] == "CURRENT_PASSWORD_WRONG"
    wrong_code = client.post(
        url, json={"currentPassword": PASSWORD, "code": "000000"}, headers=user.headers
    )
    assert wrong_code.status_code == 400
    assert wrong_code.json()["code"] == "TWO_FACTOR_CODE_INVALID"
    missing = client.post(url, json={"currentPassword": PASSWORD}, headers=user.headers)
    assert missing.status_code == 422
    assert client.get(TWO_FACTOR, headers=user.headers).json()["enabled"] is True

    off = client.post(url, json={"currentPassword": PASSWORD, "code": code}, headers=user.headers)
    assert off.status_code == 204
    assert client.get(TWO_FACTOR, headers=user.headers).json() == {
        "enabled": False, "pending": False, "enabledAt": None, "recoveryCodesLeft": 0,
    }  # fmt: skip
    assert count_rows(db, RecoveryCode) == 0
    assert "accessToken" in login(client, user.email)
    again = client.post(url, json={"currentPassword": PASSWORD, "code": code}, headers=user.headers)
    assert again.json()["code"] == "TWO_FACTOR_NOT_ENABLED"
    assert "two_factor.disabled" in actions(db)


def test_an_admin_resets_a_users_two_factor(
    client: TestClient, user: Account, admin: Account, db: Session
) -> None:
    turn_on(client, db, user)
    url = f"{API}/users/{user.id}/two-factor/reset"
    assert client.post(url, headers=user.headers).status_code == 403
    assert client.post(url, headers=admin.headers).status_code == 204
    assert "accessToken" in login(client, user.email)
    assert client.post(url, headers=admin.headers).status_code == 409
    unknown = client.post(f"{API}/users/{uuid.uuid4()}/two-factor/reset", headers=admin.headers)
    assert unknown.status_code == 404


# REQUIRE_ADMIN_2FA


def test_required_admin_two_factor_on_the_api(
    make_client: Callable[..., TestClient], make_account: Callable[..., Account], db: Session
) -> None:
    client = make_client(require_admin_2fa=True)
    admin = make_account(role=Role.ADMIN)
    user = make_account()
    headers = bearer(login(client, admin.email)["accessToken"])
    # Not enrolled: signed in, but no admin route until a second factor is proven.
    refused = client.get(f"{API}/users", headers=headers)
    assert refused.status_code == 403
    assert refused.json() == error_body(ErrorCode.ADMIN_TWO_FACTOR_REQUIRED)
    assert client.get(ME, headers=headers).status_code == 200
    forbidden = (
        fresh(db).exec(select(AuditEvent).where(AuditEvent.action == "admin.forbidden")).all()
    )
    assert [event.reason for event in forbidden] == ["two_factor_required"]
    # A plain user is unaffected.
    assert (
        client.get(ME, headers=bearer(login(client, user.email)["accessToken"])).status_code == 200
    )

    # Enrolling: confirming proves the second factor for this session.
    other_session = bearer(login(client, admin.email)["accessToken"])
    admin.access_token = headers["Authorization"].removeprefix("Bearer ")
    secret, _codes = turn_on(client, db, admin)
    assert client.get(f"{API}/users", headers=headers).status_code == 200
    # A session opened with the password alone still is not enough.
    assert client.get(f"{API}/users", headers=other_session).status_code == 403
    # Signing in now asks for a code, and that session is an admin's.
    pair = sign_in_with_code(client, admin, pyotp.TOTP(secret).now())
    assert client.get(f"{API}/users", headers=bearer(pair["accessToken"])).status_code == 200
    # An admin-scoped API token works for an admin who has two-factor sign-in on.
    created = client.post(
        f"{ME}/tokens", json={"name": "ops", "scopes": ["read", "admin"]}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert client.get(f"{API}/users", headers=bearer(created.json()["token"])).status_code == 200


def test_a_live_stream_shows_users_to_an_admin_with_a_second_factor_only(
    make_client: Callable[..., TestClient], make_account: Callable[..., Account], db: Session
) -> None:
    client = make_client(require_admin_2fa=True)
    settings = app_state(client.app).settings
    admin = make_account(role=Role.ADMIN)
    admin.access_token = login(client, admin.email)["accessToken"]
    claims = decode_session_token(settings, admin.access_token, "access")
    assert live.viewer(fresh(db), settings, claims).users is False
    turn_on(client, db, admin)
    assert live.viewer(fresh(db), settings, claims).users is True
    user = make_account()
    user_claims = decode_session_token(settings, login(client, user.email)["accessToken"], "access")
    assert live.viewer(fresh(db), settings, user_claims).users is False


def test_without_the_setting_admins_need_no_second_factor(
    client: TestClient, admin: Account
) -> None:
    assert client.get(f"{API}/users", headers=admin.headers).status_code == 200


def test_an_admin_token_needs_its_owner_to_have_two_factor_when_required(
    make_client: Callable[..., TestClient], make_account: Callable[..., Account]
) -> None:
    client = make_client(require_admin_2fa=True)
    admin = make_account(role=Role.ADMIN)
    headers = bearer(login(client, admin.email)["accessToken"])
    created = client.post(
        f"{ME}/tokens", json={"name": "ops", "scopes": ["read", "admin"]}, headers=headers
    )
    refused = client.get(f"{API}/users", headers=bearer(created.json()["token"]))
    assert refused.status_code == 403
    assert refused.json()["code"] == "ADMIN_TWO_FACTOR_REQUIRED"


def test_disabling_takes_the_second_factor_from_every_session(
    make_client: Callable[..., TestClient], make_account: Callable[..., Account], db: Session
) -> None:
    client = make_client(require_admin_2fa=True)
    admin = make_account(role=Role.ADMIN)
    admin.access_token = login(client, admin.email)["accessToken"]
    _secret, codes = turn_on(client, db, admin)
    assert client.get(f"{API}/users", headers=admin.headers).status_code == 200
    off = client.post(
        f"{TWO_FACTOR}/disable",
        json={"currentPassword": PASSWORD, "code": codes[3]},
        headers=admin.headers,
    )
    assert off.status_code == 204
    assert client.get(f"{API}/users", headers=admin.headers).status_code == 403


# Secrets


def test_the_secret_never_appears_in_logs_audit_rows_or_answers(
    client: TestClient, user: Account, admin: Account, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret, codes = turn_on(client, db, user)
    totp = pyotp.TOTP(secret)
    first_code = totp.now()
    pair = sign_in_with_code(client, user, first_code)
    sign_in_with_code(client, user, codes[0])
    headers = bearer(pair["accessToken"])
    answers = [
        client.get(TWO_FACTOR, headers=headers).text,
        client.get(ME, headers=headers).text,
        client.get(f"{ME}/security-events", headers=headers).text,
        client.get(f"{API}/audit-events", params={"limit": 100}, headers=admin.headers).text,
        client.get(f"{API}/users/{user.id}", headers=admin.headers).text,
        client.post(LOGIN, json={"email": user.email, "password": PASSWORD}).text,
    ]
    audit_rows = [row.model_dump_json() for row in fresh(db).exec(select(AuditEvent)).all()]
    db.commit()
    for text in (*answers, *audit_rows, caplog.text):
        assert secret not in text
        assert secret.lower() not in text
        assert codes[0] not in text
        assert codes[1] not in text
    # At rest the secret is encrypted, and the recovery codes hashed.
    factor = fresh(db).get(TotpFactor, user.id)
    assert factor is not None
    assert secret not in factor.secret_encrypted
    assert (
        totp_codes.secret_box(settings_of(client)).decrypt(
            factor.secret_encrypted, context=str(user.id)
        )
        == secret
    )
    rows = fresh(db).exec(select(RecoveryCode)).all()
    assert all(code not in row.code_hash for row in rows for code in codes)
    assert "secret_encrypted" not in repr(factor)


def test_a_secret_copied_to_another_account_does_not_decrypt(
    client: TestClient, user: Account, other_user: Account, db: Session
) -> None:
    enrol(client, user)
    factor = fresh(db).get(TotpFactor, user.id)
    assert factor is not None
    box = totp_codes.secret_box(settings_of(client))
    with pytest.raises(Exception, match="cannot decrypt"):
        box.decrypt(factor.secret_encrypted, context=str(other_user.id))


def test_secrets_outlive_a_key_rotation_and_move_to_the_new_key(
    make_client: Callable[..., TestClient], make_account: Callable[..., Account], db: Session
) -> None:
    old_key = "the-old-signing-key-that-is-long-enough-1"
    new_key = "the-new-signing-key-that-is-long-enough-2"
    before = make_client(jwt_secret_key=old_key)
    user = make_account()
    user.access_token = login(before, user.email)["accessToken"]
    secret, _codes = turn_on(before, db, user)
    after = make_client(jwt_secret_key=new_key, jwt_previous_secret_keys=old_key)
    encrypted_before = fresh(db).get(TotpFactor, user.id).secret_encrypted  # type: ignore[union-attr]
    db.commit()
    sign_in_with_code(after, user, pyotp.TOTP(secret).now())
    encrypted_after = fresh(db).get(TotpFactor, user.id).secret_encrypted  # type: ignore[union-attr]
    db.commit()
    assert encrypted_after != encrypted_before
    new_box = totp_codes.secret_box(settings_of(make_client(jwt_secret_key=new_key)))
    assert new_box.decrypt(encrypted_after, context=str(user.id)) == secret
