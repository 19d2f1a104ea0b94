"""Request and response bodies. Input and output are separate types: inputs validate what a client may
set, outputs say what it gets back (ids, derived fields, URLs), so neither leaks into the other."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, field_validator

from asset_pipeline.categories import get_category
from asset_pipeline.errors import PipelineError

from ..catalog.merchants import SLUG

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


# --- analytics events ----------------------------------------------------------------------------------
# The one list of event types the ingestion endpoint accepts, with what each means and the props viewers
# send with it. New features add theirs here.
EVENT_TYPES: dict[str, str] = {
    "view": "the product was shown (props: page = product | embed)",
    "poster_shown": "the pipeline's poster is on screen (props: ms since navigation)",
    "model_loaded": "a 3D model is on screen (props: level, ms since navigation, first)",
    "lod_loaded": "a level of detail arrived (props: level, ms, bytes)",
    "ar_offered": "an AR path is available on this device (props: mode = webxr | quick-look | scene-viewer)",
    "ar_started": "the shopper entered AR (props: mode, or placement, dom_overlay, reference_space)",
    "ar_placed": "the product was placed in the room at true scale (props: surface, time_to_place_ms)",
    "ar_failed": "AR could not start or place (props: reason, detail)",
    "ar_ended": "the AR session ended (props: duration_ms, placed, moves, turned)",
    "variant_switched": "another KHR_materials_variants variant was chosen (props: variant, from)",
    "hotspot_opened": "a hotspot was opened (props: hotspot = its id)",
    "dimensions_shown": "the dimensions overlay was shown (props: units = metric | imperial)",
    "add_to_cart": "the add-to-cart button was used (props: source, variant)",
    "xr_started": "a headset session started (props: mode, reference_space)",
    "xr_ended": "a headset session ended (props: mode, duration_ms, grabs)",
    "tryon_started": "live try-on started, the camera on (props: mode = device | kiosk, category)",
    "tryon_ended": "live try-on ended (props: mode, category, duration_ms, frames, frames_with_face)",
}
EventType = Literal[tuple(EVENT_TYPES)]  # type: ignore[valid-type]
MAX_EVENTS_PER_BATCH = 100
MAX_EVENT_PROPS = 20
EVENT_SESSION_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"

MAX_PROP_CHARS = 200
PropName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,40}$")]


class EventIn(BaseModel):
    """One analytics event as a viewer sends it. Fields not listed here are dropped."""

    model_config = ConfigDict(extra="ignore")

    type: EventType = Field(description="what happened: " + "; ".join(f"{name}: {meaning}" for name, meaning in EVENT_TYPES.items()))
    session: str = Field(
        pattern=EVENT_SESSION_PATTERN,
        description="pseudonymous random id of the browser tab's session (no cookie, never tied to a person)",
    )
    merchant: str = Field(pattern=SLUG.pattern, description="merchant slug")
    sku: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\s/]+$", description="the product's SKU, if the event is about one")
    ts: float = Field(ge=0, lt=1e14, allow_inf_nan=False, description="when it happened: ms since the epoch by the client's clock")
    props: dict[PropName, Any] = Field(
        default_factory=dict,
        max_length=MAX_EVENT_PROPS,
        description=f"flat details: at most {MAX_EVENT_PROPS}, named with letters, digits and _ (up to 40), each a string "
        f"(up to {MAX_PROP_CHARS} characters), a finite number, a boolean or null",
    )

    @field_validator("props")
    @classmethod
    def _flat_values(cls, props: dict[str, Any]) -> dict[str, Any]:
        for name, value in props.items():
            if isinstance(value, str):
                if len(value) > MAX_PROP_CHARS:
                    raise ValueError(f"props.{name}: a string of {len(value)} characters; at most {MAX_PROP_CHARS}")
            elif isinstance(value, float):
                if not math.isfinite(value):
                    raise ValueError(f"props.{name}: numbers must be finite")
            elif isinstance(value, int) and not isinstance(value, bool):
                if abs(value) > 2**53:
                    raise ValueError(f"props.{name}: integers beyond 2^53 lose precision in JavaScript")
            elif value is not None and not isinstance(value, bool):
                raise ValueError(f"props.{name}: a string, number, boolean or null, not {type(value).__name__}")
        return props


class EventBatch(BaseModel):
    """The body of POST /api/v1/events (as application/json, or as text/plain as sendBeacon sends it)."""

    model_config = ConfigDict(extra="ignore")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventsAcceptedOut(BaseModel):
    accepted: int = Field(description="events stored")


class EventOut(BaseModel):
    id: int = Field(description="increasing in the order events were received")
    type: str
    session: str
    merchant: str
    sku: str | None
    ts: float = Field(description="ms since the epoch by the client's clock")
    props: dict[str, Any]
    received_at: datetime


class EventPage(BaseModel):
    items: list[EventOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null when there are no more")
