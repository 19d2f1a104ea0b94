"""The try-on spec (asset_pipeline/tryon.py) and its place in the pipeline: every try-on sample meets it after
the pipeline, with the real sizes it was generated with; broken models are fixed (origin, axes, names,
node origins) or what they lack is reported precisely."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from asset_pipeline import io as aio
from asset_pipeline import optimize
from asset_pipeline.asset import Asset, Mesh, Node
from asset_pipeline.categories import CATEGORIES
from asset_pipeline.checks.commerce import check_tryon_spec
from asset_pipeline.metadata import SCHEMA_VERSION, Anchor
from asset_pipeline.stages.normalize import NormalizeOptions, normalize
from asset_pipeline.tryon import SPECS, TURNS, check_tryon, inspect, spec_document
from samples import generate

SAMPLES = Path(generate.__file__).resolve().parent
TRYON_SAMPLES = {p.category: p.file for p in generate.PRODUCTS if CATEGORIES[p.category].tryon}


def sample(category: str) -> Asset:
    return aio.read((SAMPLES / TRYON_SAMPLES[category]).read_bytes(), TRYON_SAMPLES[category])


def rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    m = np.eye(4)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def moved(asset: Asset, matrix: np.ndarray) -> Asset:
    """The same model with `matrix` on its root (as an exporter with other axes or another pivot writes it)."""
    asset.nodes[asset.roots[0]].matrix = matrix @ asset.nodes[asset.roots[0]].matrix
    return asset


def normalized(asset: Asset, category: str, **options) -> dict:
    normalize(asset, NormalizeOptions(category=category, **options))
    return asset.extras["anchor"]


def vertex_set(asset: Asset) -> list[tuple[float, ...]]:
    return sorted(set(map(tuple, np.round(asset.world_geometry()[0], 6) + 0.0)))


def by_name(asset: Asset) -> dict[str, int]:
    return {node.name: i for i, node in enumerate(asset.nodes)}


def test_every_tryon_category_has_a_spec_and_the_document_lists_it():
    assert {name for name, c in CATEGORIES.items() if c.tryon} == set(SPECS)
    document = spec_document()
    assert set(document["categories"]) == set(SPECS)
    glasses = document["categories"]["glasses"]
    assert glasses["required_nodes"] == ["Frame", "TempleL", "TempleR", "LensL", "LensR"]
    assert glasses["outward"] == "+Z" and "+Z" in glasses["axes"] and "frame_width_m" in glasses["sizes"]
    assert document["head_occluder"] == "samples/head_occluder.glb"
    assert tuple(map(int, SCHEMA_VERSION.split("."))) >= (1, 1)  # the spec's anchor fields came with 1.1
    assert len(TURNS) == 24 and all(np.isclose(np.linalg.det(t), 1.0) for t in TURNS)


@pytest.mark.parametrize("category", sorted(TRYON_SAMPLES))
def test_the_samples_follow_the_spec_as_generated(category):
    assert check_tryon(sample(category), category) == []


@pytest.fixture(scope="module")
def bundles() -> dict:
    return {
        category: optimize(SAMPLES / TRYON_SAMPLES[category], "web-ar", category=category, validate=False, usdz=False, poster=False)
        for category in sorted(TRYON_SAMPLES)
    }


def test_every_sample_meets_the_spec_after_the_pipeline(bundles):
    for category, bundle in bundles.items():
        anchor = bundle.metadata.anchor
        assert anchor is not None and anchor.category == category, category
        assert anchor.problems == [] and anchor.missing_nodes == [], (category, anchor.problems)
        assert anchor.fixes == [], (category, anchor.fixes)  # already at the anchor: nothing moved
        assert anchor.required_nodes == list(SPECS[category].required_nodes)
        check = next(c for c in bundle.report.checks if c.id == "tryon_spec")
        assert check.passed, check.message
        # The delivered (simplified, quantized, compressed) model still follows the spec.
        assert check_tryon(aio.read(bundle.files["model.glb"], "model.glb"), category) == [], category
        assert Anchor.model_validate_json(Anchor.model_dump_json(anchor)) == anchor


def test_real_sizes_in_the_metadata_are_the_generated_ones(bundles):
    sizes = {category: bundle.metadata.anchor.sizes_m for category, bundle in bundles.items()}
    assert sizes["ring"]["inner_diameter_m"] == pytest.approx(0.0173, abs=0.0002)  # US size 7
    assert sizes["ring"]["band_width_m"] == pytest.approx(0.0025, abs=0.0001)
    assert sizes["hat"]["head_circumference_m"] == pytest.approx(0.57, abs=0.002)  # 57 cm (M)
    assert sizes["hat"]["opening_width_m"] == pytest.approx(0.57 / math.pi, abs=0.0005)
    a, b = 0.030, 0.021  # the watch strap's inner semi-axes
    ellipse = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))  # Ramanujan: 161.3 mm
    assert sizes["watch"]["inner_circumference_m"] == pytest.approx(ellipse, abs=0.001)
    assert sizes["watch"]["inner_width_m"] == pytest.approx(2 * a, abs=0.0003)
    assert sizes["watch"]["inner_depth_m"] == pytest.approx(2 * b, abs=0.0003)
    assert sizes["watch"]["strap_width_m"] == pytest.approx(0.020, abs=0.0002)
    assert sizes["watch"]["case_diameter_m"] == pytest.approx(0.040, abs=0.0002)
    for category in ("glasses", "sunglasses"):
        assert sizes[category]["frame_width_m"] == pytest.approx(0.138, abs=0.0002)
        assert sizes[category]["lens_width_m"] == pytest.approx(0.050, abs=0.0002)
        assert sizes[category]["bridge_width_m"] == pytest.approx(0.018, abs=0.0002)
        assert sizes[category]["temple_length_m"] == pytest.approx(0.149, abs=0.003)
    assert sizes["necklace"]["chain_length_m"] == pytest.approx(0.43, rel=0.005)  # 43 cm
    assert sizes["earrings"]["drop_length_m"] == pytest.approx(0.0314, abs=0.0002)
    earrings = bundles["earrings"].metadata.anchor.node_origins_m
    assert np.allclose(earrings["EarringL"], [0.015, 0, 0], atol=1e-6) and np.allclose(earrings["EarringR"], [-0.015, 0, 0], atol=1e-6)
    glasses = bundles["glasses"].metadata.anchor.node_origins_m
    assert np.allclose(glasses["TempleL"], [0.069, 0.004, -0.006], atol=1e-5)  # the hinges
    shade = bundles["lipstick"].metadata.anchor.shades[0]
    assert shade.base_color_srgb == (176, 32, 56) and shade.finish == "satin" and shade.base_color_hex == "#b02038"


def test_the_pipeline_leaves_a_sample_at_its_origin(bundles):
    # Hotspots and the like, authored on the sample, stay valid: the anchor is where the origin already was.
    for category, bundle in bundles.items():
        normalize_log = next(r for r in bundle.metadata.stage_log if r.stage == "normalize")
        if SPECS[category].kind == "worn":
            assert np.allclose(normalize_log.changes["translation_m"], 0.0, atol=1e-9), category


# ---- broken models ---------------------------------------------------------------------------------


def test_a_wrong_pivot_is_moved_to_the_bridge():
    reference = sample("glasses").world_geometry()[0]
    asset = moved(sample("glasses"), np.array([[1, 0, 0, 0.031], [0, 1, 0, -0.052], [0, 0, 1, 0.017], [0, 0, 0, 1.0]]))
    anchor = normalized(asset, "glasses")
    assert any("origin moved" in fix for fix in anchor["fixes"])
    assert anchor["problems"] == []
    assert np.allclose(asset.world_geometry()[0], reference, atol=1e-6)
    assert check_tryon(asset, "glasses") == []


@pytest.mark.parametrize(
    "turn",
    [rotation("x", -90), rotation("y", 90), rotation("z", 90) @ rotation("x", 90), rotation("y", 180)],
    ids=["z-up", "facing-x", "on-its-side", "facing-back"],
)
def test_turned_glasses_are_turned_back(turn):
    reference = sample("glasses").world_geometry()[0]
    asset = moved(sample("glasses"), turn)
    assert any(f.code == "axis" for f in check_tryon(asset, "glasses"))
    report = normalize(asset, NormalizeOptions(category="glasses"))
    anchor = asset.extras["anchor"]
    assert any("turned into the spec's axes" in fix for fix in anchor["fixes"]), anchor["fixes"]
    assert report.changes["up_determined_by"] == "tryon-geometry"
    assert np.allclose(asset.world_geometry()[0], reference, atol=1e-6)
    assert anchor["problems"] == []
    # The report's rotation and translation are still the whole correction.
    correction = np.eye(4)
    correction[:3, :3] = np.array(report.changes["rotation"]) * report.changes["scale_to_m"]
    correction[:3, 3] = report.changes["translation_m"]
    before = moved(sample("glasses"), turn).world_geometry()[0]
    assert np.allclose(before @ correction[:3, :3].T + correction[:3, 3], reference, atol=1e-6)


def test_the_merchants_axes_win_and_the_turn_is_reported():
    asset = moved(sample("glasses"), rotation("y", 90))
    anchor = normalized(asset, "glasses", up="+Y", front="+Z")
    # (The anchor rules assume the spec's axes: in other axes the origin and sizes are reported too.)
    assert anchor["problems"][0]["code"] == "axis"
    assert "the merchant's axes are kept" in anchor["problems"][0]["message"]
    assert not any("turned" in fix for fix in anchor["fixes"])


def test_misnamed_temples_are_named_by_their_side():
    asset = sample("glasses")
    names = by_name(asset)
    asset.nodes[names["TempleL"]].name, asset.nodes[names["TempleR"]].name = "TempleR", "TempleL"  # swapped
    findings = check_tryon(asset, "glasses")
    assert sorted((f.code, f.node) for f in findings) == [("wrong_side", "TempleL"), ("wrong_side", "TempleR")]
    anchor = normalized(asset, "glasses")
    assert anchor["problems"] == []
    names = by_name(asset)
    assert dict(asset.walk())[names["TempleL"]][0, 3] > 0 > dict(asset.walk())[names["TempleR"]][0, 3]

    asset = sample("glasses")
    names = by_name(asset)
    asset.nodes[names["TempleL"]].name, asset.nodes[names["TempleR"]].name = "arm.001", "arm.002"
    asset.nodes[names["Frame"]].name = "Object_3"
    anchor = normalized(asset, "glasses")
    assert anchor["problems"] == []
    assert {"node 'arm.001' renamed TempleL (by its geometry)", "node 'Object_3' renamed Frame (by its geometry)"} <= set(anchor["fixes"])
    assert {n.name for n in asset.nodes} >= {"Frame", "TempleL", "TempleR", "LensL", "LensR"}


def test_a_missing_lens_is_reported_precisely():
    asset = sample("glasses")
    root = asset.nodes[asset.roots[0]]
    root.children.remove(by_name(asset)["LensR"])
    anchor = normalized(asset, "glasses")
    assert anchor["missing_nodes"] == ["LensR"]
    assert [(p["code"], p["node"]) for p in anchor["problems"]] == [("missing_node", "LensR"), ("size", None)]
    assert anchor["problems"][1]["message"] == "could not be measured: lens_width_m, lens_height_m, bridge_width_m"
    check = check_tryon_spec(asset, _metadata_with(anchor, "glasses"))
    assert not check.passed and "missing nodes LensR" in check.message


def test_lenses_in_one_node_are_split_into_left_and_right():
    asset = sample("glasses")
    names = by_name(asset)
    left, right = asset.nodes[names["LensL"]], asset.nodes[names["LensR"]]
    lens = asset.meshes[left.mesh].primitives[0]
    both = lens.take_vertices(np.arange(lens.vertex_count))
    both.positions = np.concatenate([lens.positions + left.matrix[:3, 3], lens.positions + right.matrix[:3, 3]]).astype(np.float32)
    both.normals = np.concatenate([lens.normals, lens.normals])
    both.indices = np.concatenate([lens.indices, lens.indices + lens.vertex_count])
    asset.meshes.append(Mesh("Lenses", [both]))
    left.name, left.matrix, left.mesh = "Lenses", np.eye(4), len(asset.meshes) - 1
    asset.nodes[asset.roots[0]].children.remove(names["LensR"])
    reference = vertex_set(sample("glasses"))

    anchor = normalized(asset, "glasses")
    assert any("split into LensL and LensR" in fix for fix in anchor["fixes"])
    assert anchor["problems"] == []
    names = by_name(asset)
    worlds = dict(asset.walk())
    for name, sign in (("LensL", 1), ("LensR", -1)):
        node = asset.nodes[names[name]]
        x = asset.meshes[node.mesh].primitives[0].positions[:, 0] + worlds[names[name]][0, 3]
        assert (np.sign(x) == sign).all()
    assert vertex_set(asset) == reference


def test_a_turned_ring_off_its_centre_is_fixed_and_measured():
    turn = rotation("y", 90) @ rotation("x", 180)
    turn[:3, 3] = [0.004, 0.02, -0.003]
    asset = moved(sample("ring"), turn)
    anchor = normalized(asset, "ring")
    assert anchor["problems"] == []
    assert any("the loop goes around X" in fix for fix in anchor["fixes"]) and any("origin moved" in fix for fix in anchor["fixes"])
    assert anchor["sizes_m"]["inner_diameter_m"] == pytest.approx(0.0173, abs=0.0002)
    # Back in the spec's axes; which way +Z points along the finger is free for a ring symmetric about it.
    assert vertex_set(asset) == vertex_set(sample("ring"))


def test_a_turned_watch_and_an_upside_down_hat_are_turned_back():
    for category, turn in (("watch", rotation("z", 90)), ("hat", rotation("x", 180)), ("necklace", rotation("x", 90))):
        asset = moved(sample(category), turn)
        anchor = normalized(asset, category)
        assert anchor["problems"] == [], (category, anchor["problems"])
        assert np.allclose(asset.world_geometry()[0], sample(category).world_geometry()[0], atol=1e-6), category


def test_earring_nodes_get_their_hook_points_as_origins():
    asset = sample("earrings")
    names = by_name(asset)
    # As an exporter with the pivot at the pearl's bottom writes it: the mesh moved up, the nodes down.
    for prim in asset.meshes[asset.nodes[names["EarringL"]].mesh].primitives:
        prim.positions = prim.positions + np.float32([0, 0.0314, 0.0004])
    for name in ("EarringL", "EarringR"):
        asset.nodes[names[name]].matrix[:3, 3] -= [0, 0.0314, 0.0004]
    reference = sample("earrings").world_geometry()[0]
    assert {f.code for f in check_tryon(asset, "earrings")} == {"node_origin"}
    anchor = normalized(asset, "earrings")
    assert any("node origins moved" in fix for fix in anchor["fixes"])
    assert anchor["problems"] == []
    assert np.allclose(asset.world_geometry()[0], reference, atol=1e-6)
    worlds = dict(asset.walk())
    assert np.allclose(worlds[names["EarringL"]][:3, 3], [0.015, 0, 0], atol=1e-6)
    assert len({asset.nodes[names[n]].mesh for n in ("EarringL", "EarringR")}) == 1  # still one shared mesh


def test_lipstick_shades_per_variant():
    asset = sample("lipstick")
    bullet = asset.nodes[by_name(asset)["Bullet"]]
    asset.materials.append({"name": "Nude", "pbrMetallicRoughness": {"baseColorFactor": [0.45, 0.22, 0.16, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.7}})
    asset.variants = ["Red", "Nude"]
    prim = asset.meshes[bullet.mesh].primitives[0]
    prim.variant_mappings = [{"material": prim.material, "variants": [0]}, {"material": len(asset.materials) - 1, "variants": [1]}]
    bullet.name = "Mesh.002"
    anchor = normalized(asset, "lipstick")
    assert anchor["problems"] == [] and anchor["point_m"] == (0.0, 0.0, 0.0)
    assert [(s["variant"], s["finish"]) for s in anchor["shades"]] == [(None, "satin"), ("Red", "satin"), ("Nude", "matte")]
    assert "node 'Mesh.002' renamed Bullet (by its geometry)" in anchor["fixes"]


def test_a_shapeless_tryon_model_is_reported_not_guessed():
    import trimesh

    box = trimesh.creation.box(extents=[0.05, 0.03, 0.02])
    from asset_pipeline.asset import single_mesh_asset

    asset = single_mesh_asset(box.vertices, box.faces, name="Thing")
    anchor = normalized(asset, "ring")
    codes = {p["code"] for p in anchor["problems"]}
    assert "anchor" in codes and "missing_node" in codes
    assert anchor["missing_nodes"] == ["Band"]
    assert inspect(asset, "ring").turn is None


def _metadata_with(anchor: dict, category: str):
    from .test_checks import make_metadata

    metadata = make_metadata(Asset(nodes=[Node("empty")], roots=[0]), category=category)
    metadata.anchor = Anchor(**anchor)
    return metadata


# ---- the head occluder -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def occluder(tmp_path_factory) -> bytes:
    from immersive.tryon.models import ModelMissing
    from samples import head_occluder

    try:
        return head_occluder.generate(tmp_path_factory.mktemp("occluder"))
    except ModelMissing as exc:
        pytest.skip(f"face model not installed: {exc}")


def test_the_head_occluder_regenerates_identically(occluder):
    assert (SAMPLES / "head_occluder.glb").read_bytes() == occluder, "run python -m samples.head_occluder"
    assert spec_document()["head_occluder"] == "samples/head_occluder.glb"


def test_the_head_occluder_is_a_closed_head_on_the_canonical_face(occluder):
    import trimesh
    import trimesh.proximity

    from immersive.tryon.models import canonical_face_model

    asset = aio.read(occluder, "head_occluder.glb")
    meshes = {}
    for index, mesh, world in asset.mesh_instances():
        assert np.allclose(world, np.eye(4))  # in the face frame as it is
        prim = mesh.primitives[0]
        meshes[asset.nodes[index].name] = trimesh.Trimesh(prim.positions, prim.indices, process=False)
    assert set(meshes) == {"Head", "Neck"}
    for name, mesh in meshes.items():
        assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0, name
    head = meshes["Head"]
    lo, hi = head.bounds
    assert 0.145 <= hi[0] - lo[0] <= 0.16  # head breadth
    assert 0.19 <= hi[2] - lo[2] <= 0.21  # nose tip to the back of the head
    assert 0.22 <= hi[1] - lo[1] <= 0.24  # chin to the top of the head
    face = canonical_face_model().vertices_m
    outside = -trimesh.proximity.signed_distance(head, face)  # how far each landmark is outside the occluder
    # 2 mm in, give or take the grid's 5 mm steps over creases (lips, under the chin).
    assert 0.0015 <= np.median(outside) <= 0.0025 and np.percentile(outside, 90) <= 0.003
    assert -0.002 <= outside.min() and outside.max() <= 0.007
    assert meshes["Neck"].contains([[0.0, -0.15, -0.045]])[0] and not head.contains([[0.0, 0.0, 0.09]])[0]
