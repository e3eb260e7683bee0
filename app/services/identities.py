"""Accounts' linked sign-in providers: the account a provider's person signs in to
(found, linked or made), and listing and unlinking them. No HTTP here.

* A person already linked signs in to their account, whatever their email is now.
* Otherwise the provider's email decides, and only once the provider has verified
  it: the account with that email gets the person linked; with none, an account is
  made (if registration is open) with that email, verified, and no password.
* An unverified email is refused either way (`OAUTH_EMAIL_NOT_VERIFIED`): linking
  would hand an account to whoever typed its address at a lax provider, and making
  one would let them keep a link into it once the address's owner recovers it.
* A link goes only while the account keeps another way to sign in: its password or
  another provider (`LAST_SIGN_IN_METHOD`); the account's row is written first,
  which locks it, so two unlinks at once cannot take the last two.
"""

import uuid

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select, update

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.passwords import no_password
from app.models import IdentityPublic, ProviderAnswer, User, UserIdentity
from app.models.fields import Email, utcnow
from app.services import accounts, audit
from app.services.audit import AuditAction

EMAIL: TypeAdapter[str] = TypeAdapter(Email)
NAME_LENGTH = 255


def provider_email(answer: ProviderAnswer) -> str | None:
    """The answer's email as accounts store it, if it is one this service accepts."""
    try:
        return EMAIL.validate_python(answer.email) if answer.email else None
    except ValidationError:
        return None


def account_for(
    db: Session, settings: Settings, answer: ProviderAnswer
) -> tuple[User, UserIdentity | None]:
    """The account the answer's person signs in to, and their link if they have one
    (else `link` adds it). Raises `OAUTH_EMAIL_MISSING`, `OAUTH_EMAIL_NOT_VERIFIED`
    or `REGISTRATION_DISABLED`."""
    linked = db.exec(
        select(UserIdentity).where(
            UserIdentity.provider == answer.provider, UserIdentity.subject == answer.subject
        )
    ).first()
    if linked is not None:
        return accounts.get_user(db, linked.user_id), linked
    email = provider_email(answer)
    if email is None:
        raise AppError(ErrorCode.OAUTH_EMAIL_MISSING)
    if not answer.email_verified:
        raise AppError(ErrorCode.OAUTH_EMAIL_NOT_VERIFIED)
    user = accounts.find_by_email(db, email)
    if user is not None:
        return user, None
    if not settings.allow_registration:
        raise AppError(ErrorCode.REGISTRATION_DISABLED)
    return _new_account(db, email, answer.name), None


def _new_account(db: Session, email: str, name: str | None) -> User:
    """An account with a provider's verified `email` and no password."""
    user = User(
        email=email,
        name=name[:NAME_LENGTH] if name else None,
        password_hash=no_password(),
        email_verified_at=utcnow(),
    )
    db.add(user)
    try:
        db.flush()
    except IntegrityError:  # another sign-in made it meanwhile
        raise AppError(ErrorCode.EMAIL_ALREADY_REGISTERED) from None
    audit.record(db, AuditAction.USER_CREATED, target=user, changes={"role": [None, user.role]})
    return user


def link(db: Session, user: User, answer: ProviderAnswer, linked: UserIdentity | None) -> None:
    """Note this sign-in on the person's link to `user`, adding the link first if
    there is none (the provider has then verified the account's email)."""
    now = utcnow()
    if linked is None:
        linked = UserIdentity(
            user_id=user.id, provider=answer.provider, subject=answer.subject, created_at=now
        )
        db.add(linked)
        if user.email_verified_at is None:
            user.email_verified_at = now
            audit.record(db, AuditAction.EMAIL_VERIFIED, reason=answer.provider, target=user)
        audit.record(db, AuditAction.IDENTITY_LINKED, reason=answer.provider, target=user)
    linked.email, linked.last_used_at = provider_email(answer), now
    try:
        db.flush()
    except IntegrityError:  # another sign-in linked the person meanwhile
        raise AppError(ErrorCode.EMAIL_ALREADY_REGISTERED) from None


def list_identities(db: Session, user_id: uuid.UUID) -> list[IdentityPublic]:
    """The providers linked to `user_id`, oldest link first."""
    rows = db.exec(
        select(UserIdentity)
        .where(UserIdentity.user_id == user_id)
        .order_by(col(UserIdentity.created_at), col(UserIdentity.id))
    ).all()
    return [IdentityPublic.model_validate(row) for row in rows]


def identities_of(db: Session, *, user_id: uuid.UUID) -> list[IdentityPublic]:
    """Any user's linked providers (an admin's view); `USER_NOT_FOUND` if none such."""
    accounts.get_user(db, user_id)
    return list_identities(db, user_id)


def unlink(db: Session, user: User, *, identity_id: uuid.UUID) -> None:
    """Remove one of `user`'s links (`IDENTITY_NOT_FOUND` if it is not theirs), unless
    it is their last way to sign in (`LAST_SIGN_IN_METHOD`)."""
    # A write to the account's row first: PostgreSQL locks the row, SQLite takes its
    # one write lock, so a second unlink at once waits and then counts what is left.
    db.exec(update(User).where(col(User.id) == user.id).values(email_changes=User.email_changes))
    linked = db.exec(
        select(UserIdentity).where(UserIdentity.id == identity_id, UserIdentity.user_id == user.id)
    ).first()
    if linked is None:
        raise AppError(ErrorCode.IDENTITY_NOT_FOUND)
    others = db.exec(
        select(func.count())
        .select_from(UserIdentity)
        .where(UserIdentity.user_id == user.id, UserIdentity.id != identity_id)
    ).one()
    db.refresh(user)  # its password as of the lock
    if others == 0 and not user.has_password:
        raise AppError(ErrorCode.LAST_SIGN_IN_METHOD)
    db.delete(linked)
    audit.record(db, AuditAction.IDENTITY_UNLINKED, reason=linked.provider, target=user)
