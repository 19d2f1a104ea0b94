"""The catalog's tables (SQLAlchemy 2, typed mappings). Portable between SQLite and PostgreSQL: string ids,
JSON columns, UTC timestamps; the schema itself is created by the Alembic migrations in `migrations/`.

Every row that belongs to a merchant carries `merchant_id`, and every query function filters on it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

ROLES = ("merchandiser", "reader")
PRODUCT_STATUSES = ("draft", "published")
UPLOAD_STATES = ("pending", "stored", "rejected")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
JOB_FINAL_STATES = ("succeeded", "failed", "cancelled")


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores no zone: kept as naive UTC there)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    catalog_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", doc="bumped by every change the public API can show (cache validator)"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A key is shown once as `imk_{id}_{secret}`; only sha256(salt + secret) is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    salt: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    merchant: Mapped[Merchant] = relationship()


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("merchant_id", "sku", name="uq_products_merchant_sku"),
        Index("ix_products_merchant_status", "merchant_id", "status"),
        Index("ix_products_merchant_category", "merchant_id", "category"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), default="generic")
    width_m: Mapped[float | None] = mapped_column(Float, default=None)
    height_m: Mapped[float | None] = mapped_column(Float, default=None)
    depth_m: Mapped[float | None] = mapped_column(Float, default=None)
    price: Mapped[str | None] = mapped_column(String(32), default=None, doc="decimal string, exact")
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    product_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    variants: Mapped[list[Any]] = mapped_column(default=list)
    hotspots: Mapped[list[Any]] = mapped_column(
        default=list, server_default="[]", doc="[{id, label, text, position, normal}], metres in the normalized frame"
    )
    status: Mapped[str] = mapped_column(String(20), default="draft")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    asset: Mapped["Asset | None"] = relationship(back_populates="product", cascade="all, delete-orphan", uselist=False)


class Asset(Base):
    """A product's 3D asset: its versions and which one is current (what the public API serves)."""

    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), unique=True)
    # No foreign key: versions point at their asset, and a cycle of constraints would not migrate on SQLite.
    current_version_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="asset")
    versions: Mapped[list["AssetVersion"]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetVersion.number"
    )


class AssetVersion(Base):
    __tablename__ = "asset_versions"
    __table_args__ = (UniqueConstraint("asset_id", "number", name="uq_asset_versions_number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    profile: Mapped[str] = mapped_column(String(40))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    upload_id: Mapped[str | None] = mapped_column(ForeignKey("uploads.id", ondelete="SET NULL"), default=None, index=True)
    source_sha256: Mapped[str] = mapped_column(String(64))
    # The bundle's full documents, loaded only when asked for; listings read `summary_json`.
    metadata_json: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, deferred=True)
    report_json: Mapped[dict[str, Any]] = mapped_column("report", JSON, deferred=True)
    summary_json: Mapped[dict[str, Any]] = mapped_column("summary", JSON, doc="assets.summarize(metadata, report)")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    asset: Mapped[Asset] = relationship(back_populates="versions")
    files: Mapped[list["AssetFile"]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="AssetFile.name"
    )


class AssetFile(Base):
    """One stored bundle file. Keys are content-addressed, so versions can share them: a key's bytes are
    deleted only when no row names it any more."""

    __tablename__ = "asset_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("asset_versions.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(300), index=True)
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))

    version: Mapped[AssetVersion] = relationship(back_populates="files")


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("merchant_id", "idempotency_key", name="uq_uploads_idempotency"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    size: Mapped[int | None] = mapped_column(Integer, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    source_key: Mapped[str | None] = mapped_column(String(300), default=None)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="profile, unit, up, dimensions, category")
    error_code: Mapped[str | None] = mapped_column(String(60), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class Job(Base):
    """One pipeline run on an upload's source. The row is the queue: workers claim it with a lease and
    renew the lease while they run; a job whose lease ran out (its worker died) is queued again."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_next", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="process", doc="process | reprocess")
    profile: Mapped[str] = mapped_column(String(40))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    stage: Mapped[str | None] = mapped_column(String(40), default=None)
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    error_code: Mapped[str | None] = mapped_column(String(60), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    version_id: Mapped[str | None] = mapped_column(String(32), default=None, doc="the version it made")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StageStat(Base):
    """Pipeline stage durations as histogram buckets, kept in the catalog so that every worker process
    (thread, `immersive worker`, queue worker) adds to the same series and /metrics on any API node
    shows them. `bucket` indexes metrics.STAGE_BUCKETS; len(STAGE_BUCKETS) is the +Inf bucket."""

    __tablename__ = "pipeline_stage_stats"

    stage: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0, doc="sum of the durations counted in this bucket")


class Event(Base):
    """One analytics event from a viewer (POST /api/v1/events): what happened, to which product, in which
    pseudonymous session. No personal data: the session id is a random per-tab id the viewer makes."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_merchant", "merchant_id", "id"),
        Index("ix_events_merchant_type", "merchant_id", "type", "id"),
        Index("ix_events_merchant_sku", "merchant_id", "sku", "id"),
        Index("ix_events_merchant_session", "merchant_id", "session", "id"),
    )

    # 64-bit on PostgreSQL (analytics outgrow 2^31 rows); SQLite's rowid is 64-bit already.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    sku: Mapped[str | None] = mapped_column(String(100), default=None, doc="the product's SKU when it was sent")
    session: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(40))
    props: Mapped[dict[str, Any]] = mapped_column(default=dict)
    client_ts: Mapped[float] = mapped_column(Float, doc="ms since the epoch by the client's clock")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(Base):
    """What a shopper agreed to in a pseudonymous session, for which purposes, under which notice version
    (catalog/looks.py). Withdrawing keeps the record and sets withdrawn_at."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_session", "session", "given_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session: Mapped[str] = mapped_column(String(64), doc="pseudonymous random session id, never tied to a person")
    purposes: Mapped[list[Any]] = mapped_column(doc="what was agreed to, e.g. ['save_look']")
    notice_version: Mapped[str] = mapped_column(String(40), doc="the version of the privacy notice shown")
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


class SavedLook(Base):
    """A try-on image a session chose to keep with its consent: only the composited image (bytes in storage
    under storage_key), until expires_at (catalog/looks.py)."""

    __tablename__ = "saved_looks"
    __table_args__ = (Index("ix_saved_looks_session", "session"), Index("ix_saved_looks_expires", "expires_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True, doc="unguessable: 256 random bits")
    session: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id", ondelete="CASCADE"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(100))
    variant: Mapped[str | None] = mapped_column(String(200), default=None)
    storage_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(100))
    bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
