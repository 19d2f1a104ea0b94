"""Publishing targets: does the bundle meet what each platform documents? One `TargetResult` per target,
with every failed requirement named (and recommendations exceeded as warnings).

Sources for the numbers (as published when this was written; sizes are decimal: 1 MB = 1,000,000 bytes):
- khronos-3dc-mobile-ar: Khronos 3D Commerce "Real-time Asset Creation Guidelines" 1.0 (2020-10-20),
  section "Publishing Targets", row "Single-Item Mobile AR or 3D Web Catalogue View": max file size 3MB,
  max 150,000 triangles, draw calls "<20 (500)" (target below 20, maximum 500), max bitmap resolution 2K.
  Its sections on scale ask for real-world size in metres; a file must also be valid glTF.
- shopify: Shopify Partners "3D modeling checklist": "A file size below 500 MB. Models over 15 MB are
  automatically optimized [...] In general, model file size should be less than 15 MB"; the GLB is the
  original, iOS gets a USDZ (Shopify converts one when none is supplied, but then iOS shows Shopify's
  conversion, not ours); the checklist requires real-world scale.
- google-merchant-center: Merchant Center help "3D model link [virtual_model_link]", minimum requirements:
  recommended file size 10 MB, at most 15 MB; textures up to 2K, 4K not supported; glTF/GLB that passes
  their model check (valid glTF).
- amazon: Amazon "General 3D guidelines": GLB/glTF, fewer than 150K triangles, PNG or JPG textures of at
  least 2048 x 2048 and at most 4096 x 4096 px, real-world scale matching the assembled product dimensions.
- apple-quick-look: Apple WWDC 2018 "Integrating Apps and Content with AR Quick Look" (still Apple's
  recommendation on its developer forums): a USDZ with up to 100K polygons and one set of 2048 x 2048
  textures, placed at real size.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile

from ..errors import MissingDependencyError, PipelineError
from ..metadata import CheckResult, Metadata, TargetResult, ValidatorResult
from .validator import UNCOMPRESSED

MB = 1_000_000

KHRONOS_3DC_MOBILE_AR = {"max_bytes": 3 * MB, "max_triangles": 150_000, "target_draw_calls": 19, "max_draw_calls": 500, "max_texture": 2048}
SHOPIFY = {"max_bytes": 15 * MB}
GOOGLE_MERCHANT_CENTER = {"recommended_bytes": 10 * MB, "max_bytes": 15 * MB, "max_texture": 2048}
AMAZON = {"max_triangles": 150_000, "min_texture": 2048, "max_texture": 4096, "texture_types": ("image/png", "image/jpeg")}
APPLE_QUICK_LOOK = {"max_triangles": 100_000, "max_texture": 2048}

TARGETS = ("khronos-3dc-mobile-ar", "shopify", "google-merchant-center", "amazon", "apple-quick-look")


def evaluate_targets(
    metadata: Metadata,
    files: dict[str, bytes],
    checks: list[CheckResult],
    validator: list[ValidatorResult],
) -> list[TargetResult]:
    """Pass/fail for every publishing target in `TARGETS`, judged on model.glb (and model.usdz where the
    platform uses it), the metadata, our checks and the Khronos validator's results."""
    ctx = _Context(metadata, files, {c.id: c for c in checks}, {v.file: v for v in validator})
    return [
        _khronos_3dc_mobile_ar(ctx),
        _shopify(ctx),
        _google_merchant_center(ctx),
        _amazon(ctx),
        _apple_quick_look(ctx),
    ]


class _Context:
    def __init__(self, metadata, files, checks, validator):
        self.metadata: Metadata = metadata
        self.files: dict[str, bytes] = files
        self.checks: dict[str, CheckResult] = checks
        self.validator: dict[str, ValidatorResult] = validator

    @property
    def glb_bytes(self) -> int | None:
        data = self.files.get("model.glb")
        return None if data is None else len(data)

    @property
    def largest_texture(self) -> int:
        return max((max(t.width, t.height) for t in self.metadata.textures), default=0)

    def glb_present(self, failures: list[str]) -> bool:
        if self.glb_bytes is None:
            failures.append("model.glb is missing")
            return False
        return True

    def require_valid(self, failures: list[str]) -> None:
        """The Khronos validator must have run on model.glb and found no errors; when model.glb is
        meshopt/Draco-compressed (contents the validator cannot read), also on its uncompressed twin."""
        for name in ("model.glb", UNCOMPRESSED.format("model.glb")):
            result = self.validator.get(name)
            if result is None and name != "model.glb":
                continue
            if result is None or not result.ran:
                reason = result.reason if result is not None and result.reason else f"no result for {name}"
                failures.append(f"validator not run: glTF validity unknown ({reason})")
            elif result.errors:
                codes = sorted({m.get("code", "?") for m in result.messages if m.get("severity") == "error"})
                failures.append(f"Khronos validator: {result.errors} error(s) in {name} ({', '.join(codes[:5])})")

    def require_real_scale(self, failures: list[str]) -> None:
        check = self.checks.get("real_dimensions")
        if check is None or not check.passed:
            failures.append("real-world scale: " + (check.message if check else "dimensions not checked"))

    def require_max_bytes(self, failures: list[str], limit: int, platform: str) -> None:
        size = self.glb_bytes
        if size is not None and size > limit:
            failures.append(f"model.glb is {size:,} bytes; {platform} allows at most {limit:,}")

    def require_max_texture(self, failures: list[str], limit: int, platform: str) -> None:
        if self.largest_texture > limit:
            big = [f"{t.name} {t.width}x{t.height}" for t in self.metadata.textures if max(t.width, t.height) > limit]
            failures.append(f"textures over {limit} px for {platform}: {', '.join(big)}")


def _result(target: str, failures: list[str], warnings: list[str] | None = None) -> TargetResult:
    return TargetResult(target=target, passed=not failures, failures=failures, warnings=warnings or [])


def _khronos_3dc_mobile_ar(ctx: _Context) -> TargetResult:
    spec = KHRONOS_3DC_MOBILE_AR
    failures: list[str] = []
    warnings: list[str] = []
    if ctx.glb_present(failures):
        ctx.require_max_bytes(failures, spec["max_bytes"], "3DC mobile AR")
    triangles = ctx.metadata.geometry.triangles
    if triangles > spec["max_triangles"]:
        failures.append(f"{triangles:,} triangles; 3DC mobile AR allows {spec['max_triangles']:,}")
    draw_calls = ctx.metadata.geometry.draw_calls
    if draw_calls > spec["max_draw_calls"]:
        failures.append(f"{draw_calls} draw calls; 3DC mobile AR allows at most {spec['max_draw_calls']}")
    elif draw_calls > spec["target_draw_calls"]:
        warnings.append(f"{draw_calls} draw calls; 3DC mobile AR targets fewer than 20")
    ctx.require_max_texture(failures, spec["max_texture"], "3DC mobile AR")
    ctx.require_valid(failures)
    ctx.require_real_scale(failures)
    return _result("khronos-3dc-mobile-ar", failures, warnings)


def _shopify(ctx: _Context) -> TargetResult:
    failures: list[str] = []
    if ctx.glb_present(failures):
        size = ctx.glb_bytes
        if size > SHOPIFY["max_bytes"]:
            failures.append(
                f"model.glb is {size:,} bytes; over {SHOPIFY['max_bytes']:,} Shopify re-optimizes it (and its USDZ) itself"
            )
    if "model.usdz" not in ctx.files:
        failures.append("model.usdz is missing: iOS would get Shopify's own conversion")
    ctx.require_valid(failures)
    ctx.require_real_scale(failures)
    return _result("shopify", failures)


def _google_merchant_center(ctx: _Context) -> TargetResult:
    spec = GOOGLE_MERCHANT_CENTER
    failures: list[str] = []
    warnings: list[str] = []
    if ctx.glb_present(failures):
        size = ctx.glb_bytes
        if size > spec["max_bytes"]:
            failures.append(f"model.glb is {size:,} bytes; Google Merchant Center allows at most {spec['max_bytes']:,}")
        elif size > spec["recommended_bytes"]:
            warnings.append(f"model.glb is {size:,} bytes; Google recommends at most {spec['recommended_bytes']:,}")
    ctx.require_max_texture(failures, spec["max_texture"], "Google Merchant Center (4K is not supported)")
    ctx.require_valid(failures)
    return _result("google-merchant-center", failures, warnings)


def _amazon(ctx: _Context) -> TargetResult:
    spec = AMAZON
    failures: list[str] = []
    warnings: list[str] = []
    ctx.glb_present(failures)
    triangles = ctx.metadata.geometry.triangles
    if triangles > spec["max_triangles"]:
        failures.append(f"{triangles:,} triangles; Amazon allows {spec['max_triangles']:,}")
    ctx.require_max_texture(failures, spec["max_texture"], "Amazon")
    small = [f"{t.name} {t.width}x{t.height}" for t in ctx.metadata.textures if max(t.width, t.height) < spec["min_texture"]]
    if small:
        warnings.append(f"textures below the {spec['min_texture']} px Amazon asks for: {', '.join(small)}")
    webp_only = [t.name for t in ctx.metadata.textures if t.mime_type not in spec["texture_types"] and not t.has_fallback]
    if webp_only:
        failures.append(f"textures not PNG/JPEG (Amazon accepts only those): {', '.join(webp_only)}")
    ctx.require_valid(failures)
    ctx.require_real_scale(failures)
    merchant = ctx.checks.get("merchant_dimensions")
    if merchant is not None and not merchant.passed:
        failures.append("dimensions do not match the product: " + merchant.message)
    return _result("amazon", failures, warnings)


def _apple_quick_look(ctx: _Context) -> TargetResult:
    spec = APPLE_QUICK_LOOK
    failures: list[str] = []
    data = ctx.files.get("model.usdz")
    if data is None:
        failures.append("model.usdz is missing")
    else:
        try:
            triangles, largest = usdz_stats(data)
        except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, PipelineError) as exc:
            # A broken package (pxr raises RuntimeError subclasses) or no usd-core: the target is unconfirmed.
            failures.append(f"model.usdz could not be measured: {exc}")
        else:
            if triangles > spec["max_triangles"]:
                failures.append(f"model.usdz has {triangles:,} triangles; Quick Look recommends at most {spec['max_triangles']:,}")
            if largest > spec["max_texture"]:
                failures.append(f"model.usdz has a {largest} px texture; Quick Look recommends at most {spec['max_texture']}")
    ctx.require_real_scale(failures)
    return _result("apple-quick-look", failures)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def usdz_stats(data: bytes) -> tuple[int, int]:
    """(triangles after triangulating every mesh face, largest texture edge in px) of a USDZ package."""
    from PIL import Image

    largest = 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.filename.lower().endswith(IMAGE_SUFFIXES):
                with Image.open(io.BytesIO(zf.read(info))) as im:
                    largest = max(largest, *im.size)
    try:
        from pxr import Usd, UsdGeom
    except ImportError:
        raise MissingDependencyError("usd-core is not installed (pip install usd-core)") from None
    with tempfile.TemporaryDirectory(prefix="usdz-stats-") as tmp:
        path = os.path.join(tmp, "model.usdz")
        with open(path, "wb") as fh:
            fh.write(data)
        stage = Usd.Stage.Open(path)
        triangles = 0
        for prim in Usd.PrimRange.Stage(stage, Usd.TraverseInstanceProxies()):
            if prim.IsA(UsdGeom.Mesh):
                counts = UsdGeom.Mesh(prim).GetFaceVertexCountsAttr().Get()
                if counts is not None:
                    triangles += sum(max(int(c) - 2, 0) for c in counts)
        del stage
    return triangles, largest
