"""Service settings: environment variables with the `IMMERSIVE_` prefix (or a `.env` file), documented in
the README. The defaults are the embedded deployment: one data directory holding the SQLite catalog, the
local file store and nothing else, with the job worker running inside the service process. Scale-out is
the same code with other settings: a PostgreSQL `database_url`, `storage=s3`, `worker=external` and
`immersive worker` processes."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from asset_pipeline.limits import Limits

REPO_WEB_VIEWER = Path(__file__).resolve().parent.parent / "web_viewer"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMMERSIVE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="SQLite catalog, local storage and temp files live here")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///{data_dir}/catalog.sqlite3 (postgresql+psycopg://...)"
    )
    auto_migrate: bool = Field(default=True, description="run the Alembic migrations when the service starts")

    storage: Literal["local", "s3"] = "local"
    storage_dir: Path | None = Field(default=None, description="local storage root; default {data_dir}/storage")
    s3_bucket: str = "immersive"
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible server, e.g. http://127.0.0.1:9000")
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_create_bucket: bool = Field(default=False, description="create the bucket on start when it is missing")
    s3_presign_expiry_seconds: int = Field(default=3600, description="lifetime of presigned GET and PUT URLs")
    s3_public_base_url: str | None = Field(
        default=None, description="CDN or public bucket URL for asset files; unset = presigned GET URLs"
    )

    public_base_url: str | None = Field(
        default=None, description="absolute base of the URLs the API hands out; unset = taken from each request"
    )
    web_viewer_dir: Path = Field(
        default=REPO_WEB_VIEWER,
        description="the browser side served under /viewer/ and /p/; its node_modules/three (scripts/setup.sh) must exist",
    )
    public_cache_seconds: float = Field(
        default=1.0,
        description="public responses are reused while the catalogue version, checked at most this often, is unchanged; 0 = no cache",
    )
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, description="largest upload accepted (also capped by the pipeline limit)")
    upload_chunk_bytes: int = Field(default=1024 * 1024, description="buffer size when streaming uploads and files")
    upload_expiry_hours: float = Field(
        default=24.0, description="two-step uploads not completed by then are removed with their bytes"
    )
    validate_uploads: bool = Field(
        default=True, description="read every upload once when it arrives, so bad files are refused with 4xx at once"
    )

    worker: Literal["embedded", "external", "queue"] = Field(
        default="embedded",
        description="embedded: a worker thread inside the service; external: `immersive worker` processes poll the "
        "jobs table; queue: jobs go over Redis (RQ) to `immersive worker` processes",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="the Redis of worker=queue")
    queue_name: str = Field(default="immersive", description="RQ queue name (several deployments can share a Redis)")
    job_timeout_seconds: float = Field(default=3600.0, description="queue workers stop a job running longer than this")
    worker_poll_seconds: float = 0.5
    job_lease_seconds: float = Field(default=60.0, description="a running job whose lease is not renewed for this long is requeued")
    job_max_attempts: int = 3
    job_retry_base_seconds: float = Field(default=5.0, description="backoff: base * 2^(attempt-1) after a transient failure")

    profile: str = Field(default="web-ar", description="pipeline profile of new uploads unless the upload names one")
    pipeline_validate: bool | None = Field(default=None, description="Khronos validator: None = when installed")
    pipeline_usdz: bool | None = Field(default=None, description="model.usdz: None = as the profile says")
    pipeline_poster: bool = True

    # Kiosk try-on stream (WebSocket /api/v1/tryon/stream, immersive/tryon/stream.py)
    tryon_stream_max_connections: int = Field(
        default=2, ge=1, description="streams open at once per service process (each runs a landmarker); more are closed with 1013"
    )
    tryon_stream_max_frame_bytes: int = Field(default=1024 * 1024, ge=1024, description="largest camera frame (JPEG) accepted")
    tryon_stream_max_frame_pixels: int = Field(default=1920 * 1080, ge=64 * 64, description="largest frame size, width x height")
    tryon_stream_idle_seconds: float = Field(default=30.0, gt=0, description="a stream with no message for this long is closed (4408)")

    # Photo try-on and saved looks (POST /api/v1/tryon/photo, /api/v1/tryon/looks; immersive/tryon/photo.py)
    tryon_photo_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1024, description="largest photo file accepted")
    tryon_photo_max_pixels: int = Field(default=50_000_000, ge=64 * 64, description="largest photo as sent, width x height")
    tryon_photo_max_edge: int = Field(
        default=2048, ge=256, description="photos are scaled down to this on their longer side (the answer's size too)"
    )
    saved_look_retention_hours: float = Field(
        default=24.0, gt=0, description="saved looks are deleted this long after they were saved (the janitor, immersive gc)"
    )

    # Forwarded to asset_pipeline.limits.Limits (protection against hostile files).
    max_input_bytes: int = Limits().max_input_bytes
    max_zip_members: int = Limits().max_zip_members
    max_zip_uncompressed_bytes: int = Limits().max_zip_uncompressed_bytes
    max_zip_ratio: float = Limits().max_zip_ratio
    max_image_pixels: int = Limits().max_image_pixels
    max_input_triangles: int = Limits().max_input_triangles
    max_input_vertices: int = Limits().max_input_vertices
    max_nodes: int = Limits().max_nodes
    max_json_bytes: int = Limits().max_json_bytes

    @cached_property
    def limits(self) -> Limits:
        return Limits(**{name: getattr(self, name) for name in Limits.model_fields})

    @property
    def upload_limit_bytes(self) -> int:
        return min(self.max_upload_bytes, self.max_input_bytes)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'catalog.sqlite3').resolve()}"

    @property
    def resolved_storage_dir(self) -> Path:
        return (self.storage_dir or self.data_dir / "storage").resolve()

    @property
    def tmp_dir(self) -> Path:
        """Upload spool files; on the data volume so that moving a finished upload into local storage is a rename."""
        return (self.data_dir / "tmp").resolve()
