"""The bundle contract: `metadata.json` and `report.json` (versioned pydantic models) plus the files they name.

The service stores a bundle as it is and never edits it; consumers (catalog, viewer, try-on) read these
models. Bump `SCHEMA_VERSION` on any incompatible change; fields are documented with `description` so that
`Metadata.model_json_schema()` is the published schema.

Axes in every dimension field: x = width (left-right), y = height (+Y up), z = depth (front is +Z).

Schema versions: 1.0 first; 1.1 the try-on spec (asset_pipeline/tryon.py): `Anchor` gains the spec's
conventions, the measured real sizes, shades, fixes and problems, and a try-on model's origin is its anchor
(no longer its bottom centre); 1.2 `LodInfo.max_texture_size` (coarse LODs carry smaller textures than LOD0).
Every new field has a default, so 1.0 and 1.1 documents still read."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from .stages import StageReport

SCHEMA_VERSION = "1.2"

CONTENT_TYPES = {
    # Python 3.11's mimetypes lacks these, so every writer and server takes them from here.
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".usdz": "model/vnd.usdz+zip",
    ".ktx2": "image/ktx2",
    ".webp": "image/webp",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}


class Dimensions(BaseModel):
    width: float = Field(description="x extent, metres")
    height: float = Field(description="y extent, metres")
    depth: float = Field(description="z extent, metres")

    @classmethod
    def from_xyz(cls, xyz) -> "Dimensions":
        return cls(width=float(xyz[0]), height=float(xyz[1]), depth=float(xyz[2]))

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.width, self.height, self.depth)


class SourceInfo(BaseModel):
    filename: str
    sha256: str
    size_bytes: int
    format: str = Field(description="detected from content: obj | ply | stl | gltf | glb, zip:<inner>")
    notes: list[str] = Field(default_factory=list, description="what the reader dropped or assumed")


class UnitInfo(BaseModel):
    source_unit: str = Field(description="m | cm | mm | in | ft | unknown")
    scale_to_m: float = Field(description="metres per source unit applied")
    determined_by: str = Field(description="file | merchant | merchant-dimensions | category-heuristic | assumed")
    up_axis: str = Field(description="source up axis that was rotated to +Y")
    plausible: bool = Field(description="size fits the category's plausible range")


class GeometryStats(BaseModel):
    triangles: int
    vertices: int
    draw_calls: int
    nodes: int
    meshes: int
    primitives: int


class MaterialInfo(BaseModel):
    name: str
    alpha_mode: str = "OPAQUE"
    double_sided: bool = False
    extensions: list[str] = Field(default_factory=list)
    texture_slots: list[str] = Field(default_factory=list)


class TextureInfo(BaseModel):
    name: str
    width: int
    height: int
    mime_type: str
    bytes: int
    gpu_bytes: int = Field(description="uncompressed RGBA8 with a full mip chain: w*h*4*4/3")
    slots: list[str] = Field(default_factory=list, description="material slots using it")
    has_fallback: bool = False


class GeometricError(BaseModel):
    hausdorff: float = Field(description="symmetric Hausdorff distance, metres")
    mean: float = Field(description="mean symmetric surface distance, metres")
    hausdorff_rel: float = Field(description="hausdorff / bounding-box diagonal")
    mean_rel: float = Field(description="mean / bounding-box diagonal")
    samples: int = Field(description="points sampled on each surface")


class LodInfo(BaseModel):
    level: int
    file: str
    triangles: int
    vertices: int
    bytes: int
    ratio: float = Field(description="triangles / source triangles")
    error: GeometricError | None = Field(description="against the normalized source; None when not simplified")
    max_texture_size: int | None = Field(
        default=None,
        description="largest texture edge in this LOD's file, px (coarse LODs carry scaled-down textures); None when "
        "it has no textures or the document predates schema 1.2",
    )


class FileInfo(BaseModel):
    bytes: int
    sha256: str
    content_type: str


class TryOnProblem(BaseModel):
    code: str = Field(description="missing_node | name | wrong_side | axis | origin | node_origin | anchor | size | shade")
    message: str
    node: str | None = Field(default=None, description="the node (spec name) it is about, if one")


class Shade(BaseModel):
    material: str
    variant: str | None = Field(default=None, description="KHR_materials_variants name; None = the default material")
    base_color_srgb: tuple[int, int, int]
    base_color_hex: str
    roughness: float
    metallic: float
    finish: str = Field(description="gloss | satin | matte | metallic")


class Anchor(BaseModel):
    """Try-on anchor: the category's spec (asset_pipeline/tryon.py) as applied to this model. For worn
    categories the model's origin is the anchor and its axes are the spec's, so a fit's 4x4 is the model's
    world transform."""

    category: str
    point_m: tuple[float, float, float] = Field(
        description="the anchor's position in the bottom-centre frame, metres (where the origin moved from)"
    )
    spec_version: str = ""
    kind: str = Field(default="worn", description="worn: placed on the body by its anchor | face_material: a colour for the face")
    origin: str = Field(default="", description="where the origin is, the spec's rule")
    axes: dict[str, str] = Field(default_factory=dict, description="what +X, +Y and +Z mean for this category")
    outward_axis: str | None = Field(default=None, description="the axis pointing away from the body where the item touches it")
    required_nodes: list[str] = Field(default_factory=list)
    missing_nodes: list[str] = Field(default_factory=list)
    node_origins_m: dict[str, tuple[float, float, float]] = Field(
        default_factory=dict, description="nodes whose own origin the spec fixes (earring hook points, temple hinges), model frame"
    )
    sizes_m: dict[str, float] = Field(default_factory=dict, description="real sizes measured on the model, metres")
    shades: list[Shade] = Field(default_factory=list, description="face-material categories: the colour(s) to apply")
    occluder: str | None = Field(default=None, description="what hides the parts behind the wearer")
    fixes: list[str] = Field(default_factory=list, description="what the normalize stage corrected to meet the spec")
    problems: list[TryOnProblem] = Field(default_factory=list, description="what the model still lacks against the spec")
    notes: list[str] = Field(default_factory=list)


class Metadata(BaseModel):
    schema_version: str = SCHEMA_VERSION
    asset_id: str = Field(description="sha256 of (source sha256, profile, options); stable for the same request")
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    profile: str
    options: dict[str, Any] = Field(default_factory=dict, description="merchant overrides given to optimize()")
    source: SourceInfo
    category: str = "generic"
    placement: str = Field(description="floor | wall | table | face | head | ear | neck | wrist | finger")
    dimensions_m: Dimensions = Field(description="real-world bounding box of model.glb")
    merchant_dimensions_m: Dimensions | None = None
    unit: UnitInfo
    geometry: GeometryStats = Field(description="of model.glb (LOD0)")
    source_geometry: GeometryStats
    materials: list[MaterialInfo] = Field(default_factory=list)
    textures: list[TextureInfo] = Field(default_factory=list)
    variants: list[str] = Field(default_factory=list)
    lods: list[LodInfo] = Field(default_factory=list)
    files: dict[str, FileInfo] = Field(default_factory=dict)
    anchor: Anchor | None = None
    stage_log: list[StageReport] = Field(default_factory=list)
    tool_versions: dict[str, str] = Field(default_factory=dict)


class ValidatorResult(BaseModel):
    file: str
    ran: bool = Field(description="False when the Khronos validator could not run (node missing)")
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    hints: int = 0
    messages: list[dict[str, Any]] = Field(default_factory=list, description="first messages, severity <= warning")
    reason: str | None = None


class CheckResult(BaseModel):
    id: str
    passed: bool
    severity: str = Field(description="error | warning | info")
    message: str
    value: Any = None


class TargetResult(BaseModel):
    target: str
    passed: bool
    failures: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list, description="over a recommended (not a required) value: the target still passes"
    )


class Report(BaseModel):
    schema_version: str = SCHEMA_VERSION
    asset_id: str
    validator: list[ValidatorResult] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    targets: list[TargetResult] = Field(default_factory=list)

    @property
    def passed_targets(self) -> list[str]:
        return [t.target for t in self.targets if t.passed]


class Bundle(BaseModel):
    """What `optimize` returns: file name -> bytes, plus the two documents (also among the files)."""

    model_config = {"arbitrary_types_allowed": True}

    files: dict[str, bytes]
    metadata: Metadata
    report: Report

    def write(self, directory) -> list[str]:
        """Write every file into `directory` (created); returns the names written."""
        from pathlib import Path

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (out / name).write_bytes(data)
        return sorted(self.files)
