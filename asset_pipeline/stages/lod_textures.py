"""LOD textures: each coarse level gets its textures scaled down with its geometry, as gltfpack and model-viewer
users expect of a coarse LOD (light to fetch, quick to decode: the viewer shows LOD2 first).

For a level of `size` px, every LOD0 texture whose larger edge is above `size` is resized with the textures
stage's own helpers - the same target size (scaled uniformly to fit, then each edge down to a power of two, and
KTX2 edges to multiples of 4; so never above LOD0's) and the same role-aware Lanczos resize (normal maps
renormalized) - from LOD0's pixels (decoded once) or, when the previous level scaled it too, from that level's,
and re-encoded once in LOD0's format and codec: WebP (lossy, at `quality`; normal maps at the textures stage's
normal quality), KTX2 (ETC1S colour maps, UASTC normal and data maps, mipmapped), PNG or JPEG, with a new
PNG/JPEG fallback where LOD0's texture has one. Textures at or below `size` keep LOD0's bytes.

Textures are replaced by index: a texture that materials share stays one texture, and materials (texture
transforms, KHR_materials_variants mappings, extensions) are not touched. The work runs on a thread pool while
the lods stage simplifies the levels (`LodTextures.start` before a level's geometry, `finish` after it)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PIL import Image
from pydantic import BaseModel, Field, PositiveInt, field_validator

from ..asset import Asset
from ..errors import OptionError
from ..images import open_image
from ..limits import DEFAULT_LIMITS, Limits
from .textures import (
    TextureOptions,
    _encode,
    _label,
    _resize,
    _role,
    _slots_by_texture,
    _start_quality,
    _target_size,
    _to_8bit,
    _total_bytes,
    _Work,
    image_size,
)

# The textures stage's format option that writes each MIME type again ("keep" re-encodes PNG and JPEG as they are).
FORMAT_BY_MIME = {"image/webp": "webp", "image/ktx2": "ktx2"}


class LodTextureOptions(BaseModel):
    sizes: tuple[PositiveInt, ...] = Field(
        default=(1024, 512),
        description="largest texture edge of LOD1, LOD2, ... in px, paired with the lods stage's ratios (a level "
        "past the end keeps LOD0's textures); never above LOD0's",
    )
    quality: int = Field(
        default=90,
        ge=1,
        le=100,
        description="WebP/JPEG quality of colour and data maps (the textures stage's starting quality); normal "
        "maps get the textures stage's normal quality (95)",
    )
    workers: int = Field(
        default=2, ge=1, description="textures decoded, resized and encoded at once, while the levels are simplified"
    )
    limits: Limits = Field(default=DEFAULT_LIMITS, description="image pixel limit for decoding")

    @field_validator("sizes")
    @classmethod
    def _coarser_levels_are_not_larger(cls, sizes: tuple[int, ...]) -> tuple[int, ...]:
        if list(sizes) != sorted(sizes, reverse=True):
            raise OptionError(f"LOD texture sizes {sizes}: each level's must be at most the previous level's")
        return sizes


class LodTextures:
    """LOD0's textures scaled for each level on `pool`: `start(level)` queues a level's work, `finish(level, lod)`
    waits for it, puts the textures into the level's asset (a copy of LOD0) and reports them."""

    def __init__(self, asset: Asset, options: LodTextureOptions, pool: ThreadPoolExecutor):
        self.textures = list(asset.textures)
        self.options = options
        self.pool = pool
        slots = _slots_by_texture(asset)
        self.roles = [_role(slots.get(index, set())) for index in range(len(self.textures))]
        self.sizes = [image_size(texture.data) for texture in self.textures]
        # Each texture's latest pixels: decoded from LOD0, then as resized for the last level that scaled it.
        self.pixels: dict[int, Future[Image.Image]] = {}
        self.pending: dict[int, dict[int, Future[tuple[bytes, str, bytes | None, str | None]]]] = {}

    def size_for(self, level: int) -> int | None:
        return self.options.sizes[level - 1] if level <= len(self.options.sizes) else None

    def start(self, level: int) -> None:
        """Queue the work of every texture above the level's size, largest first: the decodes (once, of LOD0's
        bytes), then the resizes - from the previous level's pixels when that level scaled the texture too
        (2048 -> 1024 -> 512 px: a quarter of the Lanczos work of 2048 -> 512, SSIM 0.999 against it on
        DamagedHelmet's maps) - then the encodes, so that the workers take different textures at once. A job
        waits only on a job queued before it, which the pool, taking jobs in order, has then already started:
        the waits cannot deadlock."""
        limit = self.size_for(level)
        if limit is None:
            return
        larger = [i for i, (w, h) in enumerate(self.sizes) if max(w, h) > limit]
        larger.sort(key=lambda i: -self.sizes[i][0] * self.sizes[i][1])
        options = {index: self._encode_options(index, limit) for index in larger}
        for index in larger:
            if index not in self.pixels:
                self.pixels[index] = self.pool.submit(self._decode, index)
        for index in larger:
            self.pixels[index] = self.pool.submit(self._resize, self.pixels[index], index, options[index])
        self.pending[level] = {
            index: self.pool.submit(self._encode, self.pixels[index], level, index, options[index]) for index in larger
        }

    def _encode_options(self, index: int, limit: int) -> TextureOptions:
        """The textures stage's options that give texture `index` at most `limit` px in its own format."""
        texture = self.textures[index]
        return TextureOptions(
            max_size=limit,
            format=FORMAT_BY_MIME.get(texture.mime_type, "keep"),
            fallback=texture.fallback is not None,
            quality=self.options.quality,
            limits=self.options.limits,
        )

    def _decode(self, index: int) -> Image.Image:
        return _to_8bit(open_image(self.textures[index].data, self.options.limits))

    def _resize(self, pixels: Future[Image.Image], index: int, options: TextureOptions) -> Image.Image:
        image = pixels.result()
        return _resize(image, _target_size(image.width, image.height, options), self.roles[index])

    def _encode(
        self, pixels: Future[Image.Image], level: int, index: int, options: TextureOptions
    ) -> tuple[bytes, str, bytes | None, str | None]:
        """(data, mime type, fallback, fallback mime type) of the resized pixels, as the textures stage encodes."""
        image = pixels.result()
        texture = self.textures[index]
        item = _Work(
            label=f"LOD{level} {_label(index, texture)}",
            source=image,
            image=image,
            role=self.roles[index],
            source_mime=texture.mime_type,
            source_data=None,
            before={},
            sampler=texture.sampler,
            resized=True,
        )
        item.quality = _start_quality(item, options)
        _encode(item, options, pressure=False)
        return item.encoded  # type: ignore[return-value]

    def finish(self, level: int, lod: Asset) -> dict[str, Any]:
        """Put the level's textures into `lod` (a copy of LOD0: same texture indices); what changed, for the
        lods stage's report."""
        scaled = []
        for index, future in self.pending.pop(level, {}).items():
            texture = lod.textures[index]
            texture.data, texture.mime_type, texture.fallback, texture.fallback_mime_type = future.result()
            scaled.append(
                {
                    "texture": index,
                    "from": list(self.sizes[index]),
                    "to": list(image_size(texture.data)),
                    "bytes_before": _total_bytes([self.textures[index]]),
                    "bytes": _total_bytes([texture]),
                }
            )
        return {
            "texture_size": self.size_for(level),
            "max_texture_size": max_texture_size(lod),
            "texture_bytes": _total_bytes(lod.textures),
            "textures_scaled": sorted(scaled, key=lambda entry: entry["texture"]),
        }


def max_texture_size(asset: Asset) -> int | None:
    """The largest texture edge of `asset` in px; None without textures."""
    return max((max(image_size(texture.data)) for texture in asset.textures), default=None)
