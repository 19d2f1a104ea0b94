"""OBJ, PLY, STL and zip readers and safe image decoding: small generated files with exact counts, and
the real scans (bunny, armadillo, dragon, the DamagedHelmet glTF zip)."""

from __future__ import annotations

import io
import struct
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from asset_pipeline import io as aio
from asset_pipeline.errors import CorruptFileError, InvalidGeometryError, LimitExceededError
from asset_pipeline.images import header_size, open_image, sniff_image_mime, texture_from_bytes
from asset_pipeline.io.meshdata import split_corners, srgb_to_linear, strips_to_triangles
from asset_pipeline.limits import Limits
from tests.conftest import scan_path


# ---- helpers -----------------------------------------------------------------------------------------

def image_bytes(fmt: str, size=(8, 8), color=(200, 100, 50), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color if mode != "L" else color[0]).save(out, format=fmt)
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def only_prim(asset):
    prims = list(asset.primitives())
    assert len(prims) == 1
    return prims[0]


def face_set(prim) -> set[tuple]:
    """Triangles as sets of rounded corner positions: comparable across vertex orderings."""
    return {tuple(sorted(map(tuple, np.round(prim.positions[t], 5)))) for t in prim.indices}


# ---- OBJ ---------------------------------------------------------------------------------------------

CUBE_OBJ = b"""# a unit cube: 8 positions, 6 quads, per-face normals and UVs
mtllib cube.mtl
o Cube
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
v 1 1 1
v 0 1 1
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 -1
vn 0 0 1
vn 0 -1 0
vn 1 0 0
vn 0 1 0
vn -1 0 0
usemtl wood
f 1/1/1 4/4/1 3/3/1 2/2/1
f 5/1/2 6/2/2 7/3/2 8/4/2
f 1/1/3 2/2/3 6/3/3 5/4/3
usemtl metal
f 2/1/4 3/2/4 7/3/4 6/4/4
f 3/1/5 4/2/5 8/3/5 7/4/5
f -4/1/6 -8/2/6 -5/3/6 -1/4/6
"""

CUBE_MTL = b"""newmtl wood
Kd 0.8 0.6 0.4
Ns 360
map_Kd textures/wood.jpg
map_Bump -bm 0.5 textures/wood_normal.png
newmtl metal
Kd 0.5 0.5 0.5
Pr 0.3
Pm 1.0
d 0.75
"""


def cube_zip(extra: dict[str, bytes] | None = None) -> bytes:
    normal_map = image_bytes("PNG", color=(128, 128, 255))
    members = {
        "cube/cube.obj": CUBE_OBJ,
        "cube/cube.mtl": CUBE_MTL,
        "cube/textures/wood.jpg": image_bytes("JPEG"),
        "cube/textures/wood_normal.png": normal_map,
    }
    members.update(extra or {})
    return zip_of(members)


def test_obj_quads_mtl_and_textures_in_a_zip():
    asset = aio.read(cube_zip(), "cube.zip")
    assert asset.provenance.format == "zip:obj"
    assert [n.name for n in asset.nodes] == ["Cube"]
    assert asset.triangle_count == 12  # 6 quads -> 12 triangles
    prims = asset.meshes[0].primitives
    assert [p.triangle_count for p in prims] == [6, 6]  # one primitive per material
    # Per-face normals and UVs split the 8 corners of the cube: 4 vertices per face.
    assert [p.vertex_count for p in prims] == [12, 12]
    assert all(p.normals is not None and len(p.uvs) == 1 for p in prims)
    np.testing.assert_allclose(np.linalg.norm(prims[0].normals, axis=1), 1.0, rtol=1e-6)
    wood, metal = (asset.materials[p.material] for p in prims)
    assert wood["name"] == "wood" and metal["name"] == "metal"
    pbr = wood["pbrMetallicRoughness"]
    assert asset.textures[pbr["baseColorTexture"]["index"]].mime_type == "image/jpeg"
    assert pbr["baseColorFactor"] == [1.0, 1.0, 1.0, 1.0]  # the map carries the colour; Kd is noted
    assert any("Kd ignored" in n for n in asset.provenance.notes)
    assert pbr["metallicFactor"] == 0.0 and pbr["roughnessFactor"] == pytest.approx(1 - (360 / 1000) ** 0.5, abs=1e-4)
    assert wood["normalTexture"]["scale"] == 0.5
    assert asset.textures[wood["normalTexture"]["index"]].mime_type == "image/png"
    assert metal["pbrMetallicRoughness"]["baseColorFactor"] == [0.5, 0.5, 0.5, 0.75]
    assert metal["pbrMetallicRoughness"]["metallicFactor"] == 1.0
    assert metal["pbrMetallicRoughness"]["roughnessFactor"] == 0.3
    assert metal["alphaMode"] == "BLEND"
    assert len(asset.textures) == 2
    # Texture bytes are kept exactly as uploaded (no re-encode).
    with zipfile.ZipFile(io.BytesIO(cube_zip())) as archive:
        assert asset.textures[pbr["baseColorTexture"]["index"]].data == archive.read("cube/textures/wood.jpg")
    notes = " ".join(asset.provenance.notes)
    assert "6 quads" in notes and "fans" in notes


def test_obj_negative_indices_match_positive_ones():
    asset = aio.read(CUBE_OBJ, "cube.obj")  # the MTL is missing: noted, default materials by name
    positive = CUBE_OBJ.replace(b"f -4/1/6 -8/2/6 -5/3/6 -1/4/6", b"f 5/1/6 1/2/6 4/3/6 8/4/6")
    same = aio.read(positive, "cube.obj")
    assert face_set(asset.meshes[0].primitives[1]) == face_set(same.meshes[0].primitives[1])
    assert [m["name"] for m in asset.materials] == ["wood", "metal"]
    assert any("cube.mtl is missing" in n for n in asset.provenance.notes)


def test_obj_uv_v_axis_is_flipped_for_gltf():
    asset = aio.read(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0.25\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n", "t.obj")
    prim = only_prim(asset)
    by_position = {tuple(p): tuple(uv) for p, uv in zip(prim.positions, prim.uvs[0])}
    assert by_position[(0.0, 0.0, 0.0)] == (0.0, 0.75)
    assert by_position[(0.0, 1.0, 0.0)] == (0.0, 0.0)


def test_obj_vertex_forms_and_polygons():
    obj = b"""v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0.5 1.5 0
vn 0 0 1
f 1//1 2//1 3//1 5//1 4//1
f 1 2 3
"""
    asset = aio.read(obj, "pentagon.obj")
    assert asset.triangle_count == 4  # pentagon -> 3 triangles, plus one triangle
    notes = " ".join(asset.provenance.notes)
    assert "1 larger polygons" in notes
    # Corners with and without a normal in one primitive: normals cannot be partial in glTF.
    assert only_prim(asset).normals is None
    assert "without normals" in notes


def test_obj_vertex_colours_are_linearised():
    obj = b"v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0.5 0.5 0.5\nf 1 2 3\n"
    prim = only_prim(aio.read(obj, "c.obj"))
    by_position = {tuple(p): c for p, c in zip(prim.positions, prim.colors)}
    np.testing.assert_allclose(by_position[(0.0, 0.0, 0.0)], [1, 0, 0, 1])
    np.testing.assert_allclose(by_position[(0.0, 1.0, 0.0)], [0.2140411, 0.2140411, 0.2140411, 1], rtol=1e-5)
    # 0-255 values are recognised too
    prim255 = only_prim(aio.read(obj.replace(b" 1 0 0\n", b" 255 0 0\n").replace(b"0.5 0.5 0.5", b"128 128 128"), "c.obj"))
    assert prim255.colors.max() == pytest.approx(1.0)


def test_obj_objects_become_nodes_and_point_cloud_without_faces():
    obj = b"o Seat\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\no Leg\nv 0 0 1\nv 1 0 1\nv 0 1 1\nf 4 5 6\nf -3 -2 -1\n"
    asset = aio.read(obj, "chair.obj")
    assert [n.name for n in asset.nodes] == ["Seat", "Leg"]
    assert [m.primitives[0].triangle_count for m in asset.meshes] == [1, 2]
    cloud = aio.read(b"v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 1\nv 1 1 1 1 1 1\n", "scan.obj")
    prim = only_prim(cloud)
    assert prim.mode == "points" and prim.vertex_count == 4 and prim.colors.shape == (4, 4)
    assert cloud.is_point_cloud


def test_obj_text_quirks_crlf_tabs_comments_continuations_indentation():
    obj = b"# header\r\nv 0 0 0 # trailing comment\r\n\tv 1 0 0\r\n  v 0 1 0\r\nv 1 1 0\r\nf 1 2 \\\r\n 3\r\nf\t2 4 3\r\n"
    asset = aio.read(obj, "quirks.obj")
    assert asset.triangle_count == 2 and asset.vertex_count == 4


def test_obj_without_mtl_uses_a_lone_texture():
    obj = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n"
    png = image_bytes("PNG")
    asset = aio.read(zip_of({"scan/scan.obj": obj, "scan/scan_texture.png": png}), "scan.zip")
    pbr = asset.materials[only_prim(asset).material]["pbrMetallicRoughness"]
    assert asset.textures[pbr["baseColorTexture"]["index"]].data == png
    assert any("only image" in n and "scan_texture.png" in n for n in asset.provenance.notes)


def test_obj_missing_texture_is_a_note_not_a_crash():
    members = {"cube.obj": CUBE_OBJ, "cube.mtl": CUBE_MTL}  # no textures at all
    asset = aio.read(zip_of(members), "cube.zip")
    assert asset.textures == []
    notes = " ".join(asset.provenance.notes)
    assert "textures/wood.jpg named by the material library is missing" in notes
    assert "baseColorTexture" not in asset.materials[0]["pbrMetallicRoughness"]


def test_mtl_maps_height_map_opacity_pbr_maps_transform_and_tga():
    obj = b"mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nusemtl leaf\nf 1/1 2/2 3/3\n"
    mtl = b"""newmtl leaf
Kd 1 1 1
map_Kd -s 2 2 1 -o 0.5 0 0 C:\\Users\\artist\\leaf.tga
map_d leaf_alpha.png
map_Bump leaf_height.png
map_Pr rough.png
map_Pm metal.png
map_Ke glow.jpg
Ke 2 1 0
"""
    alpha = Image.new("L", (8, 8), 0)
    alpha.paste(255, (0, 0, 4, 8))  # half opaque, half cut out: a MASK
    alpha_png = io.BytesIO()
    alpha.save(alpha_png, format="PNG")
    resources = {
        "m.mtl": mtl,
        "leaf.tga": image_bytes("TGA", color=(20, 160, 40)),
        "leaf_alpha.png": alpha_png.getvalue(),
        "leaf_height.png": image_bytes("PNG", mode="L", color=(90, 90, 90)),
        "rough.png": image_bytes("PNG", mode="L", color=(64, 0, 0)),
        "metal.png": image_bytes("PNG", mode="L", color=(255, 0, 0)),
        "glow.jpg": image_bytes("JPEG"),
    }
    asset = aio.read(obj, "leaf.obj", resources=resources)
    mat = asset.materials[0]
    pbr = mat["pbrMetallicRoughness"]
    base = asset.textures[pbr["baseColorTexture"]["index"]]
    assert base.mime_type == "image/png"  # TGA converted; RGB + map_d combined into RGBA
    combined = Image.open(io.BytesIO(base.data))
    assert combined.mode == "RGBA" and combined.getpixel((0, 0)) == (20, 160, 40, 255) and combined.getpixel((7, 0))[3] == 0
    assert mat["alphaMode"] == "MASK" and mat["alphaCutoff"] == 0.5
    assert pbr["baseColorTexture"]["extensions"]["KHR_texture_transform"] == {"offset": [0.5, -1.0], "scale": [2.0, 2.0]}
    assert "normalTexture" not in mat  # a grey height map is not a normal map
    mr = Image.open(io.BytesIO(asset.textures[pbr["metallicRoughnessTexture"]["index"]].data))
    assert mr.getpixel((0, 0)) == (255, 64, 255)  # G roughness, B metalness
    assert pbr["metallicFactor"] == 1.0 and pbr["roughnessFactor"] == 1.0
    assert mat["emissiveFactor"] == [1.0, 0.5, 0.0]
    assert mat["extensions"]["KHR_materials_emissive_strength"] == {"emissiveStrength": 2.0}
    # Only textures a material refers to are kept: the base (combined), metal-rough and emissive maps.
    assert len(asset.textures) == 3
    notes = " ".join(asset.provenance.notes)
    assert "height map" in notes and "combined" in notes


def test_zip_skips_macosx_junk_and_reads_the_model():
    obj = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    data = zip_of({"__MACOSX/._model.obj": b"\x00\x05\x16\x07 junk", "model.obj": obj, ".DS_Store": b"Bud1", "notes/.hidden.obj": b"junk"})
    asset = aio.read(data, "upload.zip")
    assert asset.triangle_count == 1 and asset.provenance.format == "zip:obj"
    assert any("macOS/hidden" in n for n in asset.provenance.notes)


def test_zip_picks_preferred_then_largest_model_and_resolves_sibling_folders():
    small = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    large = small + b"v 0 0 1\nf 1 2 4\n"
    asset = aio.read(zip_of({"a.obj": small, "b.obj": large, "c.stl": b"solid x\nendsolid x\n"}), "two.zip")
    assert asset.triangle_count == 2
    assert any("b.obj" in n and "largest" in n for n in asset.provenance.notes)
    # A texture outside the model's folder, referenced with ../
    obj = b"mtllib ../materials/m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nusemtl a\nf 1/1 2/2 3/3\n"
    mtl = b"newmtl a\nmap_Kd ../textures/a.png\n"
    asset = aio.read(
        zip_of({"pkg/models/x.obj": obj, "pkg/materials/m.mtl": mtl, "pkg/textures/a.png": image_bytes("PNG")}), "pkg.zip"
    )
    assert len(asset.textures) == 1


# ---- PLY ---------------------------------------------------------------------------------------------

def ply_bytes(encoding: str, vertex_props, vertex_rows, faces=None, face_element="face", face_list="vertex_indices",
              texcoords=None, comments=()) -> bytes:
    """A PLY file. vertex_props: [(name, ply type)]; vertex_rows: tuples; faces: index lists;
    texcoords: per-face lists of floats, written as MeshLab's `property list uchar float texcoord`."""
    types = {"float": "f4", "uchar": "u1", "int": "i4", "double": "f8", "ushort": "u2"}
    header = ["ply", f"format {encoding} 1.0", *[f"comment {c}" for c in comments], f"element vertex {len(vertex_rows)}"]
    header += [f"property {t} {n}" for n, t in vertex_props]
    if faces is not None:
        header += [f"element {face_element} {len(faces)}", f"property list uchar int {face_list}"]
        if texcoords is not None:
            header.append("property list uchar float texcoord")
    header.append("end_header")
    head = ("\n".join(header) + "\n").encode()
    if encoding == "ascii":
        lines = [" ".join(str(v) for v in row) for row in vertex_rows]
        for i, f in enumerate(faces or []):
            line = f"{len(f)} " + " ".join(map(str, f))
            if texcoords is not None:
                line += f" {len(texcoords[i])} " + " ".join(map(str, texcoords[i]))
            lines.append(line)
        return head + ("\n".join(lines) + "\n").encode()
    order = "<" if encoding == "binary_little_endian" else ">"
    dtype = np.dtype([(n, order + types[t]) for n, t in vertex_props])
    body = np.array([tuple(r) for r in vertex_rows], dtype=dtype).tobytes()
    for i, f in enumerate(faces or []):
        body += struct.pack(order + "B" + "i" * len(f), len(f), *f)
        if texcoords is not None:
            body += struct.pack(order + "B" + "f" * len(texcoords[i]), len(texcoords[i]), *texcoords[i])
    return head + body


XYZ = [("x", "float"), ("y", "float"), ("z", "float")]
SQUARE = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian", "binary_big_endian"])
@pytest.mark.parametrize("face_list", ["vertex_indices", "vertex_index"])
def test_ply_encodings_without_colours(encoding, face_list):
    asset = aio.read(ply_bytes(encoding, XYZ, SQUARE, [[0, 1, 2], [0, 2, 3]], face_list=face_list), "square.ply")
    prim = only_prim(asset)
    assert (prim.triangle_count, prim.vertex_count, prim.colors) == (2, 4, None)
    assert face_set(prim) == {((0, 0, 0), (1, 0, 0), (1, 1, 0)), ((0, 0, 0), (0, 1, 0), (1, 1, 0))}
    assert asset.provenance.format == "ply"


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_encodings_with_uchar_colours_and_normals(encoding):
    props = XYZ + [("nx", "float"), ("ny", "float"), ("nz", "float"), ("red", "uchar"), ("green", "uchar"), ("blue", "uchar"), ("alpha", "uchar")]
    rows = [(*p, 0, 0, 2, 255, 128, 0, 255) for p in SQUARE]
    rows[3] = (*SQUARE[3], 0, 0, 1, 0, 0, 0, 51)
    prim = only_prim(aio.read(ply_bytes(encoding, props, rows, [[0, 1, 2, 3]]), "colored.ply"))
    assert (prim.triangle_count, prim.vertex_count) == (2, 4)
    np.testing.assert_allclose(prim.normals, np.tile([0, 0, 1], (4, 1)))
    by_position = {tuple(p): c for p, c in zip(prim.positions, prim.colors)}
    np.testing.assert_allclose(by_position[(0, 0, 0)], [1.0, srgb_to_linear(np.array(128 / 255)), 0.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(by_position[(0, 1, 0)], [0, 0, 0, 0.2], rtol=1e-5)


def test_ply_float_colours_and_uvs():
    props = XYZ + [("r", "float"), ("g", "float"), ("b", "float"), ("s", "float"), ("t", "float")]
    rows = [(*p, 0.5, 0.5, 0.5, p[0], p[1]) for p in SQUARE]
    prim = only_prim(aio.read(ply_bytes("binary_little_endian", props, rows, [[0, 1, 2], [0, 2, 3]]), "f.ply"))
    np.testing.assert_allclose(prim.colors[:, :3], 0.2140411, rtol=1e-5)
    np.testing.assert_allclose(prim.uvs[0][:, 1], 1.0 - prim.positions[:, 1])


def test_ply_point_cloud():
    props = XYZ + [("red", "uchar"), ("green", "uchar"), ("blue", "uchar")]
    rows = [(i, i * 2, i * 3, 255, 0, 0) for i in range(10)]
    for encoding in ("ascii", "binary_little_endian"):
        asset = aio.read(ply_bytes(encoding, props, rows), "cloud.ply")
        prim = only_prim(asset)
        assert prim.mode == "points" and prim.indices is None and prim.vertex_count == 10
        np.testing.assert_allclose(prim.colors[0], [1, 0, 0, 1])
        assert asset.is_point_cloud
    # "element face 0" (MeshLab writes it for point clouds) is a point cloud too
    asset = aio.read(ply_bytes("ascii", XYZ, SQUARE, []), "cloud.ply")
    assert asset.is_point_cloud


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian"])
def test_ply_triangle_strips(encoding):
    # A strip over a 2x3 grid row, a restart, then a second strip: 4 + 2 triangles.
    points = [(x, y, 0) for y in (0, 1) for x in (0, 1, 2)] + [(0, 0, 1), (1, 0, 1), (0, 1, 1), (1, 1, 1)]
    strips = [[0, 3, 1, 4, 2, 5, -1, 6, 7, 8, 9]]
    asset = aio.read(ply_bytes(encoding, XYZ, points, strips, face_element="tristrips"), "strips.ply")
    prim = only_prim(asset)
    assert prim.triangle_count == 4 + 2
    normals = np.cross(*(prim.positions[prim.indices[:, i]] - prim.positions[prim.indices[:, 0]] for i in (1, 2)))
    assert np.allclose(normals[:4, 2], normals[0, 2])  # consistent winding along the strip
    assert any("strips" in n for n in asset.provenance.notes)


def test_strips_to_triangles_winding_and_degenerates():
    tris = strips_to_triangles(np.array([0, 1, 2, 3, 3, 4, 5, -1, 6, 7, 8]))
    assert tris.tolist() == [[0, 1, 2], [1, 3, 2], [3, 4, 5], [6, 7, 8]]  # odd triangles flipped


def test_ply_mixed_polygons_binary_and_ascii_walk():
    faces = [[0, 1, 2], [0, 2, 3, 4], [1, 2, 3], [0, 1, 2, 3, 4]]
    points = SQUARE + [(0.5, 2, 0)]
    counts = {}
    for encoding in ("ascii", "binary_little_endian", "binary_big_endian"):
        counts[encoding] = only_prim(aio.read(ply_bytes(encoding, XYZ, points, faces), "mixed.ply")).triangle_count
    assert set(counts.values()) == {1 + 2 + 1 + 3}


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_per_corner_texcoords_and_texture_file(encoding):
    faces = [[0, 1, 2], [0, 2, 3]]
    texcoords = [[0, 0, 1, 0, 1, 1], [0.5, 0.5, 1, 1, 0, 1]]  # vertex 0 has two different UVs, vertex 2 one
    data = ply_bytes(encoding, XYZ, SQUARE, faces, texcoords=texcoords, comments=["TextureFile albedo.png"])
    png = image_bytes("PNG")
    asset = aio.read(data, "tex.ply", resources={"albedo.png": png})
    prim = only_prim(asset)
    assert prim.triangle_count == 2 and prim.vertex_count == 5  # vertex 0 splits in two
    assert asset.materials[prim.material]["pbrMetallicRoughness"]["baseColorTexture"] == {"index": 0}
    assert asset.textures[0].data == png
    uv_of = {(tuple(p), tuple(uv)) for p, uv in zip(prim.positions, prim.uvs[0])}
    assert ((0.0, 0.0, 0.0), (0.5, 0.5)) in uv_of and ((0.0, 0.0, 0.0), (0.0, 1.0)) in uv_of


# ---- STL ---------------------------------------------------------------------------------------------

def test_stl_binary_unwelded_with_unit_left_unknown():
    tris = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[1, 0, 0], [1, 1, 0], [0, 1, 0]]], dtype=np.float32)
    records = np.zeros(2, dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["v"] = tris
    data = b"solid bracket".ljust(80, b" ") + struct.pack("<I", 2) + records.tobytes()
    asset = aio.read(data, "bracket.stl")
    prim = only_prim(asset)
    assert (prim.triangle_count, prim.vertex_count) == (2, 6)
    assert asset.unit_scale is None and asset.nodes[0].name == "bracket"
    np.testing.assert_array_equal(prim.positions.reshape(2, 3, 3), tris)
    # VisCAM colour: bit 15 set, 5-5-5 BGR
    records["a"] = 0x8000 | (31 << 10)  # pure red
    colored = only_prim(aio.read(data[:84] + records.tobytes(), "bracket.stl"))
    np.testing.assert_allclose(colored.colors, np.tile([1, 0, 0, 1], (6, 1)))


def test_stl_ascii_solids_become_nodes():
    text = b"""solid base
facet normal 0 0 1
  outer loop
    vertex 0 0 0
    vertex 1 0 0
    vertex 0 1 0
  endloop
endfacet
facet normal 0 0 1
  outer loop
    vertex 1 0 0
    vertex 1 1 0
    vertex 0 1 0
  endloop
endfacet
endsolid base
solid lid
facet normal 0 0 1
  outer loop
    vertex 0 0 1e0
    vertex 1 0 1
    vertex 0 1 1
  endloop
endfacet
endsolid lid
"""
    asset = aio.read(text, "box.stl")
    assert [n.name for n in asset.nodes] == ["base", "lid"]
    assert [m.primitives[0].triangle_count for m in asset.meshes] == [2, 1]
    assert asset.triangle_count == 3 and asset.vertex_count == 9


def test_stl_binary_whose_header_starts_with_solid():
    records = np.zeros(1, dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["v"] = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    data = b"solid facet trap".ljust(80, b"\x00") + struct.pack("<I", 1) + records.tobytes()
    assert aio.read(data, "trap.stl").triangle_count == 1


# ---- images ------------------------------------------------------------------------------------------

def test_image_sniffing_and_header_sizes():
    png, jpeg, webp = image_bytes("PNG", (7, 5)), image_bytes("JPEG", (7, 5)), image_bytes("WEBP", (7, 5))
    assert [sniff_image_mime(d) for d in (png, jpeg, webp)] == ["image/png", "image/jpeg", "image/webp"]
    assert sniff_image_mime(b"\xabKTX 20\xbb\r\n\x1a\n" + b"\x00" * 20) == "image/ktx2"
    assert sniff_image_mime(image_bytes("BMP")) is None
    assert header_size(png) == header_size(jpeg) == header_size(webp) == (7, 5)
    assert header_size(image_bytes("WEBP", (7, 5), mode="RGBA", color=(1, 2, 3, 4))) == (7, 5)


def test_open_image_limits_and_corruption():
    limits = Limits(max_image_pixels=100)
    with pytest.raises(LimitExceededError, match="image 20x20 = 400 pixels is over the 100 pixel limit"):
        open_image(image_bytes("PNG", (20, 20)), limits)
    with pytest.raises(LimitExceededError, match="40000x40000"):
        open_image(_png_header(40_000, 40_000), Limits())
    with pytest.raises(CorruptFileError):
        open_image(image_bytes("JPEG", (64, 64))[:300], Limits())
    with pytest.raises(CorruptFileError):
        open_image(b"not an image", Limits())
    assert open_image(image_bytes("PNG", (9, 9)), limits).size == (9, 9)


def test_texture_from_bytes_keeps_web_formats_and_converts_others():
    jpeg = image_bytes("JPEG")
    texture, image = texture_from_bytes(jpeg, "a.jpg", Limits())
    assert texture.data == jpeg and texture.mime_type == "image/jpeg" and image.size == (8, 8)
    texture, _ = texture_from_bytes(image_bytes("BMP"), "a.bmp", Limits())
    assert texture.mime_type == "image/png" and Image.open(io.BytesIO(texture.data)).getpixel((0, 0)) == (200, 100, 50)


def _png_header(width: int, height: int) -> bytes:
    from tests.hostile_corpus import png_header_only

    return png_header_only(width, height)


def test_split_corners_matches_numpy_unique():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 50, (1000, 3))
    unique, inverse = split_corners(keys)
    expected, expected_inverse = np.unique(keys, axis=0, return_inverse=True)
    np.testing.assert_array_equal(unique, expected)
    np.testing.assert_array_equal(unique[inverse], keys)
    sparse = np.array([10**12, 5, 10**12, 7])
    unique, inverse = split_corners(sparse)
    np.testing.assert_array_equal(unique[inverse], sparse)


# ---- sniffing ----------------------------------------------------------------------------------------

def test_sniff_uses_the_name_only_for_formats_without_magic():
    with pytest.raises(InvalidGeometryError, match="no vertices"):
        aio.read(b"# only a comment\n", "empty.obj")
    with pytest.raises(CorruptFileError, match="triangles"):
        aio.read(b"\x00" * 80 + struct.pack("<I", 500) + b"\x00" * 100, "broken.stl")


# ---- real scans --------------------------------------------------------------------------------------

def test_stanford_bunny_obj():
    data = scan_path("stanford-bunny.obj").read_bytes()
    start = time.perf_counter()
    asset = aio.read(data, "stanford-bunny.obj")
    seconds = time.perf_counter() - start
    print(f"\nstanford-bunny.obj: {asset.triangle_count:,} triangles in {seconds:.3f} s")
    assert asset.triangle_count == 69_451
    assert asset.vertex_count == 34_834  # 35,947 in the file; 1,113 are not used by any face
    assert any("1,113 vertices" in n for n in asset.provenance.notes)
    np.testing.assert_allclose(asset.dimensions(), [0.156, 0.154, 0.121], atol=0.002)


def test_armadillo_obj():
    data = scan_path("armadillo_libigl.obj").read_bytes()
    start = time.perf_counter()
    asset = aio.read(data, "armadillo_libigl.obj")
    seconds = time.perf_counter() - start
    print(f"\narmadillo_libigl.obj: {asset.triangle_count:,} triangles in {seconds:.3f} s")
    assert asset.triangle_count == 86_482 and asset.vertex_count == 43_243


@pytest.mark.slow
def test_dragon_ascii_ply():
    data = scan_path("dragon_vrip.ply").read_bytes()
    start = time.perf_counter()
    asset = aio.read(data, "dragon_vrip.ply")
    seconds = time.perf_counter() - start
    print(f"\ndragon_vrip.ply (34 MB ASCII): {asset.triangle_count:,} triangles in {seconds:.3f} s")
    prim = only_prim(asset)
    assert prim.triangle_count == 871_414 and prim.vertex_count == 437_645
    np.testing.assert_allclose(asset.dimensions(), [0.205, 0.144, 0.092], atol=0.002)
    # The same mesh written as binary PLY reads back identically.
    header = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {prim.vertex_count}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {prim.triangle_count}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    faces = np.zeros(prim.triangle_count, dtype=[("n", "u1"), ("i", "<i4", 3)])
    faces["n"], faces["i"] = 3, prim.indices
    binary = aio.read(header + prim.positions.astype("<f4").tobytes() + faces.tobytes(), "dragon.ply")
    np.testing.assert_array_equal(only_prim(binary).indices, prim.indices)
    np.testing.assert_array_equal(only_prim(binary).positions, prim.positions)


ASCII_LAYOUTS = {
    "plain": "0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n",
    "crlf": "0 0 0\r\n1 0 0\r\n1 1 0\r\n0 1 0\r\n3 0 1 2\r\n3 0 2 3\r\n",
    "no final newline": "0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3",
    "blank lines between": "0 0 0\n\n1 0 0\n \n1 1 0\n0 1 0\n\r\n3 0 1 2\n\t\n3 0 2 3\n",
    "trailing blank lines": "0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n\n\n",
    "extra spaces": "  0 0   0\n1\t0 0 \n1 1 0\n0 1 0\n3 0 1 2 \n 3 0 2 3\n",
}


@pytest.mark.parametrize("layout", sorted(ASCII_LAYOUTS))
def test_ply_ascii_layouts_read_alike(layout):
    """Element blocks are found by counting newlines (no index of every line); blank lines, CRLF and a last
    line without a newline must read exactly as the line-by-line walk does."""
    header = (
        "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
        "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
    )
    prim = only_prim(aio.read((header + ASCII_LAYOUTS[layout]).encode(), "layout.ply"))
    np.testing.assert_array_equal(prim.positions, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(prim.indices, [[0, 1, 2], [0, 2, 3]])


def test_ply_ascii_line_with_two_instances_is_refused_even_if_a_blank_line_balances_it():
    header = (
        "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    )
    body = "0 0 0 1 0 0\n1 1 0\n\n0 1 0\n3 0 1 2\n"
    with pytest.raises(CorruptFileError, match="has 6 values"):
        aio.read((header + body).encode(), "two.ply")


def test_damaged_helmet_gltf_zip():
    pytest.importorskip("asset_pipeline.io.gltf", reason="the glTF reader (asset_pipeline/io/gltf.py) is not there yet")
    data = scan_path("DamagedHelmet_gltf.zip").read_bytes()
    asset = aio.read(data, "DamagedHelmet_gltf.zip")
    assert asset.provenance.format == "zip:gltf"
    assert asset.triangle_count == 15_452
    assert len(asset.textures) == 5 and {t.mime_type for t in asset.textures} == {"image/jpeg"}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        originals = {archive.read(n) for n in archive.namelist() if n.endswith(".jpg")}
    assert {t.data for t in asset.textures} == originals  # textures passed through byte for byte


def test_read_path_offers_the_folder_side_files(tmp_path):
    (tmp_path / "cube.obj").write_bytes(CUBE_OBJ.replace(b"textures/", b""))
    (tmp_path / "cube.mtl").write_bytes(CUBE_MTL.replace(b"textures/", b""))
    (tmp_path / "wood.jpg").write_bytes(image_bytes("JPEG"))
    (tmp_path / "wood_normal.png").write_bytes(image_bytes("PNG", color=(128, 128, 255)))
    asset = aio.read_path(tmp_path / "cube.obj")
    assert asset.provenance.filename == "cube.obj" and asset.provenance.format == "obj"
    assert len(asset.textures) == 2 and asset.triangle_count == 12


def test_ply_binary_general_list_layout():
    # int-counted lists followed by a scalar, mixed lengths: the generic instance walk.
    header = (
        "ply\nformat binary_big_endian 1.0\nelement vertex 5\nproperty double x\nproperty double y\nproperty double z\n"
        "element face 2\nproperty list int uint vertex_indices\nproperty uchar flags\nend_header\n"
    ).encode()
    verts = np.array(SQUARE + [(0.5, 2, 0)], dtype=">f8").tobytes()
    faces = struct.pack(">i3IB", 3, 0, 1, 2, 7) + struct.pack(">i5IB", 5, 0, 1, 2, 3, 4, 9)
    prim = only_prim(aio.read(header + verts + faces, "general.ply"))
    assert prim.triangle_count == 1 + 3 and prim.vertex_count == 5
