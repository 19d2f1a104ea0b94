"""Point-cloud reconstruction: surfaces close to the points, facing outwards, with the colours carried over."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from asset_pipeline.asset import single_mesh_asset
from asset_pipeline.errors import InvalidGeometryError
from asset_pipeline.stages.reconstruct import ReconstructOptions, orient_normals, reconstruct

from .scan_assets import load_scan


def sphere_cloud(n: int, radius: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True) * radius


def colour_of(points: np.ndarray) -> np.ndarray:
    """Linear RGBA varying smoothly over the surface."""
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    rgb = 0.5 + 0.5 * unit[:, [0, 1, 2]] * np.array([1.0, -1.0, 0.8])
    return np.concatenate([rgb, np.ones((len(points), 1))], axis=1).astype(np.float32)


def vase_cloud(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Points on an open surface of revolution 30 cm tall, with a colour gradient along the height."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, n)
    theta = rng.uniform(0, 2 * np.pi, n)
    r = 0.06 + 0.03 * np.sin(t * np.pi * 1.5)
    points = np.stack([r * np.cos(theta), t * 0.3, r * np.sin(theta)], axis=1)
    colors = np.stack([t, 0.5 + 0.5 * np.cos(theta), np.full(n, 0.2), np.ones(n)], axis=1).astype(np.float32)
    return points, colors


def outward_share(prim, centre: np.ndarray) -> float:
    tri = prim.positions[prim.indices].astype(np.float64)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return float((np.einsum("ij,ij->i", normal, tri.mean(axis=1) - centre) > 0).mean())


def test_coloured_sphere_cloud_becomes_a_close_outward_surface_with_its_colours():
    points = sphere_cloud(8000)
    asset = single_mesh_asset(points, None, colors=colour_of(points), mode="points")
    report = reconstruct(asset, ReconstructOptions(depth=7))
    prim = asset.meshes[0].primitives[0]

    assert not report.skipped and prim.mode == "triangles" and prim.triangle_count > 1000
    assert not asset.is_point_cloud
    assert report.changes["points_in"] == 8000
    assert report.changes["triangles_out"] == prim.triangle_count
    radius = np.linalg.norm(prim.positions, axis=1)
    assert abs(radius.mean() - 0.1) < 0.002 and radius.std() < 0.002  # on the sphere
    details = report.changes["primitives"][0]
    assert details["mean_distance"] < 0.001  # points to surface, < 1 mm on a 20 cm sphere
    assert report.changes["mean_distance_rel"] < 0.005
    assert outward_share(prim, np.zeros(3)) > 0.99
    assert prim.normals is not None and (np.einsum("ij,ij->i", prim.normals, prim.positions) > 0).mean() > 0.99

    # Colours: linear RGBA, close to the colour field at each new vertex.
    assert prim.colors.shape == (prim.vertex_count, 4) and prim.colors.dtype == np.float32
    error = np.abs(prim.colors - colour_of(prim.positions.astype(np.float64)))
    assert error[:, :3].mean() < 0.02 and np.percentile(error[:, :3], 99) < 0.08
    assert np.all(prim.colors[:, 3] == 1.0)
    assert details["colors"] == "poisson" and details["normals"] == "estimated"


def test_open_vase_is_trimmed_to_its_points_and_keeps_the_gradient():
    points, colors = vase_cloud(12000)
    asset = single_mesh_asset(points, None, colors=colors, mode="points")
    report = reconstruct(asset, ReconstructOptions(depth=8))
    prim = asset.meshes[0].primitives[0]
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.02 * np.linalg.norm(hi - lo) + 1e-6
    assert (prim.positions >= lo - pad).all() and (prim.positions <= hi + pad).all()
    # Vertices lie near the points (Poisson's invented lids are trimmed by density and the crop box).
    distance, nearest = cKDTree(points).query(prim.positions)
    assert np.percentile(distance, 95) < 0.005
    # The red channel is the height gradient t in [0, 1].
    assert np.abs(prim.colors[:, 0] - prim.positions[:, 1] / 0.3).mean() < 0.03
    assert report.changes["primitives"][0]["mean_distance"] < 0.001


def test_ball_pivoting_keeps_the_points_as_vertices():
    points = sphere_cloud(6000, seed=3)
    colors = colour_of(points)
    asset = single_mesh_asset(points, None, colors=colors, mode="points")
    report = reconstruct(asset, ReconstructOptions(method="ball-pivoting"))
    prim = asset.meshes[0].primitives[0]
    assert report.changes["method"] == "ball-pivoting" and prim.triangle_count > 5000
    distance, nearest = cKDTree(points).query(prim.positions)
    assert distance.max() < 1e-6
    assert np.abs(prim.colors - colors[nearest]).max() < 1e-5
    assert outward_share(prim, np.zeros(3)) > 0.95


def test_normals_from_the_file_are_used_and_alpha_is_carried():
    points = sphere_cloud(5000, seed=4)
    colors = colour_of(points)
    colors[:, 3] = np.where(points[:, 1] > 0, 1.0, 0.25)
    normals = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    asset = single_mesh_asset(points, None, colors=colors, normals=normals, mode="points")
    report = reconstruct(asset, ReconstructOptions(depth=7))
    prim = asset.meshes[0].primitives[0]
    assert report.changes["primitives"][0]["normals"] == "file"
    upper = prim.positions[:, 1] > 0.01
    lower = prim.positions[:, 1] < -0.01
    assert np.all(prim.colors[upper, 3] == 1.0) and np.all(prim.colors[lower, 3] == 0.25)


def test_meshes_are_skipped_and_bad_clouds_rejected():
    box = trimesh.creation.box()
    mesh_asset = single_mesh_asset(box.vertices, box.faces)
    assert reconstruct(mesh_asset, ReconstructOptions()).skipped
    assert mesh_asset.meshes[0].primitives[0].triangle_count == 12

    with pytest.raises(InvalidGeometryError, match="at least 100"):
        reconstruct(single_mesh_asset(sphere_cloud(50), None, mode="points"), ReconstructOptions())
    line = np.stack([np.linspace(0, 1, 500)] * 3, axis=1)
    with pytest.raises(InvalidGeometryError, match="line"):
        reconstruct(single_mesh_asset(line, None, mode="points"), ReconstructOptions())
    same = np.zeros((500, 3))
    with pytest.raises(InvalidGeometryError, match="distinct"):
        reconstruct(single_mesh_asset(same, None, mode="points"), ReconstructOptions())
    broken = sphere_cloud(500)
    broken[7] = np.nan
    with pytest.raises(InvalidGeometryError, match="NaN"):
        reconstruct(single_mesh_asset(broken, None, mode="points"), ReconstructOptions())


def test_normal_orientation_on_a_real_scan_agrees_with_the_surface():
    """Unoriented PCA normals of the bunny's scanned points, oriented by the MST propagation, against the
    face normals of the original mesh."""
    import open3d as o3d

    mesh = load_scan("stanford-bunny.obj").meshes[0].primitives[0]
    tm = trimesh.Trimesh(mesh.positions, mesh.indices, process=False)
    points, face = trimesh.sample.sample_surface(tm, 30000, seed=2)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    tree = cKDTree(points)
    spacing = tree.query(points, k=2)[0][:, 1].mean()
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * spacing, max_nn=30))
    oriented = orient_normals(points, np.asarray(pcd.normals).copy(), tree, 15)
    agree = (np.einsum("ij,ij->i", oriented, tm.face_normals[face]) > 0).mean()
    assert agree > 0.995, agree


@pytest.mark.slow
def test_real_scan_points_reconstruct_close_to_the_scanned_surface():
    """The bunny's scanned vertices (35k real scanner samples) as a point cloud: the Poisson surface must stay
    within a small fraction of the model's size of the original mesh."""
    scan = load_scan("stanford-bunny.obj")
    original = scan.meshes[0].primitives[0]
    points = np.unique(original.positions, axis=0)
    asset = single_mesh_asset(points, None, mode="points")
    report = reconstruct(asset, ReconstructOptions())
    prim = asset.meshes[0].primitives[0]
    details = report.changes["primitives"][0]
    diagonal = np.linalg.norm(points.max(axis=0) - points.min(axis=0))
    print(
        f"bunny points {details['points']:,} -> {details['triangles']:,} triangles; normals {details['normals_ms']:.0f} ms, "
        f"poisson {details['surface_ms']:.0f} ms; mean distance {details['mean_distance'] / diagonal:.5f} of the diagonal"
    )
    assert details["mean_distance"] / diagonal < 0.002
    tm = trimesh.Trimesh(original.positions, original.indices, process=False)
    sample = prim.positions[:: max(1, len(prim.positions) // 5000)]
    _, distance, _ = trimesh.proximity.closest_point(tm, sample)
    # The bunny's bottom is open: Poisson closes it a little beyond the scanned rim.
    assert np.median(distance) / diagonal < 0.002 and np.percentile(distance, 90) / diagonal < 0.02
    assert outward_share(prim, tm.centroid) > 0.8
