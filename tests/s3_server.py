"""A real S3-compatible server on loopback for the tests: moto in server mode
(`python -m moto.server`), a process of its own answering S3's HTTP API, so the
service's boto3 calls cross a real socket as they would to AWS or MinIO."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import httpx

from tests.helpers import free_port, poll

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"  # moto accepts any
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """Where the server answers."""

    endpoint_url: str

    def client(self) -> Any:
        """A boto3 S3 client of the server, to arrange and check objects."""
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )  # fmt: skip

    def new_bucket(self) -> str:
        """A new empty bucket; returns its name."""
        name = f"files-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """The keys of every object in `bucket`."""
        found = self.client().list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(entry["Key"] for entry in found)

    def settings(self, bucket: str) -> dict[str, Any]:
        """The service's settings for `bucket` on this server."""
        return {
            "attachment_storage": "s3", "s3_bucket": bucket, "s3_endpoint_url": self.endpoint_url,
            "s3_region": REGION, "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
        }  # fmt: skip


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.TransportError:
        return False


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """Run moto's S3 server on a free loopback port until the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert poll(lambda: process.poll() is None and _answers(url)), "moto did not start"
        yield S3Server(url)
    finally:
        process.terminate()
        process.wait(timeout=30)
