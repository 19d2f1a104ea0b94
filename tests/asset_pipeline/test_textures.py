"""Texture stage: resize to power-of-two, ORM packing, WebP/KTX2/keep encoding, the byte budget, dedupe,
the archive profile's pass-through, and the real DamagedHelmet maps at SSIM >= 0.98."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from asset_pipeline.asset import Texture, single_mesh_asset, texture_refs
from asset_pipeline.errors import CorruptFileError, LimitExceededError, MissingDependencyError, OptionError
from asset_pipeline.images import open_image
from asset_pipeline.limits import DEFAULT_LIMITS, Limits
from asset_pipeline.profiles import get_profile
from asset_pipeline.stages.textures import (
    GEOMETRY_BYTES_PER_TRIANGLE,
    TextureOptions,
    geometry_bytes_per_triangle,
    image_size,
    normal_angle_error,
    ssim,
    textures,
)
from tests.conftest import scan_path

BENCH = Path(__file__).resolve().parents[2] / "bench"
GLTF_TRANSFORM = BENCH / "node_modules" / ".bin" / "gltf-transform"


# ---- synthetic images ------------------------------------------------------------------------------------


def encode(pixels: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w: int, h: int) -> np.ndarray:
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    return (np.stack([x + 0 * y, y + 0 * x, 0.5 + 0.5 * np.sin(6 * x + 4 * y)], axis=-1) * 255).astype(np.uint8)


def noise(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def fabric(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A photographic-like colour map: smooth colour plus a weave and fine grain."""
    rng = np.random.default_rng(seed)
    base = gradient(w, h).astype(np.float64)
    x, y = np.meshgrid(np.arange(w), np.arange(h))
    weave = 20 * np.sin(x * 0.9) * np.sin(y * 0.9)
    grain = rng.normal(0, 6, (h, w, 1))
    return np.clip(base + weave[..., None] + grain, 0, 255).astype(np.uint8)


def normal_map(size: int) -> np.ndarray:
    """Tangent-space normals of a bumpy height field."""
    x, y = np.meshgrid(np.linspace(0, 8 * np.pi, size), np.linspace(0, 8 * np.pi, size))
    dx = 0.4 * np.cos(x) * np.cos(y * 0.5)
    dy = -0.2 * np.sin(x) * np.sin(y * 0.5)
    n = np.stack([-dx, -dy, np.ones_like(dx)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.round((n + 1) * 127.5).astype(np.uint8)


def textured_asset(material: dict, images: list[bytes], mimes: list[str] | None = None, triangles: int = 1):
    positions = np.random.default_rng(0).random((3 * triangles, 3))
    asset = single_mesh_asset(
        positions,
        np.arange(3 * triangles).reshape(-1, 3),
        uvs=[np.zeros((3 * triangles, 2), np.float32)],
        material=material,
    )
    for i, data in enumerate(images):
        mime = (mimes or [])[i] if mimes else ("image/jpeg" if data[:2] == b"\xff\xd8" else "image/png")
        asset.textures.append(Texture(data=data, mime_type=mime, name=f"t{i}"))
    return asset


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


# ---- header sizes and SSIM ---------------------------------------------------------------------------------


def test_image_size_reads_headers_of_every_format():
    rgb = gradient(37, 21)
    rgba = np.concatenate([rgb, np.full((21, 37, 1), 128, np.uint8)], axis=2)
    assert image_size(encode(rgb)) == (37, 21)
    assert image_size(encode(rgb, "JPEG", quality=80)) == (37, 21)
    assert image_size(encode(rgb, "WEBP", quality=80)) == (37, 21)
    assert image_size(encode(rgb, "WEBP", lossless=True)) == (37, 21)
    assert image_size(encode(rgba, "WEBP", quality=80)) == (37, 21)
    with pytest.raises(CorruptFileError):
        image_size(b"not an image at all")


def test_ssim_matches_scikit_image():
    a = fabric(96, 64)
    b = np.clip(a.astype(int) + np.random.default_rng(1).integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(a, b, channel_axis=2, data_range=255)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-6)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a[:5, :5], b[:5, :5]) is None
    # Extremes of the integer ranges (black against white, full-range noise), odd sizes, grey and RGBA.
    rng = np.random.default_rng(2)
    for shape in [(7, 7, 3), (23, 41), (70, 33, 4), (40, 40, 3)]:
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        for y in (255 - x, np.zeros_like(x), np.clip(x.astype(int) + rng.integers(-3, 4, shape), 0, 255).astype(np.uint8)):
            kw = {"channel_axis": 2} if len(shape) == 3 else {}
            assert ssim(x, y) == pytest.approx(structural_similarity(x, y, data_range=255, **kw), abs=1e-6), shape


def test_ssim_matches_scikit_image_on_real_texture_encodings():
    """Crops of DamagedHelmet's base colour and normal map, WebP at several qualities."""
    asset = load_helmet()
    for index in (0, 4):
        image = Image.open(io.BytesIO(asset.textures[index].data)).convert("RGB").crop((700, 900, 1212, 1412))
        reference = np.asarray(image)
        for quality in (50, 80, 95):
            test = decode(encode(reference, "WEBP", quality=quality))
            expected = structural_similarity(reference, test, channel_axis=2, data_range=255)
            assert ssim(reference, test) == pytest.approx(expected, abs=1e-6), (index, quality)


# ---- resize, alpha, formats --------------------------------------------------------------------------------


def test_non_power_of_two_texture_is_resized_down_and_encoded_as_webp():
    asset = textured_asset({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, [encode(gradient(1000, 600))])
    report = textures(asset, TextureOptions())
    texture = asset.textures[0]
    assert texture.mime_type == "image/webp" and texture.data[8:12] == b"WEBP"
    assert image_size(texture.data) == (512, 512)  # nearest power of two at or below each edge
    entry = report.changes["textures"][0]
    assert entry["before"]["width"] == 1000 and entry["before"]["height"] == 600
    assert entry["after"]["width"] == 512 and entry["after"]["quality"] >= 90
    assert entry["changed"] == ["resized"]
    assert entry["ssim"] >= 0.98
    assert any("resized 1000x600 -> 512x512" in d for d in report.changes["decisions"])
    assert report.changes["bytes_after"] < report.changes["bytes_before"]


def test_max_size_scales_uniformly_before_rounding_to_powers_of_two():
    asset = textured_asset({"emissiveTexture": {"index": 0}}, [encode(gradient(1500, 700))])
    textures(asset, TextureOptions(max_size=512))
    assert image_size(asset.textures[0].data) == (512, 128)  # 1500x700 -> 512x239 -> 512x128
    asset = textured_asset({"emissiveTexture": {"index": 0}}, [encode(gradient(300, 200))])
    textures(asset, TextureOptions(max_size=None, pot=False))
    assert image_size(asset.textures[0].data) == (300, 200)


def test_gradient_and_noise_colour_maps_keep_high_ssim():
    for pixels in (gradient(512, 512), fabric(512, 512)):
        asset = textured_asset({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, [encode(pixels)])
        report = textures(asset, TextureOptions())
        entry = report.changes["textures"][0]
        measured = structural_similarity(pixels, decode(asset.textures[0].data)[..., :3], channel_axis=2, data_range=255)
        assert entry["ssim"] == pytest.approx(measured, abs=1e-4)
        assert measured >= 0.98
        assert report.changes["base_color_ssim_min"] == entry["ssim"]


def test_quality_is_raised_until_the_ssim_target_is_met():
    pixels = noise(256, 256)  # white noise: the hardest case for a lossy encoder
    asset = textured_asset({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, [encode(pixels)])
    report = textures(asset, TextureOptions(quality=80, target_ssim=0.98))
    entry = report.changes["textures"][0]
    assert entry["after"]["lossless"] or entry["after"]["quality"] > 80
    assert entry["ssim"] >= 0.98
    assert any("quality raised 80 ->" in d or "lossless" in d for d in report.changes["decisions"])
    fixed = textured_asset({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, [encode(pixels)])
    report = textures(fixed, TextureOptions(quality=80, target_ssim=None))
    assert report.changes["textures"][0]["after"]["quality"] == 80


def test_colour_detail_lossy_webp_cannot_hold_is_stored_losslessly():
    """Small saturated red/green patches over a flat blue channel (what a baked atlas of small charts looks
    like): 4:2:0 lossy WebP stays under SSIM 0.98 even at quality 100."""
    rng = np.random.default_rng(7)
    patches = rng.integers(0, 2, (75, 75))
    pixels = np.zeros((300, 300, 3), np.uint8)
    pixels[..., 0] = np.kron(patches, np.ones((4, 4), np.uint8)) * 200 + 30
    pixels[..., 1] = np.kron(1 - patches, np.ones((4, 4), np.uint8)) * 200 + 30
    pixels[..., 2] = 124
    resized = np.asarray(Image.fromarray(pixels).resize((256, 256), Image.Resampling.LANCZOS))
    material = {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}
    report = textures(asset := textured_asset(material, [encode(pixels)]), TextureOptions())
    entry = report.changes["textures"][0]
    assert entry["after"]["mime_type"] == "image/webp" and entry["after"]["lossless"] and entry["ssim"] == 1.0
    assert np.array_equal(decode(asset.textures[0].data), resized)
    assert any("stored as lossless WebP" in d for d in report.changes["decisions"])
    # A budget that lossless does not fit turns it back into lossy WebP.
    budget = entry["after"]["bytes"] * 3 // 4
    report = textures(textured_asset(material, [encode(pixels)]), TextureOptions(max_bytes=budget, geometry_bytes_per_triangle=0))
    entry = report.changes["textures"][0]
    assert not entry["after"]["lossless"] and entry["after"]["quality"] < 100 and report.changes["budget"]["fits"]


def test_normal_map_webp_error_is_small():
    pixels = normal_map(512)
    asset = textured_asset({"normalTexture": {"index": 0}}, [encode(pixels)])
    report = textures(asset, TextureOptions())
    entry = report.changes["textures"][0]
    assert entry["role"] == "normal" and entry["after"]["quality"] == 95
    angle = normal_angle_error(pixels, decode(asset.textures[0].data))
    assert angle.mean() < 1.0 and np.percentile(angle, 99) < 4.0
    assert entry["normal_error_deg"]["mean"] == pytest.approx(angle.mean(), abs=1e-3)


def test_resized_normal_maps_stay_unit_length():
    asset = textured_asset({"normalTexture": {"index": 0}}, [encode(normal_map(600))])
    textures(asset, TextureOptions(format="keep"))
    v = decode(asset.textures[0].data)[..., :3].astype(np.float64) / 127.5 - 1
    assert asset.textures[0].mime_type == "image/png" and v.shape[:2] == (512, 512)
    assert np.abs(np.linalg.norm(v, axis=-1) - 1).max() < 0.02


def test_alpha_is_kept_only_when_a_slot_reads_it():
    rgb = gradient(64, 64)
    varying = np.concatenate([rgb, gradient(64, 64)[..., :1]], axis=2)
    opaque = np.concatenate([rgb, np.full((64, 64, 1), 255, np.uint8)], axis=2)
    cases = [
        ({"alphaMode": "BLEND", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, varying, 4),
        ({"alphaMode": "MASK", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, varying, 4),
        ({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, varying, 3),  # OPAQUE ignores alpha
        ({"alphaMode": "BLEND", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, opaque, 3),
        ({"extensions": {"KHR_materials_specular": {"specularTexture": {"index": 0}}}}, varying, 4),  # A = specular
    ]
    for material, pixels, channels in cases:
        asset = textured_asset(material, [encode(pixels)])
        textures(asset, TextureOptions())
        out = Image.open(io.BytesIO(asset.textures[0].data))
        assert len(out.getbands()) == channels, (material, channels)
        if channels == 4:
            assert np.abs(np.asarray(out)[..., 3].astype(int) - pixels[..., 3]).max() <= 1


def test_keep_format_keeps_original_bytes_unless_resized():
    jpeg = encode(fabric(256, 256), "JPEG", quality=85)
    png = encode(gradient(300, 300))
    asset = textured_asset(
        {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}, "emissiveTexture": {"index": 1}}, [jpeg, png]
    )
    report = textures(asset, TextureOptions(format="keep"))
    assert asset.textures[0].data == jpeg and asset.textures[0].mime_type == "image/jpeg"
    assert asset.textures[1].mime_type == "image/png" and image_size(asset.textures[1].data) == (256, 256)
    assert [e["reencoded"] for e in report.changes["textures"]] == [False, True]


def test_webp_fallbacks_for_ext_texture_webp():
    png = encode(fabric(256, 256))
    rgba = np.concatenate([gradient(200, 200), gradient(200, 200)[..., :1]], axis=2)
    opaque_resized = encode(fabric(300, 300))
    asset = textured_asset(
        {
            "alphaMode": "BLEND",
            "pbrMetallicRoughness": {"baseColorTexture": {"index": 1}, "metallicRoughnessTexture": {"index": 2}},
            "emissiveTexture": {"index": 0},
        },
        [png, encode(rgba), opaque_resized],
    )
    textures(asset, TextureOptions(fallback=True))
    unchanged, with_alpha, resized = asset.textures
    assert unchanged.mime_type == "image/webp" and unchanged.fallback == png  # the original, not re-encoded
    assert with_alpha.fallback_mime_type == "image/png"  # alpha needs PNG
    assert Image.open(io.BytesIO(with_alpha.fallback)).size == (128, 128)
    assert resized.fallback_mime_type == "image/jpeg" and Image.open(io.BytesIO(resized.fallback)).size == (256, 256)
    report = textures(textured_asset({"emissiveTexture": {"index": 0}}, [png]), TextureOptions(fallback=False))
    assert report.changes["textures"][0]["after"]["fallback_bytes"] == 0


def test_an_unchanged_original_smaller_than_its_webp_is_kept():
    jpeg = encode(fabric(256, 256), "JPEG", quality=60)
    asset = textured_asset({"emissiveTexture": {"index": 0}}, [jpeg])
    report = textures(asset, TextureOptions(quality=95))
    entry = report.changes["textures"][0]
    assert asset.textures[0].data == jpeg and asset.textures[0].mime_type == "image/jpeg"
    assert not entry["reencoded"] and "kept the original image/jpeg" in entry["notes"][0]


def test_webp_source_is_not_re_encoded_when_nothing_changes():
    webp = encode(fabric(256, 256), "WEBP", quality=70)
    asset = textured_asset({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}, [webp], ["image/webp"])
    report = textures(asset, TextureOptions())
    assert asset.textures[0].data == webp and not report.changes["textures"][0]["reencoded"]


# ---- ORM packing -------------------------------------------------------------------------------------------


def orm_material(occlusion: int = 0, mr: int = 1, **extra) -> dict:
    return {
        "occlusionTexture": {"index": occlusion, "strength": 0.8, **extra.get("occ", {})},
        "pbrMetallicRoughness": {"metallicRoughnessTexture": {"index": mr, **extra.get("mr", {})}},
    }


def test_orm_packing_puts_occlusion_in_red_and_keeps_roughness_and_metallic_exactly():
    rng = np.random.default_rng(5)
    occlusion = rng.integers(0, 256, (128, 128), dtype=np.uint8)  # greyscale PNG
    mr = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    asset = textured_asset(orm_material(), [encode(occlusion), encode(mr)])
    report = textures(asset, TextureOptions(format="keep"))  # PNG stays lossless: channels compare exactly
    material = asset.materials[0]
    assert len(asset.textures) == 1
    assert material["occlusionTexture"]["index"] == material["pbrMetallicRoughness"]["metallicRoughnessTexture"]["index"] == 0
    assert material["occlusionTexture"]["strength"] == 0.8
    packed = decode(asset.textures[0].data)
    assert np.array_equal(packed[..., 0], occlusion)
    assert np.array_equal(packed[..., 1], mr[..., 1])  # roughness
    assert np.array_equal(packed[..., 2], mr[..., 2])  # metallic
    assert report.changes["orm_packs"] == [
        {"material": 0, "occlusion": "texture 0 (t0)", "metallicRoughness": "texture 1 (t1)", "texture": 0}
    ]
    assert report.changes["textures_after"] == 1


def test_orm_packing_happens_after_resize_and_only_when_compatible():
    occ_big = encode(noise(1024, 1024)[..., 0])
    mr_small = encode(noise(512, 512, seed=2))
    asset = textured_asset(orm_material(), [occ_big, mr_small])
    report = textures(asset, TextureOptions(max_size=512, format="keep"))
    assert len(report.changes["orm_packs"]) == 1 and len(asset.textures) == 1

    asset = textured_asset(orm_material(occ={"texCoord": 1}), [encode(noise(64, 64)), encode(noise(64, 64, seed=3))])
    report = textures(asset, TextureOptions(format="keep"))
    assert report.changes["orm_packs"] == [] and len(asset.textures) == 2
    assert any("different UV sets" in d for d in report.changes["decisions"])

    asset = textured_asset(orm_material(), [encode(noise(64, 64)), encode(noise(128, 128, seed=3))])
    report = textures(asset, TextureOptions(format="keep"))
    assert report.changes["orm_packs"] == [] and any("sizes differ" in d for d in report.changes["decisions"])

    shared = textured_asset(orm_material(occlusion=0, mr=0), [encode(noise(64, 64))])
    report = textures(shared, TextureOptions(format="keep"))
    assert report.changes["orm_packs"] == [] and len(shared.textures) == 1


# ---- dedupe and pruning ------------------------------------------------------------------------------------


def test_identical_images_are_merged_and_unused_ones_dropped():
    image = encode(gradient(64, 64))
    asset = textured_asset(
        {"pbrMetallicRoughness": {"baseColorTexture": {"index": 2}}, "emissiveTexture": {"index": 0}},
        [image, encode(noise(64, 64)), image],
    )
    report = textures(asset, TextureOptions())
    assert len(asset.textures) == 1
    assert [ref["index"] for ref in texture_refs(asset.materials[0])] == [0, 0]
    decisions = " | ".join(report.changes["decisions"])
    assert "texture 1 (t1): dropped, no material uses it" in decisions and "identical to texture 0" in decisions

    differently_sampled = textured_asset(
        {"pbrMetallicRoughness": {"baseColorTexture": {"index": 1}}, "emissiveTexture": {"index": 0}}, [image, image]
    )
    differently_sampled.textures[1].sampler = {"wrapS": 33071}
    textures(differently_sampled, TextureOptions())
    assert len(differently_sampled.textures) == 2


# ---- budget ------------------------------------------------------------------------------------------------


def test_budget_lowers_quality_then_halves_the_largest_texture():
    images = [encode(fabric(512, 512, seed=s)) for s in range(3)]
    material = {
        "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicRoughnessTexture": {"index": 1}},
        "emissiveTexture": {"index": 2},
    }
    unconstrained = textures(textured_asset(material, images), TextureOptions(target_ssim=None))
    total = unconstrained.changes["bytes_after"]

    # A budget a little under the quality-90 size: lowering quality is enough.
    asset = textured_asset(material, images, triangles=100)
    budget = int(total * 0.8) + 600
    report = textures(asset, TextureOptions(max_bytes=budget, target_ssim=None, geometry_bytes_per_triangle=6))
    info = report.changes["budget"]
    assert info["geometry_estimate"] == 600 and info["fits"]
    assert report.changes["bytes_after"] <= info["texture_share"]
    qualities = [e["after"]["quality"] for e in report.changes["textures"]]
    assert all(60 <= q < 90 for q in qualities)
    assert all(e["after"]["width"] == 512 for e in report.changes["textures"])
    assert any(d.startswith("budget: quality lowered") for d in report.changes["decisions"])

    # Far under: quality bottoms out at min_quality, then textures are halved.
    asset = textured_asset(material, images)
    report = textures(asset, TextureOptions(max_bytes=int(total * 0.25), target_ssim=None))
    assert report.changes["budget"]["fits"]
    assert all(e["after"]["quality"] == 60 for e in report.changes["textures"])
    assert any("halved 512x512 -> 256x256" in d for d in report.changes["decisions"])
    assert report.changes["bytes_after"] <= report.changes["budget"]["texture_share"]

    # Impossible: a warning, never an error, and the floors hold.
    asset = textured_asset(material, images)
    report = textures(asset, TextureOptions(max_bytes=1000, target_ssim=None))
    assert not report.changes["budget"]["fits"] and report.warnings
    assert all(e["after"]["width"] >= 256 for e in report.changes["textures"])


def test_concurrent_workers_give_the_same_result_as_one():
    images = [encode(fabric(300, 300, seed=s)) for s in range(3)] + [encode(normal_map(256))]
    material = {
        "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicRoughnessTexture": {"index": 1}},
        "emissiveTexture": {"index": 2},
        "normalTexture": {"index": 3},
    }
    results = []
    for workers in (1, 2):
        asset = textured_asset(material, images)
        report = textures(asset, TextureOptions(workers=workers, quality=70, max_bytes=60_000, geometry_bytes_per_triangle=0))
        results.append(([t.data for t in asset.textures], report.changes["decisions"], report.changes["textures"]))
    assert results[0] == results[1]
    assert any(d.startswith("budget:") for d in results[0][1])  # the budget's re-encodes ran on the pool too


def test_broken_and_oversized_images_fail_with_the_texture_named():
    asset = textured_asset({"emissiveTexture": {"index": 0}}, [encode(gradient(64, 64))[:60]])
    with pytest.raises(CorruptFileError, match="texture 0 \\(t0\\)"):
        textures(asset, TextureOptions())
    asset = textured_asset({"emissiveTexture": {"index": 0}}, [encode(gradient(64, 64))])
    with pytest.raises(LimitExceededError, match="texture 0"):
        textures(asset, TextureOptions(limits=Limits(max_image_pixels=1000)))


def test_no_textures_is_a_skip():
    asset = single_mesh_asset(np.eye(3), [[0, 1, 2]])
    assert textures(asset, TextureOptions()).skipped


# ---- KTX2 ---------------------------------------------------------------------------------------------------


def ktx2_info(data: bytes) -> dict:
    import alktx2

    return alktx2.inspect_ktx2(data)


def test_ktx2_etc1s_colour_uastc_normal_and_data_with_mips_written_validated_and_read_back():
    from asset_pipeline.checks.validator import run_validator, validator_available
    from asset_pipeline.io import read
    from asset_pipeline.io.gltf import write_glb
    from asset_pipeline.io.usdz import validate_usdz, write_usdz

    material = {
        "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicRoughnessTexture": {"index": 1}},
        "normalTexture": {"index": 2},
    }
    asset = textured_asset(material, [encode(fabric(256, 256)), encode(fabric(256, 256, seed=4)), encode(normal_map(256))])
    asset.textures[1].sampler = {"wrapS": 33071, "wrapT": 33071}
    report = textures(asset, TextureOptions(format="ktx2"))
    entries = report.changes["textures"]
    assert [t.mime_type for t in asset.textures] == ["image/ktx2"] * 3
    expected = [("color", "etc1s", True), ("data", "uastc", False), ("normal", "uastc", False)]
    for entry, texture, (role, codec, srgb) in zip(entries, asset.textures, expected):
        info = ktx2_info(texture.data)
        assert entry["role"] == role and entry["after"]["ktx2"]["codec"] == codec
        assert info["is_etc1s"] == (codec == "etc1s") and info["is_uastc"] == (codec == "uastc")
        assert info["is_srgb"] == srgb and info["levels"] == 9  # 256 px: a full chain down to 1x1
        assert entry["after"]["quality"] is None and not entry["after"]["lossless"]
        # The reported SSIM is that of the transcoded base level against the encoded pixels.
        decoded = np.asarray(open_image(texture.data, DEFAULT_LIMITS))
        source = {"color": fabric(256, 256), "data": fabric(256, 256, seed=4), "normal": normal_map(256)}[role]
        assert entry["ssim"] == pytest.approx(ssim(source, decoded), abs=1e-5)
    assert entries[0]["ssim"] > 0.8  # ETC1S: blocky, no SSIM target
    assert entries[1]["ssim"] > 0.97 and entries[2]["normal_error_deg"]["mean"] < 1.0  # UASTC without RDO
    assert any("KTX2 ETC1S" in d and "applies to WebP only" in d for d in report.changes["decisions"])

    glb = write_glb(asset)
    back = read(glb, "ktx2.glb")
    assert [t.data for t in back.textures] == [t.data for t in asset.textures]
    assert validate_usdz(write_usdz(back)) == []  # the USDZ writer transcodes KTX2 to JPEG/PNG
    if not validator_available():
        pytest.skip("Khronos glTF-Validator not installed: run scripts/setup.sh")
    (result,) = run_validator({"ktx2.glb": glb}, required=True)
    # The validator does not know KHR_texture_basisu (KhronosGroup/glTF-Validator#177): it warns that it
    # cannot read each KTX2 image, and nothing else.
    assert result.errors == 0
    assert {m["code"] for m in result.messages if m["severity"] == "warning"} <= {
        "VALUE_NOT_IN_LIST",
        "IMAGE_UNRECOGNIZED_FORMAT",
        "MESH_PRIMITIVE_GENERATED_TANGENT_SPACE",
    }


def test_ktx2_edges_are_multiples_of_four_alpha_is_kept_and_fallbacks_are_jpeg_or_png():
    material = {"alphaMode": "BLEND", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}, "emissiveTexture": {"index": 1}}
    rgba = np.concatenate([gradient(30, 18), gradient(30, 18)[..., :1]], axis=2)
    asset = textured_asset(material, [encode(rgba), encode(fabric(2, 2))])
    report = textures(asset, TextureOptions(format="ktx2", pot=False, fallback=True))
    base, emissive = asset.textures
    assert image_size(base.data) == (28, 16) and image_size(emissive.data) == (4, 4)
    assert ktx2_info(base.data)["has_alpha"] and not ktx2_info(emissive.data)["has_alpha"]
    assert base.fallback_mime_type == "image/png" and Image.open(io.BytesIO(base.fallback)).size == (28, 16)
    assert emissive.fallback_mime_type == "image/jpeg"
    assert any("resized 2x2 -> 4x4" in d for d in report.changes["decisions"])


def test_ktx2_budget_halves_textures_and_a_missing_encoder_is_named(monkeypatch):
    images = [encode(fabric(512, 512, seed=s)) for s in range(2)]
    material = {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}, "normalTexture": {"index": 1}}
    full = textures(textured_asset(material, images), TextureOptions(format="ktx2")).changes["bytes_after"]
    report = textures(textured_asset(material, images), TextureOptions(format="ktx2", max_bytes=full // 2, geometry_bytes_per_triangle=0))
    assert report.changes["budget"]["fits"] and any("halved 512x512 -> 256x256" in d for d in report.changes["decisions"])

    monkeypatch.setitem(__import__("sys").modules, "alktx2", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match="pip install alktx2"):
        textures(textured_asset(material, images), TextureOptions(format="ktx2"))
    with pytest.raises(CorruptFileError, match="KTX2"):
        open_image(b"\xabKTX 20\xbb\r\n\x1a\n" + bytes(20), DEFAULT_LIMITS)


# ---- profiles ----------------------------------------------------------------------------------------------


def test_archive_profile_options_keep_every_original_byte():
    """A non-power-of-two PNG with an opaque alpha, an occlusion/metallicRoughness pair that could be packed:
    with the archive profile's settings nothing is resized, packed or re-encoded."""
    archive = get_profile("archive")
    assert not archive.texture_pot and not archive.texture_repack and archive.texture_format == "keep"
    opaque = np.concatenate([gradient(300, 200), np.full((200, 300, 1), 255, np.uint8)], axis=2)
    images = [encode(opaque), encode(noise(300, 200)[..., 0]), encode(noise(300, 200, seed=1))]
    material = orm_material(1, 2)
    material["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    asset = textured_asset(material, images)
    options = TextureOptions(
        max_size=archive.max_texture_size,
        format=archive.texture_format,
        pot=archive.texture_pot,
        pack_orm=archive.texture_repack,
        drop_alpha=archive.texture_repack,
    )
    report = textures(asset, options)
    assert [t.data for t in asset.textures] == images
    assert not any(e["reencoded"] or e["changed"] for e in report.changes["textures"])
    # The same images under web-ar are resized, packed and stripped of their alpha.
    report = textures(textured_asset(material, images), TextureOptions())
    assert report.changes["orm_packs"] and all(e["reencoded"] for e in report.changes["textures"])


def test_geometry_bytes_per_triangle_follows_the_profile_compression():
    assert geometry_bytes_per_triangle("draco", True) < geometry_bytes_per_triangle("meshopt", True)
    assert geometry_bytes_per_triangle("meshopt", True) < geometry_bytes_per_triangle("none", True)
    assert geometry_bytes_per_triangle("none", True) < geometry_bytes_per_triangle("none", False)
    for name in ("web-ar", "desktop", "quicklook", "banner", "archive"):
        profile = get_profile(name)
        assert (profile.compression, profile.quantize) in GEOMETRY_BYTES_PER_TRIANGLE
    with pytest.raises(OptionError):
        geometry_bytes_per_triangle("zip", True)


def test_optimize_texture_format_option():
    from asset_pipeline import optimize

    with pytest.raises(OptionError, match="unknown texture format 'gif'"):
        optimize(b"", texture_format="gif")


# ---- real textures -----------------------------------------------------------------------------------------


def load_helmet():
    from asset_pipeline.io import read_path

    return read_path(scan_path("DamagedHelmet.glb"))


@pytest.mark.slow
def test_damaged_helmet_textures_to_webp_with_ssim_at_least_098(tmp_path):
    asset = load_helmet()
    originals = {i: t.data for i, t in enumerate(asset.textures)}
    report = textures(asset, TextureOptions())
    changes = report.changes
    entries = {tuple(e["slots"]): e for e in changes["textures"]}
    base = entries[("baseColorTexture",)]
    print(
        "DamagedHelmet: "
        + "; ".join(
            f"{'+'.join(e['slots'])} {e['before'].get('bytes', 'packed')} -> {e['after']['bytes']} B "
            f"q{e['after']['quality']} ssim {e.get('ssim')}"
            for e in changes["textures"]
        )
        + f"; total {changes['bytes_before']:,} -> {changes['bytes_after']:,}"
    )
    assert base["ssim"] >= 0.98 and changes["base_color_ssim_min"] >= 0.98
    # Independent check with scikit-image on the decoded WebP against the original JPEG (2048 px, no resize).
    reference = decode(originals[0])
    decoded = decode(asset.textures[base["texture"]].data)
    assert structural_similarity(reference, decoded, channel_axis=2, data_range=255) >= 0.98
    assert all(t.mime_type == "image/webp" for t in asset.textures)
    assert changes["bytes_after"] < 0.7 * changes["bytes_before"]
    # Occlusion and metallicRoughness were separate 2048 px JPEGs: packed into one.
    assert len(changes["orm_packs"]) == 1 and len(asset.textures) == 4
    normal = entries[("normalTexture",)]
    assert normal["normal_error_deg"]["mean"] < 1.0 and normal["normal_error_deg"]["p99"] < 5.0

    # Against glTF Transform `webp` (sharp, quality 80): at its quality our encoder spends the same bytes for
    # the same SSIM (one libwebp); our default buys SSIM >= 0.98 with more bytes.
    if not GLTF_TRANSFORM.exists():
        pytest.skip("bench anchors not installed (bash bench/setup.sh): glTF Transform comparison not run")
    out = tmp_path / "helmet.webp.glb"
    subprocess.run(
        [str(GLTF_TRANSFORM), "webp", str(scan_path("DamagedHelmet.glb")), str(out)], check=True, capture_output=True, timeout=300
    )
    theirs = read_base_colour(out)
    their_ssim = structural_similarity(reference, decode(theirs), channel_axis=2, data_range=255)
    only_base = load_helmet()
    only_base.materials[0] = {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}
    at_80 = textures(only_base, TextureOptions(quality=80, target_ssim=None)).changes["textures"][0]
    print(
        f"base colour: gltf-transform {len(theirs):,} B SSIM {their_ssim:.4f}; ours q80 {at_80['after']['bytes']:,} B "
        f"SSIM {at_80['ssim']:.4f}; ours default q{base['after']['quality']} {base['after']['bytes']:,} B SSIM {base['ssim']:.4f}"
    )
    assert at_80["after"]["bytes"] <= len(theirs) * 1.01 and at_80["ssim"] >= their_ssim - 0.001
    assert base["ssim"] >= 0.98 > their_ssim


def read_base_colour(path: Path) -> bytes:
    from asset_pipeline.io import read_path

    asset = read_path(path)
    index = asset.materials[0]["pbrMetallicRoughness"]["baseColorTexture"]["index"]
    return asset.textures[index].data
