"""compress: decide how the GLB writer encodes geometry (quantization and meshopt/Draco compression).

The stage changes no arrays: quantization and compression are encodings of the final geometry, applied
by `write_glb` from `Asset.encoding`. It measures what the encoding costs and saves: GLB bytes without
and with it, and the largest distance any vertex moves through position quantization, in metres.

Defaults follow gltfpack's (positions 14 bits, texture coordinates 12 bits, colours 8 bits), except
normals at 10 bits (gltfpack: 8), which keeps shading on smooth scans free of visible banding; with
Draco the same bit counts are Draco's own quantization settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from ..asset import Asset
from ..errors import OptionError
from . import StageReport

METHODS = ("meshopt", "draco", "none")
# Normals below 8 bits cannot stay unit length within the glTF-Validator's tolerance (ACCESSOR_VECTOR3_NON_UNIT).
BIT_RANGES = {"position_bits": (8, 16), "normal_bits": (8, 16), "uv_bits": (8, 16), "color_bits": (4, 16)}


class CompressOptions(BaseModel):
    method: str = Field(
        default="meshopt",
        description="meshopt (EXT_meshopt_compression, fast to decode; gltfpack's choice) | draco "
        "(KHR_draco_mesh_compression, smallest geometry) | none (plain buffers)",
    )
    quantize: bool = Field(
        default=True,
        description="store positions/normals/texture coordinates/colours as integers (KHR_mesh_quantization); "
        "with Draco the bit counts below always apply inside the Draco stream",
    )
    position_bits: int = Field(default=14, description="bits per position coordinate (8-16); 14 bits on a 2 m sofa is 0.06 mm")
    normal_bits: int = Field(default=10, description="bits per normal/tangent component (8-16; 8 stores bytes, more stores shorts)")
    uv_bits: int = Field(default=12, description="bits per texture coordinate (8-16)")
    color_bits: int = Field(default=8, description="bits per vertex colour channel (4-16; <= 8 stores bytes)")
    measure_bytes: bool = Field(
        default=True,
        description="write the GLB without and with the encoding to report both sizes; two extra writes, so "
        "the pipeline turns it off (it writes model.glb once and records that size in metadata.json)",
    )

    @model_validator(mode="after")
    def _check(self) -> "CompressOptions":
        check_options(self)
        return self


def check_options(options: CompressOptions) -> None:
    """Raise OptionError naming the first bad value."""
    if options.method not in METHODS:
        raise OptionError(f"compression method {options.method!r}: expected one of {', '.join(METHODS)}")
    for name, (lo, hi) in BIT_RANGES.items():
        value = getattr(options, name)
        if not isinstance(value, int) or not lo <= value <= hi:
            raise OptionError(f"{name} = {value!r}: expected an integer from {lo} to {hi}")


def compress(asset: Asset, options: CompressOptions) -> StageReport:
    from ..io.gltf import position_error, write_glb

    check_options(options)
    encoding: dict[str, Any] = {
        "method": options.method,
        "quantize": options.quantize,
        "position_bits": options.position_bits,
        "normal_bits": options.normal_bits,
        "uv_bits": options.uv_bits,
        "color_bits": options.color_bits,
    }
    sizes: dict[str, Any] = {}
    if options.measure_bytes:
        asset.encoding = None
        plain = len(write_glb(asset))
        asset.encoding = encoding
        encoded = len(write_glb(asset))
        sizes = {"glb_bytes_before": plain, "glb_bytes_after": encoded, "ratio": round(encoded / plain, 4) if plain else None}
    asset.encoding = encoding
    lossy = options.quantize or options.method == "draco"
    error = position_error(asset, encoding) if lossy else 0.0
    # Positions are in metres once the normalize stage ran; before that they are in file units.
    metres_per_unit = asset.unit_scale or 1.0
    warnings = []
    if asset.unit_scale is None:
        warnings.append("the asset's unit is unknown: the position error is in file units, not metres")
    return StageReport(
        stage="compress",
        changes={
            "method": options.method,
            "quantize": options.quantize,
            "bits": {k: encoding[k] for k in BIT_RANGES},
            **sizes,
            "max_position_error_m": error * metres_per_unit,
        },
        warnings=warnings,
    )
