"""Named budgets and the order the pipeline runs its stages in.

Stage order, and why (glTF Transform's `optimize` documents its own the same way):
1. repair     - first, so every later stage sees welded, non-degenerate, debris-free geometry; welding also
                lets the simplifier see the surface as connected instead of a triangle soup.
2. reconstruct- point clouds only: a surface must exist before anything else applies.
3. normalize  - before simplify, so budgets and error are measured in metres and the error of every LOD is
                comparable across products.
4. bake       - vertex-coloured scans: colour moves into a texture on a UV atlas *before* decimation, because
                the simplifier keeps UVs but a 6% LOD cannot keep per-vertex colour detail.
5. simplify   - to the profile's triangle budget (LOD0), with the geometric error measured.
6. textures   - after geometry: resize/pack/encode is independent of it, and only needs to run once.
7. lods       - LOD1/LOD2 from LOD0 (already welded, normalized, textured), each with its error; their
                textures scaled down from LOD0's (after the textures stage: same formats, decided once).
8. compress   - last, at write time: quantization and meshopt/Draco are encodings of the final arrays.
9. package    - GLBs, USDZ, poster/thumbnail, metadata.json, report.json.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from .errors import OptionError


class Profile(BaseModel):
    name: str
    description: str
    max_triangles: int | None = Field(description="LOD0 triangle budget; None = never simplify")
    max_bytes: int | None = Field(description="budget for model.glb")
    max_texture_size: int | None = Field(description="largest texture edge in px; None = keep")
    max_draw_calls: int | None = None
    lod_ratios: tuple[float, ...] = Field(
        default=(0.25, 0.06), description="LOD1, LOD2 triangle counts as a fraction of LOD0's"
    )
    lod_texture_sizes: tuple[int, ...] = Field(
        default=(1024, 512),
        description="LOD1, LOD2 largest texture edge in px (power-of-two edges, aspect kept, never above LOD0's "
        "textures; same format as LOD0's)",
    )
    texture_format: str = Field(
        default="webp", description="webp | ktx2 (KHR_texture_basisu, GPU-compressed) | keep (original PNG/JPEG)"
    )
    texture_fallback: bool = Field(default=False, description="also write a PNG/JPEG fallback for WebP/KTX2")
    texture_quality: int = Field(default=90, description="starting WebP/JPEG quality; lowered to meet max_bytes")
    texture_pot: bool = Field(default=True, description="resize textures to power-of-two edges (at or below the source)")
    texture_repack: bool = Field(
        default=True,
        description="pack occlusion into metallicRoughness and drop unread or opaque alpha channels (both "
        "re-encode the image)",
    )
    compression: str = Field(default="meshopt", description="meshopt | draco | none")
    quantize: bool = True
    usdz: bool = True
    usdz_max_texture_size: int = 2048
    max_usdz_triangles: int | None = Field(default=None, description="Apple Quick Look budget for model.usdz")
    poster_size: int = 1024
    thumb_size: int = 256


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            name="web-ar",
            description="Khronos 3D Commerce mobile AR target: <= 3 MB, <= 150k triangles, <= 2048 px textures, "
            "< 20 draw calls; WebP textures, Draco geometry, quantized",
            max_triangles=150_000,
            max_bytes=3_000_000,
            max_texture_size=2048,
            max_draw_calls=19,
            compression="draco",
            max_usdz_triangles=100_000,
        ),
        Profile(
            name="desktop",
            description="desktop browsers: <= 250k triangles, <= 3 MB, <= 2048 px textures",
            max_triangles=250_000,
            max_bytes=3_000_000,
            max_texture_size=2048,
            compression="draco",
            max_usdz_triangles=100_000,
        ),
        Profile(
            name="quicklook",
            description="Apple AR Quick Look first: <= 100k triangles, <= 2048 px PNG/JPEG textures, no "
            "geometry compression (the GLB stays readable by every tool)",
            max_triangles=100_000,
            max_bytes=None,
            max_texture_size=2048,
            texture_format="keep",
            compression="none",
            quantize=False,
            max_usdz_triangles=100_000,
        ),
        Profile(
            name="banner",
            description="ad banners and thumbnails: <= 500 KB, <= 30k triangles, <= 512 px textures",
            max_triangles=30_000,
            max_bytes=500_000,
            max_texture_size=512,
            texture_quality=80,
            lod_texture_sizes=(256, 128),  # halved per level from its 512, as web-ar's from 2048
            compression="draco",
            poster_size=512,
            max_usdz_triangles=30_000,
        ),
        Profile(
            name="archive",
            description="lossless: no simplification, no LODs, original textures, no quantization or compression",
            max_triangles=None,
            max_bytes=None,
            max_texture_size=None,
            lod_ratios=(),
            texture_format="keep",
            texture_pot=False,
            texture_repack=False,
            compression="none",
            quantize=False,
        ),
    ]
}

DEFAULT_PROFILE = "web-ar"


def get_profile(name: str | None) -> Profile:
    key = (name or DEFAULT_PROFILE).strip().lower()
    if key not in PROFILES:
        raise OptionError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[key]
