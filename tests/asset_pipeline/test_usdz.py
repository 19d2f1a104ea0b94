"""USDZ writer: geometry, hierarchy, materials, textures and variants survive into a package that USD's own
validators (pxr.UsdValidation) and the ARKit rules accept; checked by re-opening the package with USD."""

from __future__ import annotations

import io
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from asset_pipeline.asset import Asset, Mesh, Node, Primitive, Texture, single_mesh_asset
from asset_pipeline.errors import InvalidGeometryError
from asset_pipeline.io.usdz import VARIANT_SET, _zip_usdz, validate_usdz, write_usdz
from tests.conftest import scan_path

pxr = pytest.importorskip("pxr")
from pxr import Usd, UsdGeom, UsdShade  # noqa: E402

CUBE_CORNERS = np.array(
    [[x, y, z] for x in (-0.5, 0.5) for y in (0.0, 1.0) for z in (-0.5, 0.5)], dtype=np.float32
)
CUBE_FACES = np.array(
    [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]],
    dtype=np.uint32,
)


# ---- helpers -------------------------------------------------------------------------------

def open_stage(data: bytes, tmp_path: Path, name: str = "model.usdz"):
    path = tmp_path / name
    path.write_bytes(data)
    stage = Usd.Stage.Open(str(path))
    assert stage is not None
    return stage


def meshes(stage) -> list:
    return [p for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]


def surface_of(mesh_prim):
    material = UsdShade.MaterialBindingAPI(mesh_prim).ComputeBoundMaterial()[0]
    assert material, f"{mesh_prim.GetPath()} has no material"
    source = material.GetSurfaceOutput().GetConnectedSources()[0][0].source
    return material, UsdShade.Shader(source.GetPrim())


def connected_texture(surface, input_name: str):
    """(UsdUVTexture shader, output channel) feeding `input_name` of a UsdPreviewSurface."""
    info = surface.GetInput(input_name).GetConnectedSources()[0][0]
    return UsdShade.Shader(info.source.GetPrim()), str(info.sourceName)


def image_bytes(size: tuple[int, int], fmt: str, color=(200, 30, 30, 255), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color[: len(mode)]).save(out, format=fmt)
    return out.getvalue()


def quad_asset(texture: Texture, material: dict | None = None) -> Asset:
    positions = np.array([[-0.5, 0, 0], [0.5, 0, 0], [0.5, 1, 0], [-0.5, 1, 0]], dtype=np.float32)
    uvs = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], dtype=np.float32)  # glTF: v = 0 at the image top
    normals = np.tile([0, 0, 1], (4, 1)).astype(np.float32)
    material = material or {"name": "label", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicFactor": 0}}
    asset = single_mesh_asset(positions, [[0, 1, 2], [0, 2, 3]], name="quad", material=material, normals=normals, uvs=[uvs])
    asset.textures.append(texture)
    return asset


def read_glb_scan(name: str) -> Asset:
    try:
        from asset_pipeline.io import read_path
        import asset_pipeline.io.gltf  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the glTF reader (asset_pipeline/io/gltf.py) is not importable yet: {exc}")
    return read_path(scan_path(name))


# ---- geometry, units, layout --------------------------------------------------------------

def test_coloured_cube_is_valid_with_units_colours_and_flat_normals(tmp_path):
    red = np.tile([1.0, 0.0, 0.0, 1.0], (8, 1)).astype(np.float32)
    asset = single_mesh_asset(CUBE_CORNERS, CUBE_FACES, name="cube", colors=red)
    data = write_usdz(asset)

    assert validate_usdz(data) == []
    stage = open_stage(data, tmp_path)
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    assert stage.GetDefaultPrim().GetPath() == "/Root"
    (mesh_prim,) = meshes(stage)
    mesh = UsdGeom.Mesh(mesh_prim)
    assert list(mesh.GetFaceVertexCountsAttr().Get()) == [3] * 12
    assert np.array_equal(np.asarray(mesh.GetFaceVertexIndicesAttr().Get()), CUBE_FACES.ravel())
    assert mesh.GetSubdivisionSchemeAttr().Get() == UsdGeom.Tokens.none
    # No normals in the asset: glTF shades it flat, so one normal per face corner.
    assert mesh.GetNormalsInterpolation() == UsdGeom.Tokens.faceVarying
    normals = np.asarray(mesh.GetNormalsAttr().Get())
    assert normals.shape == (36, 3) and np.allclose(np.abs(normals).max(axis=1), 1.0)
    colors = np.asarray(mesh.GetDisplayColorPrimvar().Get())
    assert colors.shape == (8, 3) and np.allclose(colors, [1, 0, 0])
    # The vertex colours drive the material (glTF COLOR_0 x baseColorFactor).
    _, surface = surface_of(mesh_prim)
    reader = UsdShade.Shader(surface.GetInput("diffuseColor").GetConnectedSources()[0][0].source.GetPrim())
    assert reader.GetIdAttr().Get() == "UsdPrimvarReader_float3"
    assert reader.GetInput("varname").Get() == "displayColor"


def test_package_layout_follows_the_usdz_spec():
    asset = quad_asset(Texture(data=image_bytes((64, 64), "PNG"), mime_type="image/png", name="label.png"))
    data = write_usdz(asset)
    archive = zipfile.ZipFile(io.BytesIO(data))
    infos = archive.infolist()
    assert infos[0].filename == "model.usdc"
    assert [i.filename for i in infos[1:]] == ["textures/label.png"]
    for info in infos:
        assert info.compress_type == zipfile.ZIP_STORED
        name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
        data_offset = info.header_offset + 30 + name_len + extra_len
        assert data_offset % 64 == 0, f"{info.filename} data starts at {data_offset}"
    assert write_usdz(asset) == data  # deterministic: same asset, same bytes


def test_node_hierarchy_names_and_transforms_survive(tmp_path):
    cube = Primitive(positions=CUBE_CORNERS.copy(), indices=CUBE_FACES.copy())
    offset = np.eye(4)
    offset[:3, 3] = [2.0, 0.0, 0.0]
    turn = np.eye(4)
    turn[:3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]  # 90 degrees about +Y
    turn[:3, 3] = [0.0, 1.0, 0.0]
    asset = Asset(
        nodes=[
            Node(name="Chair Frame", matrix=offset, children=[1, 2]),
            Node(name="seat-1", matrix=turn, mesh=0),
            Node(name="seat-1", mesh=0),  # same name twice: must stay two distinct prims
        ],
        meshes=[Mesh(name="cushion", primitives=[cube])],
        roots=[0],
    )
    data = write_usdz(asset)
    assert validate_usdz(data) == []
    stage = open_stage(data, tmp_path)

    frame = stage.GetPrimAtPath("/Root/Chair_Frame")
    assert frame.IsA(UsdGeom.Xform)
    children = [c.GetName() for c in frame.GetChildren()]
    assert children == ["seat_1", "seat_1_1"]
    assert len(meshes(stage)) == 2
    world = UsdGeom.Xformable(stage.GetPrimAtPath("/Root/Chair_Frame/seat_1")).ComputeLocalToWorldTransform(Usd.TimeCode.Default())
    lo, hi = asset.bounds()
    rebase = np.eye(4)  # the package stands on its bottom centre (the asset's origin is elsewhere here)
    rebase[:3, 3] = [-(lo[0] + hi[0]) / 2, -lo[1], -(lo[2] + hi[2]) / 2]
    expected = rebase @ offset @ turn
    assert np.allclose(np.array(world).T, expected)  # USD matrices are row-vector, glTF column-vector
    box = UsdGeom.BBoxCache(Usd.TimeCode.Default(), [UsdGeom.Tokens.default_]).ComputeWorldBound(stage.GetDefaultPrim())
    rng = box.ComputeAlignedRange()
    assert np.allclose([*rng.GetMin(), *rng.GetMax()], (asset.bounds() + rebase[:3, 3]).ravel(), atol=1e-6)


def test_anchor_origin_is_rebased_to_the_bottom_centre_for_quick_look(tmp_path):
    # A try-on item whose origin is its anchor (a necklace's neck centre, 5 cm above its lowest point):
    # Quick Look stands models on their origin, so the package is re-based; a bottom-centred model is not moved.
    hanging = CUBE_CORNERS * 0.1 + np.array([0.01, -0.05, 0.02], dtype=np.float32)
    for positions, moved in ((hanging, True), (CUBE_CORNERS.copy(), False)):
        stage = open_stage(write_usdz(single_mesh_asset(positions, CUBE_FACES.copy())), tmp_path, f"model-{moved}.usdz")
        root = UsdGeom.Xformable(stage.GetDefaultPrim())
        assert bool(root.GetOrderedXformOps()) is moved
        rng = UsdGeom.BBoxCache(Usd.TimeCode.Default(), [UsdGeom.Tokens.default_]).ComputeWorldBound(stage.GetDefaultPrim()).ComputeAlignedRange()
        lo, hi = np.array(rng.GetMin()), np.array(rng.GetMax())
        assert np.allclose([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2], 0.0, atol=1e-6)


def test_empty_asset_is_refused():
    with pytest.raises(InvalidGeometryError):
        write_usdz(Asset(nodes=[Node(name="empty")], roots=[0]))


# ---- textures ------------------------------------------------------------------------------

def test_webp_texture_uses_its_png_fallback_and_st_is_flipped(tmp_path):
    fallback = image_bytes((256, 128), "PNG", (10, 200, 10, 255))
    texture = Texture(
        data=image_bytes((256, 128), "WEBP", (10, 200, 10, 255)),
        mime_type="image/webp",
        name="label.webp",
        fallback=fallback,
        fallback_mime_type="image/png",
    )
    data = write_usdz(quad_asset(texture))
    assert validate_usdz(data) == []
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.read("textures/label.png") == fallback  # kept byte for byte, no second encode
    assert not [n for n in archive.namelist() if n.endswith(".webp")]

    stage = open_stage(data, tmp_path)
    (mesh_prim,) = meshes(stage)
    st = np.asarray(UsdGeom.PrimvarsAPI(mesh_prim).GetPrimvar("st").Get())
    assert np.allclose(st, [[0, 0], [1, 0], [1, 1], [0, 1]])  # glTF v=1 (image bottom) -> USD t=0
    _, surface = surface_of(mesh_prim)
    tex, channel = connected_texture(surface, "diffuseColor")
    assert channel == "rgb"
    assert tex.GetInput("file").Get().path == "textures/label.png"
    assert tex.GetInput("sourceColorSpace").Get() == "sRGB"


def test_webp_without_fallback_is_reencoded_and_capped_to_power_of_two():
    texture = Texture(data=image_bytes((3000, 1500), "WEBP"), mime_type="image/webp", name="big")
    data = write_usdz(quad_asset(texture))
    assert validate_usdz(data) == []
    archive = zipfile.ZipFile(io.BytesIO(data))
    (name,) = [n for n in archive.namelist() if n.startswith("textures/")]
    assert name.endswith(".jpg")  # opaque photo-like data: JPEG
    assert Image.open(io.BytesIO(archive.read(name))).size == (2048, 1024)

    small = zipfile.ZipFile(io.BytesIO(write_usdz(quad_asset(texture), max_texture_size=512)))
    (name,) = [n for n in small.namelist() if n.startswith("textures/")]
    assert Image.open(io.BytesIO(small.read(name))).size == (512, 256)


def test_alpha_modes_map_to_opacity_and_threshold(tmp_path):
    png_rgba = Texture(data=image_bytes((64, 64), "PNG", (255, 255, 255, 128), mode="RGBA"), mime_type="image/png")
    blend = {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}, "alphaMode": "BLEND"}
    stage = open_stage(write_usdz(quad_asset(png_rgba, blend)), tmp_path, "blend.usdz")
    _, surface = surface_of(meshes(stage)[0])
    tex, channel = connected_texture(surface, "opacity")
    assert channel == "a" and tex.GetIdAttr().Get() == "UsdUVTexture"
    assert not surface.GetInput("opacityThreshold")

    mask = {"pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 0.25]}, "alphaMode": "MASK", "alphaCutoff": 0.3}
    data = write_usdz(quad_asset(png_rgba, mask))
    assert validate_usdz(data) == []
    stage = open_stage(data, tmp_path, "mask.usdz")
    _, surface = surface_of(meshes(stage)[0])
    assert surface.GetInput("opacity").Get() == pytest.approx(0.25)
    assert surface.GetInput("opacityThreshold").Get() == pytest.approx(0.3)


def test_pbr_maps_channels_scale_bias_and_colour_spaces(tmp_path):
    textures = [
        Texture(data=image_bytes((64, 64), "PNG", (255, 128, 64, 255)), mime_type="image/png", name="mr.png"),
        Texture(data=image_bytes((64, 64), "PNG", (200, 128, 255, 255)), mime_type="image/png", name="normal.png"),
        Texture(data=image_bytes((64, 64), "JPEG", (128, 128, 128, 255)), mime_type="image/jpeg", name="ao.jpg"),
    ]
    material = {
        "pbrMetallicRoughness": {"metallicFactor": 0.5, "roughnessFactor": 0.8, "metallicRoughnessTexture": {"index": 0}},
        "normalTexture": {"index": 1, "scale": 0.5},
        "occlusionTexture": {"index": 2, "strength": 0.6},
        "emissiveFactor": [1.0, 0.5, 0.0],
        "extensions": {"KHR_materials_emissive_strength": {"emissiveStrength": 2.0}},
    }
    asset = quad_asset(textures[0], material)
    asset.textures = textures
    data = write_usdz(asset)
    assert validate_usdz(data) == []  # includes usdShade's NormalMapTextureValidator
    stage = open_stage(data, tmp_path)
    _, surface = surface_of(meshes(stage)[0])

    metal, channel = connected_texture(surface, "metallic")
    assert channel == "b" and tuple(metal.GetInput("scale").Get()) == pytest.approx((1.0, 0.8, 0.5, 1.0))
    rough, channel = connected_texture(surface, "roughness")
    assert channel == "g" and rough.GetPath() == metal.GetPath()
    assert metal.GetInput("sourceColorSpace").Get() == "raw"

    normal, channel = connected_texture(surface, "normal")
    assert channel == "rgb"
    assert tuple(normal.GetInput("scale").Get()) == (2, 2, 2, 1)
    assert tuple(normal.GetInput("bias").Get()) == (-1, -1, -1, 0)
    assert normal.GetInput("sourceColorSpace").Get() == "raw"
    # The glTF normal scale (0.5) is baked into the pixels: x and y halved towards 0, then renormalized.
    baked = np.asarray(Image.open(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read(normal.GetInput("file").Get().path))))
    n = np.array([200, 128, 255]) / 255 * 2 - 1
    n[:2] *= 0.5
    n /= np.linalg.norm(n)
    assert np.allclose(baked[0, 0, :3], np.rint((n * 0.5 + 0.5) * 255), atol=1)

    occlusion, channel = connected_texture(surface, "occlusion")
    assert channel == "r"
    assert tuple(occlusion.GetInput("scale").Get()) == pytest.approx((0.6, 0.6, 0.6, 1.0))
    assert tuple(occlusion.GetInput("bias").Get()) == pytest.approx((0.4, 0.4, 0.4, 0.0))
    assert tuple(surface.GetInput("emissiveColor").Get()) == pytest.approx((2.0, 1.0, 0.0))


def test_texture_transform_matches_gltf_after_the_v_flip(tmp_path):
    transform = {"offset": [0.3, -0.2], "rotation": 0.7, "scale": [2.0, 3.0]}
    material = {"pbrMetallicRoughness": {"baseColorTexture": {"index": 0, "extensions": {"KHR_texture_transform": transform}}}}
    texture = Texture(data=image_bytes((64, 64), "PNG"), mime_type="image/png")
    stage = open_stage(write_usdz(quad_asset(texture, material)), tmp_path)
    _, surface = surface_of(meshes(stage)[0])
    tex, _ = connected_texture(surface, "diffuseColor")
    node = UsdShade.Shader(tex.GetInput("st").GetConnectedSources()[0][0].source.GetPrim())
    assert node.GetIdAttr().Get() == "UsdTransform2d"
    rotation = math.radians(node.GetInput("rotation").Get())
    scale = np.array(node.GetInput("scale").Get())
    translation = np.array(node.GetInput("translation").Get())

    c, s = math.cos(0.7), math.sin(0.7)
    for uv in np.random.default_rng(1).random((20, 2)):
        # glTF: uv' = T R S uv, R = [[c, s], [-s, c]], in top-left-origin uv space.
        gltf = np.array([[c, s], [-s, c]]) @ (uv * [2.0, 3.0]) + [0.3, -0.2]
        # USD: Transform2d on the flipped st, CCW rotation, then flip back to compare.
        st = np.array([uv[0], 1 - uv[1]])
        cr, sr = math.cos(rotation), math.sin(rotation)
        usd = np.array([[cr, -sr], [sr, cr]]) @ (st * scale) + translation
        assert np.allclose([usd[0], 1 - usd[1]], gltf, atol=1e-5)


# ---- variants ------------------------------------------------------------------------------

def test_material_variants_become_a_variant_set(tmp_path):
    red = {"name": "Red Leather", "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.1, 0.1, 1], "metallicFactor": 0}}
    blue = {"name": "Blue Velvet", "pbrMetallicRoughness": {"baseColorFactor": [0.1, 0.1, 0.8, 1], "metallicFactor": 0}}
    wood = {"name": "wood", "pbrMetallicRoughness": {"baseColorFactor": [0.4, 0.2, 0.1, 1], "metallicFactor": 0}}
    seat = Primitive(
        positions=CUBE_CORNERS.copy(),
        indices=CUBE_FACES.copy(),
        material=0,
        variant_mappings=[{"material": 0, "variants": [0]}, {"material": 1, "variants": [1]}],
    )
    legs = Primitive(positions=CUBE_CORNERS * 0.2, indices=CUBE_FACES.copy(), material=2)
    asset = Asset(
        nodes=[Node(name="chair", mesh=0)],
        meshes=[Mesh(name="chair", primitives=[seat, legs])],
        materials=[red, blue, wood],
        roots=[0],
        variants=["Red", "Blue velvet"],
    )
    data = write_usdz(asset)
    assert validate_usdz(data) == []
    stage = open_stage(data, tmp_path)
    variant_set = stage.GetDefaultPrim().GetVariantSets().GetVariantSet(VARIANT_SET)
    assert variant_set.GetVariantNames() == ["Blue_velvet", "Red"]
    assert variant_set.GetVariantSelection() == "Red"  # the variant that matches the glTF default materials
    assert stage.GetDefaultPrim().GetCustomDataByKey("materialVariantNames") == {"Red": "Red", "Blue_velvet": "Blue velvet"}
    seat_prim, legs_prim = meshes(stage)

    def bound(prim) -> str:
        return surface_of(prim)[0].GetPrim().GetName()

    assert (bound(seat_prim), bound(legs_prim)) == ("Red_Leather", "wood")
    variant_set.SetVariantSelection("Blue_velvet")
    assert (bound(seat_prim), bound(legs_prim)) == ("Blue_Velvet", "wood")
    _, surface = surface_of(seat_prim)
    assert tuple(surface.GetInput("diffuseColor").Get()) == pytest.approx((0.1, 0.1, 0.8))


# ---- validation ----------------------------------------------------------------------------

def test_validation_reports_real_problems(tmp_path):
    asset = single_mesh_asset(CUBE_CORNERS, CUBE_FACES)
    good = write_usdz(asset)
    archive = zipfile.ZipFile(io.BytesIO(good))

    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("model.usdc", archive.read("model.usdc"))
    assert any("compressed" in e for e in validate_usdz(deflated.getvalue()))

    # A stage without metersPerUnit/upAxis, packaged correctly: usdGeom's StageMetadataChecker objects.
    bare = Usd.Stage.CreateInMemory()
    bare.SetDefaultPrim(UsdGeom.Xform.Define(bare, "/Root").GetPrim())
    UsdGeom.Cube.Define(bare, "/Root/cube")
    layer_path = tmp_path / "bare.usdc"
    bare.GetRootLayer().Export(str(layer_path))
    errors = validate_usdz(_zip_usdz([("model.usdc", layer_path.read_bytes())]))
    assert any("StageMetadataChecker" in e for e in errors), errors

    assert validate_usdz(b"not a zip") == ["package: not a zip archive (File is not a zip file)"]


# ---- real product models -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["SheenChair.glb", "GlamVelvetSofa.glb", "DamagedHelmet.glb"])
def test_real_models_convert_to_valid_usdz(name, tmp_path):
    asset = read_glb_scan(name)
    data = write_usdz(asset)
    assert validate_usdz(data) == []

    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist()[0] == "model.usdc"
    for info in archive.infolist()[1:]:
        assert Path(info.filename).suffix in (".png", ".jpg")
        width, height = Image.open(io.BytesIO(archive.read(info))).size
        assert width <= 2048 and height <= 2048
        assert width & (width - 1) == 0 and height & (height - 1) == 0

    stage = open_stage(data, tmp_path)
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    drawn = sum(1 for _, mesh, _ in asset.mesh_instances() for p in mesh.primitives if p.triangle_count)
    assert len(meshes(stage)) == drawn
    triangles = sum(len(UsdGeom.Mesh(p).GetFaceVertexCountsAttr().Get()) for p in meshes(stage))
    assert triangles == asset.triangle_count
    box = UsdGeom.BBoxCache(Usd.TimeCode.Default(), [UsdGeom.Tokens.default_]).ComputeWorldBound(stage.GetDefaultPrim())
    size = np.array(box.ComputeAlignedRange().GetSize())
    assert np.allclose(size, asset.dimensions(), rtol=0.01)
    for prim in meshes(stage):
        material, surface = surface_of(prim)
        assert surface.GetIdAttr().Get() == "UsdPreviewSurface"
    if asset.variants:
        variant_set = stage.GetDefaultPrim().GetVariantSets().GetVariantSet(VARIANT_SET)
        assert len(variant_set.GetVariantNames()) == len(asset.variants)
        # Every variant binds a material to every mesh and at least one variant changes something.
        seen = set()
        for variant in variant_set.GetVariantNames():
            variant_set.SetVariantSelection(variant)
            seen.add(tuple(str(surface_of(p)[0].GetPath()) for p in meshes(stage)))
        assert len(seen) == len(asset.variants)


@pytest.mark.parametrize("placement, alignment", [("wall", "vertical"), ("floor", "horizontal"), ("table", "horizontal"), ("face", None)])
def test_placement_anchors_quick_look_to_the_right_plane(placement, alignment, tmp_path):
    data = write_usdz(single_mesh_asset(CUBE_CORNERS.copy(), CUBE_FACES.copy()), placement=placement)
    assert validate_usdz(data) == []
    stage = open_stage(data, tmp_path)
    root = stage.GetDefaultPrim()
    anchoring = root.GetAttribute("preliminary:anchoring:type")
    if alignment is None:
        assert not anchoring.IsValid() and "Preliminary_AnchoringAPI" not in root.GetAppliedSchemas()
        return
    assert "Preliminary_AnchoringAPI" in root.GetPrimTypeInfo().GetAppliedAPISchemas()
    assert anchoring.Get() == "plane"
    assert root.GetAttribute("preliminary:planeAnchoring:alignment").Get() == alignment
