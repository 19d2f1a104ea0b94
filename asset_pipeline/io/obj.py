"""Wavefront OBJ reader, with its MTL material libraries and textures.

Parsing is vectorized over the whole file: lines are classified by their first bytes with numpy, the
numbers of all `v`/`vt`/`vn`/`f` lines are parsed in one call each, and faces are grouped, resolved and
triangulated as arrays. The 4 MB armadillo loads in about 0.1 s; a per-line Python loop would take
seconds on a 30 MB scan.

What is kept: positions, per-vertex colours (`v x y z r g b`), UVs, normals, polygons (triangulated as
fans: exact for convex polygons), one primitive per material and one node per object (`o`, or `g` when
there are no `o` lines), MTL materials converted to glTF PBR. Corners naming the same position with
different UV/normal indices become separate vertices, since glTF has one index per vertex. What is
dropped or assumed is written to the provenance notes.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ..asset import Asset, Mesh, Node, Primitive, Provenance, Texture
from ..errors import CorruptFileError, InvalidGeometryError, LimitExceededError, UnsupportedFormatError
from ..images import encode_png, texture_from_bytes
from . import ReadContext
from .meshdata import (
    check_finite,
    check_limits,
    fan_triangulate,
    find_resource,
    finite_uvs,
    split_corners,
    srgb_to_linear,
    to_float32,
    unit_normals,
)

# Line kinds, from the first bytes of each line.
_OTHER, _V, _VT, _VN, _F, _KEYWORD, _ELEMENT = range(7)
_SPACE, _NEWLINE = 32, 10
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tga", ".bmp", ".gif", ".tif", ".tiff")


def read_obj(data: bytes, ctx: ReadContext) -> Asset:
    name = posixpath.splitext(posixpath.basename(ctx.filename.replace("\\", "/")))[0] or "mesh"
    notes: list[str] = []
    table = _LineTable(data, ctx.filename or "OBJ")

    if table.count(_V) == 0:
        raise InvalidGeometryError(f"{ctx.filename or 'OBJ'}: no vertices ('v' lines) in the file")
    positions, colors = _vertices(table, ctx, notes)
    uvs = _rows(table, _VT, 2, "texture coordinate ('vt')", min_count=1) if table.count(_VT) else None
    normals = _rows(table, _VN, 3, "normal ('vn')", min_count=3) if table.count(_VN) else None
    if uvs is not None:
        uvs = finite_uvs(uvs, notes)
        uvs[:, 1] = 1.0 - uvs[:, 1]  # OBJ's V axis points up the image, glTF's down

    keywords = table.keywords()
    ignored = table.count(_ELEMENT)
    if ignored:
        notes.append(f"ignored {ignored:,} point/line elements ('p'/'l' lines): only faces are kept")
    if any(k in ("cstype", "curv", "curv2", "surf") for k, _, _ in keywords):
        notes.append("ignored free-form curves/surfaces (cstype/curv/surf): only polygon faces are kept")

    materials = _MaterialLibrary(ctx, notes)
    for key, rest, _ in keywords:
        if key == "mtllib":
            materials.load_library(rest)

    if table.count(_F) == 0:
        check_limits(len(positions), 0, ctx.limits, ctx.filename or "OBJ")
        notes.append(f"no faces: read as a point cloud of {len(positions):,} points")
        prim = Primitive(positions=positions, colors=colors, mode="points")
        asset = Asset(nodes=[Node(name=name, mesh=0)], meshes=[Mesh(name=name, primitives=[prim])], roots=[0])
    else:
        asset = _build_meshes(table, keywords, positions, colors, uvs, normals, materials, name, ctx, notes)
    asset.materials = materials.used
    asset.textures = materials.textures
    if materials.lone_texture_used:
        notes.append(materials.lone_texture_used)
    asset.provenance = Provenance(ctx.filename, "", 0, format="obj", notes=notes)
    return asset


class _LineTable:
    """The file's lines, classified, with the token count of each line, all as arrays."""

    def __init__(self, data: bytes, what: str):
        self.what = what  # the file name, for messages
        if b"#" in data:
            # Comments, also trailing ones ("v 1 2 3 # note"), but not a '#' inside a name ("usemtl Color_#3").
            # Newlines stay, so line numbers in messages stay right.
            data = re.sub(rb"(?m)(?:^|(?<=[ \t]))#[^\n]*", b"", data)
        if b"\\" in data:
            data = re.sub(rb"\\[ \t\r]*\n", b" ", data)  # a backslash at the end continues the line
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        arr[(arr == 9) | (arr == 13) | (arr == 11) | (arr == 12)] = _SPACE
        self._index(arr)
        nonempty = self.ends > self.starts
        if (arr[self.starts[nonempty]] == _SPACE).any():  # indented lines: rare, strip them the slow way
            stripped = b"\n".join(line.lstrip(b" ") for line in arr.tobytes().split(b"\n"))
            self._index(np.frombuffer(stripped, dtype=np.uint8).copy())

    def _index(self, arr: np.ndarray) -> None:
        self.arr = arr
        newlines = np.flatnonzero(arr == _NEWLINE)
        self.starts = np.concatenate(([0], newlines + 1))
        self.ends = np.concatenate((newlines, [len(arr)]))
        padded = np.concatenate((arr, np.zeros(3, dtype=np.uint8)))
        b0, b1, b2 = padded[self.starts], padded[self.starts + 1], padded[self.starts + 2]
        kinds = np.full(len(self.starts), _OTHER, dtype=np.uint8)
        kinds[(b0 == ord("v")) & (b1 == _SPACE)] = _V
        kinds[(b0 == ord("v")) & (b1 == ord("t")) & (b2 == _SPACE)] = _VT
        kinds[(b0 == ord("v")) & (b1 == ord("n")) & (b2 == _SPACE)] = _VN
        kinds[(b0 == ord("f")) & (b1 == _SPACE)] = _F
        kinds[np.isin(b0, np.frombuffer(b"umogc", dtype=np.uint8))] = _KEYWORD
        kinds[np.isin(b0, np.frombuffer(b"lp", dtype=np.uint8)) & (b1 == _SPACE)] = _ELEMENT
        self.kinds = kinds
        # Tokens: a non-space byte after a space or newline (or at the start).
        blank = (arr == _SPACE) | (arr == _NEWLINE)
        token_start = ~blank & np.concatenate(([True], blank[:-1]))
        token_line = np.searchsorted(newlines, np.flatnonzero(token_start))
        self.tokens = np.bincount(token_line, minlength=len(self.starts))

    def count(self, kind: int) -> int:
        return int((self.kinds == kind).sum())

    def lines_of(self, kind: int) -> np.ndarray:
        return np.flatnonzero(self.kinds == kind)

    def keywords(self) -> list[tuple[str, str, int]]:
        """(keyword, rest of the line, line index) for usemtl/mtllib/o/g and other rare statements."""
        out = []
        for i in self.lines_of(_KEYWORD):
            text = self.arr[self.starts[i] : self.ends[i]].tobytes().decode("utf-8", errors="replace").strip()
            key, _, rest = text.partition(" ")
            out.append((key, rest.strip(), int(i)))
        return out

    def payload(self, kind: int, keyword_length: int) -> str:
        """The text of all lines of `kind` with their keyword blanked, ready for one numeric parse."""
        lines = self.lines_of(kind)
        for offset in range(keyword_length):
            self.arr[self.starts[lines] + offset] = _SPACE
        span = np.diff(np.concatenate((self.starts, [len(self.arr)])))
        selected = self.arr[np.repeat(self.kinds == kind, span)]
        try:
            return selected.tobytes().decode("ascii")
        except UnicodeDecodeError:
            raise CorruptFileError(f"{self.what}: non-numeric bytes on a line starting with {_KIND_NAMES[kind]!r}") from None

    def line_text(self, index: int) -> str:
        return self.arr[self.starts[index] : self.ends[index]].tobytes().decode("utf-8", errors="replace").strip()


_KIND_NAMES = {_V: "v", _VT: "vt", _VN: "vn", _F: "f"}


def _numbers(text: str, dtype: type, table: _LineTable, kind: int) -> np.ndarray:
    if not text or text.isspace():  # numpy parses blank text as [-1]
        return np.zeros(0, dtype=dtype)
    try:
        return np.fromstring(text, sep=" ", dtype=dtype)
    except ValueError:
        pass
    # Report the first offending line by number (only on the error path, so a Python loop is fine).
    convert = float if dtype is not np.int64 else int
    for i in table.lines_of(kind):
        for token in table.line_text(i).replace("/", " ").split():
            try:
                convert(token)
            except ValueError:
                raise CorruptFileError(f"{table.what} line {i + 1}: {token!r} is not a number") from None
    raise CorruptFileError(f"{table.what}: malformed numbers on the {_KIND_NAMES[kind]!r} lines")


def _gather(values: np.ndarray, counts: np.ndarray, columns: int, fill: float) -> np.ndarray:
    """Rows of the first `columns` numbers of each line (lines have `counts` numbers), padded with `fill`."""
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    if len(counts) and (counts == counts[0]).all() and counts[0] >= columns:
        return values.reshape(len(counts), counts[0])[:, :columns].copy()
    idx = offsets[:, None] + np.arange(columns)
    present = np.arange(columns) < counts[:, None]
    return np.where(present, values[np.minimum(idx, max(len(values) - 1, 0))], fill)


def _rows(table: _LineTable, kind: int, columns: int, what: str, min_count: int) -> np.ndarray:
    keyword_length = 2 if kind in (_VT, _VN) else 1
    counts = table.tokens[table.kinds == kind] - 1
    if (counts < min_count).any():
        line = int(table.lines_of(kind)[np.argmax(counts < min_count)])
        raise CorruptFileError(f"{table.what} line {line + 1}: a {what} needs at least {min_count} numbers")
    values = _numbers(table.payload(kind, keyword_length), np.float64, table, kind)
    if len(values) != counts.sum():
        raise CorruptFileError(f"{table.what}: malformed {what} lines")
    return to_float32(_gather(values, counts, columns, 0.0))


def _vertices(table: _LineTable, ctx: ReadContext, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    counts = table.tokens[table.kinds == _V] - 1
    check_limits(len(counts), 0, ctx.limits, ctx.filename or "OBJ")
    if (counts < 3).any():
        line = int(table.lines_of(_V)[np.argmax(counts < 3)])
        raise CorruptFileError(f"{table.what} line {line + 1}: a vertex needs 3 coordinates")
    values = _numbers(table.payload(_V, 1), np.float64, table, _V)
    if len(values) != counts.sum():
        raise CorruptFileError(f"{table.what}: malformed vertex ('v') lines")
    rows = _gather(values, counts, 6, np.nan)
    positions = to_float32(rows[:, :3])
    check_finite(positions, ctx.filename or "OBJ")
    colored = counts >= 6
    colors = None
    if colored.any():
        rgb = np.where(colored[:, None], rows[:, 3:6], 1.0)
        if not np.isfinite(rgb).all():
            notes.append("vertex colours with NaN/infinite values dropped")
        else:
            if rgb.max() > 1.0:
                rgb = rgb / 255.0
                notes.append("vertex colours above 1 read as 0-255 values")
            if not colored.all():
                notes.append(f"{int((~colored).sum()):,} vertices without a colour given white")
            notes.append("vertex colours assumed sRGB, converted to linear")
            colors = np.concatenate([srgb_to_linear(rgb), np.ones((len(rgb), 1), np.float32)], axis=1)
    if (counts == 7).any():
        notes.append("a 7th number on 'v' lines ignored (only x y z r g b is a known convention)")
    return positions, colors


def _faces(table: _LineTable, nv: int, nvt: int, nvn: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corner attribute indices (C, 3) int64 as 0-based (v, vt, vn) with -1 for absent, the corner count
    of each face, and the line index of each face."""
    face_lines = table.lines_of(_F)
    sizes = table.tokens[face_lines] - 1
    text = table.payload(_F, 1).replace("//", "/0/")
    corners = int(sizes.sum())
    fields = _corner_fields(text, corners)
    if fields is None:  # tokens with different v, v/vt, v/vt/vn forms in one file: pad each one
        text = " ".join(t + "/0" * (2 - t.count("/")) for t in text.split())
        fields = 3
    ints = _numbers(text.replace("/", " "), np.int64, table, _F)
    if len(ints) != corners * fields:
        raise CorruptFileError(
            f"{table.what}: malformed face ('f') lines: expected v, v/vt, v//vn or v/vt/vn on every corner"
        )
    ints = ints.reshape(corners, fields)
    out = np.full((corners, 3), -1, dtype=np.int64)
    # How many v/vt/vn lines precede each face: negative indices count back from there.
    before = {
        kind: np.repeat(np.searchsorted(table.lines_of(kind), face_lines), sizes) for kind in (_V, _VT, _VN)
    }
    for column, (kind, total, what, plural) in enumerate(
        (
            (_V, nv, "vertex", "vertices are" if nv != 1 else "vertex is"),
            (_VT, nvt, "texture coordinate", "texture coordinates are" if nvt != 1 else "texture coordinate is"),
            (_VN, nvn, "normal", "normals are" if nvn != 1 else "normal is"),
        )
    ):
        if column >= fields:
            break
        raw = ints[:, column]
        absent = raw == 0
        if column == 0 and absent.any():
            face = int(np.searchsorted(np.cumsum(sizes), int(np.argmax(absent)), side="right"))
            raise CorruptFileError(
                f"{table.what} line {int(face_lines[face]) + 1}: vertex index 0 is not valid (OBJ counts from 1)"
            )
        resolved = np.where(raw > 0, raw - 1, before[kind] + raw)
        resolved[absent] = -1
        bad = ~absent & ((resolved < 0) | (resolved >= total))
        if bad.any():
            corner = int(np.argmax(bad))
            face = int(np.searchsorted(np.cumsum(sizes), corner, side="right"))
            raise CorruptFileError(
                f"{table.what} line {int(face_lines[face]) + 1}: face refers to {what} {int(raw[corner])}, "
                f"but only {total:,} {plural} defined"
            )
        out[:, column] = resolved
    return out, sizes, face_lines


def _corner_fields(text: str, corners: int) -> int | None:
    """Numbers per corner (1, 2 or 3) when every corner uses the same form; None when they differ."""
    slashes = text.count("/")
    if slashes == 0:
        return 1
    if slashes % corners:
        return None
    per_corner = slashes // corners
    if per_corner not in (1, 2):
        return None
    # Equal totals could still hide a mix (0 and 2 slashes): check corner by corner, vectorized.
    arr = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    blank = (arr == _SPACE) | (arr == _NEWLINE)
    starts = np.flatnonzero(~blank & np.concatenate(([True], blank[:-1])))
    owner = np.searchsorted(starts, np.flatnonzero(arr == ord("/")), side="right") - 1
    counts = np.bincount(owner, minlength=len(starts))
    return per_corner + 1 if (counts == per_corner).all() else None


def _build_meshes(
    table: _LineTable,
    keywords: list[tuple[str, str, int]],
    positions: np.ndarray,
    colors: np.ndarray | None,
    uvs: np.ndarray | None,
    normals: np.ndarray | None,
    materials: "_MaterialLibrary",
    name: str,
    ctx: ReadContext,
    notes: list[str],
) -> Asset:
    nvt = 0 if uvs is None else len(uvs)
    nvn = 0 if normals is None else len(normals)
    face_sizes = table.tokens[table.kinds == _F] - 1
    check_limits(len(positions), int(np.maximum(face_sizes - 2, 0).sum()), ctx.limits, ctx.filename or "OBJ")
    corners, sizes, face_lines = _faces(table, len(positions), nvt, nvn)

    short = int((sizes < 3).sum())
    if short:
        notes.append(f"dropped {short:,} faces with fewer than 3 corners")
    quads, ngons = int((sizes == 4).sum()), int((sizes > 4).sum())
    if quads or ngons:
        notes.append(
            f"triangulated {quads:,} quads and {ngons:,} larger polygons as fans (exact for convex polygons)"
        )
    triangles, face_of_triangle = fan_triangulate(sizes)
    if len(triangles) == 0:
        raise InvalidGeometryError(f"{ctx.filename or 'OBJ'}: no face has 3 or more corners")

    # Material and object of each face: the last usemtl / o (or g) line before it.
    usemtl = [(line, rest) for key, rest, line in keywords if key == "usemtl"]
    objects = [(line, rest) for key, rest, line in keywords if key == "o"]
    if not objects:
        objects = [(line, rest) for key, rest, line in keywords if key == "g"]
    triangle_lines = face_lines[face_of_triangle]
    material_of_triangle = _segment(triangle_lines, usemtl, materials.index_of, -1)
    object_names: dict[str, int] = {}

    def object_id(object_name: str) -> int:
        return object_names.setdefault(object_name or name, len(object_names))

    object_of_triangle = _segment(triangle_lines, objects, object_id, object_id(""))
    object_list = list(object_names)
    if len(object_list) > ctx.limits.max_nodes:
        raise LimitExceededError(
            f"{ctx.filename or 'OBJ'} has {len(object_list):,} objects/groups; the limit is {ctx.limits.max_nodes:,}"
        )

    asset = Asset()
    group = object_of_triangle * (len(materials.slots) + 2) + (material_of_triangle + 1)
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    partial_uv = partial_normals = 0
    mesh_of_object: dict[int, int] = {}
    for selection in np.split(order, bounds):
        obj = int(object_of_triangle[selection[0]])
        slot = int(material_of_triangle[selection[0]])
        corner_rows = corners[triangles[selection].reshape(-1)]
        has_uv = bool((corner_rows[:, 1] >= 0).any())
        has_normal = bool((corner_rows[:, 2] >= 0).any()) and bool((corner_rows[:, 2] >= 0).all())
        if (corner_rows[:, 2] >= 0).any() and not has_normal:
            partial_normals += 1
        if has_uv and not (corner_rows[:, 1] >= 0).all():
            partial_uv += 1
        # One glTF vertex per distinct (v, vt, vn) the corners use; vt may be absent (-1) on some corners.
        columns = [0] + ([1] if has_uv else []) + ([2] if has_normal else [])
        unique, inverse = split_corners(corner_rows[:, columns] + (np.array(columns) == 1))
        source = np.full((len(unique), 3), -1, dtype=np.int64)
        source[:, columns] = unique - (np.array(columns) == 1)
        prim = Primitive(
            positions=positions[source[:, 0]],
            indices=inverse.reshape(-1, 3).astype(np.uint32),
            colors=None if colors is None else colors[source[:, 0]],
        )
        if has_uv:
            assert uvs is not None
            prim.uvs = [np.where(source[:, 1:2] >= 0, uvs[np.maximum(source[:, 1], 0)], 0.0).astype(np.float32)]
        if has_normal:
            assert normals is not None
            prim.normals, bad = unit_normals(normals[source[:, 2]])
            if bad:
                notes.append(f"normals dropped from a primitive with {bad:,} zero-length or invalid normals")
        prim.material = materials.use(slot, has_uv)
        if obj not in mesh_of_object:  # one node + mesh per object, in order of first appearance
            mesh_of_object[obj] = len(asset.meshes)
            asset.meshes.append(Mesh(name=object_list[obj], primitives=[]))
            asset.nodes.append(Node(name=object_list[obj], mesh=mesh_of_object[obj]))
            asset.roots.append(len(asset.nodes) - 1)
        asset.meshes[mesh_of_object[obj]].primitives.append(prim)
    used = np.zeros(len(positions), dtype=bool)
    used[corners[triangles.reshape(-1), 0]] = True
    unused = len(positions) - int(used.sum())
    if unused:
        notes.append(f"dropped {unused:,} vertices no face uses")
    if partial_uv:
        notes.append(f"{partial_uv} primitives had corners without texture coordinates: given (0, 0)")
    if partial_normals:
        notes.append(f"{partial_normals} primitives had corners without normals: their normals were dropped")
    return asset


def _segment(lines: np.ndarray, markers: list[tuple[int, str]], key, before_first: int) -> np.ndarray:
    """For each line index, key(name) of the last marker statement (usemtl, o, g) before it, or
    `before_first` for lines ahead of the first marker."""
    if not markers:
        return np.full(len(lines), before_first, dtype=np.int64)
    marker_lines = np.array([line for line, _ in markers])
    ids = np.array([key(name) for _, name in markers] + [before_first], dtype=np.int64)
    return ids[np.searchsorted(marker_lines, lines, side="right") - 1]  # -1 picks `before_first`


# ---- materials ---------------------------------------------------------------------------------------

# Arity of MTL texture options (the file name follows them and may contain spaces).
_MAP_OPTIONS = {
    "-blendu": 1, "-blendv": 1, "-boost": 1, "-mm": 2, "-o": 3, "-s": 3, "-t": 3, "-texres": 1,
    "-clamp": 1, "-bm": 1, "-imfchan": 1, "-type": 1, "-cc": 1,
}
_NUMERIC_OPTIONS = ("-o", "-s", "-t", "-mm", "-bm", "-boost", "-texres")
_CLAMP_SAMPLER = {"wrapS": 33071, "wrapT": 33071}  # CLAMP_TO_EDGE


@dataclass
class _MapRef:
    filename: str
    options: dict[str, list[str]] = field(default_factory=dict)

    @property
    def clamp(self) -> bool:
        return [v.lower() for v in self.options.get("-clamp", [])] == ["on"]

    def vector(self, option: str, default: float) -> tuple[float, float]:
        values = [float(v) for v in self.options.get(option, [])]
        return (values[0] if values else default, values[1] if len(values) > 1 else default)


@dataclass
class _Loaded:
    key: str  # resource key
    texture: Texture
    image: Image.Image


def _parse_map(rest: str) -> _MapRef | None:
    tokens = rest.split()
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens) and tokens[i].lower() in _MAP_OPTIONS:
        option = tokens[i].lower()
        i += 1
        values: list[str] = []
        while (
            len(values) < _MAP_OPTIONS[option]
            and i < len(tokens)
            and (option not in _NUMERIC_OPTIONS or _is_number(tokens[i]))
        ):
            values.append(tokens[i])
            i += 1
        options[option] = values
    filename = " ".join(tokens[i:]).strip().strip('"')
    return _MapRef(filename, options) if filename else None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _floats(value: str | None, count: int) -> list[float] | None:
    """The numbers of an MTL statement ("Kd 0.5" means grey: the last one repeats)."""
    if value is None:
        return None
    numbers = [float(t) for t in value.split() if _is_number(t)]
    if not numbers:
        return None
    return (numbers + [numbers[-1]] * count)[:count]


class _MaterialLibrary:
    """MTL statements, turned into glTF materials only for the materials faces use, each texture file
    decoded once (validated against the image limits) and registered only when a material keeps it."""

    def __init__(self, ctx: ReadContext, notes: list[str]):
        self.ctx = ctx
        self.notes = notes
        self.statements: dict[str, dict[str, str]] = {}
        self.library_dir: dict[str, str] = {}
        self.slots: list[str] = []  # usemtl names in order of appearance
        self._slot_index: dict[str, int] = {}
        self.used: list[dict[str, Any]] = []
        self.textures: list[Texture] = []
        self.libraries_found = 0
        self.lone_texture_used = ""
        self._material_of_slot: dict[tuple[int, bool], int] = {}
        self._loaded: dict[tuple[str, str], _Loaded | None] = {}
        self._registered: dict[tuple[str, bool], int] = {}
        self._phong_noted = False
        self._kd_noted = False

    # -- libraries
    def load_library(self, rest: str) -> None:
        # "mtllib a.mtl b.mtl" lists several files, but file names with spaces exist too.
        names = [rest] if find_resource(rest, self.ctx.resources) or " " not in rest else rest.split()
        for name in names:
            found = find_resource(name, self.ctx.resources)
            if found is None:
                self.notes.append(f"material library {name} is missing: its materials get default values")
                continue
            key, data = found
            self.libraries_found += 1
            self._parse(data.decode("utf-8", errors="replace"), posixpath.dirname(key))

    def _parse(self, text: str, directory: str) -> None:
        current: dict[str, str] | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, _, rest = line.replace("\t", " ").partition(" ")
            key = key.lower()
            if key == "newmtl":
                current = {}
                self.statements[rest.strip()] = current
                self.library_dir[rest.strip()] = directory
            elif current is not None:
                current[key] = rest.strip()

    # -- slots: one per usemtl name; glTF materials are built when a primitive uses one
    def index_of(self, name: str) -> int:
        if name not in self._slot_index:
            self._slot_index[name] = len(self.slots)
            self.slots.append(name)
        return self._slot_index[name]

    def use(self, slot: int, has_uv: bool) -> int | None:
        key = (slot, has_uv)
        if key not in self._material_of_slot:
            if slot < 0:
                stem = posixpath.splitext(posixpath.basename(self.ctx.filename))[0] or "material"
                material = self._lone_texture_material(stem, has_uv)
                if material is None:
                    return None
            else:
                name = self.slots[slot]
                stmts = self.statements.get(name)
                if stmts is not None:
                    material = self._convert(name, stmts, self.library_dir[name], has_uv)
                else:
                    if self.libraries_found:
                        self.notes.append(f"material {name!r} is not in the material library: default values used")
                    material = self._lone_texture_material(name, has_uv) or {
                        "name": name,
                        "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 1.0},
                    }
            self.used.append(material)
            self._material_of_slot[key] = len(self.used) - 1
        return self._material_of_slot[key]

    def _lone_texture_material(self, name: str, has_uv: bool) -> dict[str, Any] | None:
        """Without a material library, a single image uploaded with the model is its colour map."""
        if self.libraries_found or not has_uv:
            return None
        images = [k for k in self.ctx.resources if k.lower().endswith(_IMAGE_SUFFIXES)]
        if len({self.ctx.resources[k] for k in images}) != 1:
            return None
        loaded = self._load(_MapRef(images[0]), "")
        if loaded is None:
            return None
        self.lone_texture_used = (
            f"no material library: the only image in the upload, {images[0]}, used as the base colour texture"
        )
        return {
            "name": name,
            "pbrMetallicRoughness": {
                "baseColorTexture": {"index": self._register(loaded, clamp=False)},
                "metallicFactor": 0.0,
                "roughnessFactor": 1.0,
            },
        }

    # -- textures
    def _load(self, ref: _MapRef, directory: str) -> _Loaded | None:
        """The decoded texture a map statement names (each file decoded once); None, with a note, when
        the file is missing or cannot be carried."""
        lookup = (ref.filename, directory)
        if lookup not in self._loaded:
            found = find_resource(ref.filename, self.ctx.resources, directory)
            if found is None:
                self.notes.append(f"texture {ref.filename} named by the material library is missing: left out")
                self._loaded[lookup] = None
            else:
                key, data = found
                same_file = next((v for v in self._loaded.values() if v is not None and v.key == key), None)
                if same_file is not None:
                    self._loaded[lookup] = same_file
                else:
                    try:
                        texture, image = texture_from_bytes(data, posixpath.basename(key), self.ctx.limits)
                        self._loaded[lookup] = _Loaded(key, texture, image)
                    except UnsupportedFormatError as exc:
                        self.notes.append(f"{exc.message}: left out")
                        self._loaded[lookup] = None
                    except (CorruptFileError, LimitExceededError) as exc:
                        raise type(exc)(f"{self.ctx.filename or 'OBJ'}: {exc.message}") from None
        return self._loaded[lookup]

    def _register(self, loaded: _Loaded, clamp: bool) -> int:
        key = (loaded.key, clamp)
        if key not in self._registered:
            texture = Texture(data=loaded.texture.data, mime_type=loaded.texture.mime_type, name=loaded.texture.name)
            if clamp:
                texture.sampler = dict(_CLAMP_SAMPLER)
            self.textures.append(texture)
            self._registered[key] = len(self.textures) - 1
        return self._registered[key]

    def _add_png(self, image: Image.Image, name: str, clamp: bool) -> int:
        texture = Texture(data=encode_png(image), mime_type="image/png", name=name)
        if clamp:
            texture.sampler = dict(_CLAMP_SAMPLER)
        self.textures.append(texture)
        return len(self.textures) - 1

    @staticmethod
    def _info(index: int, ref: _MapRef) -> dict[str, Any]:
        info: dict[str, Any] = {"index": index}
        su, sv = ref.vector("-s", 1.0)
        ou, ov = ref.vector("-o", 0.0)
        if (su, sv, ou, ov) != (1.0, 1.0, 0.0, 0.0):
            # OBJ samples at uv*s + o with V up; glTF's V points down, hence the flipped offset.
            info["extensions"] = {"KHR_texture_transform": {"offset": [ou, 1.0 - sv - ov], "scale": [su, sv]}}
        return info

    def _texture_info(self, ref: _MapRef, directory: str) -> dict[str, Any] | None:
        loaded = self._load(ref, directory)
        return None if loaded is None else self._info(self._register(loaded, ref.clamp), ref)

    # -- MTL -> glTF
    def _convert(self, name: str, stmts: dict[str, str], directory: str, has_uv: bool) -> dict[str, Any]:
        material: dict[str, Any] = {"name": name}
        pbr: dict[str, Any] = {}
        maps = {
            k: ref
            for k, v in stmts.items()
            if (k.startswith("map_") or k in ("bump", "norm", "disp", "refl")) and (ref := _parse_map(v)) is not None
        }
        if maps and not has_uv:
            self.notes.append(f"material {name!r} has texture maps but its faces have no texture coordinates: maps left out")
            maps = {}

        alpha = 1.0
        if "d" in stmts:
            alpha = (_floats(stmts["d"], 1) or [1.0])[0]
        elif "tr" in stmts:
            alpha = 1.0 - (_floats(stmts["tr"], 1) or [0.0])[0]
        alpha = float(np.clip(alpha, 0.0, 1.0))
        alpha_mode = "BLEND" if alpha < 1.0 else None

        base = _floats(stmts.get("kd"), 3)
        base_info, map_mode = self._base_colour(maps.get("map_kd"), maps.get("map_d"), directory, name)
        if "map_kd" in maps and self._load(maps["map_kd"], directory) is not None:
            if base is not None and base != [1.0, 1.0, 1.0] and not self._kd_noted:
                self._kd_noted = True
                self.notes.append("Kd ignored where a map_Kd colour map is given (as Blender reads MTL files)")
            base = [1.0, 1.0, 1.0]  # the map carries the colour
        alpha_mode = alpha_mode or map_mode
        if base is not None or alpha < 1.0:
            pbr["baseColorFactor"] = [*(base or [1.0, 1.0, 1.0]), alpha]
        if base_info is not None:
            pbr["baseColorTexture"] = base_info
        if alpha_mode:
            material["alphaMode"] = alpha_mode
            if alpha_mode == "MASK":
                material["alphaCutoff"] = 0.5

        metallic = _floats(stmts.get("pm"), 1)
        roughness = _floats(stmts.get("pr"), 1)
        ns = _floats(stmts.get("ns"), 1)
        pbr["metallicFactor"] = float(np.clip(metallic[0], 0, 1)) if metallic else 0.0
        if roughness:
            pbr["roughnessFactor"] = float(np.clip(roughness[0], 0, 1))
        elif ns:
            # Blender's MTL exporter writes Ns = (1 - roughness)^2 * 1000; invert it.
            pbr["roughnessFactor"] = round(1.0 - (float(np.clip(ns[0], 0, 1000)) / 1000.0) ** 0.5, 4)
            if not self._phong_noted:
                self._phong_noted = True
                self.notes.append("MTL Phong values converted to PBR: Ns -> roughness (Blender's mapping), metallic 0, Ks unused")
        else:
            pbr["roughnessFactor"] = 1.0
        if "map_pr" in maps or "map_pm" in maps:
            packed = self._metallic_roughness(maps.get("map_pm"), maps.get("map_pr"), directory, name)
            if packed is not None:
                pbr["metallicRoughnessTexture"] = packed
                if "map_pm" in maps:
                    pbr["metallicFactor"] = 1.0
                if "map_pr" in maps:
                    pbr["roughnessFactor"] = 1.0
        material["pbrMetallicRoughness"] = pbr

        bump = maps.get("norm") or maps.get("map_bump") or maps.get("bump")
        if bump is not None and (loaded := self._load(bump, directory)) is not None:
            if _is_height_map(loaded.image):
                self.notes.append(
                    f"bump map {bump.filename} of material {name!r} is a height map, not a normal map: "
                    "glTF has no height maps, left out"
                )
            else:
                normal = self._info(self._register(loaded, bump.clamp), bump)
                if bump.options.get("-bm"):
                    normal["scale"] = float(bump.options["-bm"][0])
                material["normalTexture"] = normal

        emissive = _floats(stmts.get("ke"), 3)
        emissive_info = self._texture_info(maps["map_ke"], directory) if "map_ke" in maps else None
        if emissive_info is not None:
            material["emissiveTexture"] = emissive_info
            emissive = emissive if emissive and max(emissive) > 0 else [1.0, 1.0, 1.0]
        extensions: dict[str, Any] = {}
        if emissive and max(emissive) > 0:
            strength = max(emissive)
            if strength > 1.0:
                material["emissiveFactor"] = [c / strength for c in emissive]
                extensions["KHR_materials_emissive_strength"] = {"emissiveStrength": strength}
            else:
                material["emissiveFactor"] = emissive

        if "map_ks" in maps and (specular := self._texture_info(maps["map_ks"], directory)) is not None:
            extensions["KHR_materials_specular"] = {"specularColorTexture": specular}
        clearcoat = _floats(stmts.get("pc"), 1)
        if clearcoat and clearcoat[0] > 0:
            coat = {"clearcoatFactor": float(np.clip(clearcoat[0], 0, 1))}
            if coat_rough := _floats(stmts.get("pcr"), 1):
                coat["clearcoatRoughnessFactor"] = float(np.clip(coat_rough[0], 0, 1))
            extensions["KHR_materials_clearcoat"] = coat
        sheen = _floats(stmts.get("ps"), 1)
        if sheen and sheen[0] > 0:
            extensions["KHR_materials_sheen"] = {"sheenColorFactor": [float(np.clip(sheen[0], 0, 1))] * 3}
        if extensions:
            material["extensions"] = extensions
        for key, what in (
            ("map_ka", "ambient map"),
            ("disp", "displacement map"),
            ("map_disp", "displacement map"),
            ("refl", "reflection map"),
        ):
            if key in maps:
                self.notes.append(f"{what} {maps[key].filename} of material {name!r} has no glTF equivalent: left out")
        return material

    def _base_colour(
        self, colour: _MapRef | None, opacity: _MapRef | None, directory: str, name: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The base colour texture info and alpha mode. glTF keeps opacity in the base colour texture's
        alpha: the colour map serves when map_d names the same file (or is fully opaque), otherwise
        both are combined into one RGBA PNG."""
        colour_source = self._load(colour, directory) if colour is not None else None
        opacity_source = self._load(opacity, directory) if opacity is not None else None
        if opacity_source is None:
            if colour_source is None:
                return None, None
            return self._info(self._register(colour_source, colour.clamp), colour), None
        alpha = _scalar_channel(opacity_source.image, opacity.options)
        mode = _alpha_mode(alpha)
        if colour_source is not None and (colour_source.key == opacity_source.key or mode is None):
            return self._info(self._register(colour_source, colour.clamp), colour), mode
        if colour_source is not None:
            rgba = colour_source.image.convert("RGB")
            if alpha.size != rgba.size:
                alpha = alpha.resize(rgba.size, Image.Resampling.BILINEAR)
        else:
            rgba = Image.new("RGB", alpha.size, (255, 255, 255))
        rgba.putalpha(alpha)
        ref = colour if colour_source is not None else opacity
        index = self._add_png(rgba, f"{name}_baseColor.png", ref.clamp)
        self.notes.append(f"material {name!r}: colour and opacity map {opacity.filename} combined into one RGBA PNG")
        return self._info(index, ref), mode

    def _metallic_roughness(
        self, metal: _MapRef | None, rough: _MapRef | None, directory: str, name: str
    ) -> dict[str, Any] | None:
        """glTF packs roughness in G and metalness in B of one texture; MTL has a greyscale map for each."""
        channels: dict[str, Image.Image] = {}
        first: _MapRef | None = None
        for channel, ref in (("B", metal), ("G", rough)):
            if ref is not None and (loaded := self._load(ref, directory)) is not None:
                channels[channel] = _scalar_channel(loaded.image, ref.options)
                first = first or ref
        if not channels or first is None:
            return None
        size = max((im.size for im in channels.values()), key=lambda s: s[0] * s[1])
        white = Image.new("L", size, 255)
        planes = [white] + [channels[c].resize(size) if c in channels else white for c in ("G", "B")]
        index = self._add_png(Image.merge("RGB", planes), f"{name}_metallicRoughness.png", first.clamp)
        self.notes.append(f"material {name!r}: map_Pr/map_Pm packed into one metallic-roughness PNG")
        return self._info(index, first)


def _scalar_channel(image: Image.Image, options: dict[str, list[str]]) -> Image.Image:
    """The single channel an MTL scalar map means: -imfchan r/g/b, else the alpha channel when the image
    has one, else luminance."""
    channel = (options.get("-imfchan") or [""])[0].lower()
    if channel in ("r", "g", "b"):
        return image.convert("RGB").getchannel(channel.upper())
    if "A" in image.getbands():
        return image.getchannel("A")
    return image.convert("L")


def _alpha_mode(alpha: Image.Image) -> str | None:
    """None (opaque) when every pixel is opaque, MASK when alpha is (almost) only 0 or 255, else BLEND."""
    values = np.asarray(alpha)
    if values.min() >= 250:
        return None
    binary = float(np.mean((values < 8) | (values > 247)))
    return "MASK" if binary > 0.97 else "BLEND"


def _is_height_map(image: Image.Image) -> bool:
    """A tangent-space normal map is bluish with red/green around the middle; a height map is grey."""
    small = np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.int16)
    spread = np.abs(small[..., 0] - small[..., 2]).mean() + np.abs(small[..., 1] - small[..., 2]).mean()
    return bool(spread < 6.0)
