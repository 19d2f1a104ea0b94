"""Bake vertex colours into a base colour texture on a UV atlas.

Vertex-coloured scans (and the output of `reconstruct`) carry their colour per vertex. That colour cannot
survive simplification to a few percent of the triangles, but a texture can: the simplifier keeps UVs, so
the colour detail of the full-resolution scan stays in the image. For every triangle primitive with
COLOR_0 and no base colour texture this stage:

1. builds a UV atlas with xatlas. Chart computation in xatlas grows much faster than linearly with the
   size of one mesh (the 86k-triangle armadillo: 18.6 s in one piece), so the primitive is first cut into
   spatially compact pieces of `chunk_triangles` that are charted separately and packed into one atlas
   (5.4 s, utilization 0.71 instead of 0.69, 305 charts instead of 202); the cuts are chart seams anyway.
   Positions are rescaled to units of the median edge first: xatlas drops faces under an absolute area of
   FLT_EPSILON, which in metres is every sub-millimetre triangle of a scan. Faces it still leaves out of
   every chart have zero area (they draw nothing) and are dropped;
2. rasterizes the per-vertex colours into the texture by barycentric interpolation in UV space (vectorized
   numpy over per-triangle pixel boxes), conservatively, so that pixels straddling a chart's border get the
   colour of the nearest point of the triangle, then dilates every chart by `padding` pixels and fills the
   rest with the mean colour so that bilinear filtering and mipmaps do not pull in a background colour;
3. encodes the texture as PNG in sRGB (vertex colours are linear, base colour textures are sRGB), adds it as
   the material's baseColorTexture and drops COLOR_0, which glTF would otherwise multiply in a second time.

The report gives the colour RMSE (0-255 sRGB, weighted by the area around each vertex) between the vertex
colours and the texture sampled at the vertices' UVs: the colour the viewer shows at each vertex, before and
after."""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field, field_validator

from ..asset import Asset, Primitive, Texture
from ..errors import InvalidGeometryError, MissingDependencyError
from ..images import encode_png
from . import StageReport

# glTF sampler constants: an atlas must clamp (charts touch the border) and wants trilinear mipmaps.
LINEAR = 9729
LINEAR_MIPMAP_LINEAR = 9987
CLAMP_TO_EDGE = 33071
ATLAS_SAMPLER = {"magFilter": LINEAR, "minFilter": LINEAR_MIPMAP_LINEAR, "wrapS": CLAMP_TO_EDGE, "wrapT": CLAMP_TO_EDGE}

UNCHARTED = 0xFFFFFFFF  # xatlas' chart index for a vertex of a face it left out

# Pixel-box grids evaluated per numpy call while rasterizing (bounds memory to ~100 MB).
RASTER_BATCH_PIXELS = 2_000_000


class BakeOptions(BaseModel):
    enabled: bool = Field(default=True, description="bake vertex colours into a texture")
    texture_size: int = Field(default=1024, description="edge of the square baked texture, px (a power of two)")
    padding: int = Field(default=4, ge=0, le=64, description="px between charts and dilation around each chart")
    chunk_triangles: int = Field(
        default=5000, ge=500, description="triangles per piece charted by xatlas (charting time grows super-linearly)"
    )
    max_triangles: int = Field(
        default=300_000,
        description="above this the bake still runs but is slow (measured on 2 busy cores: 100k triangles "
        "7 s, 300k triangles 44 s of xatlas); the report warns with the time it took",
    )

    @field_validator("texture_size")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value < 16 or value > 8192 or value & (value - 1):
            raise ValueError(f"texture_size must be a power of two between 16 and 8192, got {value}")
        return value


def bake(asset: Asset, options: BakeOptions) -> StageReport:
    report = StageReport(stage="bake")
    if not options.enabled:
        report.skipped = True
        report.changes["reason"] = "disabled"
        return report
    targets = [
        (mesh_index, prim_index)
        for mesh_index, mesh in enumerate(asset.meshes)
        for prim_index, prim in enumerate(mesh.primitives)
        if _needs_bake(asset, prim)
    ]
    if not targets:
        report.skipped = True
        report.changes["reason"] = "no triangle primitive with vertex colours and without a base colour texture"
        return report
    try:
        import xatlas
    except ImportError as exc:  # pragma: no cover - xatlas is a declared dependency
        raise MissingDependencyError("baking vertex colours needs the 'xatlas' package (pip install xatlas)") from exc

    baked = []
    for mesh_index, prim_index in targets:
        prim = asset.meshes[mesh_index].primitives[prim_index]
        new_prim, details = _bake_primitive(xatlas, prim, options)
        if prim.triangle_count > options.max_triangles:
            report.warnings.append(
                f"mesh {asset.meshes[mesh_index].name!r}: {prim.triangle_count:,} triangles is over "
                f"{options.max_triangles:,}; its UV atlas took {details['xatlas_ms'] / 1000:.1f} s"
            )
        texture_index = len(asset.textures)
        asset.textures.append(
            Texture(
                data=details.pop("png"),
                mime_type="image/png",
                name=f"{asset.meshes[mesh_index].name or 'mesh'}_baked_color",
                sampler=dict(ATLAS_SAMPLER),
            )
        )
        texcoord = len(new_prim.uvs) - 1
        details["material"] = _attach_texture(asset, mesh_index, prim_index, new_prim, texture_index, texcoord)
        asset.meshes[mesh_index].primitives[prim_index] = new_prim
        details.update(mesh=asset.meshes[mesh_index].name, primitive=prim_index, texture=texture_index, texcoord=texcoord)
        baked.append(details)

    report.changes.update(
        primitives_baked=len(baked),
        texture_size=options.texture_size,
        padding=options.padding,
        primitives=baked,
        max_color_rmse=max(b["color_rmse"] for b in baked),
    )
    return report


def _needs_bake(asset: Asset, prim: Primitive) -> bool:
    if prim.mode != "triangles" or prim.colors is None or prim.triangle_count == 0:
        return False
    if prim.material is None:
        return True
    material = asset.materials[prim.material]
    pbr = material.get("pbrMetallicRoughness", {})
    spec_gloss = material.get("extensions", {}).get("KHR_materials_pbrSpecularGlossiness", {})
    return "baseColorTexture" not in pbr and "diffuseTexture" not in spec_gloss


def _bake_primitive(xatlas: Any, prim: Primitive, options: BakeOptions) -> tuple[Primitive, dict[str, Any]]:
    positions = np.ascontiguousarray(prim.positions, dtype=np.float32)
    faces = np.ascontiguousarray(prim.indices, dtype=np.uint32)
    if not np.isfinite(positions).all():
        raise InvalidGeometryError("cannot bake vertex colours: the mesh has NaN or infinite coordinates")

    start = time.perf_counter()
    # xatlas drops faces under an absolute area of FLT_EPSILON (1.2e-7): in metres that is a 0.5 mm triangle,
    # 6% of a simplified 30k-triangle dragon. Its UVs are scale-free, so chart in units of the median edge.
    edges = np.linalg.norm(positions[faces[:, [1, 2, 0]]] - positions[faces], axis=2)
    positions = positions / max(float(np.median(edges)), 1e-30)
    chunks = _spatial_chunks(positions, faces, options.chunk_triangles)
    atlas = xatlas.Atlas()
    chunk_vertices = []
    for chunk in chunks:
        used, local = np.unique(faces[chunk], return_inverse=True)
        chunk_vertices.append(used)
        atlas.add_mesh(positions[used], local.reshape(-1, 3).astype(np.uint32))
    pack = xatlas.PackOptions()
    # With texels_per_unit left at 0, xatlas sizes the charts for about this resolution in ONE atlas; its
    # UVs come back normalized to that atlas, which the rasterizer maps onto texture_size.
    pack.resolution = options.texture_size
    pack.padding = options.padding
    pack.bilinear = True
    try:
        atlas.generate(xatlas.ChartOptions(), pack)
    except Exception as exc:  # xatlas reports bad topology as a generic RuntimeError
        raise InvalidGeometryError(f"cannot build a UV atlas for baking vertex colours: {exc}") from exc
    if atlas.atlas_count != 1:
        raise InvalidGeometryError(f"xatlas split the UV atlas into {atlas.atlas_count} pages; expected one")
    atlas_ms = (time.perf_counter() - start) * 1000

    # Stitch the pieces back: xatlas keeps each piece's face order, so faces return to their input order.
    source_vertex, new_faces, new_uvs, charted = [], np.empty_like(faces), [], []
    offset = 0
    for i, (chunk, used) in enumerate(zip(chunks, chunk_vertices)):
        vmapping, chunk_faces, uvs = atlas[i]
        source_vertex.append(used[vmapping])
        new_faces[chunk] = chunk_faces.reshape(-1, 3) + offset
        new_uvs.append(uvs)
        charted.append(atlas.get_mesh_vertex_assignment(i)[1] != UNCHARTED)
        offset += len(vmapping)
    keep = np.concatenate(source_vertex)
    atlas_uv = np.concatenate(new_uvs).astype(np.float32)
    # xatlas leaves zero-area faces out of every chart (their vertices get UV (0, 0) and no chart). They draw
    # nothing; keeping them would give them a UV triangle across unrelated charts, so they are dropped.
    is_charted = np.concatenate(charted)
    drawn = is_charted[new_faces].all(axis=1)
    dropped_faces = int((~drawn).sum())
    if dropped_faces:
        new_faces = new_faces[drawn]
        used_vertices = np.unique(new_faces)
        renumber = np.full(len(keep), -1, dtype=np.int64)
        renumber[used_vertices] = np.arange(len(used_vertices))
        new_faces = renumber[new_faces].astype(np.uint32)
        keep, atlas_uv = keep[used_vertices], atlas_uv[used_vertices]
    if len(new_faces) == 0:
        raise InvalidGeometryError("cannot bake vertex colours: every triangle has zero area")
    new_prim = prim.take_vertices(keep)
    new_prim.indices = new_faces
    new_prim.uvs = [*new_prim.uvs, atlas_uv]
    colors = np.clip(new_prim.colors.astype(np.float32), 0.0, 1.0)

    start = time.perf_counter()
    image, covered = rasterize_vertex_colors(atlas_uv, new_faces, colors, options.texture_size)
    _dilate(image, covered, options.padding)
    srgb = _to_srgb8(image)
    has_alpha = bool((colors[:, 3] < 1.0).any())
    pixels = srgb if has_alpha else srgb[..., :3]
    raster_ms = (time.perf_counter() - start) * 1000

    png = encode_png(Image.fromarray(np.ascontiguousarray(pixels)))

    vertex_srgb = _to_srgb8(colors).astype(np.float64)
    sampled = sample_bilinear(pixels, atlas_uv)
    squared = ((sampled - vertex_srgb[:, : pixels.shape[2]]) ** 2).mean(axis=1)
    # Weighted by the surface each vertex stands for (a third of its faces' area): xatlas packs micro-faces
    # (edges of a few micrometres in real scans) as UV points that no pixel can hold, and they are invisible.
    tri = new_prim.positions[new_faces].astype(np.float64)
    face_area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    vertex_area = np.bincount(new_faces.reshape(-1), np.repeat(face_area / 3, 3), minlength=len(squared))
    rmse = float(np.sqrt(np.average(squared, weights=vertex_area))) if vertex_area.sum() > 0 else 0.0
    rmse_unweighted = float(np.sqrt(squared.mean()))
    new_prim.colors = None
    scale = options.texture_size / max(atlas.width, atlas.height)
    return new_prim, {
        "png": png,
        "triangles": prim.triangle_count,
        "triangles_after": new_prim.triangle_count,
        "vertices_before": prim.vertex_count,
        "vertices_after": new_prim.vertex_count,
        "atlas_size": [options.texture_size, options.texture_size],
        "xatlas_size": [int(atlas.width), int(atlas.height)],
        "effective_padding_px": round(options.padding * scale, 2),
        "charts": int(atlas.chart_count),
        "pieces": len(chunks),
        "utilization": round(float(atlas.utilization), 4),
        "coverage": round(float(covered.mean()), 4),
        "zero_area_faces_dropped": dropped_faces,
        "alpha": has_alpha,
        "color_rmse": round(rmse, 3),
        "color_rmse_per_vertex": round(rmse_unweighted, 3),
        "png_bytes": len(png),
        "xatlas_ms": round(atlas_ms, 1),
        "raster_ms": round(raster_ms, 1),
        "ms_per_1k_triangles": round(atlas_ms / max(prim.triangle_count, 1) * 1000, 2),
    }


def _spatial_chunks(positions: np.ndarray, faces: np.ndarray, size: int) -> list[np.ndarray]:
    """Face index sets of at most `size` faces, split at the median along the longest axis of the face
    centroids (a k-d split: compact pieces, so the cuts add few chart seams)."""
    centroids = positions[faces].mean(axis=1)
    pending = [np.arange(len(faces))]
    out = []
    while pending:
        part = pending.pop()
        if len(part) <= size:
            out.append(part)
            continue
        c = centroids[part]
        axis = int(np.argmax(c.max(axis=0) - c.min(axis=0)))
        order = part[np.argsort(c[:, axis], kind="stable")]
        half = len(order) // 2
        pending += [order[half:], order[:half]]
    return out


def rasterize_vertex_colors(
    uvs: np.ndarray, faces: np.ndarray, colors: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex values interpolated over each triangle's UV footprint in a size x size image.

    Returns (image (size, size, C) float32, covered (size, size) bool). Pixel centres inside a triangle get
    its barycentric interpolation; pixels whose centre is within half a pixel diagonal outside get the value
    at the nearest barycentric point (conservative rasterization), unless a triangle covers them exactly."""
    channels = colors.shape[1]
    image = np.zeros((size, size, channels), dtype=np.float32)
    covered = np.zeros((size, size), dtype=bool)
    # Pixel (x, y) has its centre at uv ((x + 0.5) / size, (y + 0.5) / size); glTF's v runs down the image.
    tri = uvs[faces].astype(np.float64) * size - 0.5  # (M, 3, 2)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ab, ac = b - a, c - a
    area2 = ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0]
    valid = np.abs(area2) > 1e-12
    margin = 0.71  # half a pixel diagonal
    lo = np.floor(tri.min(axis=1) - margin).astype(np.int64)
    hi = np.ceil(tri.max(axis=1) + margin).astype(np.int64)
    lo = np.clip(lo, 0, size - 1)
    hi = np.clip(hi, 0, size - 1)
    extent = np.maximum(hi - lo + 1, 1).max(axis=1)
    # Group triangles by their box edge rounded up to a power of two, so each group is one dense grid.
    box = 1 << np.ceil(np.log2(extent)).astype(np.int64)
    conservative_parts, exact_parts = [], []
    for edge in np.unique(box[valid]):
        members = np.flatnonzero(valid & (box == edge))
        grid = np.arange(edge)
        batch = max(1, RASTER_BATCH_PIXELS // (edge * edge))
        for start in range(0, len(members), batch):
            t = members[start : start + batch]
            px = lo[t, 0, None, None] + grid[None, None, :]  # (n, 1, edge)
            py = lo[t, 1, None, None] + grid[None, :, None]  # (n, edge, 1)
            in_box = (px <= hi[t, 0, None, None]) & (py <= hi[t, 1, None, None])
            dx = px - a[t, 0, None, None]
            dy = py - a[t, 1, None, None]
            inv = 1.0 / area2[t, None, None]
            l1 = (dx * ac[t, 1, None, None] - dy * ac[t, 0, None, None]) * inv
            l2 = (ab[t, 0, None, None] * dy - ab[t, 1, None, None] * dx) * inv
            l0 = 1.0 - l1 - l2
            # Signed distance (px) of the pixel centre to each edge: barycentric times that vertex's height.
            edge_len = np.linalg.norm(tri[t][:, [2, 0, 1]] - tri[t][:, [1, 2, 0]], axis=-1)  # opposite edges
            height = np.abs(area2[t])[:, None] / np.maximum(edge_len, 1e-12)
            exact = in_box & (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
            near = (
                in_box
                & ~exact
                & (l0 * height[:, 0, None, None] >= -margin)
                & (l1 * height[:, 1, None, None] >= -margin)
                & (l2 * height[:, 2, None, None] >= -margin)
            )
            for mask, parts in ((exact, exact_parts), (near, conservative_parts)):
                tri_i, yy, xx = np.nonzero(mask)
                if not len(tri_i):
                    continue
                w = np.stack([l0[tri_i, yy, xx], l1[tri_i, yy, xx], l2[tri_i, yy, xx]], axis=1)
                np.clip(w, 0.0, None, out=w)
                w /= w.sum(axis=1, keepdims=True)
                value = np.einsum("nk,nkc->nc", w, colors[faces[t[tri_i]]])
                parts.append((py[tri_i, yy, 0] * size + px[tri_i, 0, xx], value))
    flat_image = image.reshape(-1, channels)
    flat_covered = covered.reshape(-1)
    for parts in (conservative_parts, exact_parts):  # exact coverage wins over a neighbour's overhang
        for pixel, value in parts:
            flat_image[pixel] = value
            flat_covered[pixel] = True
    return image, covered


def _dilate(image: np.ndarray, covered: np.ndarray, steps: int) -> None:
    """Grow covered regions by `steps` pixels (each new pixel the mean of its covered 8-neighbours), then
    fill what is left with the mean covered value, in place."""
    size_y, size_x = covered.shape
    for _ in range(steps):
        padded_img = np.pad(image * covered[..., None], ((1, 1), (1, 1), (0, 0)))
        padded_cov = np.pad(covered, 1).astype(np.float32)
        total = np.zeros_like(image)
        count = np.zeros(covered.shape, dtype=np.float32)
        for oy in (0, 1, 2):
            for ox in (0, 1, 2):
                if oy == 1 and ox == 1:
                    continue
                total += padded_img[oy : oy + size_y, ox : ox + size_x]
                count += padded_cov[oy : oy + size_y, ox : ox + size_x]
        grow = ~covered & (count > 0)
        if not grow.any():
            break
        image[grow] = total[grow] / count[grow, None]
        covered |= grow
    if covered.any() and not covered.all():
        image[~covered] = image[covered].mean(axis=0)


def _to_srgb8(linear: np.ndarray) -> np.ndarray:
    """Linear RGB(A) floats in [0, 1] to 8-bit sRGB (alpha stays linear, as glTF defines it)."""
    x = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    out = x.copy()
    rgb = x[..., :3]
    out[..., :3] = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.power(rgb, 1 / 2.4) - 0.055)
    return np.round(out * 255.0).astype(np.uint8)


def sample_bilinear(image: np.ndarray, uvs: np.ndarray) -> np.ndarray:
    """Bilinear samples (float64) of an (H, W, C) image at glTF UVs, clamped to the edge like the atlas
    sampler."""
    h, w = image.shape[:2]
    x = np.clip(uvs[:, 0].astype(np.float64) * w - 0.5, 0, w - 1)
    y = np.clip(uvs[:, 1].astype(np.float64) * h - 0.5, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2 if w > 1 else 0)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2 if h > 1 else 0)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _attach_texture(
    asset: Asset, mesh_index: int, prim_index: int, prim: Primitive, texture_index: int, texcoord: int
) -> int:
    """Point the primitive's material (and its KHR_materials_variants alternatives) at the baked texture.

    A material the primitive shares with anything else is copied first: the texture belongs to this
    primitive's atlas only. Returns the primitive's material index."""
    texture_ref: dict[str, Any] = {"index": texture_index}
    if texcoord:
        texture_ref["texCoord"] = texcoord
    if prim.material is None:
        # glTF's default material is fully metallic, which renders a colour scan nearly black; scans are
        # dielectric surfaces.
        asset.materials.append(
            {
                "name": "baked_vertex_colors",
                "pbrMetallicRoughness": {"baseColorTexture": texture_ref, "metallicFactor": 0.0, "roughnessFactor": 1.0},
            }
        )
        prim.material = len(asset.materials) - 1
        return prim.material
    users = _material_users(asset)

    def own(material: int) -> int:
        if users.get(material, set()) - {(mesh_index, prim_index)}:
            asset.materials.append(copy.deepcopy(asset.materials[material]))
            material = len(asset.materials) - 1
        mat = asset.materials[material]
        if "KHR_materials_pbrSpecularGlossiness" in mat.get("extensions", {}):
            mat["extensions"]["KHR_materials_pbrSpecularGlossiness"]["diffuseTexture"] = dict(texture_ref)
        mat.setdefault("pbrMetallicRoughness", {})["baseColorTexture"] = dict(texture_ref)
        return material

    prim.material = own(prim.material)
    for mapping in prim.variant_mappings:
        mapping["material"] = own(mapping["material"])
    return prim.material


def _material_users(asset: Asset) -> dict[int, set[tuple[int, int]]]:
    users: dict[int, set[tuple[int, int]]] = {}
    for mi, mesh in enumerate(asset.meshes):
        for pi, prim in enumerate(mesh.primitives):
            for material in [prim.material, *(m["material"] for m in prim.variant_mappings)]:
                if material is not None:
                    users.setdefault(material, set()).add((mi, pi))
    return users
