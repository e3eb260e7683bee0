"""Attachments in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, ...) through boto3.

Every call blocks (callers run it on a thread). One client serves every thread
(boto3 clients are thread-safe); it is made on first use, so a start-up never waits
for the store.
"""

from collections.abc import Iterator
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from app.core.storage import KEY, Readable, StoredObjectMissing
from app.core.storage_settings import StorageSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MISSING = frozenset({"NoSuchKey", "404"})
PREFIX = "attachments/"  # the bucket may hold other things: those are never listed


class S3Storage:
    """Objects in S3_BUCKET, named `attachments/<key>`."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket or ""

    @cached_property
    def client(self) -> "S3Client":
        """The S3 client of S3_ENDPOINT_URL (AWS when unset), S3_REGION and the keys."""
        secret = self.settings.s3_secret_access_key
        client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.settings.s3_endpoint_url,
            region_name=self.settings.s3_region,
            aws_access_key_id=self.settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3}),
        )
        return client

    def save(self, key: str, source: BinaryIO) -> None:
        """Upload `source` (in parts when large) as `key`."""
        source.seek(0)
        self.client.upload_fileobj(source, self.bucket, PREFIX + _checked(key))

    def open(self, key: str) -> Readable:
        """The object `key`'s body, streamed as it is read."""
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=PREFIX + _checked(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                raise StoredObjectMissing(key) from None
            raise
        body: Readable = found["Body"]
        return body

    def delete(self, key: str) -> None:
        """Remove the object `key` (S3 answers alike when there is none)."""
        self.client.delete_object(Bucket=self.bucket, Key=PREFIX + _checked(key))

    def listing(self) -> Iterator[tuple[str, datetime]]:
        """Every object under `attachments/` named like a key, with when it was written."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=PREFIX):
            for found in page.get("Contents", []):
                key = found["Key"].removeprefix(PREFIX)
                if KEY.fullmatch(key):
                    yield key, found["LastModified"]


def _checked(key: str) -> str:
    if not KEY.fullmatch(key):
        raise ValueError("not a storage key")
    return key
