"""LODs: lighter copies of LOD0 for distance rendering and slow networks (model.lod1.glb, model.lod2.glb).

Each level is simplified from LOD0 itself (not from the previous level, so errors do not compound) to
`ratio` x LOD0's triangles, with the same simplifier and attribute weights as LOD0, and its geometric error is
measured against one reference surface - the full-resolution normalized source when the pipeline passes it - so
the errors of all levels are comparable and grow with each level. A level's error is measured on the measuring
thread while the next level is simplified. Each level's textures are scaled down to its `textures.sizes` entry
(lod_textures.py: LOD1 1024 px, LOD2 512 px by default) on a thread pool meanwhile."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, Field

from ..asset import Asset
from ..measure import Reference, Surface
from . import StageReport
from .lod_textures import LodTextureOptions, LodTextures
from .simplify import SimplifyOptions, simplify_against


class LodOptions(BaseModel):
    ratios: tuple[float, ...] = Field(default=(0.25, 0.06), description="each level's triangles as a fraction of LOD0's")
    min_triangles: int = Field(default=64, ge=1, description="no level goes below this many triangles")
    target_error: float = Field(default=0.01, gt=0, description="starting error bound (relaxed as a level needs it)")
    computed_normal_weight: float = Field(
        default=0.25,
        ge=0,
        description="simplifier weight of normals repair computed; higher than LOD0's (0.1) because deeper reductions "
        "otherwise cut thin features (dragon LOD1: Hausdorff about halved against 0.1, mean error still below 0.5's)",
    )
    error_samples: int = Field(default=50_000, ge=100, description="points sampled on each surface for the error")
    textures: LodTextureOptions = Field(
        default_factory=LodTextureOptions, description="each level's largest texture edge and how it is re-encoded"
    )


def generate_lods(
    asset: Asset, options: LodOptions, reference: Asset | Surface | Reference | None = None
) -> tuple[list[Asset], StageReport]:
    """The LOD assets (LOD1, LOD2, ...) and a report. `reference` is the surface errors are measured against
    (default: LOD0); a `Reference` the caller already prepared is shared. A level that would not be lighter than
    the one before is left out and reported."""
    with ThreadPoolExecutor(max_workers=options.textures.workers) as pool:
        return _generate(asset, options, reference, LodTextures(asset, options.textures, pool))


def _generate(
    asset: Asset, options: LodOptions, reference: Asset | Surface | Reference | None, textures: LodTextures
) -> tuple[list[Asset], StageReport]:
    lod0 = asset.triangle_count
    shared: Reference | None = reference if isinstance(reference, Reference) else None  # built on first use
    levels: list[dict[str, Any]] = []
    lods: list[Asset] = []
    errors = []
    warnings: list[str] = []
    previous = lod0
    for level, ratio in enumerate(options.ratios, start=1):
        target = max(options.min_triangles, int(lod0 * ratio))
        if target >= previous:
            warnings.append(
                f"LOD{level} skipped: {ratio:g} x {lod0:,} triangles (at least {options.min_triangles}) is not below "
                f"the previous level's {previous:,}"
            )
            continue
        textures.start(level)
        lod = asset.copy()
        simplify_options = SimplifyOptions(
            target_triangles=target,
            target_error=options.target_error,
            computed_normal_weight=options.computed_normal_weight,
            measure_error=False,
        )
        report = simplify_against(lod, simplify_options, reference=None)
        if shared is None:
            shared = Reference(reference if reference is not None else asset)  # type: ignore[arg-type]
        errors.append(shared.measure(lod, samples=options.error_samples))
        warnings.extend(f"LOD{level}: {w}" for w in report.warnings)
        levels.append(
            {
                "level": level,
                "ratio": ratio,
                "target_triangles": target,
                "triangles": lod.triangle_count,
                "vertices": lod.vertex_count,
                "methods": report.changes.get("methods", {}),
            }
        )
        lods.append(lod)
        previous = lod.triangle_count
    for lod, entry, pending in zip(lods, levels, errors):
        error = pending.result()
        lod.extras["geometric_error"] = error
        entry.update(
            error_hausdorff_m=error.hausdorff,
            error_mean_m=error.mean,
            error_hausdorff_rel=error.hausdorff_rel,
            error_mean_rel=error.mean_rel,
        )
        entry.update(textures.finish(entry["level"], lod))
    changes: dict[str, Any] = {"lod0_triangles": lod0, "levels": levels}
    if errors:  # some level was measured
        changes["reference_triangles"] = len(shared.surface.faces)  # type: ignore[union-attr]
    return lods, StageReport(stage="lods", skipped=not lods, changes=changes, warnings=warnings)
