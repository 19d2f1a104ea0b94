"""Privacy scans for the try-on tests: everything a service keeps (every storage object, every row of every
database table, every file in its data directory) is listed and checked for photos and landmarks. Only the
product bundles the tests uploaded and the looks a test saved with consent may be there."""

from __future__ import annotations

import base64
import json
import numbers
from pathlib import Path

from sqlalchemy import MetaData, select

IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF", b"GIF8")
BASE64_IMAGE_MAGIC = tuple(base64.b64encode(m)[:4].decode() for m in (b"\xff\xd8\xff", b"\x89PNG\r\n"))
LANDMARK_LIKE = 20  # more numbers than this in one list (nested or not): 21 hand or 478 face points


def storage_keys(runtime) -> list[str]:
    if runtime.settings.storage == "s3":
        client = runtime.storage.client
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=runtime.settings.s3_bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    root = runtime.settings.resolved_storage_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def database_rows(runtime) -> dict[str, list[dict]]:
    """Every row of every table, as dicts (the schema is read from the database itself)."""
    metadata = MetaData()
    metadata.reflect(runtime.engine)
    with runtime.engine.connect() as connection:
        return {name: [dict(row._mapping) for row in connection.execute(select(table))] for name, table in metadata.tables.items()}


def _numbers(value) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, numbers.Number):
        return 1
    if isinstance(value, (list, tuple)):
        return sum(_numbers(v) for v in value)
    return 0


def _suspicious(value) -> str | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if data.startswith(IMAGE_MAGIC):
            return "image bytes"
        if len(data) > 4096:
            return f"a {len(data)}-byte blob"
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value) if value[:1] in "[{" else value
        except ValueError:
            pass
    if isinstance(value, str):
        if value.lstrip().startswith(BASE64_IMAGE_MAGIC) or value.startswith("data:image"):
            return "a base64 image"
        return "a landmark name" if "landmark" in value.lower() else None
    if isinstance(value, dict):
        for inner in value.values():
            found = _suspicious(inner)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        if _numbers(value) > LANDMARK_LIKE:
            return f"a list of {_numbers(value)} numbers"
        for inner in value:
            found = _suspicious(inner)
            if found:
                return found
    return None


def assert_nothing_kept(runtime, looks: dict[str, bytes] | None = None) -> None:
    """Only bundles (registered in asset_files / uploads) and the given saved looks (storage key -> the bytes
    the API answered) exist; no row holds an image or a landmark-like array; the data directory holds no image."""
    looks = looks or {}
    rows = database_rows(runtime)
    bundle_keys = {row["key"] for row in rows.get("asset_files", [])}
    source_keys = {row["source_key"] for row in rows.get("uploads", []) if row.get("source_key")}
    for key in storage_keys(runtime):
        if key in looks:
            assert runtime.storage.get(key) == looks[key], f"{key} is not the composited image the API answered"
            continue
        assert key in bundle_keys or key in source_keys, f"storage holds {key}, which is no product file"
    assert {row["storage_key"] for row in rows.get("saved_looks", [])} == set(looks), "saved_looks rows differ from the consented looks"
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                if table == "asset_versions" and column in ("metadata", "report", "summary"):
                    continue  # the pipeline's documents about product models (bounds, sizes, vertices counted)
                found = _suspicious(value)
                assert found is None, f"{table}.{column} holds {found}: {str(value)[:200]}"
    data_dir: Path = runtime.settings.data_dir
    storage_dir = runtime.settings.resolved_storage_dir
    for path in data_dir.rglob("*"):
        if path.is_file() and storage_dir not in path.parents and ".sqlite3" not in path.name:
            with path.open("rb") as handle:
                head = handle.read(16)
            assert not head.startswith(IMAGE_MAGIC), f"{path} is an image"
