"""STL reader, binary and ASCII.

STL is a triangle soup: every triangle carries its own three vertices, kept here unwelded (the repair
stage welds). Facet normals are not kept: exporters often write zeros or stale values, and flat
normals on a soup would stop welding; normals are recomputed later. STL states no unit, so
`unit_scale` stays None. The solid name becomes the node name; an ASCII file with several solids gives
one node each. Binary colour attributes (VisCAM/SolidView 15-bit colour, or Materialise with a
`COLOR=` header) become vertex colours.
"""

from __future__ import annotations

import posixpath
import re

import numpy as np

from ..asset import Asset, Mesh, Node, Primitive, Provenance
from ..errors import CorruptFileError, InvalidGeometryError
from . import ReadContext
from .meshdata import check_finite, check_limits, srgb_to_linear, to_float32

_RECORD = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
_SOLID = re.compile(rb"^[ \t]*solid\b[ \t]*(.*?)[ \t]*\r?$", re.M | re.I)
_VERTEX = re.compile(rb"\bvertex[ \t]+([^\r\n]*)", re.I)
_FACET = re.compile(rb"\bfacet\b", re.I)


def read_stl(data: bytes, ctx: ReadContext) -> Asset:
    what = ctx.filename or "STL"
    notes: list[str] = []
    stem = posixpath.splitext(posixpath.basename(ctx.filename.replace("\\", "/")))[0] or "mesh"
    if _is_ascii(data):
        solids = _read_ascii(data, what, stem, ctx)
    else:
        solids = [_read_binary(data, what, stem, ctx, notes)]
    asset = Asset()
    for name, positions, colors in solids:
        if len(positions) == 0:
            continue
        prim = Primitive(
            positions=positions,
            indices=np.arange(len(positions), dtype=np.uint32).reshape(-1, 3),
            colors=colors,
        )
        asset.meshes.append(Mesh(name=name, primitives=[prim]))
        asset.nodes.append(Node(name=name, mesh=len(asset.meshes) - 1))
        asset.roots.append(len(asset.nodes) - 1)
    if not asset.meshes:
        raise InvalidGeometryError(f"{what}: no triangles in the file")
    asset.provenance = Provenance(ctx.filename, "", 0, format="stl", notes=notes)
    return asset


def _is_ascii(data: bytes) -> bool:
    """ASCII when it starts with "solid" and reads as text with facets. Binary headers may also start
    with "solid", so the size equation of a binary file wins."""
    if len(data) >= 84 and 84 + 50 * int.from_bytes(data[80:84], "little") == len(data):
        return False
    head = data[:1024].lstrip()
    if head[:5].lower() != b"solid":
        return False
    sample = data[:4096]
    return b"\x00" not in sample and (bool(_FACET.search(sample)) or b"endsolid" in sample.lower())


def _read_binary(
    data: bytes, what: str, stem: str, ctx: ReadContext, notes: list[str]
) -> tuple[str, np.ndarray, np.ndarray | None]:
    if len(data) < 84:
        raise CorruptFileError(f"{what}: {len(data)} bytes is too short for a binary STL (84-byte header)")
    declared = int.from_bytes(data[80:84], "little")
    available = (len(data) - 84) // 50
    if declared > available:
        raise CorruptFileError(
            f"{what}: the header declares {declared:,} triangles ({84 + 50 * declared:,} bytes) but the file has "
            f"{len(data):,} bytes: truncated, or not an STL file"
        )
    check_limits(3 * declared, declared, ctx.limits, what)
    if len(data) != 84 + 50 * declared:
        notes.append(f"{len(data) - 84 - 50 * declared:,} bytes after the last triangle ignored")
    records = np.frombuffer(data, dtype=_RECORD, count=declared, offset=84)
    positions = records["vertices"].reshape(-1, 3)
    check_finite(positions, what)
    colors = _binary_colors(data[:80], records["attribute"], notes)
    return _binary_name(data[:80], stem), positions.astype(np.float32), colors


def _binary_name(header: bytes, stem: str) -> str:
    text = header.split(b"\x00", 1)[0].decode("ascii", errors="ignore").strip()
    if text.lower().startswith("solid"):
        text = text[5:].strip()
    # Many exporters write their own banner ("Exported from X", "COLOR=..."), not a name.
    if not text or not text.isprintable() or "=" in text or len(text) > 64:
        return stem
    return text


def _binary_colors(header: bytes, attributes: np.ndarray, notes: list[str]) -> np.ndarray | None:
    """Per-triangle colour in the 2-byte attribute, per the two conventions in use:
    VisCAM/SolidView: bit 15 set = valid, 5 bits each B, G, R from bit 0;
    Materialise (header has COLOR=r g b a): bit 15 clear = valid, 5 bits each R, G, B from bit 0."""
    materialise = header.find(b"COLOR=")
    if materialise >= 0:
        default = np.frombuffer(header[materialise + 6 : materialise + 10].ljust(4, b"\xff"), dtype=np.uint8) / 255.0
        valid = (attributes & 0x8000) == 0
        first, third = attributes & 0x1F, (attributes >> 10) & 0x1F
        red, blue = first, third
    else:
        valid = (attributes & 0x8000) != 0
        if not valid.all() or len(attributes) == 0:
            return None
        default = np.ones(4)
        blue, red = attributes & 0x1F, (attributes >> 10) & 0x1F
    green = (attributes >> 5) & 0x1F
    rgb = np.stack([red, green, blue], axis=1).astype(np.float32) / 31.0
    rgb = np.where(valid[:, None], rgb, default[:3].astype(np.float32))
    rgba = np.ones((len(rgb), 4), dtype=np.float32)
    rgba[:, :3] = srgb_to_linear(rgb)
    notes.append("binary STL face colours read as vertex colours (assumed sRGB)")
    return np.repeat(rgba, 3, axis=0)


def _read_ascii(data: bytes, what: str, stem: str, ctx: ReadContext) -> list[tuple[str, np.ndarray, None]]:
    starts = [(m.start(), m.group(1).decode("utf-8", errors="replace").strip()) for m in _SOLID.finditer(data)]
    if not starts:
        raise CorruptFileError(f"{what}: no 'solid' line in an ASCII STL")
    solids = []
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(data)
        block = data[start:end]
        facets = len(_FACET.findall(block))
        coords = _VERTEX.findall(block)
        if len(coords) != 3 * facets:
            raise CorruptFileError(
                f"{what}: solid {name or stem!r} has {facets:,} facets but {len(coords):,} vertices (3 per facet expected)"
            )
        check_limits(len(coords), facets, ctx.limits, what)
        text = b"\n".join(coords).decode("ascii", errors="replace")
        try:
            numbers = np.fromstring(text, sep=" ") if coords else np.zeros(0)
        except ValueError:
            numbers = np.zeros(0)
        if len(numbers) != 3 * len(coords):
            raise CorruptFileError(f"{what}: a vertex line in solid {name or stem!r} does not hold 3 numbers")
        positions = to_float32(numbers.reshape(-1, 3))
        check_finite(positions, what)
        solids.append((name or stem, positions, None))
    return solids
