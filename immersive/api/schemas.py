"""Request and response bodies. Input and output are separate types: inputs validate what a client may
set, outputs say what it gets back (ids, derived fields, URLs), so neither leaks into the other."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from asset_pipeline.categories import get_category
from asset_pipeline.errors import PipelineError

T = TypeVar("T")

ProductStatus = Literal["draft", "published"]
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ErrorOut(BaseModel):
    error: str = Field(description="stable machine code (the pipeline's own codes for file problems)")
    detail: Any = Field(description="what is wrong, in words a merchandiser can act on")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int


class DimensionsIn(BaseModel):
    width: float = Field(gt=0, lt=1e4, description="metres")
    height: float = Field(gt=0, lt=1e4, description="metres")
    depth: float = Field(gt=0, lt=1e4, description="metres")


class DimensionsOut(BaseModel):
    width: float
    height: float
    depth: float


class Variant(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="also the KHR_materials_variants name in the model")
    sku: str | None = Field(default=None, max_length=100)
    price: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)


Coordinate = Annotated[float, Field(allow_inf_nan=False, gt=-1e4, lt=1e4)]
Vector3 = tuple[Coordinate, Coordinate, Coordinate]
MAX_HOTSPOTS = 50


class Hotspot(BaseModel):
    """A point of interest the viewer marks on the product; opening it shows `label` and `text`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="unique within the product (analytics name it)")
    label: str = Field(min_length=1, max_length=100, description="short title on the marker")
    text: str = Field(default="", max_length=2000, description="what opening the marker shows")
    position: Vector3 = Field(
        description="[x, y, z] metres in the product's normalized frame: origin at the bottom centre, +Y up, front +Z"
    )
    normal: Vector3 | None = Field(
        default=None, description="unit vector out of the surface at `position` (the marker hides when it faces away); null = always shown"
    )

    @field_validator("normal")
    @classmethod
    def _unit_length(cls, value: Vector3 | None) -> Vector3 | None:
        if value is None:
            return None
        length = math.sqrt(sum(c * c for c in value))
        if abs(length - 1.0) > 1e-3:
            raise ValueError(f"normal must be a unit vector; its length is {length:.6g}")
        return (value[0] / length, value[1] / length, value[2] / length)


def _check_hotspots(value: list[Hotspot] | None) -> list[Hotspot] | None:
    if value is None:
        return None
    ids = [h.id for h in value]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"hotspot ids must be unique within the product; repeated: {', '.join(repeated)}")
    return value


def _check_category(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return get_category(value).name
    except PipelineError as exc:
        raise ValueError(exc.message) from None


class ProductFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    category: str = Field(default="generic", description="asset_pipeline.categories name: drives placement and try-on")
    dimensions_m: DimensionsIn | None = Field(default=None, description="real size of the product")
    price: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217")
    product_url: HttpUrl | None = None
    variants: list[Variant] = Field(default_factory=list, max_length=200)
    hotspots: list[Hotspot] = Field(default_factory=list, max_length=MAX_HOTSPOTS, description="annotations the viewer shows on the model")
    status: ProductStatus = "draft"

    _category = field_validator("category")(_check_category)
    _hotspots = field_validator("hotspots")(_check_hotspots)


class ProductIn(ProductFields):
    sku: str = Field(min_length=1, max_length=100, pattern=r"^[^\s/]+$", description="unique within the merchant")


class ProductPatch(BaseModel):
    """Only the fields given are changed."""

    model_config = ConfigDict(extra="forbid")

    sku: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\s/]+$")
    name: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    category: str | None = None
    dimensions_m: DimensionsIn | None = None
    price: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    product_url: HttpUrl | None = None
    variants: list[Variant] | None = Field(default=None, max_length=200)
    hotspots: list[Hotspot] | None = Field(default=None, max_length=MAX_HOTSPOTS, description="replaces the whole list")
    status: ProductStatus | None = None

    _category = field_validator("category")(_check_category)
    _hotspots = field_validator("hotspots")(_check_hotspots)


class FileOut(BaseModel):
    name: str
    url: str
    bytes: int
    sha256: str
    content_type: str


class TargetOut(BaseModel):
    target: str
    passed: bool


class VersionOut(BaseModel):
    number: int
    current: bool
    profile: str
    options: dict[str, Any]
    source_sha256: str
    upload_id: str | None
    created_at: datetime
    dimensions_m: DimensionsOut | None
    triangles: int | None
    files: dict[str, FileOut]
    targets: list[TargetOut]


class VersionDetailOut(VersionOut):
    metadata: dict[str, Any] = Field(description="the bundle's metadata.json")
    report: dict[str, Any] = Field(description="the bundle's report.json")


class AssetOut(BaseModel):
    product_id: str
    current_version: int | None
    versions: list[VersionOut]


class AssetSummary(BaseModel):
    """The current version, as a viewer needs it."""

    version: int
    profile: str
    placement: str
    dimensions_m: DimensionsOut | None
    variants: list[str]
    lods: list[dict[str, Any]]
    anchor: dict[str, Any] | None
    files: dict[str, FileOut]
    model_url: str | None
    usdz_url: str | None
    poster_url: str | None
    targets: list[TargetOut]


class ProductOut(BaseModel):
    id: str
    sku: str
    name: str
    description: str
    category: str
    placement: str
    tryon: bool = Field(description="the category has a try-on kind")
    dimensions_m: DimensionsOut | None
    price: str | None
    currency: str | None
    product_url: str | None
    variants: list[Variant]
    hotspots: list[Hotspot]
    status: ProductStatus
    has_ar: bool
    has_tryon: bool
    asset: AssetSummary | None
    created_at: datetime
    updated_at: datetime


class PublicProductOut(BaseModel):
    merchant: str
    sku: str
    name: str
    description: str
    category: str
    placement: str
    tryon: bool
    dimensions_m: DimensionsOut | None
    price: str | None
    currency: str | None
    product_url: str | None
    variants: list[Variant]
    hotspots: list[Hotspot]
    has_ar: bool
    has_tryon: bool
    asset: AssetSummary | None


class UploadOptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str | None = Field(default=None, description="pipeline profile; default: the service's")
    unit: str | None = Field(default=None, description="the file's unit (m, cm, mm, in, ft); default: detect")
    up: str | None = Field(default=None, description="the file's up axis (+Y, +Z, ...); default: detect")
    dimensions: str | None = Field(default=None, description="real WxHxD, e.g. 0.83x0.69x0.57 or 83x69x57cm")
    category: str | None = Field(default=None, description="default: the product's")


class UploadCreateIn(UploadOptionsIn):
    """Two-step upload: create, PUT the bytes to `put_url`, then POST .../complete."""

    product_id: str | None = None
    sku: str | None = Field(default=None, description="instead of product_id")
    filename: str = Field(min_length=1, max_length=300)
    size: int | None = Field(default=None, ge=0, description="bytes, if known: refused at once when over the limit")


class ErrorInfo(BaseModel):
    code: str
    detail: str


class UploadOut(BaseModel):
    id: str
    product_id: str
    filename: str
    size: int | None
    sha256: str | None
    state: Literal["pending", "stored", "rejected"]
    options: dict[str, Any]
    error: ErrorInfo | None
    received_bytes: int | None = Field(default=None, description="two-step local upload: bytes received so far")
    created_at: datetime
    completed_at: datetime | None


class JobOut(BaseModel):
    id: str
    product_id: str
    upload_id: str
    kind: str
    profile: str
    options: dict[str, Any]
    state: JobState
    stage: str | None
    percent: float
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    error: ErrorInfo | None
    version_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class UploadAcceptedOut(BaseModel):
    upload: UploadOut
    job: JobOut | None


class UploadCreatedOut(BaseModel):
    upload: UploadOut
    put_url: str = Field(description="PUT the file's bytes here: a presigned S3 URL, or this service's chunked endpoint")
    put_headers: dict[str, str] = Field(description="headers the PUT must carry")
    complete_url: str
    expires_in: int | None = Field(description="seconds the presigned URL is valid; None for the service's own endpoint")


class ReprocessIn(UploadOptionsIn):
    pass


class RollbackIn(BaseModel):
    version: int = Field(ge=1)


class MerchantOut(BaseModel):
    id: str
    slug: str
    name: str


class KeyOut(BaseModel):
    id: str
    role: str
    name: str


class MeOut(BaseModel):
    merchant: MerchantOut
    key: KeyOut
