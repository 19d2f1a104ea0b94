"""Resize, pack, re-encode and budget the textures (what glTF Transform's `resize` + `webp` and gltfpack's
`-tc`/`-ts` do, with the byte budget of a 3D Commerce profile).

In order:
1. deduplicate textures with identical bytes and sampler, and drop textures no material uses;
2. resize every image to power-of-two dimensions at or below the source (after scaling to `max_size`),
   Lanczos; normal maps are renormalized after resampling; alpha is dropped unless a slot reads it (base
   colour of a BLEND/MASK material, specular/sheen-roughness and extension slots) and it is not all opaque;
3. pack occlusion into the metallicRoughness image (R = occlusion, G = roughness, B = metallic: glTF's
   layout) when a material has both as different images of one size on the same UV set and transform,
   saving a whole texture;
4. encode: "webp" -> lossy WebP at `quality` for colour and data maps and at `normal_quality` for normal
   maps (whose error, as an angle, is reported), with an optional PNG/JPEG fallback for EXT_texture_webp;
   "ktx2" -> KTX2 for KHR_texture_basisu with a full mip chain, split the way gltfpack (-tc -tu normal)
   and glTF Transform (etc1s / uastc by slot) users split it: colour maps as ETC1S (sRGB, small, blocky),
   normal and data maps as UASTC (linear, Zstandard-supercompressed; ETC1S' shared colour endpoints mix
   independent channels and vectors: DamagedHelmet's ORM at SSIM 0.76 vs 0.96, its normals 0.93 vs 0.99),
   with an optional PNG/JPEG fallback; edges are kept multiples of 4 (the block size);
   "keep" -> the original bytes unless the pixels changed, then the same format again;
5. budget: when `max_bytes` is set, the textures get it minus an estimate of the geometry; over that,
   quality steps down to `min_quality`, then the texture with the most bytes is halved, until it fits;
6. measure: SSIM of every re-encoded image against the resized original (the benchmark target is >= 0.98
   on base colour), computed once per encoding; colour maps whose SSIM is below `target_ssim` are first
   re-encoded at a higher quality, and stored as lossless WebP when even quality 100 misses it. (KTX2 is
   GPU block compression, SSIM about 0.9 on photographic maps: its SSIM is reported, the target does not
   apply.)

Independent textures are decoded, encoded and measured on `workers` threads (the encoders, the decoders
and numpy release the GIL).

Every decision is listed in the report's `decisions`, with per-texture sizes, formats, bytes, quality and
SSIM before/after."""

from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from ..asset import Asset, Texture, texture_refs
from ..errors import CorruptFileError, OptionError, PipelineError
from ..images import encode_png, header_size, ktx2_module, open_image, sniff_image_mime
from ..limits import DEFAULT_LIMITS, Limits
from . import StageReport

# Slots whose texture is a normal map (tangent-space vectors, linear).
NORMAL_SLOTS = {"normalTexture", "clearcoatNormalTexture"}
# Slots holding colour (sRGB); everything else is data (linear, channel-packed).
COLOR_SLOTS = {"baseColorTexture", "emissiveTexture", "diffuseTexture", "sheenColorTexture", "specularColorTexture"}
# Slots that never read the alpha channel (glTF 2.0 and the ratified KHR extensions). Base colour reads it
# only in BLEND/MASK materials; any other or unknown slot is assumed to read it.
NO_ALPHA_SLOTS = {
    "normalTexture",
    "occlusionTexture",
    "emissiveTexture",
    "metallicRoughnessTexture",
    "clearcoatTexture",
    "clearcoatRoughnessTexture",
    "clearcoatNormalTexture",
    "transmissionTexture",
    "thicknessTexture",
    "sheenColorTexture",
    "specularColorTexture",
    "iridescenceTexture",
    "iridescenceThicknessTexture",
    "anisotropyTexture",
}
BASE_COLOR_SLOTS = {"baseColorTexture", "diffuseTexture"}

# WebP method 4 is libwebp's (and sharp's) default: method 6 saved 1-2% bytes on DamagedHelmet's 2048px base
# colour for three times the encoding time and slightly lower SSIM at the same quality.
WEBP_METHOD = 4

# Basis Universal effort (0-10) for KTX2: 1 encodes a 1024 px colour map as ETC1S in 1.1 s against 2.9 s at
# the library's default 3, for SSIM 0.906 vs 0.910; UASTC at 1 takes half the time of 2-3 for 0.0002 less.
KTX2_EFFORT = 1
# UASTC without rate-distortion optimization (Basis Universal quality 100), as glTF Transform's `uastc`
# defaults: SheenChair's 1024 px normal map 0.6 deg mean error, SSIM 0.996, 1.05 MB. Below 100 basisu turns
# RDO on: 90 gives 0.9 deg / 0.992 in 0.72 MB, 50 gives 3.5 deg / 0.87 (worse than WebP at 95).
KTX2_UASTC_QUALITY = 100
# Zstandard level of UASTC supercompression (glTF Transform's default): UASTC alone is 8 bits per texel.
KTX2_ZSTD_LEVEL = 18
# glTF sampler wrap modes: mip levels of a texture clamped on both axes are filtered with clamping.
REPEAT = 10497
CLAMP_TO_EDGE = 33071


TextureFormat = Literal["webp", "ktx2", "keep"]
TEXTURE_FORMATS: tuple[str, ...] = get_args(TextureFormat)

# GLB bytes per drawn triangle that the geometry takes, by compression method and quantization: measured on
# the textured products in ../shared/scans after the web-ar geometry stages (DamagedHelmet 15k triangles,
# SheenChair 40k, GlamVelvetSofa 4k, with normals and one or two UV sets; JSON included):
# Draco 3.5 / 4.2 / 5.5, meshopt quantized 8.3 / 9.8 / 10.6, meshopt float 17.7 / 23.4 / 21.9, plain
# quantized 20.3 / 24.8 / 22.5, plain float 28.7 / 35.9 / 31.4. Untextured scans (bunny, armadillo, dragon:
# normals only) take less (Draco 1.5-1.9, meshopt 4.4-4.5, plain quantized 14-20), but they have no
# textures to budget unless baked, and baking adds a UV set.
GEOMETRY_BYTES_PER_TRIANGLE = {
    ("draco", True): 4.5,
    ("draco", False): 4.5,  # Draco always quantizes inside its stream
    ("meshopt", True): 9.5,
    ("meshopt", False): 21.0,
    ("none", True): 22.5,
    ("none", False): 32.0,
}


def geometry_bytes_per_triangle(method: str, quantize: bool) -> float:
    """The GLB bytes per triangle to assume for geometry compressed with `method` (draco | meshopt | none)."""
    key = (method, bool(quantize))
    if key not in GEOMETRY_BYTES_PER_TRIANGLE:
        raise OptionError(f"unknown geometry compression {method!r}; known: draco, meshopt, none")
    return GEOMETRY_BYTES_PER_TRIANGLE[key]


class TextureOptions(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    max_size: int | None = Field(default=2048, description="largest texture edge, px; None = keep the size")
    format: TextureFormat = Field(
        default="webp",
        description="webp | ktx2 (KHR_texture_basisu: ETC1S colour, UASTC normal/data) | keep (the original PNG/JPEG)",
    )
    fallback: bool = Field(default=False, description="also carry a PNG/JPEG fallback for each WebP or KTX2 image")
    quality: int = Field(default=90, ge=1, le=100, description="starting quality of lossy colour and data maps")
    normal_quality: int = Field(
        default=95, ge=1, le=100, description="starting quality of normal maps (direction errors show as lighting)"
    )
    ktx2_quality: int = Field(
        default=50,
        ge=1,
        le=100,
        description="ETC1S quality of KTX2 colour maps (Basis Universal's 1-100; 50 is its default)",
    )
    min_quality: int = Field(default=60, ge=1, le=100, description="the budget never lowers quality below this")
    quality_step: int = Field(default=5, ge=1, le=50, description="quality lowered (or raised) per step")
    target_ssim: float | None = Field(
        default=0.98,
        description="colour maps whose SSIM is below this at `quality` are re-encoded at higher quality (<= 100)",
    )
    max_bytes: int | None = Field(default=None, description="the profile's GLB budget; None = no texture budget")
    geometry_bytes_per_triangle: float = Field(
        default=GEOMETRY_BYTES_PER_TRIANGLE[("meshopt", True)],
        description="GLB bytes per triangle assumed for geometry when sharing max_bytes: see "
        "`geometry_bytes_per_triangle(method, quantize)` (Draco 4.5, quantized meshopt 9.5, plain 22.5-32)",
    )
    min_size: int = Field(default=256, ge=1, description="the budget never halves a texture below this edge")
    pot: bool = Field(default=True, description="resize to power-of-two dimensions (at or below the source)")
    pack_orm: bool = Field(default=True, description="pack occlusion into the metallicRoughness image")
    drop_alpha: bool = Field(
        default=True, description="drop alpha channels no slot reads or that are all opaque (re-encodes a PNG)"
    )
    limits: Limits = Field(default=DEFAULT_LIMITS, description="image pixel limit for decoding")
    workers: int = Field(
        default=2,
        ge=1,
        description="textures decoded, encoded and measured at once (libjpeg, libwebp, resampling and numpy "
        "release the GIL: two workers take DamagedHelmet's stage from 2.7 s to 1.5 s on two cores)",
    )


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of PNG, JPEG, WebP or KTX2 bytes, from the header only."""
    size = header_size(data)
    if size is None:
        raise CorruptFileError("image header is not a readable PNG, JPEG, WebP or KTX2 header")
    return int(size[0]), int(size[1])


@dataclass
class _Work:
    """One texture on its way through the stage."""

    label: str  # "texture <input index> (<name>)" or "packed ORM of ...", for decisions
    source: Any  # PIL image every resize starts from: the decoded original, or the packed ORM image
    image: Any  # the pixels that get encoded (resized)
    role: str  # color | normal | data
    source_mime: str
    source_data: bytes | None  # the original encoding (None for a packed image)
    before: dict[str, Any]
    sampler: dict[str, Any] | None = None  # the texture's glTF sampler (KTX2 mip levels follow its wrap mode)
    resized: bool = False
    packed: bool = False
    alpha_dropped: bool = False
    quality: int | None = None
    lossless: bool = False  # WebP lossless: what a colour map gets when even quality 100 misses target_ssim
    encoded: tuple[bytes, str, bytes | None, str | None] | None = None
    reencoded: bool = False  # False: `encoded` holds the original bytes
    notes: list[str] = field(default_factory=list)
    _measures: dict[str, dict[str, Any]] = field(default_factory=dict)  # by SHA-256 of the encoded bytes

    @property
    def unchanged(self) -> bool:
        """The pixels are those of the original encoding (dropping an opaque alpha from a lossy original is
        not worth a lossy re-encode; from a PNG it is a free saving)."""
        return not (self.resized or self.packed or (self.alpha_dropped and self.source_mime == "image/png"))

    @property
    def encoded_bytes(self) -> int:
        assert self.encoded is not None
        return len(self.encoded[0]) + len(self.encoded[2] or b"")


def textures(asset: Asset, options: TextureOptions) -> StageReport:
    report = StageReport(stage="textures")
    if not asset.textures:
        report.skipped = True
        report.changes["reason"] = "no textures"
        return report
    with ThreadPoolExecutor(max_workers=options.workers) as pool:
        return _run(asset, options, pool, report)


def _run(asset: Asset, options: TextureOptions, pool: ThreadPoolExecutor, report: StageReport) -> StageReport:
    if options.format == "ktx2":
        ktx2_module()  # a missing encoder fails before any work
    count_before = len(asset.textures)
    bytes_before = _total_bytes(asset.textures)
    decisions: list[str] = []
    work, mapping = _prune(asset, {}, decisions)
    input_index = {new: old for old, new in sorted(mapping.items(), reverse=True)}  # first of merged twins

    slots = _slots_by_texture(asset)
    alpha_readers = _alpha_readers(asset)
    to_prepare = []
    for index, texture in enumerate(asset.textures):
        label = _label(input_index[index], texture)
        if sniff_image_mime(texture.data) == "image/ktx2":
            decisions.append(f"{label}: KTX2 (GPU-compressed) is kept as it is; it cannot be re-encoded here")
            continue
        to_prepare.append((index, texture, label))
    prepared = pool.map(
        lambda job: _prepare(job[1], job[2], slots[job[0]], job[0] in alpha_readers, options), to_prepare
    )
    for (index, _, _), (item, item_decisions) in zip(to_prepare, prepared):
        work[index] = item
        decisions.extend(item_decisions)

    packs: list[dict[str, Any]] = []
    if options.pack_orm:
        packs = _pack_orm(asset, work, decisions)
        if packs:
            work, mapping = _prune(asset, work, decisions)
            for pack in packs:
                pack["texture"] = mapping[pack["texture"]]

    decisions.extend(_encode_all(work, options, pool))
    budget = _fit_budget(asset, work, options, decisions, pool)

    for index, item in work.items():
        texture = asset.textures[index]
        texture.data, texture.mime_type, texture.fallback, texture.fallback_mime_type = item.encoded  # type: ignore[misc]
    work, mapping = _prune(asset, work, decisions)
    for pack in packs:
        pack["texture"] = mapping[pack["texture"]]

    slots = _slots_by_texture(asset)
    entries = list(
        pool.map(
            lambda pair: _entry(pair[0], asset.textures[pair[0]], pair[1], slots[pair[0]], options.limits),
            sorted(work.items(), key=lambda pair: pair[0]),
        )
    )
    base_ssim = [e["ssim"] for e in entries if e.get("ssim") is not None and set(e["slots"]) & BASE_COLOR_SLOTS]
    report.changes.update(
        format=options.format,
        textures_before=count_before,
        textures_after=len(asset.textures),
        bytes_before=bytes_before,
        bytes_after=_total_bytes(asset.textures),
        orm_packs=packs,
        budget=budget,
        base_color_ssim_min=min(base_ssim) if base_ssim else None,
        textures=entries,
        decisions=decisions,
    )
    if budget is not None and not budget["fits"]:
        report.warnings.append(
            f"textures take {budget['texture_bytes']:,} bytes, over their {budget['texture_share']:,}-byte share of "
            f"the {options.max_bytes:,}-byte budget even at quality {options.min_quality} and {options.min_size} px"
        )
    return report


# ---- bookkeeping --------------------------------------------------------------------------------------------


def _label(index: int, texture: Texture) -> str:
    return f"texture {index}" + (f" ({texture.name})" if texture.name else "")


def _total_bytes(texture_list: list[Texture]) -> int:
    return sum(len(t.data) + len(t.fallback or b"") for t in texture_list)


def _prune(asset: Asset, work: dict[int, _Work], decisions: list[str]) -> tuple[dict[int, _Work], dict[int, int]]:
    """Drop textures no material references and merge textures with identical bytes, fallback and sampler;
    renumber every reference. Returns the work items and the old -> new index map."""

    def label(index: int) -> str:
        return work[index].label if index in work else _label(index, asset.textures[index])

    used = sorted({ref["index"] for mat in asset.materials for ref in texture_refs(mat)})
    for index in sorted(set(range(len(asset.textures))) - set(used)):
        decisions.append(f"{label(index)}: dropped, no material uses it")
    mapping: dict[int, int] = {}
    first_by_key: dict[tuple[str, str, str], int] = {}
    keep: list[int] = []
    for index in used:
        if index >= len(asset.textures):
            raise PipelineError(f"a material refers to texture {index}, but the asset has {len(asset.textures)}")
        texture = asset.textures[index]
        key = (
            texture.sha256,
            hashlib.sha256(texture.fallback or b"").hexdigest(),
            json.dumps(texture.sampler or {}, sort_keys=True),
        )
        if key in first_by_key:
            mapping[index] = mapping[first_by_key[key]]
            decisions.append(f"{label(index)}: identical to {label(first_by_key[key])}; merged")
            continue
        first_by_key[key] = index
        mapping[index] = len(keep)
        keep.append(index)
    for mat in asset.materials:
        for ref in texture_refs(mat):
            ref["index"] = mapping[ref["index"]]
    asset.textures = [asset.textures[i] for i in keep]
    return {mapping[i]: item for i, item in work.items() if i in keep}, mapping


def _slot_refs(material: dict[str, Any]):
    """(slot name, textureInfo) for every texture reference of a material, core and extensions."""
    stack: list[Any] = [material]
    while stack:
        node = stack.pop()
        for key, value in node.items():
            if key == "extras" or not isinstance(value, dict):
                continue
            if isinstance(value.get("index"), int):
                yield key, value
            else:
                stack.append(value)


def _slots_by_texture(asset: Asset) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {i: set() for i in range(len(asset.textures))}
    for mat in asset.materials:
        for slot, ref in _slot_refs(mat):
            out.setdefault(ref["index"], set()).add(slot)
    return out


def _alpha_readers(asset: Asset) -> set[int]:
    """Textures whose alpha channel some material reads."""
    out = set()
    for mat in asset.materials:
        blends = mat.get("alphaMode", "OPAQUE") in ("BLEND", "MASK")
        for slot, ref in _slot_refs(mat):
            if slot in BASE_COLOR_SLOTS:
                if blends:
                    out.add(ref["index"])
            elif slot not in NO_ALPHA_SLOTS:
                out.add(ref["index"])
    return out


# ---- pixels ------------------------------------------------------------------------------------------------


def _prepare(
    texture: Texture, label: str, slots: set[str], alpha_read: bool, options: TextureOptions
) -> tuple[_Work, list[str]]:
    """Decode, drop an unread or opaque alpha, resize: the work item and the decisions taken."""
    decisions: list[str] = []
    try:
        image = _to_8bit(open_image(texture.data, options.limits))
    except PipelineError as exc:
        raise type(exc)(f"{label}: {exc.message}") from None
    role = _role(slots)
    mime = sniff_image_mime(texture.data) or texture.mime_type
    w, h = image.size
    item = _Work(
        label=label,
        source=image,
        image=image,
        role=role,
        source_mime=mime,
        source_data=texture.data,
        before={"width": w, "height": h, "mime_type": mime, "bytes": len(texture.data), "mode": image.mode},
        sampler=texture.sampler,
    )
    if options.drop_alpha and "A" in image.getbands():
        opaque = image.getchannel("A").getextrema() == (255, 255)
        if opaque or not alpha_read:
            image = image.convert("RGB" if image.mode == "RGBA" else "L")
            item.source = item.image = image
            item.alpha_dropped = True
            decisions.append(
                f"{label}: alpha dropped ("
                + ("every pixel is opaque" if opaque else f"no slot reads it: {', '.join(sorted(slots))}")
                + ")"
            )
    size = _target_size(w, h, options)
    if size != (w, h):
        item.image = _resize(image, size, role)
        item.resized = True
        decisions.append(f"{label}: resized {w}x{h} -> {size[0]}x{size[1]}")
    return item, decisions


def _role(slots: set[str]) -> str:
    """How a texture read by `slots` is resized and encoded: normal (renormalized, linear), color (sRGB) or
    data (linear, channel-packed)."""
    if slots & NORMAL_SLOTS:
        return "normal"
    if slots <= COLOR_SLOTS:
        return "color"
    return "data"


def _to_8bit(image: Any) -> Any:
    """An 8-bit L, LA, RGB or RGBA image (WebP, JPEG and glTF viewers take nothing else)."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit/float greyscale: scale to 8 bits instead of clipping (Pillow's convert("L") clips at 255).
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return Image.fromarray(np.clip(np.round(values / peak * 255), 0, 255).astype(np.uint8), "L")
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _floor_pot(n: int) -> int:
    return 1 << (max(int(n), 1).bit_length() - 1)


def _target_size(w: int, h: int, options: TextureOptions) -> tuple[int, int]:
    """Scale uniformly to fit max_size, then each edge down to a power of two."""
    scale = 1.0 if options.max_size is None else min(1.0, options.max_size / max(w, h))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    if options.pot:
        tw, th = _floor_pot(tw), _floor_pot(th)
    return _block_aligned(tw, th, options)


def _block_aligned(w: int, h: int, options: TextureOptions) -> tuple[int, int]:
    """KTX2 (KHR_texture_basisu) edges must be multiples of 4, the block size: rounded down, at least 4."""
    if options.format != "ktx2":
        return w, h
    return max(4, w - w % 4), max(4, h - h % 4)


def _resize(image: Any, size: tuple[int, int], role: str) -> Any:
    out = image.resize(size, Image.Resampling.LANCZOS)
    if role == "normal" and out.mode in ("RGB", "RGBA"):
        # Filtering averages directions into shorter vectors; renormalize so lighting keeps its strength.
        pixels = np.asarray(out).copy()
        vectors = pixels[..., :3].astype(np.float32) / 127.5 - 1.0
        length = np.linalg.norm(vectors, axis=-1, keepdims=True)
        vectors = np.where(length > 1e-3, vectors / np.maximum(length, 1e-3), vectors)
        pixels[..., :3] = np.clip(np.round((vectors + 1.0) * 127.5), 0, 255).astype(np.uint8)
        out = Image.fromarray(pixels, out.mode)
    return out


def _pack_orm(asset: Asset, work: dict[int, _Work], decisions: list[str]) -> list[dict[str, Any]]:
    """Occlusion into the R channel of the metallicRoughness image, per material; both slots then point at
    the packed texture. Returns one record per material packed."""
    packs: list[dict[str, Any]] = []
    packed_index: dict[tuple[int, int], int] = {}
    for mi, mat in enumerate(asset.materials):
        occlusion = mat.get("occlusionTexture")
        mr = mat.get("pbrMetallicRoughness", {}).get("metallicRoughnessTexture")
        if not occlusion or not mr or occlusion["index"] == mr["index"]:
            continue  # nothing to pack, or already one image
        o, m = occlusion["index"], mr["index"]
        reason = None
        if o not in work or m not in work:
            reason = "one of them is KTX2"
        elif occlusion.get("texCoord", 0) != mr.get("texCoord", 0):
            reason = "they use different UV sets"
        elif occlusion.get("extensions", {}).get("KHR_texture_transform") != mr.get("extensions", {}).get(
            "KHR_texture_transform"
        ):
            reason = "they use different KHR_texture_transform"
        elif (asset.textures[o].sampler or {}) != (asset.textures[m].sampler or {}):
            reason = "they use different samplers"
        elif work[o].image.size != work[m].image.size:
            reason = f"sizes differ ({work[o].image.size} vs {work[m].image.size})"
        if reason:
            decisions.append(f"material {mi}: occlusion not packed into metallicRoughness: {reason}")
            continue
        if (o, m) not in packed_index:
            occ_pixels = np.asarray(work[o].image.convert("RGB"))
            orm = np.asarray(work[m].image.convert("RGB")).copy()
            orm[..., 0] = occ_pixels[..., 0]
            image = Image.fromarray(orm, "RGB")
            mr_texture = asset.textures[m]
            asset.textures.append(
                Texture(
                    data=b"",
                    mime_type=mr_texture.mime_type,
                    name=(mr_texture.name or "metallicRoughness") + "_orm",
                    sampler=dict(mr_texture.sampler) if mr_texture.sampler else None,
                )
            )
            packed_index[(o, m)] = len(asset.textures) - 1
            work[len(asset.textures) - 1] = _Work(
                label=f"packed ORM of {work[o].label} and {work[m].label}",
                source=image,
                image=image,
                role="data",
                source_mime=work[m].source_mime,
                source_data=None,
                before={"packed_from": {"occlusion": work[o].before, "metallicRoughness": work[m].before}},
                sampler=mr_texture.sampler,
                resized=work[o].resized or work[m].resized,
                packed=True,
            )
        new = packed_index[(o, m)]
        occlusion["index"] = new
        mr["index"] = new
        decisions.append(f"material {mi}: occlusion ({work[o].label}) packed into metallicRoughness ({work[m].label}) as R")
        packs.append({"material": mi, "occlusion": work[o].label, "metallicRoughness": work[m].label, "texture": new})
    return packs


# ---- encoding ----------------------------------------------------------------------------------------------


def _target_mime(item: _Work, options: TextureOptions) -> str:
    return {"webp": "image/webp", "ktx2": "image/ktx2"}.get(options.format, item.source_mime)


def _start_quality(item: _Work, options: TextureOptions) -> int | None:
    if _target_mime(item, options) in ("image/png", "image/ktx2"):
        return None  # lossless, or KTX2 (its own quality, which the budget does not step)
    return max(options.quality, options.normal_quality) if item.role == "normal" else options.quality


def _encode(item: _Work, options: TextureOptions, pressure: bool) -> None:
    """Set `item.encoded`. Unchanged pixels keep their original bytes when those are already in the target
    format (no lossy re-encode of a lossy original) unless the budget presses, and whenever a re-encode
    would not be smaller."""
    target = _target_mime(item, options)
    original_fits = item.unchanged and item.source_data is not None and (
        item.source_mime == target or (target == "image/webp" and item.source_mime in ("image/png", "image/jpeg"))
    )
    if original_fits and item.source_mime == target and not pressure:
        data, mime, reencoded = item.source_data, item.source_mime, False
    elif target == "image/ktx2":
        data, mime, reencoded = _encode_ktx2(item, options), target, True
    else:
        data, mime, reencoded = _encode_pixels(item.image, target, item.quality, item.lossless), target, True
        if original_fits and len(item.source_data) <= len(data):  # type: ignore[arg-type]
            item.notes.append(
                f"kept the original {item.source_mime}: {len(item.source_data):,} bytes vs {len(data):,} re-encoded"  # type: ignore[arg-type]
            )
            data, mime, reencoded = item.source_data, item.source_mime, False  # type: ignore[assignment]
    fallback = fallback_mime = None
    if options.fallback and mime in ("image/webp", "image/ktx2"):
        if item.unchanged and item.source_mime in ("image/png", "image/jpeg"):
            fallback, fallback_mime = item.source_data, item.source_mime
        elif "A" in item.image.getbands():
            fallback, fallback_mime = encode_png(item.image), "image/png"
        else:
            fallback = _encode_pixels(
                item.image, "image/jpeg", options.quality if item.lossless or item.quality is None else item.quality
            )
            fallback_mime = "image/jpeg"
    item.encoded = (data, mime, fallback, fallback_mime)  # type: ignore[assignment]
    item.reencoded = reencoded


def _encode_pixels(image: Any, mime: str, quality: int | None, lossless: bool = False) -> bytes:
    if mime == "image/png":
        return encode_png(image)
    buf = io.BytesIO()
    if mime == "image/webp" and lossless:
        image.save(buf, format="WEBP", lossless=True, method=WEBP_METHOD, exact=True)
    elif mime == "image/webp":
        has_alpha = "A" in image.getbands()
        # exact: keep the colour under transparent pixels, which bilinear filtering blends into the edges.
        image.save(buf, format="WEBP", quality=quality, method=WEBP_METHOD, exact=has_alpha, alpha_quality=100)
    elif mime == "image/jpeg":
        rgb = image if image.mode in ("L", "RGB") else image.convert("RGB")
        rgb.save(buf, format="JPEG", quality=quality, optimize=True)
    else:
        raise PipelineError(f"cannot encode textures as {mime}")
    return buf.getvalue()


def _encode_all(work: dict[int, _Work], options: TextureOptions, pool: ThreadPoolExecutor) -> list[str]:
    """Every item's first encoding, on the pool, largest images first (the longest jobs start first, so
    the workers finish together); returns the decisions in item order."""
    items = sorted(work.values(), key=lambda item: -item.image.width * item.image.height)
    found = pool.map(lambda item: _encode_first(item, options), items)
    by_item = {id(item): decisions for item, decisions in zip(items, found)}
    return [decision for item in work.values() for decision in by_item[id(item)]]


def _encode_first(item: _Work, options: TextureOptions) -> list[str]:
    """The first encoding of a work item at its starting quality, raised for colour maps under the SSIM
    target, and measured for the report (measures are cached by encoding: if the budget re-encodes the
    item, the new encoding is measured instead). Returns the decisions taken."""
    item.quality = _start_quality(item, options)
    _encode(item, options, pressure=False)
    decisions = _reach_target_ssim(item, options) if options.target_ssim is not None and item.role == "color" else []
    if item.reencoded:
        measures = _measures(item, options.limits)
        if item.encoded[1] == "image/ktx2":  # type: ignore[index]
            codec = _ktx2_codec(item.role)
            decisions.append(
                f"{item.label}: KTX2 {codec.upper()} ({'sRGB' if codec == 'etc1s' else 'linear'}, mipmapped)"
                + ("" if measures["ssim"] is None else f", SSIM {measures['ssim']:.4f}")
                + ("; the SSIM target applies to WebP only" if item.role == "color" and options.target_ssim else "")
            )
    return decisions


def _ktx2_codec(role: str) -> str:
    return "etc1s" if role == "color" else "uastc"


def _encode_ktx2(item: _Work, options: TextureOptions) -> bytes:
    """KTX2 with every mip level: ETC1S in sRGB for colour maps; UASTC, linear and Zstandard-supercompressed
    for normal maps (mip levels renormalized) and data maps."""
    alktx2 = ktx2_module()
    image = item.image
    has_alpha = "A" in image.getbands()
    sampler = item.sampler or {}
    repeats = sampler.get("wrapS", REPEAT) != CLAMP_TO_EDGE or sampler.get("wrapT", REPEAT) != CLAMP_TO_EDGE
    codec = _ktx2_codec(item.role)
    if codec == "etc1s":
        settings: dict[str, Any] = {"quality": options.ktx2_quality, "srgb": True, "linear": False}
    else:
        settings = {"quality": KTX2_UASTC_QUALITY, "srgb": False, "linear": True}
        settings["zstd_supercompression_level"] = KTX2_ZSTD_LEVEL
    try:
        return alktx2.encode_raw_rgba_to_ktx2(
            image.convert("RGBA").tobytes(),
            image.width,
            image.height,
            has_alpha,
            codec=codec,
            effort=KTX2_EFFORT,
            mipmaps=True,
            mip_wrap=repeats,
            renormalize=item.role == "normal",
            # The stage already decided: alpha is kept only where a slot reads it and it is not all opaque.
            check_for_alpha=False,
            force_alpha=has_alpha,
            **settings,
        )
    except RuntimeError as exc:
        raise PipelineError(f"{item.label}: KTX2 encoding failed: {exc}") from None


def _reach_target_ssim(item: _Work, options: TextureOptions) -> list[str]:
    """Raise a colour map's quality until its SSIM reaches the target (one SSIM when the starting quality
    already does). Lossy WebP is always 4:2:0, so saturated colour detail (baked atlases of small charts)
    can stay short of it even at 100: then the map is stored losslessly. The budget may lower it again."""
    decisions: list[str] = []
    if not item.reencoded or item.quality is None:
        return decisions
    start = item.quality
    score = _measures(item, options.limits)["ssim"]
    while score is not None and score < options.target_ssim and item.quality < 100:  # type: ignore[operator]
        item.quality = min(100, item.quality + options.quality_step)
        _encode(item, options, pressure=False)
        score = _measures(item, options.limits)["ssim"] if item.reencoded else 1.0
    if score is not None and score < options.target_ssim and _target_mime(item, options) == "image/webp":  # type: ignore[operator]
        lossy_bytes = item.encoded_bytes
        item.lossless = True
        _encode(item, options, pressure=False)
        decisions.append(
            f"{item.label}: SSIM {score:.4f} at quality 100 is under {options.target_ssim}; stored as lossless WebP "
            f"({item.encoded_bytes:,} bytes instead of {lossy_bytes:,})"
        )
    elif item.quality != start:
        decisions.append(
            f"{item.label}: quality raised {start} -> {item.quality} to reach SSIM {options.target_ssim} "
            f"(now {score:.4f})"
        )
    return decisions


def _fit_budget(
    asset: Asset, work: dict[int, _Work], options: TextureOptions, decisions: list[str], pool: ThreadPoolExecutor
) -> dict[str, Any] | None:
    if options.max_bytes is None:
        return None
    geometry = int(asset.triangle_count * options.geometry_bytes_per_triangle)
    share = options.max_bytes - geometry
    fixed = sum(len(t.data) + len(t.fallback or b"") for i, t in enumerate(asset.textures) if i not in work)

    def total() -> int:
        return fixed + sum(item.encoded_bytes for item in work.values())

    start_total = total()
    if start_total > share:
        decisions.append(
            f"textures take {start_total:,} bytes, over their share {share:,} (budget {options.max_bytes:,} minus "
            f"{geometry:,} estimated for {asset.triangle_count:,} triangles)"
        )
    while total() > share:
        lowerable = [
            item for item in work.values() if item.quality is not None and item.quality > options.min_quality
        ]
        if not lowerable:
            break
        for item in lowerable:
            item.quality = max(options.min_quality, item.quality - options.quality_step)  # type: ignore[operator]
            item.lossless = False
        list(pool.map(lambda item: _encode(item, options, pressure=True), lowerable))
        decisions.append(
            "budget: quality lowered to "
            + ", ".join(f"{item.label} {item.quality}" for item in work.values() if item.quality is not None)
            + f"; textures now {total():,} bytes"
        )
    while total() > share:
        halvable = [item for item in work.values() if max(item.image.size) // 2 >= options.min_size]
        if not halvable:
            break
        item = max(halvable, key=lambda candidate: candidate.encoded_bytes)
        w, h = item.image.size
        size = _block_aligned(max(1, w // 2), max(1, h // 2), options)
        item.image = _resize(item.source, size, item.role)
        item.resized = True
        _encode(item, options, pressure=True)
        decisions.append(f"budget: {item.label} halved {w}x{h} -> {size[0]}x{size[1]}; textures now {total():,} bytes")
    return {
        "max_bytes": options.max_bytes,
        "geometry_estimate": geometry,
        "texture_share": share,
        "texture_bytes_start": start_total,
        "texture_bytes": total(),
        "fits": total() <= share,
    }


# ---- measures ----------------------------------------------------------------------------------------------


def _measures(item: _Work, limits: Limits) -> dict[str, Any]:
    """What the current encoding loses against the pixels it encodes, computed once per encoding (the
    quality search and the report share it): `ssim` for every role, plus `normal_error_deg` for normal maps
    and `channel_mean_abs_error` for data maps."""
    key = hashlib.sha256(item.encoded[0]).hexdigest()  # type: ignore[index]
    if key in item._measures:
        return item._measures[key]
    mode = item.image.mode if item.image.mode in ("RGB", "RGBA") else "RGB"
    reference = _pixels(item.image, mode)
    decoded = _pixels(open_image(item.encoded[0], limits), mode)  # type: ignore[index]
    out: dict[str, Any] = {"ssim": 1.0 if np.array_equal(reference, decoded) else ssim(reference, decoded)}
    if item.role == "normal":
        angle = normal_angle_error(reference, decoded).ravel()
        out["normal_error_deg"] = {
            "mean": round(float(angle.mean(dtype=np.float64)), 3),
            "p99": round(float(np.percentile(angle, 99, overwrite_input=True)), 3),
        }
    elif item.role == "data":
        height, width, channels = reference.shape
        diff = np.abs(np.subtract(reference, decoded, dtype=np.int16)).reshape(height, width * channels)
        # Down the columns first (int32 holds 8,421,504 rows of 255), then across: numpy reduces an
        # interleaved length-3 axis slowly.
        totals = diff.sum(axis=0, dtype=np.int32).reshape(width, channels).sum(axis=0, dtype=np.int64)
        out["channel_mean_abs_error"] = [round(float(v) / (height * width), 3) for v in totals]
    item._measures[key] = out
    return out


def _pixels(image: Any, mode: str) -> np.ndarray:
    """The image's pixels as a uint8 array in `mode` (no conversion pass when it is already in it)."""
    return np.asarray(image if image.mode == mode else image.convert(mode))


def _entry(index: int, texture: Texture, item: _Work, slots: set[str], limits: Limits) -> dict[str, Any]:
    w, h = item.image.size
    entry: dict[str, Any] = {
        "texture": index,
        "source": item.label,
        "name": texture.name,
        "slots": sorted(slots),
        "role": item.role,
        "before": item.before,
        "after": {
            "width": w,
            "height": h,
            "mime_type": texture.mime_type,
            "bytes": len(texture.data),
            "quality": item.quality if item.reencoded and not item.lossless else None,
            "lossless": item.reencoded and (item.lossless or texture.mime_type == "image/png"),
            "fallback_mime_type": texture.fallback_mime_type,
            "fallback_bytes": len(texture.fallback or b""),
        },
        "changed": [
            what
            for what, flag in (("resized", item.resized), ("packed", item.packed), ("alpha dropped", item.alpha_dropped))
            if flag
        ],
        "reencoded": item.reencoded,
        "notes": item.notes,
    }
    if not item.reencoded:
        entry["ssim"] = 1.0  # the original bytes: nothing was lost
    else:
        measures = _measures(item, limits)
        entry["ssim"] = None if measures["ssim"] is None else round(measures["ssim"], 5)
        if texture.mime_type == "image/ktx2":
            info = ktx2_module().inspect_ktx2(texture.data)
            entry["after"]["ktx2"] = {
                "codec": _ktx2_codec(item.role),
                "srgb": bool(info["is_srgb"]),
                "mip_levels": int(info["levels"]),
                "alpha": bool(info["has_alpha"]),
            }
        entry.update({k: v for k, v in measures.items() if k != "ssim"})
    return entry


def normal_angle_error(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Per-pixel angle (degrees, float32) between the normals two RGB(A) normal maps encode."""
    r = reference[..., :3].astype(np.float32)
    d = decoded[..., :3].astype(np.float32)
    r *= np.float32(1 / 127.5)
    r -= np.float32(1.0)
    d *= np.float32(1 / 127.5)
    d -= np.float32(1.0)
    # Three planes instead of a reduction over a length-3 axis, which numpy does slowly.
    dot = r[..., 0] * d[..., 0] + r[..., 1] * d[..., 1] + r[..., 2] * d[..., 2]
    rr = r[..., 0] ** 2 + r[..., 1] ** 2 + r[..., 2] ** 2
    dd = d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2
    rr *= dd
    np.sqrt(rr, out=rr)
    np.maximum(rr, np.float32(1e-12), out=rr)
    dot /= rr
    np.clip(dot, -1.0, 1.0, out=dot)
    return np.degrees(np.arccos(dot, out=dot), out=dot)


# SSIM's window (scikit-image's default: 7x7 uniform) and its constants K1 = 0.01, K2 = 0.03 for 8-bit data.
_SSIM_WIN = 7
_SSIM_N = _SSIM_WIN * _SSIM_WIN
# The constants of the SSIM formula below, scaled by the window sums they are added to.
_SSIM_C1 = 2 * (0.01 * 255) ** 2 * _SSIM_N * _SSIM_N
_SSIM_C2 = 2 * (0.03 * 255) ** 2 * _SSIM_N * (_SSIM_N - 1)
# Output rows per strip: 16 rows of a 2048 px RGB map keep a strip's ~20 temporaries in the CPU cache.
_SSIM_STRIP = 16


def ssim(reference: np.ndarray, test: np.ndarray) -> float | None:
    """Mean structural similarity of two uint8 images (H, W[, C]), averaged over channels.

    The value of skimage.metrics.structural_similarity(reference, test, channel_axis=2, data_range=255) with
    its defaults (7x7 uniform window, sample covariance, K1=0.01, K2=0.03, border cropped), to within 1e-7,
    exactly (no sampling), in 0.13 s for a 2048 px RGB map (scikit-image: 3.2 s; scipy uniform_filter on
    float32: 1.9 s) and without scikit-image at run time. None when the image is smaller than the window.

    With u = x + y and d = x - y, the window sums U, D of u, d and A = N*sum(u^2) - U^2, B = N*sum(d^2) - D^2
    (N = 49 pixels), SSIM's ((2 mx my + c1)(2 cov + c2)) / ((mx^2 + my^2 + c1)(vx + vy + c2)) is exactly
    ((U^2 - D^2 + C1)(A - B + C2)) / ((U^2 + D^2 + C1)(A + B + C2)) with C1 = 2 c1 N^2, C2 = 2 c2 N (N - 1).
    Every window sum and A, B are exact integers (int16/int32), so only the final ratio is rounded
    (float32), and the image is processed in strips of rows that stay in the CPU cache."""
    if reference.shape != test.shape:
        raise ValueError(f"ssim: shapes differ {reference.shape} vs {test.shape}")
    if reference.dtype != np.uint8 or test.dtype != np.uint8:
        raise ValueError("ssim: expected uint8 images")
    x = reference.reshape(reference.shape[0], reference.shape[1], -1)
    y = test.reshape(x.shape)
    height, width, channels = x.shape
    if min(height, width) < _SSIM_WIN:
        return None
    totals = np.zeros(channels)
    for top in range(0, height - _SSIM_WIN + 1, _SSIM_STRIP):
        rows = slice(top, top + _SSIM_STRIP + _SSIM_WIN - 1)
        totals += _ssim_strip_sums(x[rows], y[rows])
    return float(np.mean(totals / ((height - _SSIM_WIN + 1) * (width - _SSIM_WIN + 1))))


def _window_sums(v: np.ndarray) -> np.ndarray:
    """Sums over every full 7x7 window of `v` (rows, cols, channels), by doubling: 1+1+2 -> 4, +2 -> 6, +1 -> 7
    along each axis (four additions instead of six)."""
    pairs = v[:-1] + v[1:]
    fours = pairs[:-2] + pairs[2:]
    rows = fours[:-3] + pairs[4:-1]
    rows += v[6:]
    pairs = rows[:, :-1] + rows[:, 1:]
    fours = pairs[:, :-2] + pairs[:, 2:]
    out = fours[:, :-3] + pairs[:, 4:-1]
    out += rows[:, 6:]
    return out


def _ssim_strip_sums(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-channel sums of the SSIM map over the full windows of a strip of rows (see `ssim`)."""
    u = x.astype(np.int16)
    u += y  # <= 510, window sums <= 24,990: int16
    d = x.astype(np.int16)
    d -= y
    sum_u2 = _window_sums(np.square(u, dtype=np.int32))  # <= 12.7M
    sum_d2 = _window_sums(np.square(d, dtype=np.int32))
    u2 = _window_sums(u).astype(np.int32)
    u2 *= u2  # U^2 <= 6.3e8
    d2 = _window_sums(d).astype(np.int32)
    d2 *= d2
    sum_u2 *= _SSIM_N
    sum_u2 -= u2  # A
    sum_d2 *= _SSIM_N
    sum_d2 -= d2  # B <= 1.6e8
    numerator = np.subtract(u2, d2, dtype=np.float32)
    numerator += np.float32(_SSIM_C1)
    denominator = np.add(u2, d2, dtype=np.float32)
    denominator += np.float32(_SSIM_C1)
    factor = np.subtract(sum_u2, sum_d2, dtype=np.float32)
    factor += np.float32(_SSIM_C2)
    numerator *= factor
    np.add(sum_u2, sum_d2, out=factor, dtype=np.float32)
    factor += np.float32(_SSIM_C2)
    denominator *= factor
    numerator /= denominator
    rows, cols, channels = numerator.shape
    # Rows first in float32 (a strip's 16 rows), then float64 across the row; numpy reduces a trailing
    # length-3 axis slowly.
    return numerator.reshape(rows, cols * channels).sum(axis=0).reshape(cols, channels).sum(axis=0, dtype=np.float64)
