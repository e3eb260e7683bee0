"""The tables and their request/response siblings (SQLModel's "multiple models").

Each table class has siblings: `...Create`/`...Update` validate input before a row is
built (table classes skip validation), `...Public` declares what responses show.
One module per table family; `payloads` holds the bodies that are no table's sibling,
and `fields` the field types and base classes they are all built from. Importing this
package registers every table with `SQLModel.metadata` (Alembic reads it from there).
"""

from app.models.api_tokens import (
    ApiToken,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    TokenScope,
)
from app.models.attachments import Attachment, AttachmentPublic
from app.models.audit import AuditEvent, AuditEventPublic
from app.models.changes import Change, LiveEvent
from app.models.identities import (
    IdentityPublic,
    ProviderAnswer,
    ProviderExchange,
    ProviderPublic,
    UserIdentity,
)
from app.models.items import Item, ItemCreate, ItemPublic, ItemUpdate
from app.models.sessions import AuthSession, LoginThrottle, SessionPublic
from app.models.two_factor import (
    RecoveryCode,
    RecoveryCodes,
    TotpFactor,
    TwoFactorChallenge,
    TwoFactorConfirm,
    TwoFactorDisable,
    TwoFactorEnrolment,
    TwoFactorLogin,
    TwoFactorStart,
    TwoFactorStatus,
)
from app.models.users import (
    Role,
    User,
    UserCreate,
    UserPublic,
    UserRegister,
    UserUpdate,
    UserUpdateMe,
)

__all__ = [
    "ApiToken",
    "ApiTokenCreate",
    "ApiTokenCreated",
    "ApiTokenPublic",
    "Attachment",
    "AttachmentPublic",
    "AuditEvent",
    "AuditEventPublic",
    "AuthSession",
    "Change",
    "IdentityPublic",
    "Item",
    "ItemCreate",
    "ItemPublic",
    "ItemUpdate",
    "LiveEvent",
    "LoginThrottle",
    "ProviderAnswer",
    "ProviderExchange",
    "ProviderPublic",
    "RecoveryCode",
    "RecoveryCodes",
    "Role",
    "SessionPublic",
    "TokenScope",
    "TotpFactor",
    "TwoFactorChallenge",
    "TwoFactorConfirm",
    "TwoFactorDisable",
    "TwoFactorEnrolment",
    "TwoFactorLogin",
    "TwoFactorStart",
    "TwoFactorStatus",
    "User",
    "UserCreate",
    "UserIdentity",
    "UserPublic",
    "UserRegister",
    "UserUpdate",
    "UserUpdateMe",
]
