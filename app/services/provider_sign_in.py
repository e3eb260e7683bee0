"""Signing in with a provider's answer: handing it to the browser as a single-use
code, and trading that code for a session the way a password sign-in ends. No HTTP.

At the callback, a verified answer (`oauth_flow.finish`) is kept for ANSWER_SECONDS
under the SHA-256 hash of a random code, and the browser lands on the frontend with
`?code=` (never a token in an address); a failed one lands with `?error=CODE` and is
recorded in the audit log. The frontend posts the code to the exchange, which takes
the answer once (one DELETE ... RETURNING, so two exchanges at once cannot both have
it). Exchanges count against the sign-in budget of the client's address, and a code
that takes nothing counts as a failure. The account is then found, linked or made
(`identities`) and signed in as by a password (`sign_in.proceed`): a disabled account
refused, a second factor asked of an account that has one, the same audit events
and sign-in metrics.
"""

import secrets
from datetime import timedelta

from sqlmodel import Session, col, delete

from app.core import metrics
from app.core.config import Settings
from app.core.context import ANONYMOUS
from app.core.errors import AppError, ErrorCode
from app.core.tokens import hash_token
from app.models import ProviderAnswer, TwoFactorChallenge
from app.models.fields import utcnow
from app.models.payloads import TokenPair
from app.services import audit, identities, sign_in, throttle
from app.services.audit import AuditAction, Outcome
from app.services.oauth_flow import Outcome as FlowOutcome
from app.services.oauth_flow import with_query
from app.services.sessions import ClientInfo
from app.services.sign_in import Refusal

ANSWER_SECONDS = 60
SUBJECT_LENGTH = 255
EMAIL_LENGTH = 254


def _failed(db: Session, code: ErrorCode) -> None:
    audit.record(
        db, AuditAction.LOGIN_FAILED, outcome=Outcome.FAILURE, reason=code.lower(), actor=ANONYMOUS
    )
    metrics.count_sign_in(code.lower())


def keep_answer(db: Session, outcome: FlowOutcome) -> str:
    """Where the browser lands: with `?code=` for the answer, now kept, or with
    `?error=CODE` when there is none."""
    found = outcome.identity
    if found is not None and len(found.subject) > SUBJECT_LENGTH:
        found, outcome = None, FlowOutcome(outcome.landing, error=ErrorCode.OAUTH_EXCHANGE_FAILED)
    if found is None:
        error = outcome.error or ErrorCode.OAUTH_EXCHANGE_FAILED
        _failed(db, error)
        return with_query(outcome.landing, error=error)
    now = utcnow()
    db.exec(delete(ProviderAnswer).where(col(ProviderAnswer.expires_at) <= now))
    code = secrets.token_urlsafe(32)
    email = found.email if found.email and len(found.email) <= EMAIL_LENGTH else None
    db.add(
        ProviderAnswer(
            code_hash=hash_token(code),
            provider=outcome.provider,
            subject=found.subject,
            email=email,
            email_verified=found.email_verified and email is not None,
            name=found.name[: identities.NAME_LENGTH] if found.name else None,
            expires_at=now + timedelta(seconds=ANSWER_SECONDS),
        )
    )
    return with_query(outcome.landing, code=code)


def _take(db: Session, code: str) -> ProviderAnswer | None:
    """The live answer kept under `code`, removed as it is taken."""
    statement = (
        delete(ProviderAnswer)
        .where(
            col(ProviderAnswer.code_hash) == hash_token(code),
            col(ProviderAnswer.expires_at) > utcnow(),
        )
        .returning(ProviderAnswer)
        .execution_options(synchronize_session=False)
    )
    answer: ProviderAnswer | None = db.execute(statement).scalars().first()
    return answer


def exchange(
    db: Session, settings: Settings, *, code: str, client: ClientInfo
) -> TokenPair | TwoFactorChallenge:
    """Trade a sign-in code from the callback for a token pair, or a challenge when
    the account signs in with a second factor. A refusal is committed with its audit
    event before it is raised."""
    keys = throttle.client_keys(settings, ip_address=client.ip_address)
    try:
        reservation = throttle.reserve(db, keys, now=utcnow())
    except AppError:
        metrics.count_sign_in("throttled")
        raise
    answer = _take(db, code)
    throttle.settle(db, reservation, failed=answer is None)
    if answer is None:
        sign_in.refuse(db, Refusal(ErrorCode.OAUTH_CODE_INVALID, "oauth_code_invalid"), None)
    try:
        user, linked = identities.account_for(db, settings, answer)
    except AppError as error:
        if error.code is ErrorCode.EMAIL_ALREADY_REGISTERED:
            raise  # another sign-in made the account meanwhile: all is rolled back
        sign_in.refuse(db, Refusal(error.code, error.code.lower()), None)
    refusal = sign_in.refusal_of(settings, user)
    if refusal is not None:
        sign_in.refuse(db, refusal, user)
    identities.link(db, user, answer, linked)
    return sign_in.proceed(db, settings, user, client=client, method=f"provider:{answer.provider}")
