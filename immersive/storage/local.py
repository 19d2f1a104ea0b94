"""Storage in a local directory. Writes go to a temporary file in the same directory tree and are renamed
into place, so a reader (or a crash) never sees half a file."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import NotFound
from . import check_key


class LocalStorage:
    def __init__(self, root: Path, chunk_bytes: int = 1024 * 1024):
        self.root = Path(root)
        self.chunk_bytes = chunk_bytes
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp / uuid.uuid4().hex
        try:
            with open(tmp, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, self.chunk_bytes)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no object {key}") from None

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            handle = open(self.path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"no object {key}") from None
        return self._chunks(handle, start, end)

    def _chunks(self, handle: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = handle.read(self.chunk_bytes if remaining is None else min(self.chunk_bytes, remaining))
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"no object {key}") from None

    def delete(self, key: str) -> None:
        path = self.path(key)
        path.unlink(missing_ok=True)
        # Drop the emptied content-address folders (assets/ab/abcd.../) but never the root.
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def move(self, source: str, target: str) -> None:
        dest = self.path(target)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self.path(source), dest)
        except FileNotFoundError:
            raise NotFound(f"no object {source}") from None

    def url(self, key: str) -> str | None:
        return None

    def presigned_put(self, key: str, content_type: str | None = None) -> str | None:
        return None
