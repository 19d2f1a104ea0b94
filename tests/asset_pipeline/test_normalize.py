from __future__ import annotations

import numpy as np
import pytest
import trimesh

from asset_pipeline.asset import IDENTITY, Asset, Mesh, Node, Primitive, Provenance, single_mesh_asset
from asset_pipeline.errors import OptionError
from asset_pipeline.metadata import UnitInfo
from asset_pipeline.pipeline import parse_dimensions
from asset_pipeline.stages.normalize import UNIT_SCALES, NormalizeOptions, normalize
from asset_pipeline.stages.repair import RepairOptions, repair

from .scan_assets import load_scan


def box_asset(extents, centre=(0, 0, 0), **kwargs) -> Asset:
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(centre)
    return single_mesh_asset(box.vertices, box.faces, normals=box.vertex_normals.astype(np.float32), **kwargs)


def assert_bottom_centred(asset: Asset) -> None:
    lo, hi = asset.bounds()
    assert lo[1] == pytest.approx(0, abs=1e-6)
    assert (lo[0] + hi[0]) / 2 == pytest.approx(0, abs=1e-6)
    assert (lo[2] + hi[2]) / 2 == pytest.approx(0, abs=1e-6)


def test_a_chair_80_units_tall_is_in_centimetres():
    asset = box_asset([50, 80, 55], centre=(100, 40, -20))
    report = normalize(asset, NormalizeOptions(category="chair"))
    unit = UnitInfo(**asset.extras["unit"])
    assert (unit.source_unit, unit.scale_to_m, unit.determined_by, unit.plausible) == ("cm", 0.01, "category-heuristic", True)
    assert np.allclose(asset.dimensions(), [0.5, 0.8, 0.55], atol=1e-6)
    assert_bottom_centred(asset)
    assert report.changes["dimensions_m"] == pytest.approx([0.5, 0.8, 0.55], abs=1e-6)
    assert any("converted from cm" in w for w in report.warnings)
    assert asset.unit_scale == 1.0 and asset.up_axis == "+Y"


def test_an_ambiguous_size_stays_in_metres_and_is_flagged():
    asset = box_asset([50, 80, 55])
    report = normalize(asset, NormalizeOptions())  # generic: cm, mm and inches would all be plausible
    unit = asset.extras["unit"]
    assert unit["scale_to_m"] == 1.0 and unit["plausible"] is False and unit["determined_by"] == "assumed"
    assert unit["source_unit"] == "unknown"
    assert any("several units" in w for w in report.warnings)
    assert np.allclose(asset.dimensions(), [50, 80, 55], atol=1e-4)


def test_a_plausible_size_in_metres_is_kept():
    asset = box_asset([0.4, 0.9, 0.4])
    normalize(asset, NormalizeOptions(category="chair"))
    assert asset.extras["unit"] == {
        "source_unit": "m", "scale_to_m": 1.0, "determined_by": "assumed", "up_axis": "+Y", "plausible": True,
    }  # fmt: skip


def test_a_stated_unit_wins_and_is_checked_for_plausibility():
    asset = box_asset([500, 800, 550])
    asset.unit_scale = 0.001  # the file says millimetres
    normalize(asset, NormalizeOptions(category="chair"))
    assert asset.extras["unit"]["determined_by"] == "file" and asset.extras["unit"]["source_unit"] == "mm"
    assert np.allclose(asset.dimensions(), [0.5, 0.8, 0.55], atol=1e-6)

    asset = box_asset([500, 800, 550])
    report = normalize(asset, NormalizeOptions(unit="inches", category="chair"))
    assert asset.extras["unit"]["source_unit"] == "in" and asset.extras["unit"]["determined_by"] == "merchant"
    assert asset.extras["unit"]["plausible"] is False
    assert any("outside the plausible" in w for w in report.warnings)


def test_bad_options_raise_option_errors():
    with pytest.raises(OptionError, match="unknown unit"):
        normalize(box_asset([1, 1, 1]), NormalizeOptions(unit="furlong"))
    with pytest.raises(OptionError, match="up axis"):
        normalize(box_asset([1, 1, 1]), NormalizeOptions(up="upwards"))
    with pytest.raises(OptionError, match="must be horizontal"):
        normalize(box_asset([1, 1, 1]), NormalizeOptions(front="+Y"))
    with pytest.raises(OptionError, match="unknown category"):
        normalize(box_asset([1, 1, 1]), NormalizeOptions(category="spaceship"))


def test_a_z_up_file_is_turned_y_up_with_its_front_to_plus_z():
    # A tall post (0.2 x 0.2 x 1.0, Z up) with a marker bump on its -Y side (the Z-up convention's front).
    post = trimesh.creation.box(extents=[0.2, 0.2, 1.0])
    post.apply_translation([0, 0, 0.5])
    marker = trimesh.creation.box(extents=[0.05, 0.05, 0.05])
    marker.apply_translation([0, -0.125, 0.9])
    mesh = trimesh.util.concatenate([post, marker])
    asset = single_mesh_asset(mesh.vertices, mesh.faces)
    asset.up_axis = "+Z"
    report = normalize(asset, NormalizeOptions())
    assert report.changes["up_axis"] == "+Z" and report.changes["up_determined_by"] == "file"
    assert np.allclose(asset.dimensions(), [0.2, 1.0, 0.25], atol=1e-6)
    # The marker is now at the top front: high y, +z.
    p = asset.meshes[0].primitives[0].positions
    assert p[:, 2].max() == pytest.approx(0.125, abs=1e-6)
    assert p[np.argmax(p[:, 2]), 1] > 0.8
    assert asset.extras["unit"]["up_axis"] == "+Z"


def test_up_and_front_options():
    asset = box_asset([1.0, 0.2, 0.4])  # lying along X: the merchant says +X is up and -Z is the front
    report = normalize(asset, NormalizeOptions(up="+X", front="-Z"))
    assert np.allclose(asset.dimensions(), [0.2, 1.0, 0.4], atol=1e-6)
    rotation = np.array(report.changes["rotation"])
    assert np.allclose(rotation @ [1, 0, 0], [0, 1, 0]) and np.allclose(rotation @ [0, 0, -1], [0, 0, 1])
    assert np.linalg.det(rotation) == pytest.approx(1)


def test_a_z_up_shape_without_a_stated_axis_is_detected_from_its_base():
    cone = trimesh.creation.cone(radius=0.1, height=0.4)  # axis +Z, flat base facing -Z at z=0
    asset = single_mesh_asset(cone.vertices, cone.faces)
    report = normalize(asset, NormalizeOptions(category="decor"))
    assert report.changes["up_axis"] == "+Z" and report.changes["up_determined_by"] == "geometry"
    assert report.changes["up_evidence"]["base_area_fraction"]["-Z"] > 0.1
    assert asset.dimensions()[1] == pytest.approx(0.4, abs=1e-6)

    # The same cone standing on -Y is left alone.
    cone.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    asset = single_mesh_asset(cone.vertices, cone.faces)
    report = normalize(asset, NormalizeOptions(category="decor"))
    assert report.changes["up_axis"] == "+Y" and report.changes["up_determined_by"] == "assumed"


def test_stl_files_start_from_z_up():
    asset = box_asset([0.3, 0.2, 0.1])
    asset.provenance = Provenance(filename="part.stl", sha256="", size_bytes=0, format="stl")
    report = normalize(asset, NormalizeOptions())
    assert report.changes["up_axis"] == "+Z" and report.changes["up_determined_by"] == "format-convention"
    assert np.allclose(asset.dimensions(), [0.3, 0.1, 0.2], atol=1e-6)


def test_merchant_dimensions_set_the_scale():
    asset = box_asset([2.0, 1.0, 0.5])
    report = normalize(asset, NormalizeOptions(dimensions=(1.0, 0.5, 0.25)))
    assert asset.extras["unit"]["determined_by"] == "merchant-dimensions"
    assert asset.extras["unit"]["scale_to_m"] == pytest.approx(0.5)
    assert report.changes["merchant_difference"] == pytest.approx([0, 0, 0], abs=1e-6)
    assert not report.warnings
    assert np.allclose(asset.dimensions(), [1.0, 0.5, 0.25], atol=1e-6)


def test_merchant_dimensions_that_disagree_are_reported():
    asset = box_asset([2.0, 1.0, 0.5])
    report = normalize(asset, NormalizeOptions(dimensions=(1.0, 0.25, 0.5)))  # height and depth swapped
    assert any("disagree" in w and "match if read as width x depth x height" in w for w in report.warnings)
    assert max(abs(d) for d in report.changes["merchant_difference"]) > 0.05


def test_a_hierarchy_keeps_names_pivots_and_world_positions():
    box = trimesh.creation.box(extents=[0.14, 0.04, 0.01])
    temple = trimesh.creation.box(extents=[0.005, 0.01, 0.14])
    prim = lambda m: Primitive(  # noqa: E731
        positions=m.vertices.astype(np.float32),
        indices=m.faces.astype(np.uint32),
        normals=m.vertex_normals.astype(np.float32),
        tangents=np.tile([1, 0, 0, 1], (len(m.vertices), 1)).astype(np.float32),
    )
    root_matrix = np.diag([100.0, 100, 100, 1])  # the file is in centimetres via a scaled root
    root_matrix[:3, 3] = [5, 7, 9]
    left, right = np.eye(4), np.eye(4)
    left[:3, 3] = [-0.07, 0, -0.07]
    right[:3, 3] = [0.07, 0, -0.07]
    asset = Asset(
        nodes=[
            Node("Frame", matrix=root_matrix, mesh=0, children=[1, 2]),
            Node("TempleL", matrix=left, mesh=1),
            Node("TempleR", matrix=right, mesh=1),  # the temple mesh is shared
        ],
        meshes=[Mesh("frame", [prim(box)]), Mesh("temple", [prim(temple)])],
        roots=[0],
    )
    asset.unit_scale = 0.01
    before_vertices, before_faces = asset.world_geometry()
    report = normalize(asset, NormalizeOptions())  # not a try-on category: the try-on spec would re-pivot the temples

    assert [n.name for n in asset.nodes] == ["Frame", "TempleL", "TempleR"]
    assert asset.nodes[0].children == [1, 2]
    assert np.array_equal(asset.nodes[0].matrix, IDENTITY)
    correction = np.eye(4)
    correction[:3, :3] = np.array(report.changes["rotation"]) * report.changes["scale_to_m"]
    correction[:3, 3] = report.changes["translation_m"]
    after_vertices, after_faces = asset.world_geometry()
    expected = before_vertices @ correction[:3, :3].T + correction[:3, 3]
    assert np.array_equal(after_faces, before_faces)
    assert np.allclose(after_vertices, expected, atol=1e-6)
    # Children keep their own local pivots (their geometry untouched, their matrices carry the correction).
    assert np.allclose(asset.meshes[1].primitives[0].positions, temple.vertices, atol=1e-7)
    assert np.allclose(asset.nodes[1].matrix[:3, :3], np.eye(3) * 100 * 0.01)
    assert np.allclose(asset.dimensions(), [0.145, 0.04, 0.145], atol=1e-6)
    assert asset.extras["unit"]["plausible"] is True


def test_non_tryon_categories_have_no_anchor():
    asset = box_asset([0.4, 0.9, 0.4])
    normalize(asset, NormalizeOptions(category="chair"))
    assert asset.extras["anchor"] is None


def test_a_shared_root_mesh_is_duplicated_before_baking():
    box = trimesh.creation.box(extents=[1, 1, 1])
    prim = Primitive(positions=box.vertices.astype(np.float32), indices=box.faces.astype(np.uint32))
    moved = np.eye(4)
    moved[:3, 3] = [3, 0, 0]
    asset = Asset(nodes=[Node("a", mesh=0), Node("b", matrix=moved, mesh=0)], meshes=[Mesh("box", [prim])], roots=[0, 1])
    before, _ = asset.world_geometry()
    report = normalize(asset, NormalizeOptions())
    after, _ = asset.world_geometry()
    assert len(asset.meshes) == 2 and asset.nodes[0].mesh != asset.nodes[1].mesh
    assert all(np.array_equal(n.matrix, IDENTITY) for n in asset.nodes)
    assert np.allclose(after, before + report.changes["translation_m"], atol=1e-6)


def test_a_mirrored_root_flips_winding_and_keeps_normals_outward():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    prim = Primitive(
        positions=sphere.vertices.astype(np.float32),
        indices=sphere.faces.astype(np.uint32),
        normals=sphere.vertex_normals.astype(np.float32),
        tangents=np.tile([1, 0, 0, 1], (len(sphere.vertices), 1)).astype(np.float32),
    )
    mirror = np.diag([-1.0, 1, 1, 1])
    asset = Asset(nodes=[Node("m", matrix=mirror, mesh=0)], meshes=[Mesh("s", [prim])], roots=[0])
    normalize(asset, NormalizeOptions(category="decor"))
    out = asset.meshes[0].primitives[0]
    tri = out.positions[out.indices].astype(np.float64)
    face_normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = out.positions.mean(axis=0)
    assert (np.einsum("ij,ij->i", face_normal, tri.mean(axis=1) - centre) > 0).all()
    assert (np.einsum("ij,ij->i", out.normals, out.positions - centre) > 0).all()
    assert np.allclose(out.tangents[:, 3], -1) and np.allclose(out.tangents[:, :3], [-1, 0, 0])


def test_unit_scales_feed_parse_dimensions():
    assert set(UNIT_SCALES) >= {"m", "cm", "mm", "in", "ft"}
    assert parse_dimensions("83x69x57cm") == pytest.approx((0.83, 0.69, 0.57))
    assert parse_dimensions("10x20x30in") == pytest.approx((0.254, 0.508, 0.762))
    assert parse_dimensions("0.83x0.69x0.57") == pytest.approx((0.83, 0.69, 0.57))


@pytest.mark.parametrize(
    "name, category", [("stanford-bunny.obj", "decor"), ("armadillo_libigl.obj", "generic"), ("dragon_vrip.ply", "decor")]
)
def test_real_scans_keep_their_size_and_orientation(name, category):
    asset = load_scan(name)
    repair(asset, RepairOptions())
    before = asset.dimensions()
    report = normalize(asset, NormalizeOptions(category=category))
    print(name, report.changes, report.warnings)
    assert report.changes["up_axis"] == "+Y"  # Stanford scans are Y-up (the dragon faces +/-X, up is +Y)
    assert asset.extras["unit"]["scale_to_m"] == 1.0 and asset.extras["unit"]["plausible"] is True
    assert np.allclose(asset.dimensions(), before, rtol=0.01)
    assert_bottom_centred(asset)
