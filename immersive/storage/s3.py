"""Storage in an S3 bucket (AWS or any S3-compatible server through `endpoint_url`). boto3 is imported
here only. Clients fetch asset files from presigned GET URLs (or a CDN base URL) and two-step uploads go
straight to the bucket with presigned PUT URLs, so the app never proxies those bytes."""

from __future__ import annotations

from typing import BinaryIO, Iterator

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from ..config import Settings
from ..errors import NotFound
from . import PUBLIC_PREFIX, check_key, content_type_for

# Content-addressed asset files never change: caches may keep them for a year.
IMMUTABLE = "public, max-age=31536000, immutable"


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class S3Storage:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        presign_expiry: int = 3600,
        public_base_url: str | None = None,
        chunk_bytes: int = 1024 * 1024,
    ):
        self.bucket = bucket
        self.presign_expiry = presign_expiry
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.chunk_bytes = chunk_bytes
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            # Path-style addressing works with every S3-compatible server (no wildcard DNS needed).
            config=Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint_url else "auto"}),
        )
        # Objects above 16 MB go up in 16 MB parts, several at a time.
        self.transfer = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)

    @classmethod
    def from_settings(cls, settings: Settings) -> "S3Storage":
        storage = cls(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            presign_expiry=settings.s3_presign_expiry_seconds,
            public_base_url=settings.s3_public_base_url,
            chunk_bytes=settings.upload_chunk_bytes,
        )
        if settings.s3_create_bucket:
            storage.ensure_bucket()
        return storage

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def _extra(self, key: str, content_type: str | None) -> dict[str, str]:
        extra = {"ContentType": content_type or content_type_for(key)}
        if key.startswith(PUBLIC_PREFIX):
            extra["CacheControl"] = IMMUTABLE
        return extra

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> None:
        check_key(key)
        extra = self._extra(key, content_type)
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data), **extra)
        else:
            self.client.upload_fileobj(data, self.bucket, key, ExtraArgs=extra, Config=self.transfer)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(f"no object {key}") from None
            raise

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        span = f"bytes={start}-{'' if end is None else end}"
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key, Range=span)["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(f"no object {key}") from None
            raise
        return body.iter_chunks(self.chunk_bytes)

    def _head(self, key: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise NotFound(f"no object {key}")
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def move(self, source: str, target: str) -> None:
        check_key(target)
        if not self.exists(source):
            raise NotFound(f"no object {source}")
        # Managed copy: server-side, multipart above 5 GB; the bytes never pass through this process.
        self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target, ExtraArgs={
            **self._extra(target, None), "MetadataDirective": "REPLACE"
        }, Config=self.transfer)
        self.delete(source)

    def url(self, key: str) -> str | None:
        if self.public_base_url:
            return f"{self.public_base_url}/{key}"
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.presign_expiry
        )

    def presigned_put(self, key: str, content_type: str | None = None) -> str | None:
        params = {"Bucket": self.bucket, "Key": check_key(key)}
        if content_type:
            params["ContentType"] = content_type
        return self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=self.presign_expiry)
