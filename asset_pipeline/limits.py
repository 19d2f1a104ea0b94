"""Limits that protect the pipeline from hostile or runaway input. All are settings: pass a `Limits`
to `optimize(..., limits=...)`, or set `ASSET_PIPELINE_<NAME>` environment variables (the service
forwards its own settings here)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Limits(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSET_PIPELINE_", frozen=True)

    max_input_bytes: int = 512 * 1024 * 1024
    """Largest single upload (file or zip) accepted."""
    max_zip_members: int = 2000
    max_zip_uncompressed_bytes: int = 1024 * 1024 * 1024
    """Total bytes a zip may expand to."""
    max_zip_ratio: float = 200.0
    """Largest uncompressed/compressed ratio of any zip member (zip bombs reach 1000x and more)."""
    max_image_pixels: int = 8192 * 8192
    """Largest decoded image (width x height); beyond it is treated as a decompression bomb."""
    max_input_triangles: int = 20_000_000
    max_input_vertices: int = 20_000_000
    max_nodes: int = 100_000
    max_json_bytes: int = 64 * 1024 * 1024
    """Largest glTF JSON (chunk or file)."""


DEFAULT_LIMITS = Limits()
