"""The settings of item attachments: where their bytes are kept (a directory, or an
S3-compatible bucket), how large they may be and which types are accepted."""

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

# What an upload may be, by the type its bytes show (never by what the client says).
DEFAULT_ATTACHMENT_TYPES = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
]


class StorageSettings(BaseSettings):
    """ATTACHMENT_* and S3_*; `Settings` extends it."""

    attachment_storage: Literal["local", "s3"] = "local"
    attachment_dir: Path = Path("attachments")
    attachment_max_bytes: int = Field(10 * 1024 * 1024, ge=1)
    attachment_content_types: Annotated[list[str], NoDecode] = DEFAULT_ATTACHMENT_TYPES
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = Field(None, min_length=3, max_length=63)
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    @field_validator("attachment_content_types", mode="before")
    @classmethod
    def _split_types(cls, value: object) -> object:
        if isinstance(value, str):
            return [kind.strip().lower() for kind in value.split(",") if kind.strip()]
        return value

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> Self:
        if self.attachment_storage == "s3" and not self.s3_bucket:
            raise ValueError("ATTACHMENT_STORAGE=s3 needs S3_BUCKET")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError("set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither")
        return self
