from __future__ import annotations

import time

import numpy as np
import pytest
import trimesh

from asset_pipeline.asset import Asset, Mesh, Node, Primitive, single_mesh_asset
from asset_pipeline.errors import InvalidGeometryError
from asset_pipeline.stages.repair import RepairOptions, repair

from .scan_assets import load_scan


def soup(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Every triangle with its own three vertices (what STL and careless exporters write)."""
    vertices = mesh.vertices[mesh.faces].reshape(-1, 3)
    return vertices, np.arange(len(vertices)).reshape(-1, 3)


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    tri = vertices[faces].astype(np.float64)
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6)


def outward_share(prim: Primitive, centre: np.ndarray) -> float:
    tri = prim.positions[prim.indices].astype(np.float64)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return float((np.einsum("ij,ij->i", normal, tri.mean(axis=1) - centre) > 0).mean())


def test_two_cubes_with_duplicate_vertices_are_welded():
    a = trimesh.creation.box()
    b = trimesh.creation.box()
    b.apply_translation([3, 0, 0])
    va, fa = soup(a)
    vb, fb = soup(b)
    asset = single_mesh_asset(np.concatenate([va, vb]), np.concatenate([fa, fb + len(va)]))
    report = repair(asset, RepairOptions())
    prim = asset.meshes[0].primitives[0]
    c = report.changes
    assert c["welded_vertices"] == 56  # 72 soup vertices -> 16 corners...
    assert (c["vertices_before"], c["vertices_after"]) == (72, 48)  # ...split again per side by the hard edges
    assert (c["faces_before"], c["faces_after"]) == (24, 24)
    assert c["components"] == 2 and c["debris_components_removed"] == 0
    assert c["faces_flipped"] == 0 and c["non_manifold_edges"] == 0 and c["boundary_edges"] == 0
    assert c["normals_computed"] == 48 and c["vertices_split_at_creases"] == 32
    assert prim.normals is not None and np.allclose(np.linalg.norm(prim.normals, axis=1), 1, atol=1e-6)
    assert signed_volume(prim.positions, prim.indices) == pytest.approx(2.0)


def test_a_flipped_face_is_turned_back():
    box = trimesh.creation.box()
    faces = box.faces.copy()
    faces[3] = faces[3][::-1]
    asset = single_mesh_asset(box.vertices, faces)
    report = repair(asset, RepairOptions())
    assert report.changes["faces_flipped"] == 1
    assert outward_share(asset.meshes[0].primitives[0], np.zeros(3)) == 1.0


def test_an_inside_out_closed_mesh_is_turned_outward():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    asset = single_mesh_asset(sphere.vertices, sphere.faces[:, ::-1])
    report = repair(asset, RepairOptions())
    assert report.changes["components_turned_outward"] == 1
    assert report.changes["faces_flipped"] == len(sphere.faces)
    assert outward_share(asset.meshes[0].primitives[0], np.zeros(3)) == 1.0


def test_winding_follows_the_files_normals_when_it_has_them():
    # Outward normals but inward winding: the author's normals decide which side is the front.
    sphere = trimesh.creation.icosphere(subdivisions=1)
    asset = single_mesh_asset(sphere.vertices, sphere.faces[:, ::-1], normals=sphere.vertex_normals.astype(np.float32))
    repair(asset, RepairOptions())
    assert outward_share(asset.meshes[0].primitives[0], np.zeros(3)) == 1.0


def test_an_open_flat_sheet_keeps_its_winding():
    xs, zs = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 5))
    vertices = np.stack([xs.ravel(), np.zeros(25), zs.ravel()], axis=1)
    quads = [(r * 5 + c, r * 5 + c + 1, (r + 1) * 5 + c + 1, (r + 1) * 5 + c) for r in range(4) for c in range(4)]
    faces = np.array([t for q in quads for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))])
    asset = single_mesh_asset(vertices, faces)
    report = repair(asset, RepairOptions())
    assert report.changes["faces_flipped"] == 0
    prim = asset.meshes[0].primitives[0]
    assert np.allclose(prim.positions[prim.indices], vertices[faces])


def test_debris_far_away_is_removed_and_reported():
    sphere = trimesh.creation.icosphere(subdivisions=3)  # 1280 faces
    speck = np.array([[10, 10, 10], [10.001, 10, 10], [10, 10.001, 10]])
    vertices = np.concatenate([sphere.vertices, speck])
    faces = np.concatenate([sphere.faces, [[len(sphere.vertices), len(sphere.vertices) + 1, len(sphere.vertices) + 2]]])
    asset = single_mesh_asset(vertices, faces)
    report = repair(asset, RepairOptions())
    assert report.changes["debris_components_removed"] == 1
    assert report.changes["debris_faces_removed"] == 1
    assert asset.triangle_count == 1280
    assert np.allclose(asset.bounds(), [[-1, -1, -1], [1, 1, 1]], atol=1e-6)


def test_small_parts_of_uv_mapped_models_are_not_debris():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    speck = np.array([[10, 10, 10], [10.001, 10, 10], [10, 10.001, 10]])
    vertices = np.concatenate([sphere.vertices, speck])
    faces = np.concatenate([sphere.faces, [[len(sphere.vertices), len(sphere.vertices) + 1, len(sphere.vertices) + 2]]])
    uvs = [np.zeros((len(vertices), 2), dtype=np.float32)]
    asset = single_mesh_asset(vertices, faces, uvs=uvs)
    assert repair(asset, RepairOptions()).changes["debris_faces_removed"] == 0
    asset = single_mesh_asset(vertices, faces, uvs=uvs)
    assert repair(asset, RepairOptions(debris_textured=True)).changes["debris_faces_removed"] == 1


def test_many_small_pieces_are_structure_not_debris():
    # 40 beads of 20 triangles around one larger piece: each bead is "small", together they are the product.
    main = trimesh.creation.icosphere(subdivisions=4)  # 5120 faces
    parts = [main]
    for i in range(40):
        bead = trimesh.creation.icosphere(subdivisions=0, radius=0.02)
        bead.apply_translation([1.2 * np.cos(i / 40 * 2 * np.pi), 0, 1.2 * np.sin(i / 40 * 2 * np.pi)])
        parts.append(bead)
    merged = trimesh.util.concatenate(parts)
    asset = single_mesh_asset(merged.vertices, merged.faces)
    report = repair(asset, RepairOptions(debris_fraction=0.01, debris_max_total=0.05))
    assert report.changes["debris_faces_removed"] == 0
    assert any("too large to be scanner debris" in w for w in report.warnings)


def test_degenerate_and_duplicate_faces_are_removed():
    box = trimesh.creation.box()
    vertices = np.concatenate([box.vertices, [[5, 5, 5]]])  # vertex 8 is used by no face
    extra = [
        [0, 0, 1],  # repeated index
        [0, 1, 1],  # repeated index
        box.faces[5],  # duplicate, same orientation
        box.faces[6][[1, 2, 0]],  # duplicate, rotated
    ]
    faces = np.concatenate([box.faces, extra])
    asset = single_mesh_asset(vertices, faces)
    report = repair(asset, RepairOptions())
    c = report.changes
    assert c["degenerate_faces_removed"] == 2
    assert c["duplicate_faces_removed"] == 2
    assert c["unreferenced_vertices_removed"] == 1
    assert c["faces_after"] == 12 and c["vertices_after"] == 24  # 8 corners, split per side for flat normals


def test_collinear_triangle_is_degenerate():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0]], dtype=np.float32)
    asset = single_mesh_asset(vertices, [[0, 1, 2], [0, 1, 3]])
    report = repair(asset, RepairOptions())
    assert report.changes["degenerate_faces_removed"] == 1
    assert asset.triangle_count == 1


def test_uv_seams_are_not_welded_but_shade_smoothly():
    # A cylinder whose wrap-around seam has u=0 on one side and u=1 on the other.
    segments, rings = 16, 4
    angle = np.linspace(0, 2 * np.pi, segments + 1)
    heights = np.linspace(0, 1, rings + 1)
    a, h = np.meshgrid(angle, heights)
    vertices = np.stack([np.cos(a).ravel(), h.ravel(), np.sin(a).ravel()], axis=1)
    uvs = np.stack([(a / (2 * np.pi)).ravel(), h.ravel()], axis=1).astype(np.float32)
    cols = segments + 1
    faces = []
    for r in range(rings):
        for s in range(segments):
            v0, v1, v2, v3 = r * cols + s, r * cols + s + 1, (r + 1) * cols + s + 1, (r + 1) * cols + s
            faces += [(v0, v2, v1), (v0, v3, v2)]
    asset = single_mesh_asset(vertices, np.array(faces), uvs=[uvs])
    report = repair(asset, RepairOptions())
    prim = asset.meshes[0].primitives[0]
    assert report.changes["welded_vertices"] == 0
    assert prim.vertex_count == len(vertices)
    seam_start = np.flatnonzero(np.isclose(prim.uvs[0][:, 0], 0))
    seam_end = np.flatnonzero(np.isclose(prim.uvs[0][:, 0], 1))
    assert len(seam_start) == len(seam_end) == rings + 1
    seam_start = seam_start[np.argsort(prim.positions[seam_start, 1])]
    seam_end = seam_end[np.argsort(prim.positions[seam_end, 1])]
    # Same position, same computed normal on both sides of the seam: no shading crease.
    assert np.allclose(prim.positions[seam_start], prim.positions[seam_end], atol=1e-6)
    assert np.allclose(prim.normals[seam_start], prim.normals[seam_end], atol=1e-6)
    # The seam does not cut the surface: winding is judged as one piece.
    assert report.changes["components"] == 1


def test_existing_normals_are_kept_and_only_broken_ones_recomputed():
    sphere = trimesh.creation.icosphere(subdivisions=1)
    normals = sphere.vertex_normals.astype(np.float32).copy()
    normals[0] = np.nan
    normals[1] = 0
    asset = single_mesh_asset(sphere.vertices, sphere.faces, normals=normals)
    report = repair(asset, RepairOptions())
    prim = asset.meshes[0].primitives[0]
    assert report.changes["normals_computed"] == 2
    assert np.isfinite(prim.normals).all()
    assert np.allclose(np.linalg.norm(prim.normals, axis=1), 1, atol=1e-5)


def test_nan_positions_raise():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]], dtype=np.float32)
    with pytest.raises(InvalidGeometryError, match="NaN"):
        repair(single_mesh_asset(vertices, [[0, 1, 2]]), RepairOptions())


def test_faces_past_the_vertex_list_raise():
    vertices = np.eye(3, dtype=np.float32)
    with pytest.raises(InvalidGeometryError, match="only 3 vertices"):
        repair(single_mesh_asset(vertices, [[0, 1, 7]]), RepairOptions())


def test_nothing_left_raises():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]], dtype=np.float32)
    with pytest.raises(InvalidGeometryError, match="no triangles left"):
        repair(single_mesh_asset(vertices, [[0, 1, 2], [0, 0, 1]]), RepairOptions())
    with pytest.raises(InvalidGeometryError, match="no geometry"):
        repair(Asset(), RepairOptions())


def test_point_clouds_only_lose_nan_and_duplicate_points():
    points = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 0], [np.nan, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=np.float32)
    colors = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=np.float32)
    asset = single_mesh_asset(points, None, mode="points", colors=colors)
    report = repair(asset, RepairOptions())
    prim = asset.meshes[0].primitives[0]
    assert report.changes["points_removed"] == 2  # the NaN and the exact duplicate; same position, other colour stays
    assert prim.vertex_count == 4
    assert np.array_equal(prim.positions, points[[0, 1, 4, 5]])
    assert np.array_equal(prim.colors, colors[[0, 1, 4, 5]])


def test_empty_primitives_and_meshes_are_dropped():
    box = trimesh.creation.box()
    degenerate = Primitive(positions=np.zeros((3, 3), np.float32), indices=np.array([[0, 1, 2]], np.uint32))
    asset = Asset(
        nodes=[Node("box", mesh=0), Node("nothing", mesh=1)],
        meshes=[
            Mesh("box", [Primitive(positions=box.vertices.astype(np.float32), indices=box.faces.astype(np.uint32))]),
            Mesh("nothing", [degenerate]),
        ],
        roots=[0, 1],
    )
    repair(asset, RepairOptions())
    assert len(asset.meshes) == 1
    assert asset.nodes[0].mesh == 0 and asset.nodes[1].mesh is None


@pytest.mark.parametrize("name", ["stanford-bunny.obj", "armadillo_libigl.obj"])
def test_real_scans_repair_to_consistent_outward_surfaces(name):
    asset = load_scan(name)
    before = asset.triangle_count
    report = repair(asset, RepairOptions())
    prim = asset.meshes[0].primitives[0]
    c = report.changes
    print(name, c)
    assert c["faces_after"] >= 0.99 * before
    assert signed_volume(prim.positions, prim.indices) > 0
    assert prim.normals is not None and np.isfinite(prim.normals).all()
    # Every interior edge is traversed once in each direction: winding is consistent.
    again = repair(asset, RepairOptions())
    assert again.changes["faces_flipped"] == 0 and again.changes["welded_vertices"] == 0


@pytest.mark.slow
def test_dragon_repair():
    asset = load_scan("dragon_vrip.ply")
    repair(load_scan("stanford-bunny.obj"), RepairOptions())  # imports warmed up
    start = time.perf_counter()
    report = repair(asset, RepairOptions())
    seconds = time.perf_counter() - start
    print(f"dragon repair: {seconds:.2f} s", report.changes)
    c = report.changes
    assert c["faces_before"] == 871_414
    assert c["faces_after"] > 870_000
    assert c["non_manifold_edges"] == 0
    prim = asset.meshes[0].primitives[0]
    assert signed_volume(prim.positions, prim.indices) > 0


def test_computed_normals_keep_hard_edges_hard():
    box = trimesh.creation.box()
    asset = single_mesh_asset(box.vertices, box.faces)
    report = repair(asset, RepairOptions())
    prim = asset.meshes[0].primitives[0]
    assert report.changes["vertices_split_at_creases"] == 16  # 8 corners -> 24 vertices, one per face side
    assert prim.vertex_count == 24
    tri = prim.positions[prim.indices].astype(np.float64)
    face_normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    face_normal /= np.linalg.norm(face_normal, axis=1, keepdims=True)
    assert np.allclose(prim.normals[prim.indices], face_normal[:, None, :], atol=1e-6)  # flat, like the source

    # A finely tessellated sphere has no edge sharper than 60 degrees: smooth, no split.
    sphere = trimesh.creation.icosphere(subdivisions=2)
    asset = single_mesh_asset(sphere.vertices, sphere.faces)
    report = repair(asset, RepairOptions())
    assert report.changes["vertices_split_at_creases"] == 0
    prim = asset.meshes[0].primitives[0]
    assert np.allclose(np.einsum("ij,ij->i", prim.normals, prim.positions), 1, atol=0.01)

    # crease_angle=180: smooth everywhere.
    asset = single_mesh_asset(box.vertices, box.faces)
    assert repair(asset, RepairOptions(crease_angle=180)).changes["vertices_split_at_creases"] == 0
