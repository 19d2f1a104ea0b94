"""`optimize(source, profile) -> Bundle`: the stages of `profiles.py` in order, each timed, then packaging.

Bytes in, bytes out: no storage, no HTTP. `progress(stage, fraction)` is called before each stage so the
CLI and the service's jobs can show where a run is."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import __version__
from .asset import Asset
from .categories import get_category
from .errors import OptionError
from .limits import DEFAULT_LIMITS, Limits
from .metadata import (
    CONTENT_TYPES,
    Anchor,
    Bundle,
    Dimensions,
    FileInfo,
    GeometryStats,
    LodInfo,
    MaterialInfo,
    Metadata,
    Report,
    SourceInfo,
    TextureInfo,
    UnitInfo,
)
from .measure import Reference
from .profiles import Profile, get_profile
from .stages import StageReport

if TYPE_CHECKING:
    from .stages.lods import LodOptions

Progress = Callable[[str, float], None]

# The order of stages (see profiles.py for why); packaging steps follow.
STAGES = ("read", "repair", "reconstruct", "normalize", "bake", "simplify", "textures", "lods", "compress", "package")


def parse_dimensions(text: str | None) -> tuple[float, float, float] | None:
    """'WxHxD' in metres (e.g. '0.83x0.69x0.57'), optionally with a unit suffix: 83x69x57cm, 32x27x22in."""
    if text is None:
        return None
    from .stages.normalize import UNIT_SCALES

    raw = text.strip().lower().replace(" ", "")
    unit = "m"
    for suffix in sorted(UNIT_SCALES, key=len, reverse=True):
        if raw.endswith(suffix) and suffix != "unknown":
            raw, unit = raw[: -len(suffix)], suffix
            break
    parts = raw.split("x")
    try:
        values = tuple(float(p) * UNIT_SCALES[unit] for p in parts)
    except ValueError:
        raise OptionError(f"dimensions {text!r}: expected WxHxD, e.g. 0.83x0.69x0.57 or 83x69x57cm") from None
    if len(values) != 3 or not all(v > 0 and v < 1e4 for v in values):
        raise OptionError(f"dimensions {text!r}: expected three positive numbers WxHxD")
    return values  # type: ignore[return-value]


def _tool_versions() -> dict[str, str]:
    from importlib import metadata as md

    out = {"asset_pipeline": __version__}
    for dist in ("numpy", "trimesh", "meshoptimizer", "DracoPy", "open3d-cpu", "xatlas", "usd-core", "Pillow", "pygltflib", "pyrender"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def _geometry_stats(asset: Asset) -> GeometryStats:
    return GeometryStats(
        triangles=asset.triangle_count,
        vertices=asset.vertex_count,
        draw_calls=asset.draw_calls,
        nodes=len(asset.nodes),
        meshes=len(asset.meshes),
        primitives=sum(len(m.primitives) for m in asset.meshes),
    )


def _asset_id(source_sha: str, profile: str, options: dict[str, Any]) -> str:
    key = json.dumps({"source": source_sha, "profile": profile, "options": options}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()


class _StageTimer:
    """Times stage calls and collects their reports into the stage log."""

    def __init__(self, progress: Progress | None):
        self.log: list[StageReport] = []
        self.progress = progress

    def run(self, name: str, func: Callable[..., Any], *args: Any) -> Any:
        if self.progress:
            self.progress(name, STAGES.index(name) / len(STAGES))
        start = time.perf_counter()
        result = func(*args)
        ms = (time.perf_counter() - start) * 1000
        report = result[-1] if isinstance(result, tuple) else result
        if isinstance(report, StageReport):
            report.ms = round(ms, 2)
            self.log.append(report)
        else:
            self.log.append(StageReport(stage=name, ms=round(ms, 2)))
        return result


def load_source(source: bytes | str | Path | Asset, filename: str | None, limits: Limits) -> Asset:
    from . import io

    if isinstance(source, Asset):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.read(bytes(source), filename or "", limits)
    return io.read_path(source, limits)


def optimize(
    source: bytes | str | Path | Asset,
    profile: str = "web-ar",
    *,
    filename: str | None = None,
    unit: str | None = None,
    up: str | None = None,
    dimensions: str | tuple[float, float, float] | None = None,
    category: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    validate: bool | None = None,
    usdz: bool | None = None,
    poster: bool = True,
    texture_format: str | None = None,
) -> Bundle:
    """Turn a scan or model into a web-AR bundle.

    - `source`: bytes (with `filename` for messages), a path, or an already read `Asset`.
    - `profile`: web-ar (default) | desktop | quicklook | banner | archive.
    - `unit`/`up`/`dimensions`/`category`: what the merchandiser knows; each overrides detection.
    - `validate`: run the Khronos glTF-Validator (None = when node and the validator are installed).
    - `usdz`/`poster`: produce model.usdz / poster.webp + thumb.webp (usdz None = as the profile says).
    - `texture_format`: webp | ktx2 | keep, overriding the profile's (None = as the profile says).
    """
    prof: Profile = get_profile(profile)
    cat = get_category(category)
    merchant_dims = parse_dimensions(dimensions) if isinstance(dimensions, str) else dimensions
    from .stages.textures import TEXTURE_FORMATS

    if texture_format is not None and texture_format not in TEXTURE_FORMATS:
        raise OptionError(f"unknown texture format {texture_format!r}; known: {', '.join(TEXTURE_FORMATS)}")
    options = {
        k: v
        for k, v in dict(
            unit=unit, up=up, dimensions=merchant_dims, category=category, texture_format=texture_format
        ).items()
        if v is not None
    }
    timer = _StageTimer(progress)

    from .stages.bake import BakeOptions, bake
    from .stages.compress import CompressOptions, compress
    from .stages.lod_textures import LodTextureOptions
    from .stages.lods import LodOptions
    from .stages.normalize import NormalizeOptions, normalize
    from .stages.reconstruct import ReconstructOptions, reconstruct
    from .stages.repair import RepairOptions, repair
    from .stages.simplify import SimplifyOptions, simplify
    from .stages.textures import TextureOptions, geometry_bytes_per_triangle, textures

    asset = timer.run("read", load_source, source, filename, limits)
    source_stats = _geometry_stats(asset)
    timer.run("repair", repair, asset, RepairOptions())
    timer.run("reconstruct", reconstruct, asset, ReconstructOptions())
    timer.run(
        "normalize", normalize, asset, NormalizeOptions(unit=unit, up=up, dimensions=merchant_dims, category=cat.name)
    )
    timer.run("bake", bake, asset, BakeOptions())
    reference = asset.copy()  # the normalized full-resolution surface every LOD's error is measured against
    # LOD0's error is measured with the LODs' (one reference BVH for all), off the GLB's path: see _lods.
    simplify_report = timer.run(
        "simplify", simplify, asset, SimplifyOptions(target_triangles=prof.max_triangles, measure_error=False)
    )
    timer.run(
        "textures",
        textures,
        asset,
        TextureOptions(
            max_size=prof.max_texture_size,
            format=texture_format or prof.texture_format,
            fallback=prof.texture_fallback,
            quality=prof.texture_quality,
            max_bytes=prof.max_bytes,
            geometry_bytes_per_triangle=geometry_bytes_per_triangle(prof.compression, prof.quantize),
            pot=prof.texture_pot,
            pack_orm=prof.texture_repack,
            drop_alpha=prof.texture_repack,
            limits=limits,
        ),
    )
    lod_options = LodOptions(
        ratios=prof.lod_ratios,
        textures=LodTextureOptions(sizes=prof.lod_texture_sizes, quality=prof.texture_quality, limits=limits),
    )
    lod_assets, _ = timer.run("lods", _lods, asset, lod_options, reference, simplify_report)
    compress_options = CompressOptions(method=prof.compression, quantize=prof.quantize, measure_bytes=False)
    timer.run("compress", compress, asset, compress_options)
    for lod in lod_assets:
        compress(lod, compress_options)

    files, lod_infos, validator = timer.run(
        "package",
        _package,
        asset,
        lod_assets,
        reference,
        prof,
        validate,
        prof.usdz if usdz is None else usdz,
        poster,
        cat.placement,
    )

    prov = asset.provenance
    assert prov is not None
    asset_id = _asset_id(prov.sha256, prof.name, options)
    unit_info = UnitInfo(**asset.extras["unit"])
    metadata = Metadata(
        asset_id=asset_id,
        profile=prof.name,
        options={k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()},
        source=SourceInfo(
            filename=prov.filename, sha256=prov.sha256, size_bytes=prov.size_bytes, format=prov.format, notes=prov.notes
        ),
        category=cat.name,
        placement=cat.placement,
        dimensions_m=Dimensions.from_xyz(asset.dimensions()),
        merchant_dimensions_m=Dimensions.from_xyz(merchant_dims) if merchant_dims else None,
        unit=unit_info,
        geometry=_geometry_stats(asset),
        source_geometry=source_stats,
        materials=_material_infos(asset),
        textures=_texture_infos(asset),
        variants=list(asset.variants),
        lods=lod_infos,
        anchor=Anchor(**asset.extras["anchor"]) if asset.extras.get("anchor") else None,
        stage_log=timer.log,
        tool_versions=_tool_versions(),
    )
    from .checks import build_report

    report: Report = build_report(asset_id, asset, metadata, files, validator, prof)
    files["report.json"] = report.model_dump_json(indent=2).encode()
    metadata.files = {
        name: FileInfo(bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), content_type=CONTENT_TYPES[Path(name).suffix])
        for name, data in files.items()
    }
    files["metadata.json"] = metadata.model_dump_json(indent=2).encode()
    return Bundle(files=files, metadata=metadata, report=report)


def _lods(asset: Asset, options: LodOptions, reference: Asset, simplify_report: StageReport) -> tuple[list[Asset], StageReport]:
    """The LODs, and the geometric error of every level including LOD0's (reported in the simplify stage's
    changes, as before). One reference BVH serves all levels; the errors are measured on the measuring thread
    while the main thread simplifies the next level, and the stage returns when all are in."""
    from .stages.lods import generate_lods
    from .stages.simplify import record_error

    if simplify_report.skipped and not options.ratios:
        return generate_lods(asset, options, reference)
    measured = Reference(reference)
    lod0_error = None if simplify_report.skipped else measured.measure(asset)
    lods = generate_lods(asset, options, measured)
    if lod0_error is not None:
        record_error(asset, simplify_report, lod0_error.result())
    return lods


def _package(
    asset: Asset,
    lod_assets: list[Asset],
    reference: Asset,
    prof: Profile,
    validate: bool | None,
    make_usdz: bool,
    make_poster: bool,
    placement: str,
):
    from .checks.validator import UNCOMPRESSED, run_validator
    from .io.gltf import write_glb
    from .measure import geometric_error
    from .stages.lod_textures import max_texture_size

    files: dict[str, bytes] = {"model.glb": write_glb(asset)}
    lod_infos = [
        LodInfo(
            level=0,
            file="model.glb",
            triangles=asset.triangle_count,
            vertices=asset.vertex_count,
            bytes=len(files["model.glb"]),
            ratio=asset.triangle_count / max(reference.triangle_count, 1),
            error=asset.extras.get("geometric_error"),
            max_texture_size=max_texture_size(asset),
        )
    ]
    for level, lod in enumerate(lod_assets, start=1):
        name = f"model.lod{level}.glb"
        files[name] = write_glb(lod)
        lod_infos.append(
            LodInfo(
                level=level,
                file=name,
                triangles=lod.triangle_count,
                vertices=lod.vertex_count,
                bytes=len(files[name]),
                ratio=lod.triangle_count / max(reference.triangle_count, 1),
                error=lod.extras.get("geometric_error") or geometric_error(reference, lod),
                max_texture_size=max_texture_size(lod),
            )
        )
    if make_usdz:
        from .io.usdz import write_usdz

        usdz_source = asset
        if prof.max_usdz_triangles and asset.triangle_count > prof.max_usdz_triangles:
            # Quick Look's own budget is below the GLB's: use the first LOD under it.
            usdz_source = next((lod for lod in lod_assets if lod.triangle_count <= prof.max_usdz_triangles), lod_assets[-1] if lod_assets else asset)
            # with LOD0's textures: a LOD's are scaled down for the web viewer, its texture indices are LOD0's.
            usdz_source = dataclasses.replace(usdz_source, textures=asset.textures)
        files["model.usdz"] = write_usdz(usdz_source, max_texture_size=prof.usdz_max_texture_size, placement=placement)
    if make_poster:
        from .io.poster import render_poster

        files["poster.webp"] = render_poster(asset, size=prof.poster_size)
        files["thumb.webp"] = render_poster(asset, size=prof.thumb_size)
    to_validate = {n: d for n, d in files.items() if n.endswith(".glb")}
    if validate is not False and (asset.encoding or {}).get("method") in ("meshopt", "draco"):
        for name, level_asset in zip(to_validate.copy(), [asset, *lod_assets]):
            to_validate[UNCOMPRESSED.format(name)] = _write_uncompressed(level_asset)
    validator = run_validator(to_validate, required=validate)
    return files, lod_infos, validator


def _write_uncompressed(asset: Asset) -> bytes:
    """The GLB with the same arrays and quantization but no meshopt/Draco, for the validator to read."""
    from .io.gltf import write_glb

    encoding = asset.encoding
    asset.encoding = {**(encoding or {}), "method": "none"}
    try:
        return write_glb(asset)
    finally:
        asset.encoding = encoding


def _material_infos(asset: Asset) -> list[MaterialInfo]:
    return [
        MaterialInfo(
            name=mat.get("name") or f"material_{i}",
            alpha_mode=mat.get("alphaMode", "OPAQUE"),
            double_sided=bool(mat.get("doubleSided", False)),
            extensions=sorted(mat.get("extensions", {})),
            texture_slots=sorted({slot for slot, _ in _named_texture_refs(mat)}),
        )
        for i, mat in enumerate(asset.materials)
    ]


def _texture_infos(asset: Asset) -> list[TextureInfo]:
    from .stages.textures import image_size

    slots_by_texture: dict[int, list[str]] = {}
    for mat in asset.materials:
        for slot, ref in _named_texture_refs(mat):
            slots_by_texture.setdefault(ref["index"], []).append(slot)
    out = []
    for i, tex in enumerate(asset.textures):
        w, h = image_size(tex.data)
        out.append(
            TextureInfo(
                name=tex.name or f"texture_{i}",
                width=w,
                height=h,
                mime_type=tex.mime_type,
                bytes=len(tex.data) + len(tex.fallback or b""),
                gpu_bytes=int(w * h * 4 * 4 / 3),
                slots=sorted(set(slots_by_texture.get(i, []))),
                has_fallback=tex.fallback is not None,
            )
        )
    return out


def _named_texture_refs(material: dict[str, Any], prefix: str = ""):
    for key, value in material.items():
        if key == "extras":
            continue
        if isinstance(value, dict):
            if isinstance(value.get("index"), int):
                yield prefix + key, value
            else:
                yield from _named_texture_refs(value, prefix + (key + "." if key not in ("pbrMetallicRoughness", "extensions") else ""))
