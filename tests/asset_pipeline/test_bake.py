"""Vertex-colour baking: the texture sampled at the new UVs must give back the vertex colours."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import trimesh
from PIL import Image
from pydantic import ValidationError

from asset_pipeline.asset import Asset, Mesh, Node, Primitive, Texture, single_mesh_asset
from asset_pipeline.stages.bake import BakeOptions, bake, rasterize_vertex_colors, sample_bilinear

from .scan_assets import load_scan


def srgb8(linear: np.ndarray) -> np.ndarray:
    """Reference linear -> sRGB (0-255 float), written out independently of the stage."""
    x = np.clip(linear, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055) * 255


def colour_field(points: np.ndarray) -> np.ndarray:
    """A smooth linear RGBA colour per point (opaque)."""
    rgb = 0.5 + 0.5 * np.sin(points * np.array([23.0, 31.0, 17.0]))
    return np.concatenate([rgb, np.ones((len(points), 1))], axis=1).astype(np.float32)


def decode(texture: Texture) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(texture.data)))


def coloured_sphere(subdivisions: int = 4) -> tuple[Asset, np.ndarray]:
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.1)
    colors = colour_field(sphere.vertices)
    return single_mesh_asset(sphere.vertices, sphere.faces, colors=colors, normals=sphere.vertex_normals.astype(np.float32)), colors


def test_vertex_coloured_sphere_is_baked_and_the_texture_gives_the_colours_back():
    asset, _ = coloured_sphere()
    before = asset.meshes[0].primitives[0]
    report = bake(asset, BakeOptions())
    prim = asset.meshes[0].primitives[0]

    assert not report.skipped and report.changes["primitives_baked"] == 1
    assert prim.colors is None, "COLOR_0 must go, or glTF multiplies the colour in twice"
    assert len(prim.uvs) == 1 and prim.uvs[0].shape == (prim.vertex_count, 2)
    assert prim.uvs[0].min() >= 0 and prim.uvs[0].max() <= 1
    assert prim.triangle_count == before.triangle_count
    assert prim.vertex_count >= before.vertex_count  # seams duplicate vertices
    assert prim.normals is not None and len(prim.normals) == prim.vertex_count

    material = asset.materials[prim.material]
    ref = material["pbrMetallicRoughness"]["baseColorTexture"]
    texture = asset.textures[ref["index"]]
    assert texture.mime_type == "image/png"
    assert texture.sampler["wrapS"] == 33071  # an atlas clamps
    assert material["pbrMetallicRoughness"]["metallicFactor"] == 0.0
    pixels = decode(texture)
    assert pixels.shape == (1024, 1024, 3)  # opaque colours: no alpha channel

    # Independent check: the colour field at each new vertex's position, against the texture sampled there.
    expected = srgb8(colour_field(prim.positions.astype(np.float64))[:, :3])
    sampled = sample_bilinear(pixels, prim.uvs[0])
    rmse = np.sqrt(np.mean((sampled - expected) ** 2))
    assert rmse < 2.0, rmse
    assert report.changes["max_color_rmse"] < 2.0
    details = report.changes["primitives"][0]
    assert details["charts"] >= 1 and 0.3 < details["utilization"] <= 1
    assert details["atlas_size"] == [1024, 1024]

    # Interior of the surface, away from vertices: the centre of every triangle, interpolated in linear space.
    tri = prim.indices
    centre_uv = prim.uvs[0][tri].mean(axis=1)
    centre_expected = srgb8(colour_field(prim.positions[tri].mean(axis=1).astype(np.float64))[:, :3])
    centre_rmse = np.sqrt(np.mean((sample_bilinear(pixels, centre_uv) - centre_expected) ** 2))
    assert centre_rmse < 4.0, centre_rmse


def test_padding_keeps_a_downsampled_mip_close_to_the_vertex_colours():
    """Bleeding check: a 2x box-filtered mip must not pull background into the charts."""
    asset, _ = coloured_sphere()
    bake(asset, BakeOptions(texture_size=512, padding=4))
    prim = asset.meshes[0].primitives[0]
    pixels = decode(asset.textures[0]).astype(np.float64)
    mip = pixels.reshape(256, 2, 256, 2, 3).mean(axis=(1, 3))
    expected = srgb8(colour_field(prim.positions.astype(np.float64))[:, :3])
    rmse = np.sqrt(np.mean((sample_bilinear(mip, prim.uvs[0]) - expected) ** 2))
    assert rmse < 6.0, rmse
    assert not (pixels == 0).all(axis=2).any(), "unfilled pixels left black"


def test_alpha_in_vertex_colours_gives_an_rgba_texture():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    colors = colour_field(sphere.vertices)
    colors[:, 3] = np.clip(0.5 + 0.5 * sphere.vertices[:, 1], 0, 1)
    asset = single_mesh_asset(sphere.vertices, sphere.faces, colors=colors)
    bake(asset, BakeOptions(texture_size=256))
    prim = asset.meshes[0].primitives[0]
    pixels = decode(asset.textures[0])
    assert pixels.shape == (256, 256, 4)
    alpha = sample_bilinear(pixels, prim.uvs[0])[:, 3]
    expected = np.clip(0.5 + 0.5 * prim.positions[:, 1], 0, 1) * 255  # alpha is linear in glTF
    assert np.sqrt(np.mean((alpha - expected) ** 2)) < 3.0


def test_existing_uvs_are_kept_and_the_atlas_goes_to_a_new_set():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    old_uv = (sphere.vertices[:, :2] * 0.5 + 0.5).astype(np.float32)
    asset = single_mesh_asset(
        sphere.vertices,
        sphere.faces,
        colors=colour_field(sphere.vertices),
        uvs=[old_uv],
        material={"name": "m", "normalTexture": {"index": 0}, "pbrMetallicRoughness": {"roughnessFactor": 0.4}},
    )
    asset.textures.append(Texture(data=b"normal-map", mime_type="image/png"))
    bake(asset, BakeOptions(texture_size=256))
    prim = asset.meshes[0].primitives[0]
    assert len(prim.uvs) == 2
    # TEXCOORD_0 still maps each (remapped) vertex to the same place as before.
    assert np.allclose(prim.uvs[0], prim.positions[:, :2] * 0.5 + 0.5, atol=1e-6)
    material = asset.materials[prim.material]
    assert material["pbrMetallicRoughness"]["baseColorTexture"] == {"index": 1, "texCoord": 1}
    assert material["pbrMetallicRoughness"]["roughnessFactor"] == 0.4  # the material is updated, not replaced
    assert material["normalTexture"] == {"index": 0}


def test_shared_material_is_copied_so_other_primitives_keep_theirs():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    coloured = Primitive(
        positions=sphere.vertices.astype(np.float32),
        indices=sphere.faces.astype(np.uint32),
        colors=colour_field(sphere.vertices),
        material=0,
    )
    plain = Primitive(positions=sphere.vertices.astype(np.float32) + 3, indices=sphere.faces.astype(np.uint32), material=0)
    asset = Asset(
        nodes=[Node(name="n", mesh=0)],
        meshes=[Mesh(name="m", primitives=[coloured, plain])],
        materials=[{"name": "shared", "pbrMetallicRoughness": {"baseColorFactor": [1, 0.5, 0.5, 1]}}],
        roots=[0],
    )
    bake(asset, BakeOptions(texture_size=128))
    baked, other = asset.meshes[0].primitives
    assert other.material == 0 and "baseColorTexture" not in asset.materials[0]["pbrMetallicRoughness"]
    assert baked.material == 1
    assert asset.materials[1]["pbrMetallicRoughness"]["baseColorFactor"] == [1, 0.5, 0.5, 1]
    assert asset.materials[1]["pbrMetallicRoughness"]["baseColorTexture"]["index"] == 0


def test_primitives_that_need_no_bake_are_left_alone():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    textured = single_mesh_asset(
        sphere.vertices,
        sphere.faces,
        colors=colour_field(sphere.vertices),
        uvs=[np.zeros((len(sphere.vertices), 2), np.float32)],
        material={"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}},
    )
    report = bake(textured, BakeOptions())
    assert report.skipped and textured.meshes[0].primitives[0].colors is not None
    plain = single_mesh_asset(sphere.vertices, sphere.faces)
    assert bake(plain, BakeOptions()).skipped
    coloured = single_mesh_asset(sphere.vertices, sphere.faces, colors=colour_field(sphere.vertices))
    report = bake(coloured, BakeOptions(enabled=False))
    assert report.skipped and report.changes["reason"] == "disabled"
    assert coloured.meshes[0].primitives[0].colors is not None


def test_texture_size_must_be_a_power_of_two():
    with pytest.raises(ValidationError):
        BakeOptions(texture_size=1000)


def test_rasterizer_interpolates_a_single_triangle_exactly():
    uvs = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    faces = np.array([[0, 1, 2]], np.uint32)
    values = np.eye(3, dtype=np.float32)  # barycentric coordinates as colours
    image, covered = rasterize_vertex_colors(uvs, faces, values, 64)
    y, x = np.nonzero(covered)
    u, v = (x + 0.5) / 64, (y + 0.5) / 64
    inside = (u + v) <= 1 - 1e-6
    assert np.allclose(image[y[inside], x[inside], 1], u[inside], atol=1e-5)
    assert np.allclose(image[y[inside], x[inside], 2], v[inside], atol=1e-5)
    assert np.allclose(image[covered].sum(axis=1), 1.0, atol=1e-5)
    # Conservative: the pixel row straddling the hypotenuse is covered too.
    assert covered[0, 63] and covered[63, 0]


@pytest.mark.slow
def test_real_scan_bake_cost_and_colour_error():
    """The Stanford bunny (69k triangles, real scan topology) with a colour field: the cost of xatlas on a
    scan-sized mesh, measured."""
    asset = load_scan("stanford-bunny.obj")
    prim = asset.meshes[0].primitives[0]
    prim.colors = colour_field(prim.positions.astype(np.float64) * 20)
    start = time.perf_counter()
    report = bake(asset, BakeOptions())
    seconds = time.perf_counter() - start
    details = report.changes["primitives"][0]
    print(
        f"bunny bake: {details['triangles']} triangles, {seconds:.1f} s (xatlas {details['xatlas_ms'] / 1000:.1f} s, "
        f"raster {details['raster_ms'] / 1000:.1f} s), {details['charts']} charts, utilization "
        f"{details['utilization']:.2f}, colour RMSE {details['color_rmse']:.2f}"
    )
    assert details["triangles"] == prim.triangle_count
    assert details["color_rmse"] < 8.0


def test_small_triangles_in_metres_are_all_charted_and_zero_area_faces_dropped():
    """xatlas drops faces under an absolute area of FLT_EPSILON; a 1 cm sphere in metres must still be whole."""
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.01)  # triangles ~1e-7 m^2
    vertices = np.concatenate([sphere.vertices, [[0.0, 0.0, 0.0], [0.001, 0.0, 0.0], [0.002, 0.0, 0.0]]])
    faces = np.concatenate([sphere.faces, [[len(sphere.vertices), len(sphere.vertices) + 1, len(sphere.vertices) + 2]]])
    colors = colour_field(vertices * 10)
    asset = single_mesh_asset(vertices, faces, colors=colors)
    report = bake(asset, BakeOptions(texture_size=512))
    details = report.changes["primitives"][0]
    assert details["zero_area_faces_dropped"] == 1  # the collinear one, nothing else
    assert details["triangles_after"] == len(sphere.faces)
    assert details["color_rmse"] < 2.0


def test_reconstructed_point_cloud_colours_survive_into_the_texture():
    """reconstruct -> bake: a coloured sphere cloud's colour ends in the baked texture."""
    from asset_pipeline.stages.reconstruct import ReconstructOptions, reconstruct

    rng = np.random.default_rng(0)
    points = rng.normal(size=(6000, 3))
    points = points / np.linalg.norm(points, axis=1, keepdims=True) * 0.1
    asset = single_mesh_asset(points, None, colors=colour_field(points), mode="points")
    reconstruct(asset, ReconstructOptions(depth=7))
    report = bake(asset, BakeOptions(texture_size=512))
    prim = asset.meshes[0].primitives[0]
    assert report.changes["primitives_baked"] == 1 and prim.colors is None
    pixels = decode(asset.textures[0])
    expected = srgb8(colour_field(prim.positions.astype(np.float64))[:, :3])
    assert np.sqrt(np.mean((sample_bilinear(pixels, prim.uvs[0]) - expected) ** 2)) < 8.0
