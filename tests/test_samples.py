"""The committed procedural samples (samples/): regenerating them gives the same bytes, every GLB passes the
Khronos glTF-Validator with no errors, and each product has the structure and real size it claims."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from asset_pipeline import io as aio
from asset_pipeline.categories import CATEGORIES
from asset_pipeline.checks.validator import SETUP_COMMAND, run_validator, validator_available
from samples import generate

SAMPLES = Path(generate.__file__).resolve().parent
CATALOGUE = json.loads((SAMPLES / "products.json").read_text())["products"]
GLBS = sorted(p.file for p in generate.PRODUCTS if p.file.endswith(".glb"))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> dict[str, bytes]:
    return generate.generate(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="module")
def assets() -> dict[str, object]:
    return {name: aio.read((SAMPLES / name).read_bytes(), name) for name in GLBS}


def test_regenerating_gives_identical_bytes(regenerated):
    committed = {p.file for p in generate.PRODUCTS} | {"products.json"}
    assert set(regenerated) == committed
    for name, data in regenerated.items():
        assert (SAMPLES / name).read_bytes() == data, f"{name} differs from the committed file: run python -m samples.generate"


def test_sizes_stay_small():
    sizes = {name: (SAMPLES / name).stat().st_size for name in [p.file for p in generate.PRODUCTS]}
    assert all(size < 300_000 for size in sizes.values()), sizes
    assert sum(sizes.values()) < 2_000_000


@pytest.mark.skipif(not validator_available(), reason=f"Khronos glTF-Validator not installed: run {SETUP_COMMAND}")
def test_every_sample_passes_the_khronos_validator():
    results = run_validator({name: (SAMPLES / name).read_bytes() for name in GLBS}, required=True)
    assert len(results) == len(GLBS)
    for r in results:
        assert r.ran and r.errors == 0, f"{r.file}: {r.messages[:5]}"
        assert r.warnings == 0, f"{r.file}: {r.messages[:5]}"


def test_catalogue_entries(assets):
    assert [e["sku"] for e in CATALOGUE] == [p.sku for p in generate.PRODUCTS]
    for entry in CATALOGUE:
        assert entry["category"] in CATEGORIES
        assert (SAMPLES / entry["file"]).is_file()
        assert float(entry["price"]) > 0 and entry["currency"] == "USD"
        dims = entry["dimensions_m"]
        lo, hi = CATEGORIES[entry["category"]].size_range_m
        assert lo <= max(dims.values()) <= hi, entry
        if entry["file"] in assets:
            measured = assets[entry["file"]].dimensions()
            assert np.allclose(measured, [dims["width"], dims["height"], dims["depth"]], atol=0.0006), entry


def test_glasses_structure(assets):
    for name in ("glasses.glb", "sunglasses.glb"):
        asset = assets[name]
        names = {n.name for n in asset.nodes}
        assert {"Frame", "TempleL", "TempleR", "LensL", "LensR"} <= names
        by_name = {n.name: n for n in asset.nodes}
        assert by_name["TempleL"].matrix[0, 3] > 0 > by_name["TempleR"].matrix[0, 3]  # wearer's left is +X
        lens = asset.materials[asset.meshes[by_name["LensL"].mesh].primitives[0].material]
        assert "KHR_materials_transmission" in lens["extensions"] and lens["extensions"]["KHR_materials_ior"]["ior"] == 1.5
        lo, hi = asset.bounds()
        assert 0.135 <= hi[0] - lo[0] <= 0.145  # ~140 mm wide
        assert abs(lo[0] + hi[0]) < 1e-6  # symmetric about the bridge midpoint
        assert -0.156 < lo[2] < -0.148 and 0 < hi[2] < 0.003  # temples run ~145 mm back along -Z
        assert all(np.allclose(asset.nodes[r].matrix, np.eye(4)) for r in asset.roots)


def test_sofa_has_two_variants(assets):
    sofa = assets["sofa.glb"]
    assert sofa.variants == ["Oat", "Slate"]
    mapped = [m for p in sofa.primitives() for m in p.variant_mappings]
    assert {v for m in mapped for v in m["variants"]} == {0, 1}
    assert CATALOGUE[[e["file"] for e in CATALOGUE].index("sofa.glb")]["variants"] == ["Oat", "Slate"]


def test_real_sizes_of_worn_products(assets):
    ring = assets["ring.glb"]
    band = next(n for n in ring.nodes if n.name == "Band")
    v = ring.meshes[band.mesh].primitives[0].positions.astype(np.float64)
    centre = (v[:, :2].max(axis=0) + v[:, :2].min(axis=0)) / 2
    assert np.linalg.norm(v[:, :2] - centre, axis=1).min() * 2 == pytest.approx(0.0173, abs=1e-4)  # US 7
    hat = assets["hat.glb"]
    crown = hat.meshes[next(n for n in hat.nodes if n.name == "Crown").mesh].primitives[0].positions
    bottom = crown[np.abs(crown[:, 1] - crown[:, 1].min()) < 1e-6]
    assert 2 * math.pi * np.hypot(bottom[:, 0], bottom[:, 2]).min() == pytest.approx(0.57, abs=0.002)
    chair = assets["chair.glb"].dimensions()
    assert np.allclose(chair, [0.45, 0.8, 0.5], atol=0.002)
    assert np.allclose(assets["sofa.glb"].dimensions(), [2.0, 0.85, 0.9], atol=0.01)


def test_vase_is_a_coloured_point_cloud():
    import trimesh

    data = (SAMPLES / "vase.ply").read_bytes()
    assert data.startswith(b"ply\nformat binary_little_endian 1.0\n")
    cloud = trimesh.load(SAMPLES / "vase.ply")
    assert isinstance(cloud, trimesh.PointCloud) and len(cloud.vertices) == generate.VASE_POINTS
    colours = np.asarray(cloud.colors)[:, :3]
    assert len(np.unique(colours, axis=0)) > 100  # a real pattern, not one colour
    lo, hi = cloud.bounds
    assert hi[1] - lo[1] == pytest.approx(0.30, abs=0.001) and lo[1] >= 0.0
    # ... and as the pipeline reads it: a point cloud with linear vertex colours.
    asset = aio.read(data, "vase.ply")
    (prim,) = list(asset.primitives())
    assert asset.is_point_cloud and prim.vertex_count == generate.VASE_POINTS
    assert prim.colors is not None and prim.colors.shape == (generate.VASE_POINTS, 4)
    assert np.allclose(prim.colors[:, :3] ** (1 / 2.2) * 255, colours, atol=12)  # sRGB bytes in, linear out


def test_hotspots_lie_on_the_model_surfaces():
    """Each hotspot's position is on its model's surface (metres, the normalized frame), its normal is the
    surface's there, and the catalogue entry is valid input for the service."""
    import trimesh

    from immersive.api.schemas import ProductFields

    annotated = [e for e in CATALOGUE if e["hotspots"]]
    assert {"chair", "sofa", "watch", "hat"} <= {e["category"] for e in annotated}
    for entry in annotated:
        ProductFields.model_validate({"name": entry["name"], "hotspots": entry["hotspots"]})
        mesh = trimesh.load(SAMPLES / entry["file"], force="scene").to_geometry()
        positions = np.array([h["position"] for h in entry["hotspots"]])
        _, distance, triangle = trimesh.proximity.closest_point(mesh, positions)
        assert distance.max() < 1e-4, (entry["file"], distance)  # within 0.1 mm (the positions are rounded to it)
        facing = np.einsum("ij,ij->i", mesh.face_normals[triangle], [h["normal"] for h in entry["hotspots"]])
        assert facing.min() > 0.98, (entry["file"], facing)


def test_samples_pass_the_commerce_checks(assets):
    from asset_pipeline.checks.commerce import commerce_checks

    from .asset_pipeline.test_checks import make_metadata

    category = {p.file: p.category for p in generate.PRODUCTS}
    for name, asset in assets.items():
        files = {"model.glb": (SAMPLES / name).read_bytes(), "model.usdz": b"PK\x03\x04"}
        failed = [(r.id, r.message) for r in commerce_checks(asset, make_metadata(asset, category=category[name]), files) if not r.passed]
        assert not failed, f"{name}: {failed}"


def signed_volume(part: generate.Part) -> float:
    tri = part.positions[part.faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6)


def test_geometry_kit_faces_outward():
    """Closed solids from the kit enclose their analytic volume with outward winding and normals (the
    winding follows the analytic normals, so a positive volume means both point out)."""
    r, length = 0.01, 0.1
    tube = generate.sweep(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -length]]), generate.circle_2d(r, 64))
    assert signed_volume(tube) == pytest.approx(math.pi * r * r * length, rel=0.01)
    ring_path = np.column_stack([0.05 * np.cos(np.linspace(0, 2 * math.pi, 96, endpoint=False)), np.zeros(96), 0.05 * np.sin(np.linspace(0, 2 * math.pi, 96, endpoint=False))])
    torus = generate.sweep(ring_path, generate.circle_2d(r, 32), closed=True)
    assert signed_volume(torus) == pytest.approx(2 * math.pi**2 * 0.05 * r * r, rel=0.01)
    box = generate.rounded_box((0.3, 0.2, 0.1), 0.0001)
    assert signed_volume(box) == pytest.approx(0.3 * 0.2 * 0.1, rel=0.01)
    slab = generate.extrude_convex(generate.circle_2d(0.02, 64), 0.002)
    assert signed_volume(slab) == pytest.approx(math.pi * 0.02**2 * 0.002, rel=0.01)
    lathed = generate.lathe(np.column_stack([0.03 + r * np.cos(np.linspace(0, 2 * math.pi, 32, endpoint=False)), r * np.sin(np.linspace(0, 2 * math.pi, 32, endpoint=False))]), 96, closed=True)
    assert signed_volume(lathed) == pytest.approx(2 * math.pi**2 * 0.03 * r * r, rel=0.01)
    for part, centre in ((tube, None), (box, np.zeros(3)), (slab, np.zeros(3))):
        if centre is None:  # a tube along -Z: normals point away from its axis, or along it on the caps
            radial = part.positions * [1, 1, 0]
            away = np.einsum("ij,ij->i", radial, part.normals) + np.abs(part.normals[:, 2])
        else:
            away = np.einsum("ij,ij->i", part.positions - centre, part.normals)
        assert (away > 0).all()
