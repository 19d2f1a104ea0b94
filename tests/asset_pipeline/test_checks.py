"""The quality report: the Khronos validator bridge, our commerce checks on small hand-made assets, and the
publishing targets at their exact thresholds."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from asset_pipeline.asset import Asset, Mesh, Node, Primitive, Texture, single_mesh_asset
from asset_pipeline.categories import get_category
from asset_pipeline.checks import build_report, validator_check
from asset_pipeline.checks import commerce
from asset_pipeline.checks import validator as bridge
from asset_pipeline.checks.commerce import commerce_checks, edge_counts, glb_json, sample_surface
from asset_pipeline.checks.targets import evaluate_targets, usdz_stats
from asset_pipeline.errors import MissingDependencyError, PipelineError
from asset_pipeline.metadata import (
    CheckResult,
    Dimensions,
    GeometryStats,
    Metadata,
    SourceInfo,
    TextureInfo,
    UnitInfo,
    ValidatorResult,
)
from asset_pipeline.profiles import get_profile

from ..conftest import scan_path

needs_validator = pytest.mark.skipif(
    not bridge.validator_available(), reason=f"Khronos glTF-Validator not installed: run {bridge.SETUP_COMMAND}"
)


# --- builders -----------------------------------------------------------------------------------------------
def png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def solid_png(rgb, size=(4, 4)) -> bytes:
    return png(np.tile(np.asarray(rgb, dtype=np.uint8), (size[1], size[0], 1)))


QUAD = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32) * 0.5
QUAD_FACES = np.array([[0, 1, 2], [0, 2, 3]])
QUAD_UV = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], dtype=np.float32)


def quad(material=None, uvs=None, textures=()) -> Asset:
    asset = single_mesh_asset(QUAD, QUAD_FACES, material=material, uvs=[QUAD_UV if uvs is None else uvs])
    asset.textures.extend(textures)
    return asset


def pbr(base=(0.5, 0.5, 0.5, 1.0), metallic=0.0, **extra) -> dict:
    mat = {"pbrMetallicRoughness": {"baseColorFactor": list(base), "metallicFactor": metallic, "roughnessFactor": 0.5}}
    mat.update(extra)
    return mat


def make_metadata(
    asset: Asset,
    *,
    category: str = "generic",
    merchant: tuple[float, float, float] | None = None,
    profile: str = "web-ar",
    triangles: int | None = None,
    draw_calls: int | None = None,
    textures: list[TextureInfo] | None = None,
) -> Metadata:
    dims = asset.dimensions()
    lo, hi = get_category(category).size_range_m
    stats = GeometryStats(
        triangles=asset.triangle_count if triangles is None else triangles,
        vertices=asset.vertex_count,
        draw_calls=asset.draw_calls if draw_calls is None else draw_calls,
        nodes=len(asset.nodes),
        meshes=len(asset.meshes),
        primitives=sum(len(m.primitives) for m in asset.meshes),
    )
    return Metadata(
        asset_id="test",
        profile=profile,
        source=SourceInfo(filename="test.glb", sha256="0" * 64, size_bytes=1, format="glb"),
        category=category,
        placement=get_category(category).placement,
        dimensions_m=Dimensions.from_xyz(dims),
        merchant_dimensions_m=Dimensions.from_xyz(merchant) if merchant else None,
        unit=UnitInfo(source_unit="m", scale_to_m=1.0, determined_by="file", up_axis="+Y", plausible=bool(lo <= dims.max() <= hi)),
        geometry=stats,
        source_geometry=stats,
        textures=textures or [],
    )


def check(results: list[CheckResult], check_id: str) -> CheckResult:
    return next(r for r in results if r.id == check_id)


def run_checks(asset: Asset, files: dict[str, bytes] | None = None, **meta) -> list[CheckResult]:
    return commerce_checks(asset, make_metadata(asset, **meta), {"model.glb": b"glTF"} if files is None else files)


def make_glb(doc: dict, binary: bytes = b"") -> bytes:
    """A GLB from a glTF JSON document and its BIN chunk (4-byte aligned)."""
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(js), 0x4E4F534A) + js
    if binary:
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks


def triangle_glb(min_override=None, extra: dict | None = None) -> bytes:
    """One triangle: POSITION accessor with min/max (optionally wrong) and uint16 indices."""
    positions = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], dtype=np.float32)
    indices = np.array([0, 1, 2], dtype=np.uint16)
    binary = positions.tobytes() + indices.tobytes() + b"\0\0"
    doc = {
        "asset": {"version": "2.0", "generator": "test_checks"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "tri", "mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 36, "target": 34962},
            {"buffer": 0, "byteOffset": 36, "byteLength": 6, "target": 34963},
        ],
        "accessors": [
            {
                "bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                "min": min_override or positions.min(axis=0).tolist(), "max": positions.max(axis=0).tolist(),
            },
            {"bufferView": 1, "componentType": 5123, "count": 3, "type": "SCALAR"},
        ],
    }
    for key, value in (extra or {}).items():
        doc[key] = value
    return make_glb(doc, binary)


# --- validator bridge ---------------------------------------------------------------------------------------
@needs_validator
def test_validator_valid_and_invalid_in_one_run():
    bad = triangle_glb(min_override=[-1.0, 0.0, 0.0])  # min.x claims -1 but the data's min.x is 0
    results = bridge.run_validator({"good.glb": triangle_glb(), "bad.glb": bad, "junk.glb": b"not a model at all"})
    assert [r.file for r in results] == ["good.glb", "bad.glb", "junk.glb"]
    good, wrong, junk = results
    assert good.ran and good.errors == 0 and good.warnings == 0
    assert wrong.ran and wrong.errors > 0
    assert any(m["code"] == "ACCESSOR_MIN_MISMATCH" and m["severity"] == "error" for m in wrong.messages)
    assert junk.ran and junk.errors == 1 and junk.messages[0]["code"] == "UNREADABLE"


@needs_validator
def test_validator_on_real_product_model():
    data = scan_path("SheenChair.glb").read_bytes()
    (result,) = bridge.run_validator({"model.glb": data}, required=True)
    assert result.ran and result.errors == 0
    assert all(m["severity"] in ("error", "warning") for m in result.messages)
    assert len(result.messages) <= bridge.MAX_MESSAGES


@needs_validator
def test_validator_rejects_external_resources():
    doc_extra = {"images": [{"uri": "texture.png"}]}
    (result,) = bridge.run_validator({"model.glb": triangle_glb(extra=doc_extra)})
    # The bridge refuses to load side files, so the reference itself is reported.
    assert result.ran and result.errors > 0
    assert any(m["code"] == "IO_ERROR" and m["pointer"] == "/images/0/uri" for m in result.messages)


def test_validator_missing(monkeypatch):
    monkeypatch.setattr(bridge.shutil, "which", lambda name: None)
    assert not bridge.validator_available()
    (result,) = bridge.run_validator({"model.glb": triangle_glb()})
    assert not result.ran and "node is not installed" in result.reason and "npm ci" in result.reason
    with pytest.raises(MissingDependencyError, match="npm ci"):
        bridge.run_validator({"model.glb": triangle_glb()}, required=True)
    (disabled,) = bridge.run_validator({"model.glb": triangle_glb()}, required=False)
    assert not disabled.ran and disabled.reason == "validation disabled"
    assert bridge.run_validator({}) == []


def test_validator_package_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(bridge, "PACKAGE_JSON", tmp_path / "absent" / "package.json")
    (result,) = bridge.run_validator({"model.glb": triangle_glb()})
    assert not result.ran and "gltf-validator is not installed" in result.reason


@needs_validator
def test_validator_timeout():
    (result,) = bridge.run_validator({"model.glb": triangle_glb()}, timeout=0.001)
    assert not result.ran and "did not finish within 0.001 s" in result.reason
    with pytest.raises(PipelineError, match="did not finish"):
        bridge.run_validator({"model.glb": triangle_glb()}, required=True, timeout=0.001)


@needs_validator
def test_validator_crash_is_reported(monkeypatch, tmp_path):
    broken = tmp_path / "validate.mjs"
    broken.write_text("process.stderr.write('boom'); process.exit(3);\n")
    monkeypatch.setattr(bridge, "SCRIPT", broken)
    (result,) = bridge.run_validator({"model.glb": triangle_glb()})
    assert not result.ran and "exit 3" in result.reason and "boom" in result.reason
    with pytest.raises(PipelineError, match="exit 3"):
        bridge.run_validator({"model.glb": triangle_glb()}, required=True)


def test_validator_check_summary():
    ran = [ValidatorResult(file="model.glb", ran=True, warnings=2), ValidatorResult(file="model.lod1.glb", ran=True, errors=3)]
    summary = validator_check(ran)
    assert not summary.passed and "3 validator error(s) in model.lod1.glb" in summary.message
    assert validator_check(ran[:1]).passed
    not_run = validator_check([ValidatorResult(file="model.glb", ran=False, reason="node is not installed")])
    assert not not_run.passed and "not run" in not_run.message


# --- textures and materials ---------------------------------------------------------------------------------
def test_non_power_of_two_texture_fails():
    tex = [Texture(solid_png((128, 128, 128), (100, 64)), "image/png", name="albedo"), Texture(solid_png((128, 128, 128), (64, 64)), "image/png")]
    asset = quad(pbr(), textures=tex)
    asset.materials[0]["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    result = check(run_checks(asset), "texture_power_of_two")
    assert not result.passed and result.value == ["albedo (100x64)"]
    asset.textures.pop(0)
    asset.materials[0]["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    assert check(run_checks(asset), "texture_power_of_two").passed


def test_texture_size_against_profile():
    asset = quad(pbr(), textures=[Texture(solid_png((128, 128, 128), (1024, 1024)), "image/png")])
    assert check(run_checks(asset, profile="web-ar"), "texture_size").passed
    result = check(run_checks(asset, profile="banner"), "texture_size")  # banner allows 512 px
    assert not result.passed and result.value == 1024


def test_black_base_color_fails_and_mid_grey_passes():
    result = check(run_checks(quad(pbr(base=(0, 0, 0, 1)))), "base_color_range")
    assert not result.passed and result.value["fraction_outside"] == 1.0 and result.value["dielectric_p99"] == 0.0
    grey = check(run_checks(quad(pbr(base=(0.2, 0.2, 0.2, 1)))), "base_color_range")  # linear 0.2 = sRGB 124
    assert grey.passed and 120 <= grey.value["dielectric_p1"] <= 128


def test_base_color_from_texture_pixels_on_the_surface_only():
    # Left half of the image pure white (255), right half mid grey: UVs covering only the right half
    # must pass (the white half is unused atlas space); covering the whole image must fail (50% > 5%).
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[:, :32] = 255
    img[:, 32:] = 140
    mat = pbr(base=(1, 1, 1, 1))
    mat["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    whole = quad(mat, textures=[Texture(png(img), "image/png")])
    result = check(run_checks(whole), "base_color_range")
    assert not result.passed and 0.4 < result.value["fraction_outside"] < 0.6
    assert result.value["dielectric_p99"] == pytest.approx(255, abs=1)
    right_half = QUAD_UV * [0.45, 1] + [0.53, 0]
    used = quad(json.loads(json.dumps(mat)), uvs=right_half.astype(np.float32), textures=[Texture(png(img), "image/png")])
    ok = check(run_checks(used), "base_color_range")
    assert ok.passed and ok.value["dielectric_p1"] == pytest.approx(140, abs=1)


def test_small_dark_fraction_is_tolerated():
    img = np.full((100, 100, 3), 150, dtype=np.uint8)
    img[:2, :] = 0  # 2% of the surface is a black seam
    mat = pbr(base=(1, 1, 1, 1))
    mat["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    result = check(run_checks(quad(mat, textures=[Texture(png(img), "image/png")])), "base_color_range")
    assert result.passed and 0.005 < result.value["fraction_outside"] < 0.04


def test_vertex_colours_count_as_base_colour():
    colors = np.tile([0.0, 0.0, 0.0, 1.0], (4, 1)).astype(np.float32)
    asset = single_mesh_asset(QUAD, QUAD_FACES, material=pbr(base=(1, 1, 1, 1)), colors=colors)
    assert not check(run_checks(asset), "base_color_range").passed


def test_metals_and_glass_use_their_own_rules():
    silver = check(run_checks(quad(pbr(base=(0.97, 0.96, 0.91, 1), metallic=1.0))), "base_color_range")
    assert silver.passed  # 252 sRGB is right for a metal, above the 243 non-metal ceiling
    dark_metal = check(run_checks(quad(pbr(base=(0.05, 0.05, 0.05, 1), metallic=1.0))), "base_color_range")
    assert not dark_metal.passed
    glass = pbr(base=(1, 1, 1, 1), extensions={"KHR_materials_transmission": {"transmissionFactor": 1.0}})
    clear = check(run_checks(quad(glass)), "base_color_range")
    assert clear.passed and clear.severity == "info"


def test_metallic_half_fails_and_binary_passes():
    result = check(run_checks(quad(pbr(metallic=0.5))), "metalness_binary")
    assert not result.passed and result.value["fraction_mid"] == 1.0
    assert check(run_checks(quad(pbr(metallic=0.0))), "metalness_binary").passed
    # A metallic-roughness texture (blue = metalness) that is half 0, half 1 is binary: passes.
    mr = np.zeros((8, 8, 3), dtype=np.uint8)
    mr[:, 4:, 2] = 255
    mat = pbr(base=(0.8, 0.8, 0.8, 1), metallic=1.0)
    mat["pbrMetallicRoughness"]["metallicRoughnessTexture"] = {"index": 0}
    textured = check(run_checks(quad(mat, textures=[Texture(png(mr), "image/png")])), "metalness_binary")
    assert textured.passed and textured.value["fraction_mid"] == 0.0
    samples = sample_surface(quad(mat, textures=[Texture(png(mr), "image/png")]))
    assert 0.4 < (samples.metallic > 0.5).mean() < 0.6


def test_uv_out_of_range_fails_unless_tiling_is_stated():
    mat = pbr()
    mat["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    wide = (QUAD_UV * 2 - 0.5).astype(np.float32)
    tex = Texture(solid_png((128, 128, 128)), "image/png")
    result = check(run_checks(quad(mat, uvs=wide, textures=[tex])), "uv_range")
    assert not result.passed and result.value == 0.75  # spans 2 tiles: 3 of 4 corners leave the first one
    inside = check(run_checks(quad(mat, textures=[tex])), "uv_range")
    assert inside.passed and inside.value == 0.0
    # A layout shifted by a whole tile renders the same with (default) REPEAT wrapping, not with CLAMP.
    shifted = (QUAD_UV + [0.0, 1.0]).astype(np.float32)
    assert check(run_checks(quad(json.loads(json.dumps(mat)), uvs=shifted, textures=[tex])), "uv_range").passed
    clamped = Texture(tex.data, "image/png", sampler={"wrapS": 33071, "wrapT": 33071})
    assert not check(run_checks(quad(json.loads(json.dumps(mat)), uvs=shifted, textures=[clamped])), "uv_range").passed
    tiled = Texture(tex.data, "image/png", sampler={"wrapS": 10497, "wrapT": 10497})
    excused = check(run_checks(quad(json.loads(json.dumps(mat)), uvs=wide, textures=[tiled])), "uv_range")
    assert excused.passed and "tile on purpose" in excused.message
    transformed = json.loads(json.dumps(mat))
    transformed["pbrMetallicRoughness"]["baseColorTexture"]["extensions"] = {"KHR_texture_transform": {"scale": [2, 2]}}
    assert check(run_checks(quad(transformed, uvs=wide, textures=[tex])), "uv_range").passed
    # UVs without any texture using them are not judged.
    untextured = check(run_checks(quad(pbr(), uvs=wide)), "uv_range")
    assert untextured.passed and untextured.severity == "info"


# --- topology and transforms --------------------------------------------------------------------------------
def test_three_triangles_on_one_edge_is_one_non_manifold_edge():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0.5, 1, 0], [0.5, -1, 0], [0.5, 0, 1]], dtype=np.float64)
    faces = np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4]])
    assert edge_counts(verts, faces) == (1, 6)
    asset = single_mesh_asset(verts, faces, material=pbr())
    result = check(run_checks(asset), "non_manifold_edges")
    assert not result.passed and result.value == {"non_manifold_edges": 1, "boundary_edges": 6}


def test_closed_mesh_with_split_vertices_is_manifold():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2)
    soup = sphere.vertices[sphere.faces.reshape(-1)]  # every triangle with its own vertices (UV-seam style)
    faces = np.arange(len(soup)).reshape(-1, 3)
    assert edge_counts(soup, faces) == (0, 0)
    result = check(run_checks(single_mesh_asset(soup, faces, material=pbr())), "non_manifold_edges")
    assert result.passed and result.value["boundary_edges"] == 0


def test_non_identity_root_fails():
    asset = quad(pbr())
    assert check(run_checks(asset), "root_transform").passed
    asset.nodes[0].matrix = np.diag([0.01, 0.01, 0.01, 1.0])
    result = check(run_checks(asset), "root_transform")
    assert not result.passed and result.value == ["mesh"]
    # A transform on a child under an identity root is fine.
    asset.nodes.append(Node(name="root", children=[0]))
    asset.roots = [1]
    assert check(run_checks(asset), "root_transform").passed


# --- dimensions ---------------------------------------------------------------------------------------------
def box_asset(size) -> Asset:
    import trimesh

    box = trimesh.creation.box(extents=size)
    return single_mesh_asset(box.vertices, box.faces, material=pbr())


def test_real_dimensions_plausible_for_category():
    chair = box_asset((0.45, 0.8, 0.5))
    result = check(run_checks(chair, category="chair"), "real_dimensions")
    assert result.passed and result.value == pytest.approx([0.45, 0.8, 0.5])
    result = check(run_checks(box_asset((45, 80, 50)), category="chair"), "real_dimensions")  # centimetres read as metres
    assert not result.passed and result.severity == "error" and "outside the plausible 0.3-1.6 m" in result.message


def test_dimensions_against_merchant():
    chair = box_asset((0.45, 0.8, 0.5))
    within = check(run_checks(chair, category="chair", merchant=(0.455, 0.79, 0.5)), "merchant_dimensions")
    assert within.passed
    off = check(run_checks(chair, category="chair", merchant=(0.45, 0.8, 0.53)), "merchant_dimensions")
    assert not off.passed and off.value["relative_difference"][2] == pytest.approx(0.0566, abs=1e-3)
    swapped = check(run_checks(chair, category="chair", merchant=(0.5, 0.8, 0.45)), "merchant_dimensions")
    assert not swapped.passed and "another axis order" in swapped.message
    loose = commerce_checks(chair, make_metadata(chair, merchant=(0.45, 0.8, 0.53)), {}, dimension_tolerance=0.1)
    assert check(loose, "merchant_dimensions").passed
    assert check(run_checks(chair), "merchant_dimensions").severity == "info"


# --- budgets and bundle contents ----------------------------------------------------------------------------
def test_budgets_at_the_profile_limits():
    asset = quad(pbr())
    limit = get_profile("web-ar").max_bytes
    assert check(run_checks(asset, files={"model.glb": b"\0" * limit}), "file_size").passed
    over = check(run_checks(asset, files={"model.glb": b"\0" * (limit + 1)}), "file_size")
    assert not over.passed and over.value == limit + 1
    assert not check(run_checks(asset, files={}), "file_size").passed
    assert check(run_checks(asset, triangles=150_000), "triangle_count").passed
    assert not check(run_checks(asset, triangles=150_001), "triangle_count").passed
    assert check(run_checks(asset, draw_calls=19), "draw_calls").passed
    assert not check(run_checks(asset, draw_calls=20), "draw_calls").passed
    archive = check(run_checks(asset, triangles=10**7, profile="archive"), "triangle_count")
    assert archive.passed and archive.severity == "info"


def variants_glb(names, mapped) -> bytes:
    ext = {"KHR_materials_variants": {"variants": [{"name": n} for n in names]}}
    prim = {"attributes": {}, "extensions": {"KHR_materials_variants": {"mappings": [{"material": 0, "variants": mapped}]}}}
    return make_glb({"asset": {"version": "2.0"}, "extensions": ext, "meshes": [{"primitives": [prim]}]})


def test_variants_preserved():
    asset = quad(pbr())
    asset.variants = ["Oat", "Slate"]
    files = {"model.glb": variants_glb(["Oat", "Slate"], [0, 1]), "model.lod1.glb": variants_glb(["Oat", "Slate"], [0, 1])}
    assert check(run_checks(asset, files=files), "variants_preserved").passed
    files["model.lod1.glb"] = variants_glb(["Oat"], [0])
    lost = check(run_checks(asset, files=files), "variants_preserved")
    assert not lost.passed and "model.lod1.glb" in lost.message
    files["model.lod1.glb"] = variants_glb(["Oat", "Slate"], [0])
    unmapped = check(run_checks(asset, files=files), "variants_preserved")
    assert not unmapped.passed and "['Slate'] switch no primitive" in unmapped.message
    assert glb_json(files["model.glb"])["extensions"]["KHR_materials_variants"]["variants"][1]["name"] == "Slate"


def test_usdz_present():
    asset = quad(pbr())
    assert not check(run_checks(asset, files={"model.glb": b""}), "usdz_present").passed
    assert check(run_checks(asset, files={"model.glb": b"", "model.usdz": b"PK\x03\x04rest"}), "usdz_present").passed
    no_usdz_profile = get_profile("archive").model_copy(update={"usdz": False})
    not_wanted = check(commerce_checks(asset, make_metadata(asset), {"model.glb": b""}, profile=no_usdz_profile), "usdz_present")
    assert not_wanted.passed and not_wanted.severity == "info"


def test_point_cloud_colours_are_judged_on_points():
    rng = np.random.default_rng(1)
    pts = rng.random((500, 3)).astype(np.float32) * 0.2
    colors = np.tile([0.3, 0.2, 0.1, 1.0], (500, 1)).astype(np.float32)
    asset = single_mesh_asset(pts, None, mode="points", colors=colors, material=pbr(base=(1, 1, 1, 1)))
    results = run_checks(asset)
    assert check(results, "base_color_range").passed
    assert check(results, "non_manifold_edges").severity == "info"
    # Without a material glTF's default applies, and its metallicFactor is 1: brown reads as a dark metal.
    bare = single_mesh_asset(pts, None, mode="points", colors=colors)
    flagged = check(run_checks(bare), "base_color_range")
    assert not flagged.passed and flagged.value["metal_p1"] == pytest.approx(120.5, abs=1)


# --- publishing targets -------------------------------------------------------------------------------------
VALID = [ValidatorResult(file="model.glb", ran=True)]


def targets_for(glb_size: int, *, triangles=1000, draw_calls=3, textures=None, usdz: bytes | None = b"PK", validator=VALID, merchant=None, checks=None):
    asset = box_asset((0.45, 0.8, 0.5))
    metadata = make_metadata(asset, category="chair", triangles=triangles, draw_calls=draw_calls, textures=textures, merchant=merchant)
    files = {"model.glb": b"\0" * glb_size}
    if usdz is not None:
        files["model.usdz"] = usdz
    if checks is None:
        checks = commerce_checks(asset, metadata, files)
    return {t.target: t for t in evaluate_targets(metadata, files, checks, validator)}


def tex_info(edge: int, mime="image/png", fallback=False) -> TextureInfo:
    return TextureInfo(name=f"t{edge}", width=edge, height=edge, mime_type=mime, bytes=1, gpu_bytes=1, has_fallback=fallback)


def test_file_size_thresholds_exactly_at_the_limits():
    at = targets_for(3_000_000)
    assert at["khronos-3dc-mobile-ar"].passed
    over = targets_for(3_000_001)["khronos-3dc-mobile-ar"]
    assert not over.passed and "3,000,001 bytes" in over.failures[0]
    assert targets_for(15_000_000)["shopify"].passed
    assert not targets_for(15_000_001)["shopify"].passed
    google = targets_for(10_000_000)["google-merchant-center"]
    assert google.passed and not google.warnings
    google = targets_for(10_000_001)["google-merchant-center"]
    assert google.passed and "recommends" in google.warnings[0]
    assert targets_for(15_000_000)["google-merchant-center"].passed
    assert not targets_for(15_000_001)["google-merchant-center"].passed


def test_triangle_draw_call_and_texture_limits():
    assert targets_for(1000, triangles=150_000)["khronos-3dc-mobile-ar"].passed
    assert not targets_for(1000, triangles=150_001)["khronos-3dc-mobile-ar"].passed
    assert targets_for(1000, triangles=150_000)["amazon"].passed
    assert not targets_for(1000, triangles=150_001)["amazon"].passed
    many = targets_for(1000, draw_calls=20)["khronos-3dc-mobile-ar"]
    assert many.passed and "fewer than 20" in many.warnings[0]
    assert not targets_for(1000, draw_calls=501)["khronos-3dc-mobile-ar"].passed
    assert targets_for(1000, textures=[tex_info(2048)])["google-merchant-center"].passed
    four_k = targets_for(1000, textures=[tex_info(4096)])
    assert not four_k["google-merchant-center"].passed and not four_k["khronos-3dc-mobile-ar"].passed
    assert four_k["amazon"].passed
    assert not targets_for(1000, textures=[tex_info(8192)])["amazon"].passed
    small = targets_for(1000, textures=[tex_info(1024)])["amazon"]
    assert small.passed and "2048 px" in small.warnings[0]
    webp = targets_for(1000, textures=[tex_info(2048, "image/webp")])["amazon"]
    assert not webp.passed and "PNG/JPEG" in webp.failures[0]
    assert targets_for(1000, textures=[tex_info(2048, "image/webp", fallback=True)])["amazon"].passed


def test_validator_not_run_or_errors_fail_the_targets_that_need_validity():
    not_run = targets_for(1000, validator=[ValidatorResult(file="model.glb", ran=False, reason="node is not installed")])
    for name in ("khronos-3dc-mobile-ar", "shopify", "google-merchant-center", "amazon"):
        assert not not_run[name].passed
        assert any("validator not run" in f for f in not_run[name].failures)
    errors = [ValidatorResult(file="model.glb", ran=True, errors=2, messages=[{"code": "ACCESSOR_MIN_MISMATCH", "severity": "error"}])]
    failed = targets_for(1000, validator=errors)["shopify"]
    assert not failed.passed and "ACCESSOR_MIN_MISMATCH" in failed.failures[0]


def test_usdz_and_scale_requirements():
    no_usdz = targets_for(1000, usdz=None)
    assert not no_usdz["shopify"].passed and not no_usdz["apple-quick-look"].passed
    assert no_usdz["google-merchant-center"].passed  # Google uses only the GLB
    broken = targets_for(1000, usdz=b"PK not a zip")["apple-quick-look"]
    assert not broken.passed and "could not be measured" in broken.failures[0]
    wrong_size = targets_for(1000, merchant=(0.45, 0.8, 0.6))
    assert not wrong_size["amazon"].passed and wrong_size["shopify"].passed


def usdz_with(triangles: int, texture_edge: int, tmp_path) -> bytes:
    from pxr import Sdf, Usd, UsdGeom, UsdUtils

    layer = tmp_path / "model.usdc"
    stage = Usd.Stage.CreateNew(str(layer))
    mesh = UsdGeom.Mesh.Define(stage, "/model/mesh")
    mesh.CreatePointsAttr([(0, 0, 0), (1, 0, 0), (0, 1, 0)])
    mesh.CreateFaceVertexCountsAttr([3] * triangles)
    mesh.CreateFaceVertexIndicesAttr([0, 1, 2] * triangles)
    stage.SetDefaultPrim(stage.GetPrimAtPath("/model"))
    stage.GetRootLayer().Save()
    out = tmp_path / "model.usdz"
    assert UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(str(layer)), str(out))
    data = io.BytesIO(out.read_bytes())
    with zipfile.ZipFile(data, "a") as zf:  # the texture only needs to be in the package to be measured
        zf.writestr("textures/base.png", solid_png((120, 120, 120), (texture_edge, texture_edge)))
    return data.getvalue()


def test_apple_quick_look_on_a_real_usdz(tmp_path):
    ok = usdz_with(100_000, 2048, tmp_path)
    assert usdz_stats(ok) == (100_000, 2048)
    assert targets_for(1000, usdz=ok)["apple-quick-look"].passed
    heavy = targets_for(1000, usdz=usdz_with(100_001, 1024, tmp_path))["apple-quick-look"]
    assert not heavy.passed and "100,001 triangles" in heavy.failures[0]
    big_texture = targets_for(1000, usdz=usdz_with(10, 4096, tmp_path))["apple-quick-look"]
    assert not big_texture.passed and "4096 px" in big_texture.failures[0]


# --- the whole report ---------------------------------------------------------------------------------------
def test_build_report_on_a_small_bundle():
    from asset_pipeline.io.gltf import write_glb

    asset = box_asset((0.45, 0.8, 0.5))
    metadata = make_metadata(asset, category="chair")
    files = {"model.glb": write_glb(asset)}
    validator = bridge.run_validator(files)
    report = build_report("abc", asset, metadata, files, validator, get_profile("web-ar"))
    assert report.asset_id == "abc" and report.validator == validator
    ids = [c.id for c in report.checks]
    assert ids[0] == "khronos_validator" and len(ids) == len(set(ids)) == 16
    assert {t.target for t in report.targets} == {"khronos-3dc-mobile-ar", "shopify", "google-merchant-center", "amazon", "apple-quick-look"}
    assert "model.usdz is missing" in check(report.checks, "usdz_present").message
    by_target = {t.target: t for t in report.targets}
    if validator[0].ran:
        assert by_target["khronos-3dc-mobile-ar"].passed, by_target["khronos-3dc-mobile-ar"].failures
        assert report.passed_targets == ["khronos-3dc-mobile-ar", "google-merchant-center", "amazon"]
    else:
        assert not by_target["khronos-3dc-mobile-ar"].passed
    json.loads(report.model_dump_json())
