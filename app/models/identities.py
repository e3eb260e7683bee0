"""Sign-in with an external provider: the accounts' linked provider identities, the
provider answers awaiting their exchange, and the bodies of that flow.

A linked identity is the provider's name and its stable id of the person (`subject`,
the OpenID Connect `sub` or GitHub's numeric user id), never their email: emails
change hands, subjects do not. A provider's answer waits for its exchange under the
SHA-256 hash of the single-use code handed to the browser, for a minute at most.
"""

import uuid
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.fields import CamelModel, InputModel, OutputModel, UTCDateTime, new_id, timestamp


class UserIdentity(SQLModel, table=True):
    """A provider's person linked to an account: they sign in to it through that provider."""

    __tablename__ = "user_identities"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)

    id: uuid.UUID = new_id()
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    provider: str = Field(max_length=32)
    subject: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=254)  # as the provider last said
    created_at: datetime = timestamp()
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ProviderAnswer(SQLModel, table=True):
    """A provider's verified answer about a person, until the browser exchanges the
    single-use code it was handed for a sign-in."""

    __tablename__ = "provider_answers"

    code_hash: str = Field(max_length=64, primary_key=True, repr=False)
    provider: str = Field(max_length=32)
    subject: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=254)
    email_verified: bool = False
    name: str | None = Field(default=None, max_length=255)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class IdentityPublic(OutputModel):
    """A sign-in provider linked to the account."""

    id: uuid.UUID
    provider: str = Field(description="The provider's name, as in /auth/providers")
    email: str | None = Field(description="The email address the provider last gave")
    created_at: datetime
    last_used_at: datetime | None


class ProviderPublic(CamelModel):
    """A configured sign-in provider: send the browser to `authorizeUrl`."""

    name: str = Field(description="Its name in URLs: `github`, `google` or `oidc`")
    display_name: str
    authorize_url: str = Field(
        description="Where a browser starts the sign-in (a path of this service); add "
        "`?redirectTo=` to land elsewhere than the default landing page"
    )


class ProviderExchange(InputModel):
    code: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            description="The `code` the landing page received in its address",
        ),
    ]
