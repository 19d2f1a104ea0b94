"""Hostile and broken uploads, generated in code, each with the typed error the pipeline must raise.

Importable by any test (the asset-pipeline readers, the service's upload endpoint): `hostile_corpus()`
returns the cases, `control_samples()` the well-formed files the cases are mutated from (they must read
cleanly, which proves each case fails because of its one defect). Nothing here needs pytest.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from asset_pipeline.errors import (
    CorruptFileError,
    EmptyInputError,
    InvalidGeometryError,
    LimitExceededError,
    PipelineError,
    UnsafeArchiveError,
    UnsupportedFormatError,
)
from asset_pipeline.limits import Limits


@dataclass(frozen=True)
class HostileCase:
    name: str
    filename: str
    data: bytes
    expected: type[PipelineError]
    message: str = ""  # a substring the error message must contain (case-insensitive)
    limits: Limits | None = None  # small limits keep limit cases fast; None = the defaults

    def __repr__(self) -> str:  # pytest ids and failure output: not the bytes
        return f"HostileCase({self.name}, {self.filename}, {len(self.data)} bytes, {self.expected.__name__})"


# ---- builders ----------------------------------------------------------------------------------------

TRIANGLE = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
QUAD = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)


def glb(doc: dict | list | bytes, bin_chunk: bytes | None = None, version: int = 2) -> bytes:
    """A GLB container around a JSON document (or raw JSON bytes) and an optional BIN chunk."""
    js = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    body = struct.pack("<II", len(js), 0x4E4F534A) + js
    if bin_chunk is not None:
        bin_chunk += b"\x00" * (-len(bin_chunk) % 4)
        body += struct.pack("<II", len(bin_chunk), 0x004E4942) + bin_chunk
    return struct.pack("<4sII", b"glTF", version, 12 + len(body)) + body


def mesh_doc(positions: np.ndarray, indices: np.ndarray) -> tuple[dict, bytes]:
    """A minimal valid glTF document (one node, one mesh, indexed triangles) and its binary buffer."""
    pos = np.ascontiguousarray(positions, dtype=np.float32).tobytes()
    idx = np.ascontiguousarray(indices, dtype=np.uint32).tobytes()
    finite = positions[np.isfinite(positions).all(axis=1)] if len(positions) else positions
    lo = finite.min(axis=0).tolist() if len(finite) else [0, 0, 0]
    hi = finite.max(axis=0).tolist() if len(finite) else [0, 0, 0]
    doc = {
        "asset": {"version": "2.0", "generator": "hostile_corpus"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "node"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"byteLength": len(pos) + len(idx)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(pos), "target": 34962},
            {"buffer": 0, "byteOffset": len(pos), "byteLength": len(idx), "target": 34963},
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": len(positions), "type": "VEC3", "min": lo, "max": hi},
            {"bufferView": 1, "componentType": 5125, "count": int(np.size(indices)), "type": "SCALAR"},
        ],
    }
    return doc, pos + idx


def triangle_glb(**changes) -> bytes:
    """The one-triangle GLB with `changes` applied to its JSON (dotted paths: 'accessors.0.count')."""
    doc, bin_chunk = mesh_doc(TRIANGLE, np.array([0, 1, 2]))
    for path, value in changes.items():
        _set(doc, path, value)
    return glb(doc, bin_chunk)


def _set(doc: dict, path: str, value) -> None:
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = doc
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


def grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An n x n quad grid as 2 n^2 triangles (for triangle-limit cases)."""
    xs, ys = np.meshgrid(np.arange(n + 1, dtype=np.float32), np.arange(n + 1, dtype=np.float32))
    verts = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size, np.float32)], axis=1)
    i = np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]
    a, b, c, d = i.ravel(), i.ravel() + 1, i.ravel() + n + 1, i.ravel() + n + 2
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    return verts, faces


def obj_text(vertices: np.ndarray, faces: np.ndarray, extra: str = "") -> bytes:
    lines = [extra] if extra else []
    lines += [f"v {x} {y} {z}" for x, y, z in vertices]
    lines += ["f " + " ".join(str(int(i) + 1) for i in f) for f in faces]
    return ("\n".join(lines) + "\n").encode()


def ply_ascii(vertices: list[str], faces: list[str], vertex_count: int | None = None, fmt: str = "ascii 1.0") -> bytes:
    header = [
        "ply",
        f"format {fmt}",
        f"element vertex {len(vertices) if vertex_count is None else vertex_count}",
        "property float x",
        "property float y",
        "property float z",
        f"element face {len(faces)}",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    return ("\n".join(header + vertices + faces) + "\n").encode()


def ply_binary(vertices: np.ndarray, faces: np.ndarray, vertex_count: int | None = None) -> bytes:
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(vertices) if vertex_count is None else vertex_count}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    face_dtype = np.dtype([("n", "u1"), ("i", "<i4", 3)])
    records = np.zeros(len(faces), dtype=face_dtype)
    records["n"] = 3
    records["i"] = faces
    return header + np.asarray(vertices, dtype="<f4").tobytes() + records.tobytes()


def stl_binary(triangles: np.ndarray, declared: int | None = None) -> bytes:
    triangles = np.asarray(triangles, dtype=np.float32).reshape(-1, 3, 3)
    records = np.zeros(len(triangles), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["v"] = triangles
    count = len(triangles) if declared is None else declared
    return b"hostile corpus".ljust(80, b" ") + struct.pack("<I", count) + records.tobytes()


def stl_ascii(body: str) -> bytes:
    return f"solid part\n{body}endsolid part\n".encode()


def facet(*vertices: str) -> str:
    return "facet normal 0 0 1\n outer loop\n" + "".join(f"  vertex {v}\n" for v in vertices) + " endloop\nendfacet\n"


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A real PNG of noise (noise so that truncation breaks the compressed stream)."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with one tiny IDAT: a decompression bomb's header."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def zip_symlink(name: str, target: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, target)
        archive.writestr("model.obj", OBJ_TRIANGLE)
    return out.getvalue()


def _patch_central_directory(data: bytes, field_offset: int, fmt: str, value: int) -> bytes:
    """Change one field of the first central-directory entry (what zipfile trusts)."""
    at = data.index(b"PK\x01\x02") + field_offset
    return data[:at] + struct.pack(fmt, value) + data[at + struct.calcsize(fmt) :]


OBJ_TRIANGLE = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n"
OBJ_TEXTURED = b"mtllib model.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nusemtl skin\nf 1/1 2/2 3/3\n"
MTL_TEXTURED = b"newmtl skin\nKd 1 1 1\nmap_Kd skin.png\n"


def control_samples() -> list[tuple[str, str, bytes]]:
    """(name, filename, bytes) of the valid files the hostile cases are derived from."""
    doc, bin_chunk = mesh_doc(TRIANGLE, np.array([0, 1, 2]))
    embedded = dict(doc)
    embedded["buffers"] = [
        {"byteLength": len(bin_chunk), "uri": "data:application/octet-stream;base64," + _b64(bin_chunk)}
    ]
    return [
        ("glb", "model.glb", glb(doc, bin_chunk)),
        ("glb_with_png", "model.glb", _glb_with_image(png(8, 8))),
        ("gltf_data_uri", "model.gltf", json.dumps(embedded).encode()),
        ("obj", "model.obj", OBJ_TRIANGLE),
        ("obj_zip_textured", "model.zip", zip_bytes({"model.obj": OBJ_TEXTURED, "model.mtl": MTL_TEXTURED, "skin.png": png(16, 16)})),
        ("ply_ascii", "model.ply", ply_ascii(["0 0 0", "1 0 0", "0 1 0"], ["3 0 1 2"])),
        ("ply_binary", "model.ply", ply_binary(TRIANGLE, np.array([[0, 1, 2]]))),
        ("stl_binary", "model.stl", stl_binary(TRIANGLE[None])),
        ("stl_ascii", "model.stl", stl_ascii(facet("0 0 0", "1 0 0", "0 1 0"))),
        ("zip", "model.zip", zip_bytes({"model.obj": OBJ_TRIANGLE})),
    ]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _glb_with_image(image: bytes) -> bytes:
    """The triangle GLB with UVs and a base colour texture whose bytes are `image`."""
    doc, bin_chunk = mesh_doc(TRIANGLE, np.array([0, 1, 2]))
    uv = np.array([[0, 0], [1, 0], [0, 1]], dtype=np.float32).tobytes()
    image_offset = len(bin_chunk) + len(uv)
    doc["buffers"][0]["byteLength"] = image_offset + len(image)
    doc["bufferViews"] += [
        {"buffer": 0, "byteOffset": len(bin_chunk), "byteLength": len(uv), "target": 34962},
        {"buffer": 0, "byteOffset": image_offset, "byteLength": len(image)},
    ]
    doc["accessors"].append({"bufferView": 2, "componentType": 5126, "count": 3, "type": "VEC2"})
    doc["meshes"][0]["primitives"][0]["attributes"]["TEXCOORD_0"] = 2
    doc["meshes"][0]["primitives"][0]["material"] = 0
    doc["materials"] = [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}]
    doc["textures"] = [{"source": 0}]
    doc["images"] = [{"bufferView": 3, "mimeType": "image/png"}]
    return glb(doc, bin_chunk + uv + image)


def mutated_samples(count: int, seed: int = 0) -> list[tuple[str, str, bytes]]:
    """(name, filename, bytes) of `count` control samples with random damage: flipped bytes, cuts,
    inserted junk and inserted tokens readers treat specially. Each must read or raise a PipelineError."""
    rng = np.random.default_rng(seed)
    samples = control_samples()
    tokens = [b"-1", b"nan", b"1e308", b"99999999999", b" ", b"\n", b"/", b"//", b"0", b"-", b"3.5", b"255",
              b"list", b"vertex", b"f", b"v", b"\\", b"{", b"]", b"PK\x03\x04", b"\x00" * 8]
    out = []
    for i in range(count):
        name, filename, data = samples[i % len(samples)]
        damaged = bytearray(data)
        operation = int(rng.integers(0, 4))
        if operation == 0 and damaged:
            for _ in range(int(rng.integers(1, 6))):
                damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
        elif operation == 1:
            damaged = damaged[: int(rng.integers(0, len(damaged) + 1))]
        else:
            at = int(rng.integers(0, len(damaged) + 1))
            junk = tokens[int(rng.integers(0, len(tokens)))] if operation == 3 else rng.bytes(int(rng.integers(1, 20)))
            damaged[at:at] = junk
        out.append((f"{name}_mutation_{i}", filename, bytes(damaged)))
    return out


# ---- the corpus --------------------------------------------------------------------------------------

def hostile_corpus() -> list[HostileCase]:
    cases: list[HostileCase] = []

    def add(name, filename, data, expected, message="", limits=None):
        cases.append(HostileCase(name, filename, data, expected, message, limits))

    rng = np.random.default_rng(1234)
    valid_glb = triangle_glb()

    # -- any upload
    add("empty_file", "model.glb", b"", EmptyInputError, "empty")
    add("random_bytes", "upload.bin", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), UnsupportedFormatError, "not a recognised")
    add("text_named_glb", "model.glb", b"This is a product description, not a model.\n" * 4, UnsupportedFormatError, ".glb")
    add("over_input_size_limit", "model.obj", OBJ_TRIANGLE, LimitExceededError, "limit", Limits(max_input_bytes=16))

    # -- GLB container and JSON
    for cut in (4, 12, 16, 40, len(valid_glb) // 2, len(valid_glb) - 1):
        add(f"glb_truncated_at_{cut}", "model.glb", valid_glb[:cut], CorruptFileError, "truncated")
    forged = bytearray(valid_glb)
    forged[12:16] = struct.pack("<I", 0x7FFFFFF0)  # JSON chunk length far past the end of the file
    add("glb_forged_chunk_length", "model.glb", bytes(forged), CorruptFileError)
    add("glb_bad_json", "model.glb", glb(b'{"asset": {"version": "2.0"}, "nodes": [}'), CorruptFileError, "JSON")
    add("glb_json_not_object", "model.glb", glb(b"[1, 2, 3]"), CorruptFileError, "object")
    add("glb_json_not_utf8", "model.glb", glb(b'{"asset": {"version": "\xff\xfe"}}'), CorruptFileError, "UTF-8")
    add("glb_version_1", "model.glb", glb({"asset": {"version": "1.0"}}, version=1), UnsupportedFormatError, "version")
    add("glb_no_asset_version", "model.glb", glb({"scenes": []}), CorruptFileError, "version")
    deep = b'{"asset": {"version": "2.0"}, "extras": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    add("gltf_deeply_nested_json", "model.gltf", deep, CorruptFileError, "nest")

    # -- GLB accessors, views, indices, values
    add("glb_accessor_past_buffer_end", "model.glb", triangle_glb(**{"accessors.0.count": 1000}), CorruptFileError, "past the end")
    add("glb_accessor_offset_past_view", "model.glb", triangle_glb(**{"accessors.0.byteOffset": 64}), CorruptFileError, "past the end")
    add("glb_buffer_view_past_buffer", "model.glb", triangle_glb(**{"bufferViews.1.byteLength": 4096}), CorruptFileError, "past the end")
    add("glb_huge_declared_accessor_count", "model.glb", triangle_glb(**{"accessors.0.count": 10_000_000}), CorruptFileError)
    add(
        "glb_huge_accessor_without_data",
        "model.glb",
        triangle_glb(**{"accessors.1": {"componentType": 5125, "count": 3_000_000_000, "type": "SCALAR"}}),
        LimitExceededError,
    )
    doc, bin_chunk = mesh_doc(TRIANGLE, np.array([0, 1, 7]))
    add("glb_index_past_vertex_count", "model.glb", glb(doc, bin_chunk), CorruptFileError, "vert")
    for label, bad in (("nan", np.nan), ("inf", np.inf)):
        poisoned = TRIANGLE.copy()
        poisoned[1, 2] = bad
        doc, bin_chunk = mesh_doc(poisoned, np.array([0, 1, 2]))
        add(f"glb_{label}_vertex", "model.glb", glb(doc, bin_chunk), InvalidGeometryError, "NaN or inf")
    add("glb_node_cycle", "model.glb", triangle_glb(nodes=[{"mesh": 0, "children": [1]}, {"children": [0]}]), CorruptFileError, "cycle")
    add("glb_node_own_child", "model.glb", triangle_glb(nodes=[{"mesh": 0, "children": [0]}]), CorruptFileError, "child")
    add("glb_mesh_index_out_of_range", "model.glb", triangle_glb(**{"nodes.0.mesh": 5}), CorruptFileError, "mesh")
    verts, faces = grid(12)  # 288 triangles
    doc, bin_chunk = mesh_doc(verts, faces)
    add("glb_over_triangle_limit", "model.glb", glb(doc, bin_chunk), LimitExceededError, "triangles", Limits(max_input_triangles=100))
    add(
        "glb_image_decompression_bomb",
        "model.glb",
        _glb_with_image(png_header_only(50_000, 50_000)),
        LimitExceededError,
        f"image 0: image 50000x50000 = 2,500,000,000 pixels is over the {Limits().max_image_pixels:,} pixel limit",
    )
    add("glb_image_not_an_image", "model.glb", _glb_with_image(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 8), CorruptFileError, "image 0")
    add("glb_truncated_png_texture", "model.glb", _glb_with_image(png(64, 64)[:2000]), CorruptFileError, "image 0: image cannot be decoded")

    # -- glTF JSON with side files
    doc, bin_chunk = mesh_doc(TRIANGLE, np.array([0, 1, 2]))
    doc["buffers"][0]["uri"] = "model.bin"
    add("gltf_missing_bin", "model.gltf", json.dumps(doc).encode(), CorruptFileError, "model.bin")
    doc["buffers"][0]["uri"] = "data:application/octet-stream;base64,@@@@A"
    add("gltf_invalid_base64_data_uri", "model.gltf", json.dumps(doc).encode(), CorruptFileError, "data")
    doc["buffers"][0]["uri"] = "https://example.com/model.bin"
    add("gltf_external_url", "model.gltf", json.dumps(doc).encode(), CorruptFileError, "URL")

    # -- OBJ
    add("obj_only_comments", "model.obj", b"# exported by nothing\n# no geometry here\n", InvalidGeometryError, "no vertices")
    add("obj_index_past_vertex_count", "model.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", CorruptFileError, "vertex 9")
    add("obj_negative_index_before_start", "model.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n", CorruptFileError, "vertex -4")
    add("obj_index_zero", "model.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", CorruptFileError, "index 0")
    add("obj_uv_index_past_end", "model.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/2 3/3\n", CorruptFileError, "texture coordinate 2")
    add("obj_nan_vertex", "model.obj", b"v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", InvalidGeometryError, "NaN or inf")
    add("obj_inf_vertex", "model.obj", b"v 0 0 0\nv 1 0 0\nv 0 -inf 0\nf 1 2 3\n", InvalidGeometryError, "NaN or inf")
    add("obj_non_numeric_vertex", "model.obj", b"v 0 0 0\nv 1 0 zero\nv 0 1 0\nf 1 2 3\n", CorruptFileError, "'zero'")
    add("obj_vertex_with_two_numbers", "model.obj", b"v 0 0 0\nv 1 0\nv 0 1 0\nf 1 2 3\n", CorruptFileError, "line 2")
    verts, faces = grid(12)
    add("obj_over_triangle_limit", "model.obj", obj_text(verts, faces), LimitExceededError, "triangles", Limits(max_input_triangles=100))
    add("obj_over_vertex_limit", "model.obj", obj_text(verts, faces), LimitExceededError, "vertices", Limits(max_input_vertices=50))

    # -- PLY
    tri_vertices = ["0 0 0", "1 0 0", "0 1 0"]
    add("ply_ascii_index_past_vertex_count", "model.ply", ply_ascii(tri_vertices, ["3 0 1 5"]), CorruptFileError, "vertex 5")
    add("ply_binary_index_past_vertex_count", "model.ply", ply_binary(TRIANGLE, np.array([[0, 1, 3]])), CorruptFileError, "vertex 3")
    add("ply_negative_index", "model.ply", ply_ascii(tri_vertices, ["3 0 -1 2"]), CorruptFileError, "vertex -1")
    poisoned = TRIANGLE.copy()
    poisoned[2, 0] = np.nan
    add("ply_binary_nan_vertex", "model.ply", ply_binary(poisoned, np.array([[0, 1, 2]])), InvalidGeometryError, "NaN or inf")
    add("ply_ascii_inf_vertex", "model.ply", ply_ascii(["0 0 0", "inf 0 0", "0 1 0"], ["3 0 1 2"]), InvalidGeometryError, "NaN or inf")
    add("ply_ascii_header_lies_vertex_count", "model.ply", ply_ascii(tri_vertices, ["3 0 1 2"], vertex_count=100), CorruptFileError, "100")
    add("ply_binary_header_lies_vertex_count", "model.ply", ply_binary(TRIANGLE, np.array([[0, 1, 2]]), vertex_count=1000), CorruptFileError, "truncated")
    add("ply_binary_truncated_faces", "model.ply", ply_binary(TRIANGLE, np.array([[0, 1, 2]] * 50))[:-30], CorruptFileError, "truncated")
    add("ply_unsupported_format_line", "model.ply", ply_ascii(tri_vertices, ["3 0 1 2"], fmt="binary_middle_endian 1.0"), UnsupportedFormatError, "binary_middle_endian")
    add("ply_no_end_header", "model.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n" + b"0 0 0\n" * 3, CorruptFileError, "end_header")
    add("ply_unknown_property_type", "model.ply", ply_ascii(tri_vertices, ["3 0 1 2"]).replace(b"property float x", b"property float128 x"), CorruptFileError, "float128")
    add(
        "ply_huge_declared_vertex_count",
        "model.ply",
        ply_binary(TRIANGLE, np.array([[0, 1, 2]]), vertex_count=10**12),
        LimitExceededError,
        "vertices",
    )
    add("ply_wrong_value_count_on_line", "model.ply", ply_ascii(["0 0 0", "1 0", "0 1 0", "0 0 1"], ["3 0 1 2"], vertex_count=3), CorruptFileError)

    # -- STL
    add("stl_binary_wrong_triangle_count", "model.stl", stl_binary(np.stack([TRIANGLE, TRIANGLE]), declared=1000), CorruptFileError, "1,000 triangles")
    add("stl_binary_shorter_than_header", "model.stl", b"\x00" * 60, CorruptFileError, "too short")
    poisoned = np.stack([TRIANGLE, TRIANGLE])
    poisoned[1, 1, 1] = np.nan
    add("stl_binary_nan_vertex", "model.stl", stl_binary(poisoned), InvalidGeometryError, "NaN or inf")
    add("stl_ascii_inf_vertex", "model.stl", stl_ascii(facet("0 0 0", "1 inf 0", "0 1 0")), InvalidGeometryError, "NaN or inf")
    add("stl_ascii_facet_with_two_vertices", "model.stl", stl_ascii(facet("0 0 0", "1 0 0")), CorruptFileError, "3 per facet")
    add("stl_ascii_no_facets", "model.stl", stl_ascii(""), InvalidGeometryError, "no triangles")

    # -- zip
    add("zip_bomb_high_ratio_member", "model.zip", zip_bytes({"model.obj": OBJ_TRIANGLE, "pad.bin": b"\x00" * (4 << 20)}), LimitExceededError, "zip bomb")
    many = {f"part_{i}.obj": OBJ_TRIANGLE for i in range(12)}
    add("zip_too_many_members", "model.zip", zip_bytes(many), LimitExceededError, "members", Limits(max_zip_members=10))
    big = {"model.obj": OBJ_TRIANGLE, "texture.bin": rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()}
    add("zip_total_size_over_limit", "model.zip", zip_bytes(big), LimitExceededError, "expands", Limits(max_zip_uncompressed_bytes=200_000))
    lying = zip_bytes({"model.obj": OBJ_TRIANGLE * 200})
    lying = _patch_central_directory(lying, 24, "<I", 40)  # declares 40 bytes uncompressed, inflates to 11 KB
    add("zip_member_size_header_lies", "model.zip", lying, CorruptFileError, "model.obj")
    encrypted = _patch_central_directory(zip_bytes({"model.obj": OBJ_TRIANGLE}), 8, "<H", 0x1)
    add("zip_encrypted_member", "model.zip", encrypted, UnsupportedFormatError, "password")
    add("zip_path_traversal", "model.zip", zip_bytes({"../evil.obj": OBJ_TRIANGLE}), UnsafeArchiveError, "..")
    add("zip_path_traversal_nested", "model.zip", zip_bytes({"textures/../../evil.obj": OBJ_TRIANGLE}), UnsafeArchiveError, "..")
    add("zip_windows_path_traversal", "model.zip", zip_bytes({"..\\evil.obj": OBJ_TRIANGLE}), UnsafeArchiveError, "..")
    add("zip_absolute_path", "model.zip", zip_bytes({"/etc/evil.obj": OBJ_TRIANGLE}), UnsafeArchiveError, "absolute")
    add("zip_windows_drive_path", "model.zip", zip_bytes({"C:/evil.obj": OBJ_TRIANGLE}), UnsafeArchiveError, "absolute")
    add("zip_symlink_member", "model.zip", zip_symlink("texture.png", "/etc/passwd"), UnsafeArchiveError, "link")
    add("zip_no_model", "model.zip", zip_bytes({"readme.txt": b"hello", "photo.png": png(4, 4)}), UnsupportedFormatError, "readme.txt")
    add(
        "zip_only_macosx_junk",
        "model.zip",
        zip_bytes({"__MACOSX/._model.obj": b"\x00\x05\x16\x07junk", ".DS_Store": b"\x00\x00\x00\x01Bud1"}),
        UnsupportedFormatError,
        "macOS",
    )
    add("zip_empty", "model.zip", zip_bytes({}), UnsupportedFormatError, "no 3D model")
    add("zip_corrupt_directory", "model.zip", b"PK\x03\x04" + rng.integers(0, 256, 600, dtype=np.uint8).tobytes(), CorruptFileError, "zip")
    add("zip_nested_zip_only", "model.zip", zip_bytes({"inner.zip": zip_bytes({"model.obj": OBJ_TRIANGLE})}), UnsupportedFormatError, "inner.zip")
    add(
        "zip_obj_mtl_image_decompression_bomb",
        "model.zip",
        zip_bytes({"model.obj": OBJ_TEXTURED, "model.mtl": MTL_TEXTURED, "skin.png": png_header_only(50_000, 50_000)}),
        LimitExceededError,
        "50000x50000",
    )
    add(
        "zip_obj_mtl_truncated_png",
        "model.zip",
        zip_bytes({"model.obj": OBJ_TEXTURED, "model.mtl": MTL_TEXTURED, "skin.png": png(64, 64)[:2000]}),
        CorruptFileError,
        "skin.png",
    )
    add(
        "zip_obj_mtl_texture_not_an_image",
        "model.zip",
        zip_bytes({"model.obj": OBJ_TEXTURED, "model.mtl": MTL_TEXTURED, "skin.png": b"<html>not found</html>"}),
        CorruptFileError,
        "skin.png",
    )
    add(
        "zip_gltf_image_decompression_bomb",
        "model.zip",
        zip_bytes({"model.glb": _glb_with_image(png_header_only(40_000, 40_000))}),
        LimitExceededError,
        f"40000x40000 = 1,600,000,000 pixels is over the {Limits().max_image_pixels:,} pixel limit",
    )
    return cases
