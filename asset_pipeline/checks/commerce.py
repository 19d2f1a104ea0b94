"""Our own commerce checks on the optimized asset: what the Khronos validator does not judge (it checks the
file against the glTF spec) but the Khronos 3D Commerce Real-time Asset Creation Guidelines 1.0 (2020) and
the publishing platforms ask of a product model.

Every check returns a `CheckResult` with a stable `id`, whether it `passed`, a `severity` (error: the
bundle is wrong for commerce use; warning: against a guideline; info: for the record), a message a
merchandiser can act on, and the measured `value`.

Colour and metalness are judged on what a shopper sees: points sampled uniformly over the drawn surface
(area-weighted, fixed seed), with base colour = baseColorFactor x baseColorTexture x COLOR_0 and metalness =
metallicFactor x the texture's blue channel at each point. Sampling the surface instead of whole images
keeps atlas gutters and unused texels out of the statistics."""

from __future__ import annotations

import io
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..asset import Asset, Primitive
from ..categories import get_category
from ..images import header_size, open_image
from ..limits import DEFAULT_LIMITS
from ..metadata import CheckResult, Metadata
from ..profiles import Profile, get_profile
from ..tryon import check_tryon

# --- thresholds (each documented where it is used) ---------------------------------------------------------
DIELECTRIC_SRGB_RANGE = (30.0, 243.0)
"""3DC guidelines, "PBR Colors and Values": base colour values within 30 (charcoal) to 243 (fresh snow) sRGB,
pixel luminance taken as the mean of R, G and B (the guidelines' first method)."""
METAL_SRGB_MIN = 180.0
"""Metals reflect 50-100% of light: the guidelines' metal table starts at titanium (193, 186, 177) and the
Substance PBR guide (which the guidelines cite) gives 180-255 sRGB for raw metal."""
COLOR_OUTSIDE_TOLERANCE = 0.05
"""Fraction of the surface allowed outside the range: seams, tiny dark details and anti-aliased edges are
normal; a wrong material covers far more than 5%."""
METALNESS_MID_RANGE = (0.1, 0.9)
METALNESS_MID_TOLERANCE = 0.05
"""Metalness should be 0 or 1 ("most metals have a value of 1", dielectrics 0); values in between exist only
on anti-aliased metal/non-metal borders, so up to 5% of the surface may be in (0.1, 0.9)."""
UV_EPSILON = 1e-4
"""UVs within this of [0, 1] count as inside (quantization rounds 1.0 to 1.00003)."""
UV_OUTSIDE_TOLERANCE = 0.001
DIMENSION_TOLERANCE = 0.02
SURFACE_SAMPLES = 20_000
WELD_QUANTUM = 1e-6
"""Positions closer than this fraction of the bounding-box diagonal are one vertex when counting edges
(UV and normal seams split vertices that share a position)."""

GL_REPEAT = 10497
GL_MIRRORED_REPEAT = 33648
GL_CLAMP_TO_EDGE = 33071


def commerce_checks(
    asset: Asset,
    metadata: Metadata,
    files: dict[str, bytes],
    *,
    profile: Profile | None = None,
    dimension_tolerance: float = DIMENSION_TOLERANCE,
) -> list[CheckResult]:
    """All commerce checks on the optimized asset (LOD0) and the bundle files, in a stable order.

    `profile` defaults to the one named in `metadata.profile`; `dimension_tolerance` is the relative
    difference allowed between the model's and the merchant's dimensions."""
    prof = profile or get_profile(metadata.profile)
    samples = sample_surface(asset)
    return [
        check_power_of_two(asset),
        check_texture_size(asset, prof),
        check_base_color(samples),
        check_metalness(samples),
        check_uv_range(asset),
        check_manifold(asset),
        check_root_transform(asset),
        check_real_dimensions(metadata),
        check_merchant_dimensions(metadata, dimension_tolerance),
        check_triangle_count(metadata, prof),
        check_draw_calls(metadata, prof),
        check_file_size(files, prof),
        check_variants(asset, files),
        check_usdz(files, prof),
        check_tryon_spec(asset, metadata),
    ]


# --- textures -----------------------------------------------------------------------------------------------
def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    size = header_size(data)  # PNG, JPEG, WebP and KTX2 headers
    if size is not None:
        return int(size[0]), int(size[1])
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def _is_pot(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def check_power_of_two(asset: Asset) -> CheckResult:
    """Power-of-two textures: mipmapping and GPU compression (KTX2/Basis) need them, and the 3DC guidelines
    and every AR viewer's texture rules ask for them."""
    sizes = [(tex.name or f"texture_{i}", *_image_size(tex.data)) for i, tex in enumerate(asset.textures)]
    bad = [f"{name} ({w}x{h})" for name, w, h in sizes if not (_is_pot(w) and _is_pot(h))]
    if not sizes:
        return CheckResult(id="texture_power_of_two", passed=True, severity="info", message="no textures", value=[])
    return CheckResult(
        id="texture_power_of_two",
        passed=not bad,
        severity="warning",
        message=(
            f"all {len(sizes)} textures have power-of-two sizes"
            if not bad
            else f"{len(bad)} of {len(sizes)} textures are not power-of-two: {', '.join(bad)}"
        ),
        value=bad,
    )


def check_texture_size(asset: Asset, profile: Profile) -> CheckResult:
    largest = max((max(_image_size(tex.data)) for tex in asset.textures), default=0)
    limit = profile.max_texture_size
    if limit is None:
        return CheckResult(
            id="texture_size", passed=True, severity="info",
            message=f"largest texture edge {largest} px (profile {profile.name} sets no limit)", value=largest,
        )
    ok = largest <= limit
    return CheckResult(
        id="texture_size",
        passed=ok,
        severity="error",
        message=f"largest texture edge {largest} px {'<=' if ok else '>'} {limit} px ({profile.name} profile)",
        value=largest,
    )


# --- surface sampling ---------------------------------------------------------------------------------------
@dataclass
class SurfaceSamples:
    """Material properties at points spread uniformly over what is drawn."""

    base_color_srgb: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # 0..255, sRGB
    metallic: np.ndarray = field(default_factory=lambda: np.zeros(0))
    material: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # -1 = glTF default
    excluded: int = 0  # points on transmissive/unlit/cut-out surfaces, not judged by the colour rules


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _wrap(coord: np.ndarray, mode: int) -> np.ndarray:
    if mode == GL_CLAMP_TO_EDGE:
        return np.clip(coord, 0.0, 1.0)
    if mode == GL_MIRRORED_REPEAT:
        t = np.mod(coord, 2.0)
        return np.where(t > 1.0, 2.0 - t, t)
    return np.mod(coord, 1.0)


def _texture_transform(uv: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """KHR_texture_transform: uv' = T * R * S * uv (the extension's matrix order)."""
    tt = info.get("extensions", {}).get("KHR_texture_transform")
    if not tt:
        return uv
    sx, sy = tt.get("scale", [1.0, 1.0])
    ox, oy = tt.get("offset", [0.0, 0.0])
    r = float(tt.get("rotation", 0.0))
    c, s = math.cos(r), math.sin(r)
    u, v = uv[:, 0] * sx, uv[:, 1] * sy
    return np.stack([c * u + s * v + ox, -s * u + c * v + oy], axis=1)


class _TextureSampler:
    """Decodes each texture once and looks up texels (nearest) with glTF wrap and transform rules."""

    def __init__(self, asset: Asset):
        self.asset = asset
        self.cache: dict[int, np.ndarray] = {}

    def pixels(self, index: int) -> np.ndarray:
        if index not in self.cache:
            # open_image: KTX2 through the Basis Universal transcoder, typed errors for broken images; uint8,
            # as a 4K float copy would be 268 MB.
            image = open_image(self.asset.textures[index].data, DEFAULT_LIMITS)
            self.cache[index] = np.asarray(image.convert("RGBA"))
        return self.cache[index]

    def sample(self, info: dict[str, Any], prim_uvs: list[np.ndarray]) -> np.ndarray | None:
        """RGBA in [0, 1] (encoded values) at the given per-sample UV sets, or None if the UV set is missing."""
        tt = info.get("extensions", {}).get("KHR_texture_transform", {})
        uv_set = int(tt.get("texCoord", info.get("texCoord", 0)))
        if uv_set >= len(prim_uvs) or info["index"] >= len(self.asset.textures):
            return None
        uv = _texture_transform(prim_uvs[uv_set].astype(np.float64), info)
        sampler = self.asset.textures[info["index"]].sampler or {}
        u = _wrap(uv[:, 0], int(sampler.get("wrapS", GL_REPEAT)))
        v = _wrap(uv[:, 1], int(sampler.get("wrapT", GL_REPEAT)))
        px = self.pixels(info["index"])
        h, w = px.shape[:2]
        x = np.clip(np.floor(u * w).astype(np.int64), 0, w - 1)
        y = np.clip(np.floor(v * h).astype(np.int64), 0, h - 1)
        return px[y, x].astype(np.float64) / 255.0


def _judged(material: dict[str, Any]) -> bool:
    """Whether the PBR colour rules apply: transmissive surfaces (glass) use base colour as a transmission
    tint, so clear glass is white; unlit materials are not PBR."""
    ext = material.get("extensions", {})
    if "KHR_materials_unlit" in ext:
        return False
    return float(ext.get("KHR_materials_transmission", {}).get("transmissionFactor", 0.0)) <= 0.0


def _interpolate(values: np.ndarray, faces: np.ndarray, bary: np.ndarray) -> np.ndarray:
    return np.einsum("nk,nkc->nc", bary, values[faces].astype(np.float64))


def sample_surface(asset: Asset, count: int = SURFACE_SAMPLES, seed: int = 0) -> SurfaceSamples:
    """Area-weighted random points over all drawn triangles (world space), or the points of a point cloud,
    with each point's sRGB base colour and metalness."""
    rng = np.random.default_rng(seed)
    groups: list[tuple[Primitive, np.ndarray]] = []  # primitive, world-space face areas (or point weights)
    for _, mesh, world in asset.mesh_instances():
        for prim in mesh.primitives:
            if prim.vertex_count == 0:
                continue
            if prim.mode == "triangles" and prim.indices is not None and len(prim.indices):
                p = prim.positions.astype(np.float64) @ world[:3, :3].T
                tri = p[prim.indices.astype(np.int64)]
                area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
                groups.append((prim, area))
            elif prim.mode == "points":
                groups.append((prim, np.ones(prim.vertex_count)))
    has_triangles = any(p.mode == "triangles" for p, _ in groups)
    groups = [(p, w) for p, w in groups if (p.mode == "triangles") == has_triangles]
    weights = np.concatenate([w for _, w in groups]) if groups else np.zeros(0)
    if weights.sum() <= 0:
        return SurfaceSamples()
    owner = np.concatenate([np.full(len(w), g) for g, (_, w) in enumerate(groups)])
    local = np.concatenate([np.arange(len(w)) for _, w in groups])
    picks = rng.choice(len(weights), size=count, p=weights / weights.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    bary_all = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)

    textures = _TextureSampler(asset)
    colors, metallic, mats = [], [], []
    excluded = 0
    for g, (prim, _) in enumerate(groups):
        sel = owner[picks] == g
        if not sel.any():
            continue
        elems = local[picks[sel]]
        if prim.mode == "triangles":
            faces = prim.indices[elems].astype(np.int64)
            bary = bary_all[sel]
        else:
            faces = elems[:, None]
            bary = np.ones((len(elems), 1))
        material = asset.materials[prim.material] if prim.material is not None else {}
        if not _judged(material):
            excluded += len(elems)
            continue
        pbr = material.get("pbrMetallicRoughness", {})
        uvs = [_interpolate(uv, faces, bary) for uv in prim.uvs]
        rgba = np.tile(np.asarray(pbr.get("baseColorFactor", [1, 1, 1, 1]), dtype=np.float64), (len(elems), 1))
        if "baseColorTexture" in pbr:
            tex = textures.sample(pbr["baseColorTexture"], uvs)
            if tex is not None:
                rgba[:, :3] *= _srgb_to_linear(tex[:, :3])
                rgba[:, 3] *= tex[:, 3]
        if prim.colors is not None:
            vc = _interpolate(prim.colors, faces, bary)
            rgba[:, : vc.shape[1]] *= vc
        metal = np.full(len(elems), float(pbr.get("metallicFactor", 1.0)))
        if "metallicRoughnessTexture" in pbr:
            tex = textures.sample(pbr["metallicRoughnessTexture"], uvs)
            if tex is not None:
                metal *= tex[:, 2]
        alpha_mode = material.get("alphaMode", "OPAQUE")
        visible = np.ones(len(elems), dtype=bool)
        if alpha_mode == "MASK":
            visible = rgba[:, 3] >= float(material.get("alphaCutoff", 0.5))
        elif alpha_mode == "BLEND":
            visible = rgba[:, 3] > 0.0
        excluded += int((~visible).sum())
        colors.append(_linear_to_srgb(rgba[visible, :3]) * 255.0)
        metallic.append(metal[visible])
        mats.append(np.full(int(visible.sum()), -1 if prim.material is None else prim.material))
    if not colors:
        return SurfaceSamples(excluded=excluded)
    return SurfaceSamples(np.concatenate(colors), np.concatenate(metallic), np.concatenate(mats), excluded)


def check_base_color(samples: SurfaceSamples) -> CheckResult:
    """Base colour in the PBR-safe range: 30-243 sRGB for dielectrics, >= 180 for metals (a surface point is
    metal when its metalness >= 0.5). Passes when at most 5% of the surface is outside."""
    n = len(samples.base_color_srgb)
    if n == 0:
        return CheckResult(
            id="base_color_range", passed=True, severity="info",
            message="no opaque PBR surface to judge (transmissive, unlit or empty)", value=None,
        )
    lum = samples.base_color_srgb.mean(axis=1)
    metal = samples.metallic >= 0.5
    lo, hi = DIELECTRIC_SRGB_RANGE
    outside = np.where(metal, lum < METAL_SRGB_MIN, (lum < lo) | (lum > hi))
    fraction = float(outside.mean())
    dielectric = lum[~metal]
    value = {
        "fraction_outside": round(fraction, 4),
        "dielectric_p1": round(float(np.percentile(dielectric, 1)), 1) if len(dielectric) else None,
        "dielectric_p99": round(float(np.percentile(dielectric, 99)), 1) if len(dielectric) else None,
        "metal_p1": round(float(np.percentile(lum[metal], 1)), 1) if metal.any() else None,
        "materials_outside": sorted({int(m) for m in np.unique(samples.material[outside])}),
        "samples": n,
    }
    ok = fraction <= COLOR_OUTSIDE_TOLERANCE
    where = ""
    if value["dielectric_p1"] is not None:
        where = f"; non-metal luminance 1st-99th percentile {value['dielectric_p1']:.0f}-{value['dielectric_p99']:.0f}"
    return CheckResult(
        id="base_color_range",
        passed=ok,
        severity="warning",
        message=(
            f"{fraction:.1%} of the surface has a base colour outside the PBR-safe range "
            f"(non-metals {lo:.0f}-{hi:.0f} sRGB, metals >= {METAL_SRGB_MIN:.0f}; tolerated "
            f"{COLOR_OUTSIDE_TOLERANCE:.0%}){where}"
        ),
        value=value,
    )


def check_metalness(samples: SurfaceSamples) -> CheckResult:
    n = len(samples.metallic)
    if n == 0:
        return CheckResult(
            id="metalness_binary", passed=True, severity="info", message="no opaque PBR surface to judge", value=None
        )
    lo, hi = METALNESS_MID_RANGE
    mid = (samples.metallic > lo) & (samples.metallic < hi)
    fraction = float(mid.mean())
    ok = fraction <= METALNESS_MID_TOLERANCE
    return CheckResult(
        id="metalness_binary",
        passed=ok,
        severity="warning",
        message=(
            f"{fraction:.1%} of the surface has metalness between {lo} and {hi} (should be 0 or 1; "
            f"tolerated {METALNESS_MID_TOLERANCE:.0%})"
        ),
        value={
            "fraction_mid": round(fraction, 4),
            "materials_mid": sorted({int(m) for m in np.unique(samples.material[mid])}),
            "samples": n,
        },
    )


# --- UVs ----------------------------------------------------------------------------------------------------
def _tiling_intended(asset: Asset, info: dict[str, Any]) -> bool:
    """A texture reference tiles on purpose when it carries KHR_texture_transform or its sampler states
    REPEAT/MIRRORED_REPEAT for both axes. glTF's default (no sampler) is REPEAT too, but a product bake keeps
    its islands in [0, 1], so only an explicit statement counts as intended tiling."""
    if "KHR_texture_transform" in info.get("extensions", {}):
        return True
    if info["index"] >= len(asset.textures):
        return False
    sampler = asset.textures[info["index"]].sampler or {}
    tiled = (GL_REPEAT, GL_MIRRORED_REPEAT)
    return sampler.get("wrapS") in tiled and sampler.get("wrapT") in tiled


def _repeats(asset: Asset, info: dict[str, Any]) -> bool:
    """Whether the texture wraps with REPEAT on both axes (explicitly or by glTF's default)."""
    if info["index"] >= len(asset.textures):
        return False
    sampler = asset.textures[info["index"]].sampler or {}
    return sampler.get("wrapS", GL_REPEAT) == GL_REPEAT and sampler.get("wrapT", GL_REPEAT) == GL_REPEAT


def check_uv_range(asset: Asset) -> CheckResult:
    """Fraction of texture-mapped vertices whose UVs leave the unit square, on UV sets that sample a texture
    and do not tile on purpose. With REPEAT wrapping (glTF's default) a layout shifted by whole tiles (e.g.
    all of v in [1, 2], as in the DamagedHelmet sample) renders exactly like [0, 1], so the unit square is
    the tile holding the smallest UVs."""
    from ..asset import texture_refs

    total = outside = excused = 0
    for _, mesh, _ in asset.mesh_instances():
        for prim in mesh.primitives:
            if prim.material is None or not prim.uvs:
                continue
            refs = list(texture_refs(asset.materials[prim.material]))
            for uv_set, uv in enumerate(prim.uvs):
                users = [
                    r for r in refs
                    if int(r.get("extensions", {}).get("KHR_texture_transform", {}).get("texCoord", r.get("texCoord", 0))) == uv_set
                ]
                if not users:
                    continue
                if any(_tiling_intended(asset, r) for r in users):
                    excused += len(uv)
                    continue
                origin = np.floor(uv.min(axis=0) + UV_EPSILON) if all(_repeats(asset, r) for r in users) else 0.0
                rel = uv - origin
                out = ((rel < -UV_EPSILON) | (rel > 1 + UV_EPSILON)).any(axis=1)
                total += len(uv)
                outside += int(out.sum())
    if total == 0:
        message = "no texture-mapped UVs to judge" + (f" ({excused} vertices tile on purpose)" if excused else "")
        return CheckResult(id="uv_range", passed=True, severity="info", message=message, value=0.0)
    fraction = outside / total
    ok = fraction <= UV_OUTSIDE_TOLERANCE
    return CheckResult(
        id="uv_range",
        passed=ok,
        severity="warning",
        message=(
            f"{fraction:.2%} of {total:,} texture-mapped vertices have UVs outside the unit square"
            + (f"; {excused:,} more tile on purpose (REPEAT sampler or KHR_texture_transform)" if excused else "")
        ),
        value=round(fraction, 6),
    )


# --- topology -----------------------------------------------------------------------------------------------
def edge_counts(vertices: np.ndarray, faces: np.ndarray) -> tuple[int, int]:
    """(non-manifold edges: shared by more than two faces, boundary edges: used by one face) after welding
    vertices that share a position."""
    if len(faces) == 0:
        return 0, 0
    diag = float(np.linalg.norm(vertices.max(axis=0) - vertices.min(axis=0))) or 1.0
    key = np.round(vertices / (diag * WELD_QUANTUM)).astype(np.int64)
    _, weld = np.unique(key, axis=0, return_inverse=True)
    f = weld.reshape(-1)[faces]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]  # degenerate after welding
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return int((counts > 2).sum()), int((counts == 1).sum())


def check_manifold(asset: Asset) -> CheckResult:
    vertices, faces = asset.world_geometry()
    if len(faces) == 0:
        return CheckResult(
            id="non_manifold_edges", passed=True, severity="info", message="no triangles (point cloud)", value=None
        )
    non_manifold, boundary = edge_counts(vertices, faces)
    return CheckResult(
        id="non_manifold_edges",
        passed=non_manifold == 0,
        severity="warning",
        message=(
            f"{non_manifold:,} edges are shared by more than two triangles; {boundary:,} open (boundary) edges"
            + (" (open edges are normal for thin or single-sided parts)" if boundary else "")
        ),
        value={"non_manifold_edges": non_manifold, "boundary_edges": boundary},
    )


def check_root_transform(asset: Asset) -> CheckResult:
    """A clean root: scene roots carry no transform, so viewers that re-root or read node transforms place
    the product exactly as authored (3DC guidelines: "Coordinate System and Scale Unit")."""
    bad = [
        asset.nodes[r].name or f"node_{r}"
        for r in asset.roots
        if not np.allclose(asset.nodes[r].matrix, np.eye(4), atol=1e-6)
    ]
    return CheckResult(
        id="root_transform",
        passed=not bad,
        severity="warning",
        message="scene roots have identity transforms" if not bad else f"scene roots with a transform: {', '.join(bad)}",
        value=bad,
    )


# --- dimensions ---------------------------------------------------------------------------------------------
def check_real_dimensions(metadata: Metadata) -> CheckResult:
    dims = metadata.dimensions_m.as_tuple()
    lo, hi = get_category(metadata.category).size_range_m
    present = all(d > 0 for d in dims)
    largest = max(dims)
    ok = present and metadata.unit.plausible
    text = " x ".join(f"{d:.3f}" for d in dims)
    if not present:
        reason = "a dimension is zero (flat or empty model)"
    elif not metadata.unit.plausible:
        reason = f"largest side {largest:.3f} m is outside the plausible {lo}-{hi} m for {metadata.category}"
    else:
        reason = f"plausible for {metadata.category} ({lo}-{hi} m, unit from {metadata.unit.determined_by})"
    return CheckResult(
        id="real_dimensions",
        passed=ok,
        severity="error",
        message=f"{text} m (W x H x D): {reason}",
        value=list(dims),
    )


def check_merchant_dimensions(metadata: Metadata, tolerance: float = DIMENSION_TOLERANCE) -> CheckResult:
    given = metadata.merchant_dimensions_m
    if given is None:
        return CheckResult(
            id="merchant_dimensions", passed=True, severity="info", message="no merchant dimensions given", value=None
        )
    model = np.array(metadata.dimensions_m.as_tuple())
    target = np.array(given.as_tuple())
    deviation = np.abs(model - target) / target
    worst = float(deviation.max())
    ok = worst <= tolerance
    message = (
        f"model {' x '.join(f'{d:.3f}' for d in model)} m vs merchant {' x '.join(f'{d:.3f}' for d in target)} m: "
        f"largest difference {worst:.1%} (tolerance {tolerance:.0%})"
    )
    if not ok and float((np.abs(np.sort(model) - np.sort(target)) / np.sort(target)).max()) <= tolerance:
        message += "; the sizes match in another axis order (width/height/depth swapped?)"
    return CheckResult(
        id="merchant_dimensions",
        passed=ok,
        severity="error",
        message=message,
        value={"relative_difference": [round(float(d), 4) for d in deviation], "tolerance": tolerance},
    )


# --- budgets ------------------------------------------------------------------------------------------------
def _budget(check_id: str, what: str, value: int, limit: int | None, profile: Profile, unit: str = "") -> CheckResult:
    if limit is None:
        return CheckResult(
            id=check_id, passed=True, severity="info",
            message=f"{what}: {value:,}{unit} (profile {profile.name} sets no limit)", value=value,
        )
    ok = value <= limit
    return CheckResult(
        id=check_id,
        passed=ok,
        severity="error",
        message=f"{what}: {value:,}{unit} {'<=' if ok else '>'} {limit:,}{unit} ({profile.name} profile)",
        value=value,
    )


def check_triangle_count(metadata: Metadata, profile: Profile) -> CheckResult:
    return _budget("triangle_count", "triangles", metadata.geometry.triangles, profile.max_triangles, profile)


def check_draw_calls(metadata: Metadata, profile: Profile) -> CheckResult:
    return _budget("draw_calls", "draw calls", metadata.geometry.draw_calls, profile.max_draw_calls, profile)


def check_file_size(files: dict[str, bytes], profile: Profile) -> CheckResult:
    if "model.glb" not in files:
        return CheckResult(id="file_size", passed=False, severity="error", message="model.glb is missing", value=None)
    return _budget("file_size", "model.glb", len(files["model.glb"]), profile.max_bytes, profile, " bytes")


# --- bundle contents ----------------------------------------------------------------------------------------
def glb_json(data: bytes) -> dict[str, Any]:
    """The JSON chunk of a GLB (header and first chunk only; raises ValueError when it is not a GLB)."""
    if len(data) < 20 or data[:4] != b"glTF":
        raise ValueError("not a GLB")
    length, chunk_type = struct.unpack_from("<II", data, 12)
    if chunk_type != 0x4E4F534A or 20 + length > len(data):
        raise ValueError("GLB without a JSON chunk")
    return json.loads(data[20 : 20 + length])


def check_variants(asset: Asset, files: dict[str, bytes]) -> CheckResult:
    """KHR_materials_variants survived into every GLB: same names, and every variant still switches at
    least one primitive."""
    expected = list(asset.variants)
    if not expected:
        return CheckResult(id="variants_preserved", passed=True, severity="info", message="no material variants", value=[])
    problems = []
    for name in sorted(n for n in files if n.endswith(".glb")):
        try:
            doc = glb_json(files[name])
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        names = [v.get("name") for v in doc.get("extensions", {}).get("KHR_materials_variants", {}).get("variants", [])]
        if names != expected:
            problems.append(f"{name}: variants {names} instead of {expected}")
            continue
        used: set[int] = set()
        for mesh in doc.get("meshes", []):
            for prim in mesh.get("primitives", []):
                for mapping in prim.get("extensions", {}).get("KHR_materials_variants", {}).get("mappings", []):
                    used.update(mapping.get("variants", []))
        unused = [expected[i] for i in range(len(expected)) if i not in used]
        if unused:
            problems.append(f"{name}: variants {unused} switch no primitive")
    return CheckResult(
        id="variants_preserved",
        passed=not problems,
        severity="error",
        message=(
            f"{len(expected)} variants ({', '.join(expected)}) present and mapped in every GLB"
            if not problems
            else "; ".join(problems)
        ),
        value=expected,
    )


def check_tryon_spec(asset: Asset, metadata: Metadata) -> CheckResult:
    """A try-on product meets its category's try-on spec (asset_pipeline/tryon.py): required nodes, origin at
    the anchor, the spec's axes, measurable real sizes. What the normalize stage fixed is listed; what is
    still missing fails the check (the product shows in 3D and AR, but try-on would misplace or miss parts).
    Without an anchor in the metadata (a model that did not go through normalize) the asset itself is
    checked."""
    category = get_category(metadata.category)
    if not category.tryon:
        return CheckResult(id="tryon_spec", passed=True, severity="info", message=f"{category.name} is not a try-on category", value=None)
    anchor = metadata.anchor
    if anchor is None:
        findings = check_tryon(asset, category.name)
        return CheckResult(
            id="tryon_spec",
            passed=not findings,
            severity="error",
            message=(
                f"{category.name} try-on spec not met: {'; '.join(f.message for f in findings)}"
                if findings
                else f"{category.name} meets the try-on spec"
            ),
            value={"problems": [f.as_dict() for f in findings]},
        )
    problems = [p.message for p in anchor.problems]
    value = {"missing_nodes": anchor.missing_nodes, "problems": [p.model_dump() for p in anchor.problems], "fixes": anchor.fixes}
    fixed = f"; fixed: {'; '.join(anchor.fixes)}" if anchor.fixes else ""
    if problems:
        missing = f"missing nodes {', '.join(anchor.missing_nodes)}; " if anchor.missing_nodes else ""
        message = f"{category.name} try-on spec not met: {missing}{'; '.join(problems)}{fixed}"
    elif anchor.kind == "face_material":
        shades = ", ".join(f"{s.base_color_hex} {s.finish}" + (f" ({s.variant})" if s.variant else "") for s in anchor.shades)
        message = f"{category.name} meets the try-on spec (shades: {shades}){fixed}"
    else:
        message = f"{category.name} meets the try-on spec (anchor at the origin, {', '.join(anchor.required_nodes) or 'no required nodes'}){fixed}"
    return CheckResult(id="tryon_spec", passed=not problems, severity="error", message=message, value=value)


def check_usdz(files: dict[str, bytes], profile: Profile) -> CheckResult:
    data = files.get("model.usdz")
    if data is None:
        requested = profile.usdz
        return CheckResult(
            id="usdz_present",
            passed=not requested,
            severity="warning" if requested else "info",
            message="model.usdz is missing: iOS AR Quick Look needs it" if requested else f"USDZ not requested ({profile.name} profile)",
            value=False,
        )
    ok = data[:4] == b"PK\x03\x04"
    return CheckResult(
        id="usdz_present",
        passed=ok,
        severity="warning",
        message=f"model.usdz present ({len(data):,} bytes)" if ok else "model.usdz is not a USDZ (zip) package",
        value=ok,
    )
