"""Object storage for sources and bundles: the `Storage` protocol and its two implementations, `local`
(a directory, served by the app's /files route) and `s3` (boto3; any S3-compatible server).

Key layout (every bundle file is content-addressed and immutable, so it is never rewritten and can be
cached forever):
    sources/{sha256}                         an uploaded source file, as received
    incoming/{upload_id}                     a two-step upload's bytes before they are verified (S3 only)
    assets/{sha256[:2]}/{sha256}/{name}      one bundle file (model.glb, poster.webp, ...), by its own sha256
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import BinaryIO, Iterator, Protocol

from asset_pipeline.metadata import CONTENT_TYPES

from ..config import Settings

PUBLIC_PREFIX = "assets/"


class Storage(Protocol):
    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> None:
        """Store bytes or a readable binary stream (read in chunks, never whole) under `key`, atomically."""

    def get(self, key: str) -> bytes: ...

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes start..end (inclusive, like HTTP Range; None = to the end) as chunks."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """Bytes stored under `key`; raises NotFound."""

    def delete(self, key: str) -> None:
        """Remove `key`; no error when it is already gone."""

    def move(self, source: str, target: str) -> None:
        """Rename within the store (the target is replaced)."""

    def url(self, key: str) -> str | None:
        """A URL clients fetch the object from directly, or None when the app serves it (/files/{key})."""

    def presigned_put(self, key: str, content_type: str | None = None) -> str | None:
        """A URL a client PUTs the bytes to directly, or None when uploads go through the app."""


def bundle_key(sha256: str, name: str) -> str:
    return f"{PUBLIC_PREFIX}{sha256[:2]}/{sha256}/{name}"


def source_key(sha256: str) -> str:
    return f"sources/{sha256}"


def incoming_key(upload_id: str) -> str:
    return f"incoming/{upload_id}"


def content_type_for(key: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(key).suffix.lower(), "application/octet-stream")


def check_key(key: str) -> str:
    """Keys are relative POSIX paths without '..' or empty parts: they become file paths in local storage."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid storage key {key!r}")
    return key


def make_storage(settings: Settings) -> Storage:
    if settings.storage == "s3":
        from .s3 import S3Storage

        return S3Storage.from_settings(settings)
    from .local import LocalStorage

    return LocalStorage(settings.resolved_storage_dir, chunk_bytes=settings.upload_chunk_bytes)
