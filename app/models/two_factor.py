"""Two-factor sign-in (TOTP, RFC 6238): an account's authenticator and its recovery
codes, and the bodies of enrolment, confirmation, sign-in and disabling.

The TOTP secret is stored encrypted (`app.core.encryption`), recovery codes as
SHA-256 hashes: neither table has a `...Public` sibling that could show them. The
secret is shown once, when an enrolment starts, and recovery codes once, when it is
confirmed.
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from sqlmodel import Field, SQLModel

from app.models.fields import CamelModel, InputModel, OutputModel, UTCDateTime, new_id, timestamp

# A code from an authenticator app (6 digits), or a recovery code (`xxxxx-xxxxx`).
Code = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="A 6-digit code from the authenticator app, or a recovery code",
    ),
]
CurrentPassword = Annotated[str, Field(max_length=1024)]


class TotpFactor(SQLModel, table=True):
    """An account's authenticator: pending until a code confirms it."""

    __tablename__ = "totp_factors"

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    secret_encrypted: str = Field(max_length=255, repr=False)  # never in repr() or str()
    created_at: datetime = timestamp()
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The time step of the last code accepted: a code is accepted only for a later
    # step, so no code works twice (RFC 6238, section 5.2).
    last_used_step: int | None = None


class RecoveryCode(SQLModel, table=True):
    """A single-use code that stands in for a TOTP code (kept as a SHA-256 hash)."""

    __tablename__ = "recovery_codes"

    id: uuid.UUID = new_id()
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    code_hash: str = Field(max_length=64, repr=False)
    created_at: datetime = timestamp()
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TwoFactorStart(InputModel):
    current_password: CurrentPassword


class TwoFactorEnrolment(CamelModel):
    """A new authenticator to add to an app: shown once, at the start of an enrolment."""

    secret: str = Field(description="The TOTP secret (base32), for typing into an app")
    otpauth_uri: str = Field(description="The `otpauth://totp/...` URI, for a QR code")
    digits: int = 6
    period: int = 30
    algorithm: Literal["SHA1"] = "SHA1"


class TwoFactorConfirm(InputModel):
    code: Code


class RecoveryCodes(CamelModel):
    """Single-use recovery codes, shown once: each stands in for a code once."""

    recovery_codes: list[str]


class TwoFactorDisable(InputModel):
    current_password: CurrentPassword
    code: Code


class TwoFactorStatus(OutputModel):
    enabled: bool
    pending: bool = Field(description="An enrolment was started and awaits its code")
    enabled_at: datetime | None
    recovery_codes_left: int


class TwoFactorChallenge(CamelModel):
    """The credentials were right and the account signs in with a second factor: send
    a code with this token to `/auth/login/two-factor`."""

    two_factor_required: Literal[True] = True
    challenge_token: str
    expires_in: int = Field(description="Seconds the challenge token lives")


class TwoFactorLogin(InputModel):
    challenge_token: Annotated[str, Field(max_length=4096)]
    code: Code
