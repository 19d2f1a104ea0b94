"""glTF 2.0 / GLB reader and GLB writer.

Reading parses the GLB container and the JSON itself, so hostile input fails with a typed error naming the
problem (truncated container, forged chunk or accessor lengths, indices past the vertex list, node cycles,
NaN positions, oversized images) before anything large is allocated; every image is decoded once (KTX2 is
checked as a container), so a truncated or corrupt texture is refused at read time, naming the image.
Geometry compressed with EXT_meshopt_compression or KHR_draco_mesh_compression and quantized with
KHR_mesh_quantization is decoded to plain float arrays; materials are kept as glTF JSON verbatim (every
extension) with texture references pointing into `Asset.textures`.

Writing produces a GLB that the Khronos glTF-Validator accepts with no errors, encoded as `Asset.encoding`
asks (see `Asset.encoding`): plain float32, KHR_mesh_quantization (positions as integers with the
dequantization folded into the node transform, as gltfpack does), EXT_meshopt_compression or
KHR_draco_mesh_compression.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import math
import posixpath
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import numpy as np

from ..asset import IDENTITY, Asset, Mesh, Node, Primitive, Provenance, Texture, texture_refs
from ..errors import (
    CorruptFileError,
    InvalidGeometryError,
    LimitExceededError,
    MissingDependencyError,
    UnsupportedFormatError,
)
from ..images import check_ktx2, encode_png, open_image, sniff_image_mime
from . import ReadContext

GENERATOR = "immersive asset_pipeline"

GLB_MAGIC = b"glTF"
GLB_HEADER_BYTES = 12
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942

BYTE, UNSIGNED_BYTE, SHORT, UNSIGNED_SHORT, UNSIGNED_INT, FLOAT = 5120, 5121, 5122, 5123, 5125, 5126
COMPONENT_DTYPES: dict[int, np.dtype] = {
    BYTE: np.dtype("<i1"),
    UNSIGNED_BYTE: np.dtype("<u1"),
    SHORT: np.dtype("<i2"),
    UNSIGNED_SHORT: np.dtype("<u2"),
    UNSIGNED_INT: np.dtype("<u4"),
    FLOAT: np.dtype("<f4"),
}
DTYPE_COMPONENTS = {np.dtype(v).str: k for k, v in COMPONENT_DTYPES.items()}
TYPE_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
COMPONENTS_TYPE = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963

MODE_POINTS, MODE_LINES, MODE_LINE_LOOP, MODE_LINE_STRIP = 0, 1, 2, 3
MODE_TRIANGLES, MODE_TRIANGLE_STRIP, MODE_TRIANGLE_FAN = 4, 5, 6

MESHOPT = "EXT_meshopt_compression"
DRACO = "KHR_draco_mesh_compression"
QUANTIZATION = "KHR_mesh_quantization"
WEBP = "EXT_texture_webp"
BASISU = "KHR_texture_basisu"
VARIANTS = "KHR_materials_variants"
LIGHTS = "KHR_lights_punctual"
TEXTURE_TRANSFORM = "KHR_texture_transform"

# Root and node extensions carried verbatim: the ones whose JSON refers to nothing this model renumbers.
KEPT_ROOT_EXTENSIONS = (LIGHTS,)
KEPT_NODE_EXTENSIONS = (LIGHTS,)

DEFAULT_ENCODING: dict[str, Any] = {
    "method": "none",
    "quantize": False,
    "position_bits": 14,
    "normal_bits": 10,
    "uv_bits": 12,
    "color_bits": 8,
}


# =============================================================================================
# Reading
# =============================================================================================


def read_glb(data: bytes, ctx: ReadContext) -> Asset:
    """Read a binary glTF (GLB 2.0) container."""
    doc_bytes, bin_chunk, notes = _parse_glb_container(data, ctx)
    doc = _parse_json(doc_bytes, ctx, "the GLB JSON chunk")
    return _GltfReader(doc, bin_chunk, ctx, "glb", data, notes).read()


def read_gltf(data: bytes, ctx: ReadContext) -> Asset:
    """Read a JSON glTF 2.0 file; external buffers and images come from `ctx.resources` by relative URI."""
    doc = _parse_json(data, ctx, "the glTF JSON")
    return _GltfReader(doc, None, ctx, "gltf", data, []).read()


def _name(ctx: ReadContext) -> str:
    return ctx.filename or "input"


def _parse_glb_container(data: bytes, ctx: ReadContext) -> tuple[bytes, bytes | None, list[str]]:
    name = _name(ctx)
    if len(data) < GLB_HEADER_BYTES:
        raise CorruptFileError(f"{name}: truncated GLB ({len(data)} bytes; the header alone is 12)")
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    if magic != GLB_MAGIC:
        raise CorruptFileError(f"{name}: not a GLB file (magic {magic!r}, expected b'glTF')")
    if version != 2:
        raise UnsupportedFormatError(f"{name}: GLB version {version}; only glTF 2.0 is supported")
    if length > len(data):
        raise CorruptFileError(f"{name}: truncated GLB: the header says {length:,} bytes but the file has {len(data):,}")
    if length < GLB_HEADER_BYTES + 8:
        raise CorruptFileError(f"{name}: GLB header length {length} is too small to hold a JSON chunk")
    notes: list[str] = []
    if length < len(data):
        notes.append(f"ignored {len(data) - length:,} bytes after the end of the GLB container")
    offset = GLB_HEADER_BYTES
    json_chunk: bytes | None = None
    bin_chunk: bytes | None = None
    index = 0
    while offset < length:
        if offset + 8 > length:
            raise CorruptFileError(f"{name}: truncated GLB: chunk {index} header at byte {offset} runs past the end ({length})")
        chunk_length, chunk_type = struct.unpack_from("<II", data, offset)
        start = offset + 8
        end = start + chunk_length
        if end > length:
            raise CorruptFileError(
                f"{name}: GLB chunk {index} claims {chunk_length:,} bytes at byte {start:,}, past the end of the file ({length:,})"
            )
        if index == 0:
            if chunk_type != CHUNK_JSON:
                raise CorruptFileError(f"{name}: the first GLB chunk is not JSON (type 0x{chunk_type:08x})")
            if chunk_length > ctx.limits.max_json_bytes:
                raise LimitExceededError(
                    f"{name}: glTF JSON chunk is {chunk_length:,} bytes; the limit is {ctx.limits.max_json_bytes:,}"
                )
            json_chunk = data[start:end]
        elif chunk_type == CHUNK_BIN:
            if bin_chunk is not None:
                raise CorruptFileError(f"{name}: GLB has more than one BIN chunk")
            if index != 1:
                raise CorruptFileError(f"{name}: the GLB BIN chunk must directly follow the JSON chunk")
            bin_chunk = data[start:end]
        elif chunk_type == CHUNK_JSON:
            raise CorruptFileError(f"{name}: GLB has more than one JSON chunk")
        # Unknown chunk types are skipped, as the GLB spec requires.
        offset = end + (-end % 4 if end < length else 0)
        index += 1
    if json_chunk is None:
        raise CorruptFileError(f"{name}: GLB has no JSON chunk")
    return json_chunk, bin_chunk, notes


def _parse_json(raw: bytes, ctx: ReadContext, what: str) -> dict[str, Any]:
    name = _name(ctx)
    if len(raw) > ctx.limits.max_json_bytes:
        raise LimitExceededError(f"{name}: {what} is {len(raw):,} bytes; the limit is {ctx.limits.max_json_bytes:,}")
    try:
        doc = json.loads(bytes(raw).decode("utf-8-sig").rstrip(" \t\r\n\x00"))
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{name}: {what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{name}: {what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise CorruptFileError(f"{name}: {what} nests too deeply to be glTF") from None
    if not isinstance(doc, dict):
        raise CorruptFileError(f"{name}: {what} is not a JSON object")
    version = str((doc.get("asset") or {}).get("version", "")) if isinstance(doc.get("asset"), dict) else ""
    if not version:
        raise CorruptFileError(f"{name}: {what} has no asset.version; not a glTF file")
    if not version.startswith("2."):
        raise UnsupportedFormatError(f"{name}: glTF version {version}; only glTF 2.0 is supported")
    return doc


def _normalize_ints(raw: np.ndarray) -> np.ndarray:
    """glTF normalized integers to float32 (signed values clamp at -1, as the spec says)."""
    info = np.iinfo(raw.dtype)
    out = raw.astype(np.float32) / np.float32(info.max)
    if info.min < 0:
        np.maximum(out, -1.0, out=out)
    return out


def _trs_matrix(node: dict[str, Any], where: str) -> np.ndarray:
    if "matrix" in node:
        values = np.asarray(node["matrix"], dtype=np.float64)
        if values.shape != (16,):
            raise CorruptFileError(f"{where}: matrix has {values.size} numbers, expected 16")
        matrix = values.reshape(4, 4).T  # glTF stores column-major
    else:
        t = np.asarray(node.get("translation", (0, 0, 0)), dtype=np.float64)
        q = np.asarray(node.get("rotation", (0, 0, 0, 1)), dtype=np.float64)
        s = np.asarray(node.get("scale", (1, 1, 1)), dtype=np.float64)
        if t.shape != (3,) or q.shape != (4,) or s.shape != (3,):
            raise CorruptFileError(f"{where}: translation/rotation/scale have the wrong number of values")
        norm = np.linalg.norm(q)
        x, y, z, w = q / norm if norm > 0 else (0.0, 0.0, 0.0, 1.0)
        rot = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        matrix = IDENTITY.copy()
        matrix[:3, :3] = rot * s
        matrix[:3, 3] = t
    if not np.isfinite(matrix).all():
        raise InvalidGeometryError(f"{where}: transform contains NaN or infinite values")
    return matrix


def _strip_to_triangles(idx: np.ndarray) -> np.ndarray:
    n = len(idx) - 2
    if n <= 0:
        return np.zeros((0, 3), dtype=np.uint32)
    i = np.arange(n)
    odd = i % 2
    return np.stack([idx[i], idx[i + 1 + odd], idx[i + 2 - odd]], axis=1)


def _fan_to_triangles(idx: np.ndarray) -> np.ndarray:
    n = len(idx) - 2
    if n <= 0:
        return np.zeros((0, 3), dtype=np.uint32)
    i = np.arange(n)
    return np.stack([idx[i + 1], idx[i + 2], np.full(n, idx[0])], axis=1)


class _GltfReader:
    def __init__(self, doc: dict[str, Any], bin_chunk: bytes | None, ctx: ReadContext, fmt: str, data: bytes, notes: list[str]):
        self.doc = doc
        self.bin_chunk = bin_chunk
        self.ctx = ctx
        self.limits = ctx.limits
        self.fmt = fmt
        self.data = data
        self.notes = list(notes)
        self.name = _name(ctx)
        self._buffers: dict[int, bytes | None] = {}
        self._views: dict[int, memoryview] = {}
        self._accessors: dict[int, np.ndarray] = {}
        self._images: dict[int, tuple[bytes, str, str]] = {}
        self.base_dir = posixpath.dirname(ctx.filename.replace("\\", "/")) if ctx.filename else ""

    # ---- helpers -------------------------------------------------------------------------
    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def items(self, key: str) -> list[Any]:
        value = self.doc.get(key, [])
        if not isinstance(value, list):
            raise CorruptFileError(f"{self.name}: '{key}' must be a JSON array")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise CorruptFileError(f"{self.name}: {key}[{i}] must be a JSON object")
        return value

    def get(self, key: str, index: Any, what: str) -> dict[str, Any]:
        items = self.items(key)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
            raise CorruptFileError(f"{self.name}: {what} refers to {key[:-1]} {index!r}, but the file has {len(items)}")
        return items[index]

    def _int(self, obj: dict[str, Any], key: str, where: str, default: int | None = None, minimum: int = 0) -> int:
        value = obj.get(key, default)
        if value is None:
            raise CorruptFileError(f"{self.name}: {where} has no {key}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise CorruptFileError(f"{self.name}: {where}.{key} is {value!r}; expected an integer >= {minimum}")
        return value

    # ---- buffers -------------------------------------------------------------------------
    def resource(self, uri: str, what: str) -> bytes:
        if not isinstance(uri, str):
            raise CorruptFileError(f"{self.name}: {what} has a non-string uri")
        if uri.startswith("data:"):
            header, _, payload = uri.partition(",")
            try:
                if header.endswith(";base64"):
                    return base64.b64decode(payload, validate=False)
                return unquote(payload).encode("latin-1")
            except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
                raise CorruptFileError(f"{self.name}: {what} has a malformed data: URI ({exc})") from None
        if "://" in uri:
            raise CorruptFileError(f"{self.name}: {what} refers to the external URL {uri!r}; upload the file itself")
        path = unquote(uri).replace("\\", "/")
        candidates = [path, posixpath.normpath(posixpath.join(self.base_dir, path)), posixpath.normpath(path)]
        for key in candidates:
            if key in self.ctx.resources:
                return self.ctx.resources[key]
        base = posixpath.basename(path)
        by_base = [k for k in self.ctx.resources if posixpath.basename(k.replace("\\", "/")) == base]
        if len(by_base) == 1:
            return self.ctx.resources[by_base[0]]
        raise CorruptFileError(f"{self.name}: {what} refers to the missing file {path!r}; upload it with the glTF (e.g. in a zip)")

    def buffer(self, index: int, what: str) -> bytes:
        if index in self._buffers:
            data = self._buffers[index]
        else:
            buf = self.get("buffers", index, what)
            where = f"buffer {index}"
            declared = self._int(buf, "byteLength", where, minimum=1)
            if "uri" in buf:
                data = self.resource(buf["uri"], where)
            elif index == 0 and self.bin_chunk is not None:
                data = self.bin_chunk
            elif (buf.get("extensions") or {}).get(MESHOPT, {}).get("fallback"):
                data = None  # meshopt fallback buffers carry no data; every view on them is compressed
            else:
                raise CorruptFileError(f"{self.name}: {where} has no uri and is not the GLB BIN chunk")
            if data is not None and len(data) < declared:
                raise CorruptFileError(
                    f"{self.name}: {where} declares {declared:,} bytes but only {len(data):,} are present (truncated file?)"
                )
            self._buffers[index] = data
        if data is None:
            raise CorruptFileError(f"{self.name}: {what} reads the meshopt fallback buffer {index}, which has no data")
        return data

    def buffer_view(self, index: int, what: str) -> memoryview:
        if index in self._views:
            return self._views[index]
        view = self.get("bufferViews", index, what)
        where = f"bufferView {index}"
        length = self._int(view, "byteLength", where, minimum=1)
        meshopt = (view.get("extensions") or {}).get(MESHOPT)
        if meshopt is not None:
            data = memoryview(self._decode_meshopt(index, view, meshopt, length))
        else:
            offset = self._int(view, "byteOffset", where, default=0)
            buf_index = self._int(view, "buffer", where)
            buf = self.buffer(buf_index, where)
            if offset + length > len(buf):
                raise CorruptFileError(
                    f"{self.name}: {where} reads bytes {offset:,}-{offset + length:,} past the end of buffer {buf_index} ({len(buf):,} bytes)"
                )
            data = memoryview(buf)[offset : offset + length]
        self._views[index] = data
        return data

    def _decode_meshopt(self, index: int, view: dict[str, Any], ext: dict[str, Any], length: int) -> bytes:
        import meshoptimizer

        where = f"bufferView {index} ({MESHOPT})"
        buf_index = self._int(ext, "buffer", where)
        offset = self._int(ext, "byteOffset", where, default=0)
        size = self._int(ext, "byteLength", where, minimum=1)
        stride = self._int(ext, "byteStride", where, minimum=1)
        count = self._int(ext, "count", where, minimum=1)
        mode = ext.get("mode")
        filt = ext.get("filter", "NONE")
        buf = self.buffer(buf_index, where)
        if offset + size > len(buf):
            raise CorruptFileError(
                f"{self.name}: {where} reads bytes {offset:,}-{offset + size:,} past the end of buffer {buf_index} ({len(buf):,} bytes)"
            )
        if count * stride != length:
            raise CorruptFileError(
                f"{self.name}: {where} decodes to {count} x {stride} bytes but the bufferView is {length:,} bytes"
            )
        limit = self.limits.max_input_vertices if mode == "ATTRIBUTES" else 3 * self.limits.max_input_triangles
        if count > limit:
            raise LimitExceededError(f"{self.name}: {where} holds {count:,} elements; the limit is {limit:,}")
        src = bytes(buf[offset : offset + size])
        try:
            if mode == "ATTRIBUTES":
                if stride % 4 or stride > 256:
                    raise CorruptFileError(f"{self.name}: {where} byteStride {stride} must be a multiple of 4 up to 256")
                out = meshoptimizer.decode_vertex_buffer(count, stride, src, dtype=np.dtype((np.uint8, (stride,))))
                if filt == "OCTAHEDRAL":
                    if stride not in (4, 8):
                        raise CorruptFileError(f"{self.name}: {where} OCTAHEDRAL filter needs byteStride 4 or 8, not {stride}")
                    out = meshoptimizer.decode_filter_oct(out, count, stride)
                elif filt == "QUATERNION":
                    if stride != 8:
                        raise CorruptFileError(f"{self.name}: {where} QUATERNION filter needs byteStride 8, not {stride}")
                    out = meshoptimizer.decode_filter_quat(out, count, stride)
                elif filt == "EXPONENTIAL":
                    out = meshoptimizer.decode_filter_exp(out, count, stride)
                elif filt != "NONE":
                    raise UnsupportedFormatError(f"{self.name}: {where} uses the unknown filter {filt!r}")
                return out.tobytes()
            if mode in ("TRIANGLES", "INDICES"):
                if stride not in (2, 4):
                    raise CorruptFileError(f"{self.name}: {where} index byteStride must be 2 or 4, not {stride}")
                if mode == "TRIANGLES":
                    if count % 3:
                        raise CorruptFileError(f"{self.name}: {where} TRIANGLES count {count} is not a multiple of 3")
                    idx = meshoptimizer.decode_index_buffer(count, 4, src)
                else:
                    idx = meshoptimizer.decode_index_sequence(count, 4, src)
                return idx.astype("<u2" if stride == 2 else "<u4").tobytes()
        except (RuntimeError, ValueError) as exc:
            raise CorruptFileError(f"{self.name}: {where} does not decode ({exc})") from None
        raise CorruptFileError(f"{self.name}: {where} has the unknown mode {mode!r}")

    # ---- accessors -----------------------------------------------------------------------
    def accessor(self, index: int, what: str) -> np.ndarray:
        """The accessor's elements as a (count, components) array; normalized integers become float32."""
        if index in self._accessors:
            return self._accessors[index]
        acc = self.get("accessors", index, what)
        where = f"accessor {index}"
        ctype = acc.get("componentType")
        if ctype not in COMPONENT_DTYPES:
            raise CorruptFileError(f"{self.name}: {where} has the unknown componentType {ctype!r}")
        atype = acc.get("type")
        if atype not in TYPE_COMPONENTS or atype.startswith("MAT"):
            raise CorruptFileError(f"{self.name}: {where} has type {atype!r}; mesh attributes are SCALAR or VECn")
        count = self._int(acc, "count", where, minimum=1)
        ncomp = TYPE_COMPONENTS[atype]
        dtype = COMPONENT_DTYPES[ctype]
        if "bufferView" in acc:
            raw = self._strided(acc, index, count, ncomp, dtype)
        else:
            if count > max(self.limits.max_input_vertices, 3 * self.limits.max_input_triangles):
                raise LimitExceededError(f"{self.name}: {where} declares {count:,} elements")
            raw = np.zeros((count, ncomp), dtype=dtype)
        sparse = acc.get("sparse")
        if sparse is not None:
            self._apply_sparse(raw, sparse, index, ncomp, dtype)
        out = _normalize_ints(raw) if acc.get("normalized") and ctype != FLOAT else raw
        self._accessors[index] = out
        return out

    def _strided(self, acc: dict[str, Any], index: int, count: int, ncomp: int, dtype: np.dtype) -> np.ndarray:
        where = f"accessor {index}"
        view_index = self._int(acc, "bufferView", where)
        view_json = self.get("bufferViews", view_index, where)
        view = self.buffer_view(view_index, where)
        offset = self._int(acc, "byteOffset", where, default=0)
        elem = dtype.itemsize * ncomp
        stride = self._int(view_json, "byteStride", f"bufferView {view_index}", default=elem, minimum=1)
        if stride < elem:
            raise CorruptFileError(f"{self.name}: bufferView {view_index} byteStride {stride} is smaller than {where}'s elements ({elem} bytes)")
        end = offset + stride * (count - 1) + elem
        if end > len(view):
            raise CorruptFileError(
                f"{self.name}: {where} reads bytes {offset:,}-{end:,} past the end of bufferView {view_index} ({len(view):,} bytes)"
            )
        arr = np.ndarray((count, ncomp), dtype=dtype, buffer=view, offset=offset, strides=(stride, dtype.itemsize))
        return np.array(arr)

    def _apply_sparse(self, raw: np.ndarray, sparse: dict[str, Any], index: int, ncomp: int, dtype: np.dtype) -> None:
        where = f"accessor {index} sparse"
        n = self._int(sparse, "count", where, minimum=1)
        if n > len(raw):
            raise CorruptFileError(f"{self.name}: {where} count {n} is larger than the accessor ({len(raw)})")
        ind, val = sparse.get("indices"), sparse.get("values")
        if not isinstance(ind, dict) or not isinstance(val, dict):
            raise CorruptFileError(f"{self.name}: {where} needs indices and values")
        ictype = ind.get("componentType")
        if ictype not in (UNSIGNED_BYTE, UNSIGNED_SHORT, UNSIGNED_INT):
            raise CorruptFileError(f"{self.name}: {where} indices have componentType {ictype!r}")
        positions = self._strided(ind, index, n, 1, COMPONENT_DTYPES[ictype])[:, 0]
        values = self._strided(val, index, n, ncomp, dtype)
        if positions.size and int(positions.max()) >= len(raw):
            raise CorruptFileError(f"{self.name}: {where} index {int(positions.max())} is past the accessor's {len(raw)} elements")
        raw[positions.astype(np.int64)] = values

    # ---- images and textures -------------------------------------------------------------
    def image(self, index: int, what: str) -> tuple[bytes, str, str]:
        """(bytes, MIME type, name) of image `index`, decoded once to check it however many textures use it."""
        img = self.get("images", index, what)
        if index not in self._images:
            self._images[index] = self._checked_image(index, img)
        return self._images[index]

    def _checked_image(self, index: int, img: dict[str, Any]) -> tuple[bytes, str, str]:
        where = f"image {index}"
        if "bufferView" in img:
            data = bytes(self.buffer_view(self._int(img, "bufferView", where), where))
        elif "uri" in img:
            data = self.resource(img["uri"], where)
        else:
            raise CorruptFileError(f"{self.name}: {where} has neither a uri nor a bufferView")
        name = img.get("name") or (posixpath.basename(unquote(img["uri"])) if isinstance(img.get("uri"), str) and not img["uri"].startswith("data:") else "")
        if name:
            where = f"{where} ({name})"
        # The bytes say what they are; a declared mimeType is often wrong in the wild.
        mime = sniff_image_mime(data)
        try:
            if mime == "image/ktx2":
                check_ktx2(data, self.limits)
            else:
                # A full decode: a truncated or corrupt image is refused here, naming the image, rather
                # than in whichever later stage first touches its pixels.
                decoded = open_image(data, self.limits)
                if mime is None:
                    data, mime = encode_png(decoded), "image/png"
                    self.note(f"{where} is {decoded.format}, which glTF cannot reference; converted to PNG")
        except (CorruptFileError, LimitExceededError) as exc:
            raise type(exc)(f"{self.name}: {where}: {exc.message}") from None
        return data, mime, name

    def textures(self) -> tuple[list[Texture], dict[int, int]]:
        out: list[Texture] = []
        mapping: dict[int, int] = {}
        for i, tex in enumerate(self.items("textures")):
            where = f"texture {i}"
            ext = tex.get("extensions") or {}
            preferred = next((ext[k]["source"] for k in (WEBP, BASISU) if isinstance(ext.get(k), dict) and "source" in ext[k]), None)
            core = tex.get("source")
            if preferred is None and core is None:
                self.note(f"{where} has no image; references to it were dropped")
                continue
            data, mime, img_name = self.image(preferred if preferred is not None else core, where)
            fallback = fallback_mime = None
            if preferred is not None and core is not None and core != preferred:
                fallback, fallback_mime, _ = self.image(core, where)
            sampler = None
            if "sampler" in tex:
                # An empty sampler means the defaults, the same as none.
                sampler = {k: v for k, v in self.get("samplers", tex["sampler"], where).items() if k != "name"} or None
            for k in ext:
                if k not in (WEBP, BASISU):
                    self.note(f"texture extension {k} dropped")
            mapping[i] = len(out)
            out.append(
                Texture(
                    data=data,
                    mime_type=mime,
                    name=tex.get("name") or img_name,
                    sampler=sampler,
                    fallback=fallback,
                    fallback_mime_type=fallback_mime,
                )
            )
        return out, mapping

    def materials(self, texture_map: dict[int, int]) -> list[dict[str, Any]]:
        out = []
        for i, mat in enumerate(self.items("materials")):
            mat = copy.deepcopy(mat)
            dangling = []
            for ref in list(texture_refs(mat)):
                if ref["index"] in texture_map:
                    ref["index"] = texture_map[ref["index"]]
                else:
                    dangling.append(ref)
            if dangling:
                self.note(f"material {i} referred to missing textures; those texture slots were dropped")
                _drop_refs(mat, dangling)
            out.append(mat)
        return out

    # ---- scene ---------------------------------------------------------------------------
    def check_limits(self) -> None:
        nodes = self.items("nodes")
        if len(nodes) > self.limits.max_nodes:
            raise LimitExceededError(f"{self.name}: {len(nodes):,} nodes; the limit is {self.limits.max_nodes:,}")
        accessors = self.items("accessors")
        vertices = triangles = 0
        for m, mesh in enumerate(self.items("meshes")):
            prims = mesh.get("primitives")
            if not isinstance(prims, list):
                raise CorruptFileError(f"{self.name}: mesh {m} has no primitives array")
            for p, prim in enumerate(prims):
                if not isinstance(prim, dict) or not isinstance(prim.get("attributes", {}), dict):
                    raise CorruptFileError(f"{self.name}: mesh {m} primitive {p} is malformed")
                pos = prim.get("attributes", {}).get("POSITION")
                if not (isinstance(pos, int) and 0 <= pos < len(accessors) and isinstance(accessors[pos].get("count"), int)):
                    continue  # reported precisely when the primitive is read
                count = accessors[pos]["count"]
                vertices += count
                idx = prim.get("indices")
                if isinstance(idx, int) and 0 <= idx < len(accessors) and isinstance(accessors[idx].get("count"), int):
                    count = accessors[idx]["count"]
                mode = prim.get("mode", MODE_TRIANGLES)
                if mode == MODE_TRIANGLES:
                    triangles += count // 3
                elif mode in (MODE_TRIANGLE_STRIP, MODE_TRIANGLE_FAN):
                    triangles += max(count - 2, 0)
        if vertices > self.limits.max_input_vertices:
            raise LimitExceededError(f"{self.name}: {vertices:,} vertices; the limit is {self.limits.max_input_vertices:,}")
        if triangles > self.limits.max_input_triangles:
            raise LimitExceededError(f"{self.name}: {triangles:,} triangles; the limit is {self.limits.max_input_triangles:,}")

    def nodes(self, mesh_count: int) -> tuple[list[Node], list[int]]:
        raw = self.items("nodes")
        parent = np.full(len(raw), -1, dtype=np.int64)
        nodes: list[Node] = []
        for i, n in enumerate(raw):
            where = f"node {i}"
            children = n.get("children", [])
            if not isinstance(children, list):
                raise CorruptFileError(f"{self.name}: {where} children must be an array")
            for c in children:
                if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < len(raw):
                    raise CorruptFileError(f"{self.name}: {where} has the child {c!r}, but the file has {len(raw)} nodes")
                if c == i:
                    raise CorruptFileError(f"{self.name}: {where} is its own child (a cycle in the node hierarchy)")
                if parent[c] >= 0:
                    raise CorruptFileError(f"{self.name}: node {c} has two parents (nodes {parent[c]} and {i})")
                parent[c] = i
            mesh = n.get("mesh")
            if mesh is not None and (not isinstance(mesh, int) or not 0 <= mesh < mesh_count):
                raise CorruptFileError(f"{self.name}: {where} refers to mesh {mesh!r}, but the file has {mesh_count}")
            if "skin" in n:
                self.note("skins dropped (the mesh is kept in its bind pose)")
            if "camera" in n:
                self.note("cameras dropped")
            if "weights" in n:
                self.note("morph target weights dropped")
            ext = n.get("extensions") or {}
            for k in ext:
                if k not in KEPT_NODE_EXTENSIONS:
                    self.note(f"node extension {k} dropped")
            nodes.append(
                Node(
                    name=str(n.get("name", "")),
                    matrix=_trs_matrix(n, f"{self.name}: {where}"),
                    mesh=mesh,
                    children=list(children),
                    extensions={k: copy.deepcopy(v) for k, v in ext.items() if k in KEPT_NODE_EXTENSIONS},
                    extras=copy.deepcopy(n["extras"]) if isinstance(n.get("extras"), dict) else {},
                )
            )
        # With one parent each, a cycle is a loop of parent links that never reaches a root.
        state = np.zeros(len(raw), dtype=np.int8)  # 0 unvisited, 1 on the current path, 2 reaches a root
        for start in range(len(raw)):
            path = []
            i = start
            while i >= 0 and state[i] == 0:
                state[i] = 1
                path.append(i)
                i = int(parent[i])
            if i >= 0 and state[i] == 1:
                raise CorruptFileError(f"{self.name}: the node hierarchy has a cycle through node {i}")
            state[path] = 2
        scenes = self.items("scenes")
        if scenes:
            scene_index = self.doc.get("scene", 0)
            scene = self.get("scenes", scene_index, "the default scene")
            roots = scene.get("nodes", [])
            if not isinstance(roots, list):
                raise CorruptFileError(f"{self.name}: scene {scene_index} nodes must be an array")
            for r in roots:
                if not isinstance(r, int) or not 0 <= r < len(raw):
                    raise CorruptFileError(f"{self.name}: scene {scene_index} refers to node {r!r}, but the file has {len(raw)}")
                if parent[r] >= 0:
                    raise CorruptFileError(f"{self.name}: scene {scene_index} lists node {r}, which is a child of node {parent[r]}")
            if len(scenes) > 1:
                self.note(f"only scene {scene_index} of {len(scenes)} was read")
        else:
            roots = [i for i in range(len(raw)) if parent[i] < 0]
        return nodes, list(roots)

    # ---- meshes --------------------------------------------------------------------------
    def meshes(self, material_count: int, variant_count: int) -> list[Mesh]:
        out = []
        for m, mesh in enumerate(self.items("meshes")):
            prims = []
            for p, prim in enumerate(mesh.get("primitives", [])):
                where = f"mesh {m} primitive {p}"
                result = self.primitive(prim, where, material_count, variant_count)
                if result is not None:
                    prims.append(result)
            if "weights" in mesh:
                self.note("morph target weights dropped")
            out.append(
                Mesh(
                    name=str(mesh.get("name", "")),
                    primitives=prims,
                    extras=copy.deepcopy(mesh["extras"]) if isinstance(mesh.get("extras"), dict) else {},
                )
            )
        return out

    def primitive(self, prim: dict[str, Any], where: str, material_count: int, variant_count: int) -> Primitive | None:
        mode = prim.get("mode", MODE_TRIANGLES)
        if mode in (MODE_LINES, MODE_LINE_LOOP, MODE_LINE_STRIP):
            self.note("line primitives dropped")
            return None
        if mode not in (MODE_POINTS, MODE_TRIANGLES, MODE_TRIANGLE_STRIP, MODE_TRIANGLE_FAN):
            raise CorruptFileError(f"{self.name}: {where} has the unknown mode {mode!r}")
        attrs = prim.get("attributes", {})
        if "POSITION" not in attrs:
            self.note("primitives without POSITION dropped")
            return None
        if prim.get("targets"):
            self.note("morph targets dropped")
        ext = prim.get("extensions") or {}
        for k in ext:
            if k not in (DRACO, VARIANTS):
                self.note(f"primitive extension {k} dropped")
        if DRACO in ext:
            arrays, indices = self.draco(prim, ext[DRACO], where)
        else:
            arrays = {name: self.accessor(acc, f"{where} {name}") for name, acc in attrs.items()}
            indices = None
            if "indices" in prim:
                indices = self.accessor(prim["indices"], f"{where} indices")
                if indices.shape[1] != 1 or indices.dtype.kind != "u":
                    raise CorruptFileError(f"{self.name}: {where} indices must be unsigned integer scalars")
                indices = indices[:, 0]

        positions = np.ascontiguousarray(arrays["POSITION"], dtype=np.float32)
        n = len(positions)
        if positions.shape[1] != 3:
            raise CorruptFileError(f"{self.name}: {where} POSITION must be VEC3")
        if not np.isfinite(positions).all():
            bad = int((~np.isfinite(positions).all(axis=1)).sum())
            raise InvalidGeometryError(f"{self.name}: {where} has {bad:,} vertex positions that are NaN or infinite")
        for name, arr in arrays.items():
            if len(arr) != n:
                raise CorruptFileError(f"{self.name}: {where} attribute {name} has {len(arr)} elements but POSITION has {n}")

        if indices is not None and indices.size and int(indices.max()) >= n:
            raise CorruptFileError(f"{self.name}: {where} index {int(indices.max()):,} is past the vertex count ({n:,})")
        if mode == MODE_POINTS:
            keep = None if indices is None else np.asarray(indices, dtype=np.int64)
            tris = None
        else:
            seq = np.arange(n, dtype=np.uint32) if indices is None else indices.astype(np.uint32)
            if mode == MODE_TRIANGLES:
                if len(seq) % 3:
                    self.note(f"{where}: {len(seq) % 3} trailing indices that make no whole triangle were ignored")
                tris = seq[: len(seq) - len(seq) % 3].reshape(-1, 3)
            elif mode == MODE_TRIANGLE_STRIP:
                tris = _strip_to_triangles(seq)
            else:
                tris = _fan_to_triangles(seq)
            keep = None

        def attr(name: str, comps: tuple[int, ...]) -> np.ndarray | None:
            arr = arrays.get(name)
            if arr is None:
                return None
            if arr.shape[1] not in comps:
                raise CorruptFileError(f"{self.name}: {where} {name} has {arr.shape[1]} components; expected {comps}")
            return np.ascontiguousarray(arr, dtype=np.float32)

        colors = attr("COLOR_0", (3, 4))
        if colors is not None and colors.shape[1] == 3:
            colors = np.concatenate([colors, np.ones((n, 1), np.float32)], axis=1)
        uvs = []
        while f"TEXCOORD_{len(uvs)}" in arrays:
            uvs.append(attr(f"TEXCOORD_{len(uvs)}", (2,)))
        for name in arrays:
            if name.startswith(("JOINTS_", "WEIGHTS_")):
                self.note("skins dropped (the mesh is kept in its bind pose)")
            elif name not in ("POSITION", "NORMAL", "TANGENT", "COLOR_0") and not name.startswith("TEXCOORD_"):
                self.note(f"vertex attribute {name} dropped")
        material = prim.get("material")
        if material is not None and (not isinstance(material, int) or not 0 <= material < material_count):
            raise CorruptFileError(f"{self.name}: {where} refers to material {material!r}, but the file has {material_count}")
        mappings = self.variant_mappings(ext.get(VARIANTS), where, material_count, variant_count)
        out = Primitive(
            positions=positions,
            indices=tris,
            normals=attr("NORMAL", (3,)),
            tangents=attr("TANGENT", (4,)),
            uvs=uvs,
            colors=colors,
            material=material,
            variant_mappings=mappings,
            mode="points" if mode == MODE_POINTS else "triangles",
            extras=copy.deepcopy(prim["extras"]) if isinstance(prim.get("extras"), dict) else {},
        )
        if keep is not None:
            out = out.take_vertices(keep)
        return out

    def variant_mappings(self, ext: Any, where: str, material_count: int, variant_count: int) -> list[dict[str, Any]]:
        if ext is None:
            return []
        mappings = ext.get("mappings") if isinstance(ext, dict) else None
        if not isinstance(mappings, list):
            raise CorruptFileError(f"{self.name}: {where} {VARIANTS} has no mappings array")
        for mapping in mappings:
            if not isinstance(mapping, dict):
                raise CorruptFileError(f"{self.name}: {where} {VARIANTS} mapping is not an object")
            mat = mapping.get("material")
            if not isinstance(mat, int) or not 0 <= mat < material_count:
                raise CorruptFileError(f"{self.name}: {where} variant mapping refers to material {mat!r}, but the file has {material_count}")
            variants = mapping.get("variants")
            if not isinstance(variants, list) or not all(isinstance(v, int) and 0 <= v < variant_count for v in variants):
                raise CorruptFileError(f"{self.name}: {where} variant mapping refers to variants {variants!r}, but the file has {variant_count}")
        return copy.deepcopy(mappings)

    def draco(self, prim: dict[str, Any], ext: dict[str, Any], where: str) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        try:
            import DracoPy
        except ImportError:
            raise MissingDependencyError("reading Draco-compressed glTF needs DracoPy (pip install DracoPy)") from None
        if not isinstance(ext, dict) or not isinstance(ext.get("attributes"), dict):
            raise CorruptFileError(f"{self.name}: {where} {DRACO} has no attributes")
        view = bytes(self.buffer_view(self._int(ext, "bufferView", f"{where} {DRACO}"), f"{where} {DRACO}"))
        try:
            decoded = DracoPy.decode(view)
        except Exception as exc:  # DracoPy raises several unrelated types for a bad bitstream
            raise CorruptFileError(f"{self.name}: {where} Draco data does not decode ({exc})") from None
        by_id = {a["unique_id"]: a for a in decoded.attributes}
        attrs = prim.get("attributes", {})
        arrays: dict[str, np.ndarray] = {}
        for name, acc_index in attrs.items():
            acc = self.get("accessors", acc_index, f"{where} {name}")
            if name in ext["attributes"]:
                uid = ext["attributes"][name]
                if uid not in by_id:
                    raise CorruptFileError(f"{self.name}: {where} {name} maps to Draco attribute {uid!r}, which the data does not have")
                data = np.asarray(by_id[uid]["data"])
                data = data.reshape(len(data), -1)
                if acc.get("normalized") and data.dtype.kind in "iu":
                    data = _normalize_ints(data)
                arrays[name] = data
            else:
                arrays[name] = self.accessor(acc_index, f"{where} {name}")
        faces = getattr(decoded, "faces", None)
        indices = None if faces is None or prim.get("mode", MODE_TRIANGLES) == MODE_POINTS else np.asarray(faces, dtype=np.uint32).reshape(-1)
        return arrays, indices

    # ---- everything ----------------------------------------------------------------------
    def read(self) -> Asset:
        try:
            return self._read()
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
            # A structurally malformed document that none of the specific checks named.
            raise CorruptFileError(f"{self.name}: malformed glTF ({type(exc).__name__}: {exc})") from None

    def _read(self) -> Asset:
        required = self.doc.get("extensionsRequired", []) or []
        if not isinstance(required, list):
            raise CorruptFileError(f"{self.name}: extensionsRequired must be an array")
        supported = {MESHOPT, DRACO, QUANTIZATION, WEBP, BASISU, TEXTURE_TRANSFORM, VARIANTS, LIGHTS}
        for ext in required:
            if ext not in supported and not ext.startswith("KHR_materials_"):
                raise UnsupportedFormatError(f"{self.name}: requires the glTF extension {ext}, which is not supported")
        self.check_limits()
        if self.items("animations"):
            self.note("animations dropped")
        if self.items("skins"):
            self.note("skins dropped (the mesh is kept in its bind pose)")
        root_ext = self.doc.get("extensions") or {}
        variants = []
        if VARIANTS in root_ext:
            raw = root_ext[VARIANTS].get("variants", []) if isinstance(root_ext[VARIANTS], dict) else None
            if not isinstance(raw, list):
                raise CorruptFileError(f"{self.name}: {VARIANTS} variants must be an array")
            variants = [str(v.get("name", f"variant {i}")) if isinstance(v, dict) else f"variant {i}" for i, v in enumerate(raw)]
        for k in root_ext:
            if k not in KEPT_ROOT_EXTENSIONS and k != VARIANTS:
                self.note(f"root extension {k} dropped")
        textures, texture_map = self.textures()
        materials = self.materials(texture_map)
        meshes = self.meshes(len(materials), len(variants))
        nodes, roots = self.nodes(len(meshes))
        extras: dict[str, Any] = {}
        copyright_ = self.doc["asset"].get("copyright")
        if isinstance(copyright_, str) and copyright_:
            extras["copyright"] = copyright_
        return Asset(
            nodes=nodes,
            meshes=meshes,
            materials=materials,
            textures=textures,
            roots=roots,
            variants=variants,
            extensions={k: copy.deepcopy(v) for k, v in root_ext.items() if k in KEPT_ROOT_EXTENSIONS},
            unit_scale=1.0,
            up_axis="+Y",
            provenance=Provenance(
                filename=self.ctx.filename,
                sha256=hashlib.sha256(self.data).hexdigest(),
                size_bytes=len(self.data),
                format=self.fmt,
                notes=self.notes,
            ),
            extras=extras,
        )


def _drop_refs(material: dict[str, Any], refs: list[dict[str, Any]]) -> None:
    """Remove the given textureInfo dicts from a material (wherever they sit)."""
    ids = {id(r) for r in refs}
    stack: list[Any] = [material]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k in [k for k, v in item.items() if id(v) in ids]:
                del item[k]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# =============================================================================================
# Writing
# =============================================================================================


@dataclass
class _Stream:
    """One vertex attribute as written: `data` rows are whole elements padded to a 4-byte multiple."""

    name: str
    data: np.ndarray  # (count, padded components)
    components: int
    normalized: bool = False
    with_bounds: bool = False
    meshopt_filter: str = "NONE"  # the EXT_meshopt_compression filter `data` is pre-filtered with

    @property
    def stride(self) -> int:
        return self.data.shape[1] * self.data.dtype.itemsize


@dataclass
class PositionGrid:
    """The integer grid KHR_mesh_quantization positions are stored on: p = offset + q * step."""

    offset: np.ndarray  # (3,) float64
    step: float
    bits: int

    @classmethod
    def covering(cls, positions: list[np.ndarray], bits: int) -> "PositionGrid":
        pts = [p for p in positions if len(p)]
        if not pts:
            return cls(np.zeros(3), 1.0, bits)
        lo = np.min([p.min(axis=0) for p in pts], axis=0).astype(np.float64)
        hi = np.max([p.max(axis=0) for p in pts], axis=0).astype(np.float64)
        # One uniform step for all axes (as gltfpack): a non-uniform dequantization scale in the node
        # transform would bend normals through the normal matrix.
        extent = float((hi - lo).max())
        return cls(lo, (extent if extent > 0 else 1.0) / ((1 << bits) - 1), bits)

    def quantize(self, positions: np.ndarray) -> np.ndarray:
        q = np.rint((positions.astype(np.float64) - self.offset) / self.step)
        return np.clip(q, 0, (1 << self.bits) - 1).astype(np.uint16)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return q.astype(np.float64) * self.step + self.offset

    @property
    def matrix(self) -> np.ndarray:
        m = np.diag([self.step, self.step, self.step, 1.0])
        m[:3, 3] = self.offset
        return m

    @property
    def inverse(self) -> np.ndarray:
        m = np.diag([1 / self.step, 1 / self.step, 1 / self.step, 1.0])
        m[:3, 3] = -self.offset / self.step
        return m


@dataclass
class UvGrid:
    """Texture coordinates stored as normalized uint16 on a `bits` grid spanning [offset, offset + extent]:
    uv = offset + stored * scale, with the (offset, scale) folded into KHR_texture_transform on every
    texture that reads this set (as gltfpack does), so coordinates outside [0, 1] quantize too."""

    offset: np.ndarray  # (2,)
    extent: np.ndarray  # (2,)
    bits: int

    def quantize(self, uv: np.ndarray) -> np.ndarray:
        levels = (1 << self.bits) - 1
        q = np.rint((uv.astype(np.float64) - self.offset) / self.extent * levels)
        return np.clip(q, 0, levels).astype(np.uint16)

    @property
    def scale(self) -> np.ndarray:
        """Multiplier of the stored normalized value (stored / 65535) back to texture coordinates."""
        return self.extent * (65535.0 / ((1 << self.bits) - 1))


def _effective_texcoord(ref: dict[str, Any]) -> int:
    transform = (ref.get("extensions") or {}).get(TEXTURE_TRANSFORM) or {}
    return int(transform.get("texCoord", ref.get("texCoord", 0)))


def _uv_plans(asset: Asset, enc: dict[str, Any]) -> tuple[dict[tuple[int, int], list[Any]], dict[int, dict[int, UvGrid]]]:
    """How each primitive's texture coordinate sets are stored when quantizing: "unit" (normalized uint16,
    already in [0, 1]), "float", or a UvGrid whose dequantization goes into the materials' texture transforms.

    Materials that can be drawn on the same primitive (its material and its KHR_materials_variants
    mappings) share one grid per set, so every material stays right for every primitive it may draw."""
    if not enc["quantize"] or enc["method"] == "draco":
        return {}, {}
    parent = list(range(len(asset.materials)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def materials_of(prim: Primitive) -> list[int]:
        mats = [prim.material] + [m.get("material") for m in prim.variant_mappings]
        return [m for m in mats if isinstance(m, int) and 0 <= m < len(asset.materials)]

    for prim in asset.primitives():
        mats = materials_of(prim)
        for m in mats[1:]:
            parent[find(m)] = find(mats[0])
    # Per (group, set): the union of the coordinate ranges of every primitive in the group.
    ranges: dict[tuple[int, int], list[np.ndarray]] = {}
    for prim in asset.primitives():
        mats = materials_of(prim)
        if mats:
            for k, uv in enumerate(prim.uvs):
                if len(uv):
                    ranges.setdefault((find(mats[0]), k), []).extend([uv.min(axis=0), uv.max(axis=0)])
    rotated = {
        (find(m), _effective_texcoord(ref))
        for m, mat in enumerate(asset.materials)
        for ref in texture_refs(mat)
        if ((ref.get("extensions") or {}).get(TEXTURE_TRANSFORM) or {}).get("rotation", 0)
    }
    grids: dict[tuple[int, int], Any] = {}
    for key, values in ranges.items():
        lo = np.min(values, axis=0).astype(np.float64)
        hi = np.max(values, axis=0).astype(np.float64)
        if lo.min() >= 0 and hi.max() <= 1:
            grids[key] = "unit"
        elif key in rotated or not np.isfinite(lo).all() or not np.isfinite(hi).all():
            grids[key] = "float"  # composing with a rotation is left out: keep these coordinates exact
        else:
            extent = hi - lo
            grids[key] = UvGrid(lo, np.where(extent > 0, extent, 1.0), int(enc["uv_bits"]))
    plans: dict[tuple[int, int], list[Any]] = {}
    for mi, mesh in enumerate(asset.meshes):
        for pi, prim in enumerate(mesh.primitives):
            mats = materials_of(prim)
            plan = []
            for k, uv in enumerate(prim.uvs):
                if mats:
                    plan.append(grids.get((find(mats[0]), k), "unit"))
                else:  # no material reads these coordinates, so no transform can carry a dequantization
                    plan.append("unit" if len(uv) and uv.min() >= 0 and uv.max() <= 1 else "float")
            plans[(mi, pi)] = plan
    material_grids: dict[int, dict[int, UvGrid]] = {}
    for m in range(len(asset.materials)):
        for (group, k), grid in grids.items():
            if group == find(m) and isinstance(grid, UvGrid):
                material_grids.setdefault(m, {})[k] = grid
    return plans, material_grids


def _fold_uv_grids(material: dict[str, Any], grids: dict[int, UvGrid]) -> None:
    """Compose each texture reference's KHR_texture_transform with the dequantization of the set it reads:
    T(o1) S(s1) applied after T(o2) S(s2) is T(o1 + s1 * o2) S(s1 * s2) (no rotation here by construction)."""
    for ref in texture_refs(material):
        grid = grids.get(_effective_texcoord(ref))
        if grid is None:
            continue
        ext = ref.setdefault("extensions", {})
        transform = ext.setdefault(TEXTURE_TRANSFORM, {})
        o1 = np.asarray(transform.get("offset", (0.0, 0.0)), dtype=np.float64)
        s1 = np.asarray(transform.get("scale", (1.0, 1.0)), dtype=np.float64)
        transform["offset"] = [float(x) for x in o1 + s1 * grid.offset]
        transform["scale"] = [float(x) for x in s1 * grid.scale]


def resolved_encoding(asset: Asset) -> dict[str, Any]:
    """`asset.encoding` with the documented defaults filled in (None = plain float32)."""
    out = dict(DEFAULT_ENCODING)
    out.update(asset.encoding or {})
    return out


def position_grids(asset: Asset, encoding: dict[str, Any]) -> dict[int, PositionGrid]:
    """Per mesh index, the quantization grid its positions are written on (KHR_mesh_quantization), or
    none when positions stay float (no quantization, or Draco, which quantizes inside its own bitstream)."""
    if not encoding["quantize"] or encoding["method"] == "draco":
        return {}
    return {
        i: PositionGrid.covering([p.positions for p in mesh.primitives if len(p.positions)], int(encoding["position_bits"]))
        for i, mesh in enumerate(asset.meshes)
        if any(len(p.positions) for p in mesh.primitives)
    }


def draco_grid(positions: np.ndarray, bits: int) -> PositionGrid:
    """Draco's position quantization: origin at the minimum, the largest extent split in 2^bits - 1 steps."""
    return PositionGrid.covering([positions], bits)


def position_error(asset: Asset, encoding: dict[str, Any]) -> float:
    """The largest distance (in the asset's world units) between a drawn vertex and where the encoding puts it."""
    grids = position_grids(asset, encoding)
    worst = 0.0
    for _, mesh, world in asset.mesh_instances():
        mesh_index = asset.meshes.index(mesh)
        for prim in mesh.primitives:
            if not len(prim.positions):
                continue
            grid = grids.get(mesh_index)
            if grid is None and encoding["method"] == "draco" and prim.mode == "triangles":
                grid = draco_grid(prim.positions, int(encoding["position_bits"]))
            if grid is None:
                continue
            delta = grid.dequantize(grid.quantize(prim.positions)) - prim.positions.astype(np.float64)
            worst = max(worst, float(np.linalg.norm(delta @ world[:3, :3].T, axis=1).max()))
    return worst


def _unit_vectors(v: np.ndarray, fallback: tuple[float, ...]) -> np.ndarray:
    """Unit-length rows (the validator rejects non-unit normals/tangents); zero or NaN rows get `fallback`."""
    v = v.astype(np.float32)
    length = np.linalg.norm(v, axis=1)
    bad = ~(np.isfinite(length) & (length > 1e-12))
    out = v / np.where(bad, 1.0, length)[:, None]
    out[bad] = fallback
    return out


def _snorm(v: np.ndarray, bits: int) -> tuple[np.ndarray, np.dtype]:
    """Signed normalized integers on a `bits` grid, stored in int8 (<= 8 bits) or int16."""
    dtype = np.dtype(np.int8) if bits <= 8 else np.dtype(np.int16)
    top = np.iinfo(dtype).max
    levels = (1 << (bits - 1)) - 1
    q = np.rint(np.clip(v, -1, 1) * levels)
    if levels != top:
        q = np.rint(q * (top / levels))
    return q.astype(dtype), dtype


def _unorm(v: np.ndarray, bits: int, dtype: np.dtype | None = None) -> np.ndarray:
    """Unsigned normalized integers on a `bits` grid, stored in `dtype` (default: uint8 up to 8 bits, else uint16)."""
    dtype = np.dtype(dtype or (np.uint8 if bits <= 8 else np.uint16))
    top = np.iinfo(dtype).max
    levels = (1 << bits) - 1
    q = np.rint(np.clip(v, 0, 1) * levels)
    if levels != top:
        q = np.rint(q * (top / levels))
    return q.astype(dtype)


def _octahedral(v: np.ndarray, w: np.ndarray | None, bits: int) -> np.ndarray:
    """EXT_meshopt_compression OCTAHEDRAL filter input (meshopt_encodeFilterOct): unit vectors folded onto
    the octahedron, u/v quantized to `bits`, the third component the constant (2^(bits-1) - 1), the fourth
    the tangent sign or 0. The constant column makes normals compress far better; the decoder rebuilds
    unit vectors at full storage precision."""
    dtype = np.dtype(np.int8) if bits <= 8 else np.dtype(np.int16)
    levels = (1 << (bits - 1)) - 1
    p = v[:, :2] / np.maximum(np.abs(v).sum(axis=1, keepdims=True), 1e-30)
    folded = (1 - np.abs(p[:, ::-1])) * np.where(p >= 0, 1.0, -1.0)
    p = np.where(v[:, 2:3] >= 0, p, folded)
    out = np.zeros((len(v), 4), dtype=dtype)
    out[:, :2] = np.rint(np.clip(p, -1, 1) * levels)
    out[:, 2] = levels
    if w is not None:
        out[:, 3] = np.where(w < 0, -np.iinfo(dtype).max, np.iinfo(dtype).max)
    return out


def _padded(a: np.ndarray) -> np.ndarray:
    """Rows padded with zero columns to a multiple of 4 bytes (glTF vertex element alignment)."""
    row = a.shape[1] * a.dtype.itemsize
    extra = (-row % 4) // a.dtype.itemsize
    if extra == 0:
        return np.ascontiguousarray(a)
    out = np.zeros((len(a), a.shape[1] + extra), dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out


def _vertex_streams(prim: Primitive, grid: PositionGrid | None, uv_plan: list[Any], enc: dict[str, Any]) -> list[_Stream]:
    quantize = bool(enc["quantize"])
    octahedral = quantize and enc["method"] == "meshopt"
    streams: list[_Stream] = []
    if grid is not None:
        streams.append(_Stream("POSITION", _padded(grid.quantize(prim.positions)), 3, with_bounds=True))
    else:
        streams.append(_Stream("POSITION", np.ascontiguousarray(prim.positions, dtype=np.float32), 3, with_bounds=True))
    if prim.normals is not None:
        n = _unit_vectors(prim.normals, (0.0, 0.0, 1.0))
        if octahedral:
            oct_n = _octahedral(n, None, int(enc["normal_bits"]))
            streams.append(_Stream("NORMAL", oct_n, 3, normalized=True, meshopt_filter="OCTAHEDRAL"))
        elif quantize:
            q, _ = _snorm(n, int(enc["normal_bits"]))
            streams.append(_Stream("NORMAL", _padded(q), 3, normalized=True))
        else:
            streams.append(_Stream("NORMAL", n, 3))
    if prim.tangents is not None:
        t = np.empty((len(prim.tangents), 4), dtype=np.float32)
        t[:, :3] = _unit_vectors(prim.tangents[:, :3], (1.0, 0.0, 0.0))
        t[:, 3] = np.where(prim.tangents[:, 3] < 0, -1.0, 1.0)
        if octahedral:
            oct_t = _octahedral(t[:, :3], t[:, 3], int(enc["normal_bits"]))
            streams.append(_Stream("TANGENT", oct_t, 4, normalized=True, meshopt_filter="OCTAHEDRAL"))
        elif quantize:
            q, _ = _snorm(t, int(enc["normal_bits"]))
            streams.append(_Stream("TANGENT", q, 4, normalized=True))
        else:
            streams.append(_Stream("TANGENT", t, 4))
    for i, uv in enumerate(prim.uvs):
        name = f"TEXCOORD_{i}"
        plan = uv_plan[i] if i < len(uv_plan) else "float"
        # Normalized unsigned shorts are core glTF for texture coordinates.
        if isinstance(plan, UvGrid):
            streams.append(_Stream(name, plan.quantize(uv), 2, normalized=True))
        elif plan == "unit":
            streams.append(_Stream(name, _unorm(uv, int(enc["uv_bits"]), np.uint16), 2, normalized=True))
        else:
            streams.append(_Stream(name, np.ascontiguousarray(uv, dtype=np.float32), 2))
    if prim.colors is not None:
        rgba = np.clip(prim.colors, 0, 1)
        opaque = bool((rgba[:, 3] >= 1.0).all())
        values = rgba[:, :3] if opaque else rgba
        if quantize:
            streams.append(_Stream("COLOR_0", _padded(_unorm(values, int(enc["color_bits"]))), values.shape[1], normalized=True))
        else:
            streams.append(_Stream("COLOR_0", np.ascontiguousarray(values, dtype=np.float32), values.shape[1]))
    return streams


def _matrix_json(m: np.ndarray) -> dict[str, Any]:
    """A node transform as TRS when it decomposes (the validator's preference), else as a matrix."""
    if np.allclose(m, IDENTITY, atol=1e-12):
        return {}
    column_major = [float(x) for x in m.T.reshape(-1)]
    if not np.allclose(m[3], (0, 0, 0, 1)):
        return {"matrix": column_major}
    a = m[:3, :3]
    scale = np.linalg.norm(a, axis=0)
    if (scale < 1e-30).any():
        return {"matrix": column_major}
    rot = a / scale
    if np.linalg.det(rot) < 0:
        scale[0] = -scale[0]
        rot[:, 0] = -rot[:, 0]
    if not np.allclose(rot.T @ rot, np.eye(3), atol=1e-5):
        return {"matrix": column_major}
    out: dict[str, Any] = {}
    if np.abs(m[:3, 3]).max() > 0:
        out["translation"] = [float(x) for x in m[:3, 3]]
    q = _quaternion(rot)
    if not np.allclose(q, (0, 0, 0, 1), atol=1e-12):
        out["rotation"] = [float(x) for x in q]
    if not np.allclose(scale, 1, atol=1e-12):
        out["scale"] = [float(x) for x in scale]
    return out


def _quaternion(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a rotation matrix (Shepperd's method)."""
    trace = np.trace(r)
    if trace > 0:
        s = math.sqrt(trace + 1.0) * 2
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
        q = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
    elif r[1, 1] > r[2, 2]:
        s = math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
        q = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
    else:
        s = math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
        q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def _extension_names(obj: Any) -> set[str]:
    """Names of every glTF extension used inside a JSON fragment (keys of any `extensions` object)."""
    names: set[str] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if k == "extras":
                    continue
                if k == "extensions" and isinstance(v, dict):
                    names.update(v)
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return names


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _GlbWriter:
    def __init__(self, asset: Asset):
        self.asset = asset
        self.enc = resolved_encoding(asset)
        self.method = self.enc["method"]
        if self.method not in ("none", "meshopt", "draco"):
            raise ValueError(f"unknown geometry encoding method {self.method!r}")
        self.bin = bytearray()
        self.fallback_length = 0
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []
        self.used: set[str] = set()
        self.required: set[str] = set()

    # ---- binary ----------------------------------------------------------------------------
    def _append(self, data: bytes) -> int:
        self.bin += b"\0" * (-len(self.bin) % 4)
        offset = len(self.bin)
        self.bin += data
        return offset

    def view(self, data: bytes, target: int | None = None, stride: int | None = None) -> int:
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self._append(data), "byteLength": len(data)}
        if stride is not None:
            view["byteStride"] = stride
        if target is not None:
            view["target"] = target
        self.views.append(view)
        return len(self.views) - 1

    def meshopt_view(self, data: np.ndarray, mode: str, target: int, meshopt_filter: str = "NONE") -> int:
        """A bufferView compressed with EXT_meshopt_compression; its uncompressed bytes live in the
        data-less fallback buffer 1, as the extension allows."""
        import meshoptimizer

        if mode == "ATTRIBUTES":
            stride = data.shape[1] * data.dtype.itemsize
            count = len(data)
            # EXT_meshopt_compression specifies vertex codec version 0.
            meshoptimizer.encode_vertex_version(0)
            encoded = meshoptimizer.encode_vertex_buffer(data.view(np.uint8).reshape(count, stride), count, stride)
        else:
            stride = data.dtype.itemsize
            count = data.size
            meshoptimizer.encode_index_version(1)
            encoded = meshoptimizer.encode_index_buffer(data.reshape(-1).astype(np.uint32), count, int(data.max()) + 1 if count else 0)
        length = count * stride
        self.fallback_length += -self.fallback_length % 4
        view: dict[str, Any] = {"buffer": 1, "byteOffset": self.fallback_length, "byteLength": length, "target": target}
        if mode == "ATTRIBUTES":
            view["byteStride"] = stride
        view["extensions"] = {
            MESHOPT: {
                "buffer": 0,
                "byteOffset": self._append(encoded),
                "byteLength": len(encoded),
                "byteStride": stride,
                "count": count,
                "mode": mode,
            }
        }
        if meshopt_filter != "NONE":
            view["extensions"][MESHOPT]["filter"] = meshopt_filter
        self.fallback_length += length
        self.views.append(view)
        self.used.add(MESHOPT)
        self.required.add(MESHOPT)
        return len(self.views) - 1

    def accessor(self, view: int | None, dtype: np.dtype, count: int, components: int, normalized: bool = False,
                 bounds: np.ndarray | None = None) -> int:
        acc: dict[str, Any] = {"componentType": DTYPE_COMPONENTS[np.dtype(dtype).newbyteorder("<").str], "count": int(count),
                               "type": COMPONENTS_TYPE[components]}
        if view is not None:
            acc["bufferView"] = view
        if normalized:
            acc["normalized"] = True
        if bounds is not None and count:
            vals = bounds[:, :components]
            cast = float if np.dtype(dtype).kind == "f" else int
            acc["min"] = [cast(x) for x in vals.min(axis=0)]
            acc["max"] = [cast(x) for x in vals.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    # ---- geometry --------------------------------------------------------------------------
    def primitive(self, prim: Primitive, grid: PositionGrid | None, uv_plan: list[Any]) -> dict[str, Any] | None:
        if not len(prim.positions):
            return None
        triangles = prim.mode == "triangles"
        if triangles and (prim.indices is None or not len(prim.indices)):
            return None
        out: dict[str, Any]
        if triangles and self.method == "draco" and _has_draco_visible_triangle(prim, int(self.enc["position_bits"])):
            out = self.draco_primitive(prim)
        else:
            # Draco refuses a mesh whose triangles all collapse on its quantization grid (a tiny part of a
            # coarse LOD); such a primitive is written as plain streams, which glTF allows beside Draco ones.
            out = self.stream_primitive(prim, grid, uv_plan)
        if prim.material is not None and 0 <= prim.material < len(self.asset.materials):
            out["material"] = prim.material
        if prim.variant_mappings and self.asset.variants:
            out.setdefault("extensions", {})[VARIANTS] = {"mappings": copy.deepcopy(prim.variant_mappings)}
            self.used.add(VARIANTS)
        if prim.extras:
            out["extras"] = copy.deepcopy(prim.extras)
        return out

    def stream_primitive(self, prim: Primitive, grid: PositionGrid | None, uv_plan: list[Any]) -> dict[str, Any]:
        streams = _vertex_streams(prim, grid, uv_plan, self.enc)
        if grid is not None or any(s.name in ("NORMAL", "TANGENT") and s.data.dtype.kind != "f" for s in streams):
            self.used.add(QUANTIZATION)
            self.required.add(QUANTIZATION)
        indices = None if prim.mode != "triangles" else prim.indices.reshape(-1).astype(np.uint32)
        meshopt = self.method == "meshopt"
        if meshopt and indices is not None:
            indices, order = _optimize_for_meshopt(indices, prim.vertex_count)
            streams = [_Stream(s.name, s.data[order], s.components, s.normalized, s.with_bounds, s.meshopt_filter) for s in streams]
        out: dict[str, Any] = {"attributes": {}}
        for s in streams:
            if meshopt:
                view = self.meshopt_view(s.data, "ATTRIBUTES", ARRAY_BUFFER, s.meshopt_filter)
            else:
                view = self.view(s.data.tobytes(), ARRAY_BUFFER, s.stride)
            out["attributes"][s.name] = self.accessor(
                view, s.data.dtype, len(s.data), s.components, s.normalized, s.data if s.with_bounds else None
            )
        if indices is not None:
            vertex_count = len(streams[0].data)
            index_dtype = np.dtype("<u2") if vertex_count <= 0xFFFF else np.dtype("<u4")
            idx = indices.astype(index_dtype)
            view = self.meshopt_view(idx, "TRIANGLES", ELEMENT_ARRAY_BUFFER) if meshopt else self.view(idx.tobytes(), ELEMENT_ARRAY_BUFFER)
            out["indices"] = self.accessor(view, index_dtype, len(idx), 1)
        else:
            out["mode"] = MODE_POINTS
        return out

    def draco_primitive(self, prim: Primitive) -> dict[str, Any]:
        try:
            import DracoPy
        except ImportError:
            raise MissingDependencyError("Draco compression needs DracoPy (pip install DracoPy)") from None
        enc = self.enc
        n = prim.vertex_count
        kwargs: dict[str, Any] = {}
        generic: dict[int, np.ndarray] = {}
        generic_names: dict[int, str] = {}
        if prim.normals is not None:
            kwargs["normals"] = _unit_vectors(prim.normals, (0.0, 0.0, 1.0)).astype(np.float64)
            kwargs["normal_quantization_bits"] = int(enc["normal_bits"])
        if prim.uvs:
            kwargs["tex_coord"] = prim.uvs[0].astype(np.float64)
            kwargs["tex_coord_quantization_bits"] = int(enc["uv_bits"])
        # DracoPy quantizes only its one texture coordinate set; later sets go in as generic attributes,
        # as normalized uint16 on the uv_bits grid when they fit [0, 1] (core glTF), else float32.
        uv_types: dict[int, tuple[np.dtype, bool]] = {}
        for i, uv in enumerate(prim.uvs[1:], start=1):
            generic_names[len(generic)] = f"TEXCOORD_{i}"
            if len(uv) and float(uv.min()) >= 0 and float(uv.max()) <= 1:
                generic[len(generic)] = _unorm(uv, int(enc["uv_bits"]), np.uint16)
                uv_types[i] = (np.dtype(np.uint16), True)
            else:
                generic[len(generic)] = np.ascontiguousarray(uv, dtype=np.float32)
                uv_types[i] = (np.dtype(np.float32), False)
        if prim.tangents is not None:
            t = np.empty((n, 4), dtype=np.float32)
            t[:, :3] = _unit_vectors(prim.tangents[:, :3], (1.0, 0.0, 0.0))
            t[:, 3] = np.where(prim.tangents[:, 3] < 0, -1.0, 1.0)
            generic_names[len(generic)] = "TANGENT"
            generic[len(generic)] = t
        color_components = 0
        if prim.colors is not None:
            rgba = np.clip(prim.colors, 0, 1)
            values = rgba[:, :3] if bool((rgba[:, 3] >= 1.0).all()) else rgba
            color_components = values.shape[1]
            quantized = _unorm(values, int(enc["color_bits"]))
            if quantized.dtype == np.uint8:
                kwargs["colors"] = quantized
            else:
                generic_names[len(generic)] = "COLOR_0"
                generic[len(generic)] = quantized
        try:
            encoded = DracoPy.encode(
                np.ascontiguousarray(prim.positions, dtype=np.float32),
                np.ascontiguousarray(prim.indices, dtype=np.uint32),
                quantization_bits=int(enc["position_bits"]),
                compression_level=7,
                generic_attributes=generic or None,
                **kwargs,
            )
            # Decoding tells the exact vertex/index counts and bounds the accessors must state (Draco
            # splits vertices on attribute seams and drops degenerate triangles).
            decoded = DracoPy.decode(encoded)
        except Exception as exc:  # DracoPy signals failures with several exception types
            raise InvalidGeometryError(f"Draco could not encode this mesh ({exc})") from None
        by_type: dict[int, dict[str, Any]] = {}
        ids: dict[str, int] = {}
        for attr in decoded.attributes:
            if attr["attribute_type"] == int(DracoPy.AttributeType.GENERIC):
                ids[generic_names[attr["unique_id"]]] = attr["unique_id"]
            else:
                by_type[attr["attribute_type"]] = attr
        for gltf_name, draco_type in (("POSITION", DracoPy.AttributeType.POSITION), ("NORMAL", DracoPy.AttributeType.NORMAL),
                                      ("TEXCOORD_0", DracoPy.AttributeType.TEX_COORD), ("COLOR_0", DracoPy.AttributeType.COLOR)):
            if int(draco_type) in by_type:
                ids[gltf_name] = by_type[int(draco_type)]["unique_id"]
        points = np.asarray(decoded.points, dtype=np.float32).reshape(-1, 3)
        count = len(points)
        faces = np.asarray(decoded.faces).reshape(-1)
        view = self.view(encoded)
        attributes = {"POSITION": self.accessor(None, np.dtype(np.float32), count, 3, bounds=points)}
        if "NORMAL" in ids:
            attributes["NORMAL"] = self.accessor(None, np.dtype(np.float32), count, 3)
        for i in range(len(prim.uvs)):
            uv_dtype, normalized = uv_types.get(i, (np.dtype(np.float32), False))
            attributes[f"TEXCOORD_{i}"] = self.accessor(None, uv_dtype, count, 2, normalized=normalized)
        if "TANGENT" in ids:
            attributes["TANGENT"] = self.accessor(None, np.dtype(np.float32), count, 4)
        if "COLOR_0" in ids:
            color_dtype = np.dtype(np.uint8) if int(enc["color_bits"]) <= 8 else np.dtype(np.uint16)
            attributes["COLOR_0"] = self.accessor(None, color_dtype, count, color_components, normalized=True)
        index_dtype = np.dtype("<u2") if count <= 0xFFFF else np.dtype("<u4")
        self.used.add(DRACO)
        self.required.add(DRACO)
        return {
            "attributes": attributes,
            "indices": self.accessor(None, index_dtype, len(faces), 1),
            "extensions": {DRACO: {"bufferView": view, "attributes": {k: ids[k] for k in attributes}}},
        }

    # ---- document --------------------------------------------------------------------------
    def write(self) -> bytes:
        asset = self.asset
        grids = position_grids(asset, self.enc)
        uv_plans, self.material_uv_grids = _uv_plans(asset, self.enc)

        meshes_json: list[dict[str, Any]] = []
        mesh_map: dict[int, int] = {}
        for i, mesh in enumerate(asset.meshes):
            prims = [
                p
                for p in (self.primitive(prim, grids.get(i), uv_plans.get((i, j), [])) for j, prim in enumerate(mesh.primitives))
                if p is not None
            ]
            if not prims:
                continue
            mesh_json: dict[str, Any] = {"primitives": prims}
            if mesh.name:
                mesh_json["name"] = mesh.name
            if mesh.extras:
                mesh_json["extras"] = copy.deepcopy(mesh.extras)
            mesh_map[i] = len(meshes_json)
            meshes_json.append(mesh_json)

        nodes_json = self.nodes(grids, mesh_map)
        doc: dict[str, Any] = {"asset": {"version": "2.0", "generator": GENERATOR}}
        if isinstance(asset.extras.get("copyright"), str):
            doc["asset"]["copyright"] = asset.extras["copyright"]
        doc["scene"] = 0
        doc["scenes"] = [{"nodes": list(asset.roots)} if asset.roots else {}]
        if nodes_json:
            doc["nodes"] = nodes_json
        if meshes_json:
            doc["meshes"] = meshes_json
        materials = self.materials()
        if materials:
            doc["materials"] = materials
        self.textures(doc)
        root_ext = {k: copy.deepcopy(v) for k, v in asset.extensions.items() if k != VARIANTS}
        if asset.variants:
            root_ext[VARIANTS] = {"variants": [{"name": name} for name in asset.variants]}
        if root_ext:
            doc["extensions"] = root_ext
            self.used.update(root_ext)
        if self.accessors:
            doc["accessors"] = self.accessors
        if self.views:
            doc["bufferViews"] = self.views
        buffers = []
        if self.bin:
            buffers.append({"byteLength": len(self.bin)})
        if self.fallback_length:
            buffers.append({"byteLength": self.fallback_length, "extensions": {MESHOPT: {"fallback": True}}})
        if buffers:
            doc["buffers"] = buffers
        self.used |= _extension_names(doc.get("materials", [])) | _extension_names(nodes_json)
        if self.used:
            doc["extensionsUsed"] = sorted(self.used)
        if self.required:
            doc["extensionsRequired"] = sorted(self.required)
        return _glb_container(doc, bytes(self.bin))

    def nodes(self, grids: dict[int, PositionGrid], mesh_map: dict[int, int]) -> list[dict[str, Any]]:
        """Node JSON; with quantized positions the mesh's dequantization joins the node transform and the
        node's children get its inverse, so world transforms and the hierarchy stay as they were."""
        asset = self.asset
        out: list[dict[str, Any]] = []
        extra: list[dict[str, Any]] = []
        # A node with an extension (a light) keeps its own transform and draws its mesh from an added
        # child carrying the dequantization; other mesh nodes take it themselves.
        split = {i for i, node in enumerate(asset.nodes) if node.mesh in grids and node.mesh in mesh_map and node.extensions}
        parent_grid: dict[int, PositionGrid] = {}
        for i, node in enumerate(asset.nodes):
            if node.mesh in grids and node.mesh in mesh_map and i not in split:
                for c in node.children:
                    parent_grid[c] = grids[node.mesh]
        for i, node in enumerate(asset.nodes):
            local = node.matrix
            if i in parent_grid:
                local = parent_grid[i].inverse @ local
            mesh = mesh_map.get(node.mesh) if node.mesh is not None else None
            grid = grids.get(node.mesh) if mesh is not None else None
            out_node: dict[str, Any] = {}
            if node.name:
                out_node["name"] = node.name
            children = list(node.children)
            if grid is not None and i in split:
                children.append(len(asset.nodes) + len(extra))
                child: dict[str, Any] = {"mesh": mesh, **_matrix_json(grid.matrix)}
                if node.name:
                    child["name"] = node.name
                extra.append(child)
                out_node.update(_matrix_json(local))
            else:
                out_node.update(_matrix_json(local @ grid.matrix if grid is not None else local))
                if mesh is not None:
                    out_node["mesh"] = mesh
            if children:
                out_node["children"] = children
            if node.extensions:
                out_node["extensions"] = copy.deepcopy(node.extensions)
            if node.extras:
                out_node["extras"] = copy.deepcopy(node.extras)
            out.append(out_node)
        return out + extra

    def materials(self) -> list[dict[str, Any]]:
        out = []
        count = len(self.asset.textures)
        for i, mat in enumerate(self.asset.materials):
            mat = copy.deepcopy(mat)
            _drop_refs(mat, [ref for ref in texture_refs(mat) if not 0 <= ref["index"] < count])
            if i in self.material_uv_grids:
                _fold_uv_grids(mat, self.material_uv_grids[i])
            out.append(mat)
        return out

    def textures(self, doc: dict[str, Any]) -> None:
        if not self.asset.textures:
            return
        images: list[dict[str, Any]] = []
        image_index: dict[str, int] = {}
        samplers: list[dict[str, Any]] = []
        sampler_index: dict[str, int] = {}

        def image(data: bytes, mime: str) -> int:
            key = hashlib.sha256(data).hexdigest()
            if key not in image_index:
                image_index[key] = len(images)
                images.append({"bufferView": self.view(data), "mimeType": mime})
            return image_index[key]

        textures = []
        for tex in self.asset.textures:
            out: dict[str, Any] = {}
            if tex.name:
                out["name"] = tex.name
            if tex.sampler:
                key = json.dumps(tex.sampler, sort_keys=True, default=_json_default)
                if key not in sampler_index:
                    sampler_index[key] = len(samplers)
                    samplers.append(copy.deepcopy(tex.sampler))
                out["sampler"] = sampler_index[key]
            ext_name = {"image/webp": WEBP, "image/ktx2": BASISU}.get(tex.mime_type)
            if ext_name is None:
                out["source"] = image(tex.data, tex.mime_type)
            else:
                out["extensions"] = {ext_name: {"source": image(tex.data, tex.mime_type)}}
                self.used.add(ext_name)
                if tex.fallback is not None:
                    out["source"] = image(tex.fallback, tex.fallback_mime_type or sniff_image_mime(tex.fallback) or "image/png")
                else:
                    self.required.add(ext_name)
            textures.append(out)
        if samplers:
            doc["samplers"] = samplers
        doc["images"] = images
        doc["textures"] = textures
        if TEXTURE_TRANSFORM in _extension_names(doc.get("materials", [])):
            # Offsets/scales/rotations change which texels are drawn: a viewer that ignores them would
            # draw the wrong texture placement, so the extension is required, not optional.
            self.required.add(TEXTURE_TRANSFORM)


def _optimize_for_meshopt(indices: np.ndarray, vertex_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Reorder triangles for the GPU vertex cache and vertices for fetch locality (what makes meshopt's
    codecs effective); returns (new indices, old vertex index for each new vertex). Unreferenced
    vertices are dropped."""
    import meshoptimizer

    ordered = np.empty_like(indices)
    meshoptimizer.optimize_vertex_cache(ordered, indices, len(indices), vertex_count)
    remap = np.empty(vertex_count, dtype=np.uint32)
    unique = meshoptimizer.optimize_vertex_fetch_remap(remap, ordered, len(ordered), vertex_count)
    used = np.flatnonzero(remap != 0xFFFFFFFF)
    order = np.empty(unique, dtype=np.int64)
    order[remap[used]] = used
    return remap[ordered], order


def _glb_container(doc: dict[str, Any], bin_data: bytes) -> bytes:
    text = json.dumps(doc, separators=(",", ":"), default=_json_default, allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), CHUNK_JSON) + text
    if bin_data:
        padded = bin_data + b"\0" * (-len(bin_data) % 4)
        chunks += struct.pack("<II", len(padded), CHUNK_BIN) + padded
    return struct.pack("<4sII", GLB_MAGIC, 2, GLB_HEADER_BYTES + len(chunks)) + chunks


def _has_draco_visible_triangle(prim: Primitive, position_bits: int) -> bool:
    """Whether any triangle keeps three distinct corners on Draco's position grid (the primitive's own
    bounding box divided into 2^bits - 1 steps per axis, as the Draco encoder quantizes)."""
    p = prim.positions.astype(np.float64)
    lo = p.min(axis=0)
    extent = float((p.max(axis=0) - lo).max())
    if extent <= 0:
        return False
    q = np.floor((p - lo) / extent * ((1 << position_bits) - 1) + 0.5).astype(np.int64)
    a, b, c = (q[prim.indices[:, k]] for k in range(3))
    distinct = (a != b).any(axis=1) & (b != c).any(axis=1) & (a != c).any(axis=1)
    return bool(distinct.any())


def write_glb(asset: Asset) -> bytes:
    """The asset as a GLB 2.0 file, geometry encoded as `asset.encoding` says (None = plain float32)."""
    return _GlbWriter(asset).write()
