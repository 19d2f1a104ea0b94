from __future__ import annotations

import os
import time

import numpy as np
import pytest
import trimesh

from asset_pipeline.asset import Asset, Mesh, Node, Primitive, single_mesh_asset
from asset_pipeline.errors import InvalidGeometryError
from asset_pipeline.measure import Reference, Surface, _KDTreeQuery, bbox_diagonal, geometric_error, point_triangle_distance

from .scan_assets import load_scan


def square(z: float = 0.0, width: float = 1.0) -> Asset:
    vertices = np.array([[0, 0, z], [width, 0, z], [width, 1, z], [0, 1, z]], dtype=np.float32)
    return single_mesh_asset(vertices, [[0, 1, 2], [0, 2, 3]])


def test_bbox_diagonal():
    box = trimesh.creation.box(extents=[1, 2, 2])
    assert bbox_diagonal(single_mesh_asset(box.vertices, box.faces)) == pytest.approx(3.0)


def test_identical_surfaces_have_no_error():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    a = single_mesh_asset(sphere.vertices, sphere.faces)
    error = geometric_error(a, a.copy(), samples=5000)
    assert error.hausdorff < 1e-6 and error.mean < 1e-7 and error.samples == 5000


def test_a_parallel_offset_is_measured_exactly():
    error = geometric_error(square(0.0), square(0.1), samples=2000)
    assert error.hausdorff == pytest.approx(0.1, abs=1e-6)
    assert error.mean == pytest.approx(0.1, abs=1e-6)
    assert error.hausdorff_rel == pytest.approx(0.1 / np.sqrt(2), abs=1e-6)
    assert error.mean_rel == pytest.approx(0.1 / np.sqrt(2), abs=1e-6)


def test_the_error_is_symmetric_a_missing_half_counts():
    # The candidate lacks half of the reference: candidate -> reference sees nothing wrong, the other way does.
    error = geometric_error(square(width=2.0), square(width=1.0), samples=20_000)
    assert error.hausdorff == pytest.approx(1.0, abs=0.01)
    assert error.mean == pytest.approx(0.125, abs=0.01)  # ((0) + (half the samples at 0.5 on average)) / 2


def test_it_is_deterministic_for_a_seed():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    coarse = trimesh.creation.icosphere(subdivisions=1)
    a, b = single_mesh_asset(sphere.vertices, sphere.faces), single_mesh_asset(coarse.vertices, coarse.faces)
    assert geometric_error(a, b, seed=3) == geometric_error(a, b, seed=3)
    assert geometric_error(a, b, seed=3) != geometric_error(a, b, seed=4)


def test_world_space_transforms_count():
    box = trimesh.creation.box()
    prim = Primitive(positions=box.vertices.astype(np.float32), indices=box.faces.astype(np.uint32))
    moved = np.eye(4)
    moved[:3, 3] = [0, 0, 0.25]
    a = Asset(nodes=[Node("n", mesh=0)], meshes=[Mesh("m", [prim])], roots=[0])
    b = Asset(nodes=[Node("n", matrix=moved, mesh=0)], meshes=[Mesh("m", [prim])], roots=[0])
    assert geometric_error(a, b, samples=5000).hausdorff == pytest.approx(0.25, abs=1e-6)


def test_the_kdtree_fallback_agrees_with_open3d():
    pytest.importorskip("open3d")
    sphere = trimesh.creation.icosphere(subdivisions=3)
    surface = Surface(sphere.vertices, sphere.faces)
    points = np.random.default_rng(0).normal(scale=1.2, size=(3000, 3))
    assert np.allclose(surface.distance(points), _KDTreeQuery(surface)(points), atol=1e-6)
    # ...and both are exact: compare with a brute force over every triangle.
    tri = sphere.vertices[sphere.faces]
    brute = point_triangle_distance(points[:200, None, :], tri[None, :, 0], tri[None, :, 1], tri[None, :, 2]).min(axis=1)
    assert np.allclose(_KDTreeQuery(surface)(points[:200]), brute, atol=1e-12)


def test_point_triangle_distance_regions():
    a, b, c = np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    cases = {
        (0.2, 0.2, 0.5): 0.5,  # above the face
        (-1.0, -1.0, 0.0): np.sqrt(2),  # vertex a
        (2.0, 0.0, 0.0): 1.0,  # vertex b
        (0.5, -1.0, 0.0): 1.0,  # edge ab
        (1.0, 1.0, 0.0): np.sqrt(2) / 2,  # edge bc
        (-1.0, 0.5, 0.0): 1.0,  # edge ac
    }
    for point, expected in cases.items():
        assert point_triangle_distance(np.array(point), a, b, c) == pytest.approx(expected)


def test_no_triangles_raises():
    points = single_mesh_asset(np.eye(3), None, mode="points")
    with pytest.raises(InvalidGeometryError, match="no triangles"):
        geometric_error(points, points)


@pytest.mark.slow
def test_dragon_error_of_a_decimated_copy():
    dragon = load_scan("dragon_vrip.ply")
    reference = Surface.of(dragon)
    candidate = dragon.copy()
    prim = candidate.meshes[0].primitives[0]
    prim.indices = prim.indices[::5]  # a fifth of the triangles: holes everywhere
    start = time.perf_counter()
    error = geometric_error(reference, candidate)
    seconds = time.perf_counter() - start
    print(f"dragon geometric error (50k samples each way, 871k vs 174k triangles): {seconds:.2f} s", error)
    assert error.hausdorff > error.mean > 0
    assert error.hausdorff_rel < 0.05


def test_reference_measures_on_the_measuring_thread_with_the_same_numbers():
    sphere = trimesh.creation.icosphere(subdivisions=4)
    coarse = trimesh.creation.icosphere(subdivisions=2)
    reference = single_mesh_asset(sphere.vertices, sphere.faces)
    candidate = single_mesh_asset(coarse.vertices, coarse.faces)
    shared = Reference(reference)
    pending = shared.measure(candidate, samples=5000)
    candidate.meshes[0].primitives[0].positions *= 2  # the candidate was copied when it was queued
    assert pending.result() == geometric_error(reference, single_mesh_asset(coarse.vertices, coarse.faces), samples=5000)
    # One reference serves several candidates; its samples are drawn once per (count, seed).
    assert shared.measure(reference, samples=5000).result().hausdorff < 1e-6
    assert shared.surface.sample(5000, 1) is shared.surface.sample(5000, 1)


def test_reference_reports_a_surface_without_triangles_when_asked():
    points = single_mesh_asset(np.eye(3), None, mode="points")
    shared = Reference(points)
    with pytest.raises(InvalidGeometryError, match="no triangles"):
        shared.measure(square()).result()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_measures_on_its_own_thread():
    """Queue work-horses are forked from a worker that may have measured before: the child must not wait for
    the parent's measuring thread, which does not exist in it."""
    Reference(square()).measure(square(0.1), samples=500).result()  # the parent's thread exists now
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if a measurement completes
        try:
            error = Reference(square()).measure(square(0.1), samples=500).result(timeout=60)
            os._exit(0 if abs(error.mean - 0.1) < 1e-6 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
