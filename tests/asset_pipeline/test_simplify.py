from __future__ import annotations

import time

import numpy as np
import pytest
import trimesh

from asset_pipeline.asset import Asset, Mesh, Node, Primitive, single_mesh_asset
from asset_pipeline.metadata import GeometricError
from asset_pipeline.stages.normalize import NormalizeOptions, normalize
from asset_pipeline.stages.repair import RepairOptions, repair
from asset_pipeline.stages.simplify import SimplifyOptions, simplify

from .scan_assets import load_scan


def sphere_asset(subdivisions: int = 5) -> Asset:
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    return single_mesh_asset(sphere.vertices, sphere.faces, normals=sphere.vertex_normals.astype(np.float32))


def wrapped_cylinder(segments: int = 64, rings: int = 64) -> Asset:
    """A cylinder with UVs wrapped around it: the seam column exists twice, at u=0 and at u=1."""
    angle = np.linspace(0, 2 * np.pi, segments + 1)
    heights = np.linspace(0, 2, rings + 1)
    a, h = np.meshgrid(angle, heights)
    vertices = np.stack([np.cos(a).ravel(), h.ravel(), np.sin(a).ravel()], axis=1)
    uvs = np.stack([(a / (2 * np.pi)).ravel(), (h / 2).ravel()], axis=1).astype(np.float32)
    normals = np.stack([np.cos(a).ravel(), np.zeros(a.size), np.sin(a).ravel()], axis=1).astype(np.float32)
    cols = segments + 1
    faces = []
    for r in range(rings):
        for s in range(segments):
            v0, v1, v2, v3 = r * cols + s, r * cols + s + 1, (r + 1) * cols + s + 1, (r + 1) * cols + s
            faces += [(v0, v2, v1), (v0, v3, v2)]
    return single_mesh_asset(vertices, np.array(faces), uvs=[uvs], normals=normals)


def test_skipped_without_a_budget_or_when_within_it():
    asset = sphere_asset(2)
    assert simplify(asset, SimplifyOptions()).skipped
    report = simplify(asset, SimplifyOptions(target_triangles=10_000))
    assert report.skipped and report.changes["reason"] == "already within the budget"
    assert asset.triangle_count == 320


def test_a_sphere_is_simplified_to_the_budget_with_its_error_measured():
    asset = sphere_asset(5)  # 20480 triangles
    report = simplify(asset, SimplifyOptions(target_triangles=2000))
    c = report.changes
    assert c["triangles_before"] == 20480 and 1800 <= c["triangles_after"] <= 2000
    assert c["methods"] == {"attributes": 1}
    error = asset.extras["geometric_error"]
    assert isinstance(error, GeometricError)
    assert 0 < error.mean_rel < 0.002 and error.hausdorff_rel < 0.01
    assert c["error_mean_m"] == error.mean and c["error_hausdorff_rel"] == error.hausdorff_rel
    prim = asset.meshes[0].primitives[0]
    # Compacted: every vertex is used, indices are in range, normals travelled with their vertices.
    assert np.array_equal(np.unique(prim.indices), np.arange(prim.vertex_count))
    assert c["vertices_after"] == prim.vertex_count < c["vertices_before"]
    assert np.allclose(np.einsum("ij,ij->i", prim.normals, prim.positions / np.linalg.norm(prim.positions, axis=1, keepdims=True)), 1, atol=1e-3)


def test_uv_seams_stay_split():
    asset = wrapped_cylinder()
    report = simplify(asset, SimplifyOptions(target_triangles=1000))
    assert report.changes["triangles_after"] <= 1000
    prim = asset.meshes[0].primitives[0]
    u = prim.uvs[0][prim.indices][:, :, 0]
    # A triangle stretching from u~0 to u~1 would smear the whole texture across the seam.
    assert (u.max(axis=1) - u.min(axis=1)).max() < 0.5
    # Both copies of the seam survive: the same positions appear with u=0 and with u=1.
    assert np.isclose(prim.uvs[0][:, 0], 0).any() and np.isclose(prim.uvs[0][:, 0], 1).any()


def test_the_budget_is_shared_by_primitives_and_instances():
    big = trimesh.creation.icosphere(subdivisions=5)  # 20480
    small = trimesh.creation.icosphere(subdivisions=4, radius=0.3)  # 5120, drawn twice
    prim = lambda m: Primitive(positions=m.vertices.astype(np.float32), indices=m.faces.astype(np.uint32))  # noqa: E731
    left, right = np.eye(4), np.eye(4)
    left[:3, 3], right[:3, 3] = [-2, 0, 0], [2, 0, 0]
    asset = Asset(
        nodes=[Node("big", mesh=0), Node("left", matrix=left, mesh=1), Node("right", matrix=right, mesh=1)],
        meshes=[Mesh("big", [prim(big)]), Mesh("small", [prim(small)])],
        roots=[0, 1, 2],
    )
    assert asset.triangle_count == 30720
    simplify(asset, SimplifyOptions(target_triangles=3072))  # a tenth
    assert asset.triangle_count <= 3072
    assert asset.meshes[0].primitives[0].triangle_count == pytest.approx(2048, rel=0.1)
    assert asset.meshes[1].primitives[0].triangle_count == pytest.approx(512, rel=0.1)


def test_an_unreachable_error_bound_falls_back_and_says_so():
    asset = sphere_asset(4)
    report = simplify(asset, SimplifyOptions(target_triangles=100, target_error=1e-7))
    assert asset.triangle_count <= 100
    assert "sloppy" in report.changes["methods"]
    assert any("meshopt_simplifySloppy" in w for w in report.warnings)


def test_lock_border_keeps_an_open_edge_in_place():
    xs, zs = np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 1, 41))
    heights = 0.05 * np.sin(xs * 6) * np.cos(zs * 5)
    vertices = np.stack([xs.ravel(), heights.ravel(), zs.ravel()], axis=1)
    faces = []
    for r in range(40):
        for c in range(40):
            v0, v1, v2, v3 = r * 41 + c, r * 41 + c + 1, (r + 1) * 41 + c + 1, (r + 1) * 41 + c
            faces += [(v0, v2, v1), (v0, v3, v2)]
    border = np.isclose(vertices[:, 0], 0) | np.isclose(vertices[:, 0], 1) | np.isclose(vertices[:, 2], 0) | np.isclose(vertices[:, 2], 1)
    asset = single_mesh_asset(vertices, np.array(faces))
    simplify(asset, SimplifyOptions(target_triangles=800, lock_border=True, target_error=0.05))
    kept = asset.meshes[0].primitives[0].positions
    on_border = np.isclose(kept[:, 0], 0) | np.isclose(kept[:, 0], 1) | np.isclose(kept[:, 2], 0) | np.isclose(kept[:, 2], 1)
    assert on_border.sum() == border.sum()  # every border vertex is still there


def test_measuring_can_be_turned_off():
    asset = sphere_asset(4)
    report = simplify(asset, SimplifyOptions(target_triangles=500, measure_error=False))
    assert "geometric_error" not in asset.extras and "error_mean_m" not in report.changes


@pytest.mark.slow
def test_dragon_to_150k_triangles():
    asset = load_scan("dragon_vrip.ply")
    repair(asset, RepairOptions())
    normalize(asset, NormalizeOptions(category="decor"))
    simplify(sphere_asset(3), SimplifyOptions(target_triangles=100))  # warm the libraries up
    start = time.perf_counter()
    report = simplify(asset, SimplifyOptions(target_triangles=150_000))
    seconds = time.perf_counter() - start
    c = report.changes
    print(f"dragon simplify: {c['simplify_ms']:.0f} ms simplification, {seconds:.2f} s with the error measure", c)
    assert 145_000 <= c["triangles_after"] <= 150_000
    assert c["methods"] == {"attributes": 1}
    assert c["error_mean_rel"] < 1e-4 and c["error_hausdorff_rel"] < 0.005
    assert c["simplify_ms"] < 4000  # ~0.6 s on an idle machine


@pytest.mark.parametrize("name", ["stanford-bunny.obj", "armadillo_libigl.obj"])
def test_real_scans_at_a_quarter(name):
    asset = load_scan(name)
    repair(asset, RepairOptions())
    normalize(asset, NormalizeOptions())
    target = asset.triangle_count // 4
    report = simplify(asset, SimplifyOptions(target_triangles=target))
    print(name, report.changes)
    assert target * 0.95 <= asset.triangle_count <= target
    assert report.changes["error_mean_rel"] < 5e-4  # measured: bunny 1.6e-4, armadillo 2.7e-4


def test_a_part_whose_share_rounds_to_nothing_is_dropped_not_left_empty():
    big = trimesh.creation.icosphere(subdivisions=5)  # 20480
    speck = np.array([[5, 5, 5], [5.01, 5, 5], [5, 5.01, 5], [5, 5, 5.01]], dtype=np.float32)
    prims = [
        Primitive(positions=big.vertices.astype(np.float32), indices=big.faces.astype(np.uint32)),
        Primitive(positions=speck, indices=np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.uint32)),
    ]
    asset = Asset(nodes=[Node("n", mesh=0)], meshes=[Mesh("m", prims)], roots=[0])
    simplify(asset, SimplifyOptions(target_triangles=400))
    assert all(p.triangle_count > 0 for p in asset.primitives())
    assert asset.triangle_count <= 400


def test_computed_normals_are_recomputed_on_the_simplified_surface():
    sphere = trimesh.creation.icosphere(subdivisions=5)
    asset = single_mesh_asset(sphere.vertices, sphere.faces)  # no normals: repair computes them
    repair(asset, RepairOptions())
    assert asset.meshes[0].primitives[0].normals_crease_angle == 60.0
    simplify(asset, SimplifyOptions(target_triangles=1000))
    prim = asset.meshes[0].primitives[0]
    assert prim.normals_crease_angle == 60.0 and prim.triangle_count <= 1000
    # Area-weighted normals of the coarse sphere itself: radial, unit length, one per vertex (no crease split).
    radial = prim.positions / np.linalg.norm(prim.positions, axis=1, keepdims=True)
    assert np.allclose(np.linalg.norm(prim.normals, axis=1), 1, atol=1e-5)
    assert np.einsum("ij,ij->i", prim.normals, radial).min() > 0.99
    assert len(np.unique(prim.positions, axis=0)) == prim.vertex_count


def test_computed_normals_keep_hard_edges_after_simplification():
    box = trimesh.creation.box()
    box = box.subdivide().subdivide().subdivide()  # 768 triangles, flat sides
    asset = single_mesh_asset(box.vertices, box.faces)
    repair(asset, RepairOptions())
    simplify(asset, SimplifyOptions(target_triangles=100))
    prim = asset.meshes[0].primitives[0]
    # Every normal is one of the six face normals: corners stay split, sides stay flat.
    assert np.allclose(np.abs(prim.normals).max(axis=1), 1, atol=1e-5)
    assert prim.vertex_count > len(np.unique(prim.positions, axis=0))


def test_large_primitives_are_simplified_in_two_halves_that_still_meet():
    asset = sphere_asset(6)  # 81920 triangles
    repair(asset, RepairOptions())
    split = asset.copy()
    report = simplify(split, SimplifyOptions(target_triangles=8000, split_above=2000))
    whole = asset.copy()
    simplify(whole, SimplifyOptions(target_triangles=8000, split_above=0))
    prim = split.meshes[0].primitives[0]
    assert 7600 <= prim.triangle_count <= 8000 and report.changes["methods"] == {"attributes": 1}
    # Closed: every edge is shared by exactly two triangles, so the halves were not torn apart at the cut.
    edges = np.sort(prim.indices[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    assert (uses == 2).all()
    assert split.extras["geometric_error"].mean_rel < 1.2 * whole.extras["geometric_error"].mean_rel
