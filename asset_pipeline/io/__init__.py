"""Readers and writers, registered per format (trimesh style). The format is found by sniffing the
bytes, never from the file extension, which is only a tie-breaker for formats without a magic number.

A reader is `read_<fmt>(data: bytes, ctx: ReadContext) -> Asset`. Modules are imported lazily so that
heavy dependencies (open3d, usd-core) load only when a format needs them."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from typing import Callable

from ..asset import Asset, Provenance
from ..errors import EmptyInputError, LimitExceededError, UnsupportedFormatError
from ..limits import DEFAULT_LIMITS, Limits


@dataclass
class ReadContext:
    filename: str = ""
    limits: Limits = DEFAULT_LIMITS
    # Side files by relative path (from a zip or a folder): .mtl, .bin, textures.
    resources: dict[str, bytes] = field(default_factory=dict)


# format -> "module:function"; resolved on first use
READERS: dict[str, str] = {
    "glb": "asset_pipeline.io.gltf:read_glb",
    "gltf": "asset_pipeline.io.gltf:read_gltf",
    "obj": "asset_pipeline.io.obj:read_obj",
    "ply": "asset_pipeline.io.ply:read_ply",
    "stl": "asset_pipeline.io.stl:read_stl",
    "zip": "asset_pipeline.io.archive:read_zip",
}

EXTENSIONS = {".glb": "glb", ".gltf": "gltf", ".obj": "obj", ".ply": "ply", ".stl": "stl", ".zip": "zip"}


def _resolve(spec: str) -> Callable[[bytes, ReadContext], Asset]:
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def sniff(data: bytes, filename: str = "") -> str:
    """The format of `data`, from its content. Raises UnsupportedFormatError when nothing matches."""
    if not data:
        raise EmptyInputError(f"{filename or 'input'} is empty (0 bytes)")
    head = data[:512]
    if head[:4] == b"glTF":
        return "glb"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:3] == b"ply":
        return "ply"
    stripped = head.lstrip()
    if stripped[:1] == b"{":
        return "gltf"
    # Binary STL: 80-byte header + uint32 triangle count + 50 bytes per triangle. The header may start
    # with "solid" too, so the size equation decides before the ASCII test.
    if len(data) >= 84:
        count = int.from_bytes(data[80:84], "little")
        if 84 + 50 * count == len(data):
            return "stl"
    if stripped[:5].lower() == b"solid" and b"facet" in data[:4096]:
        return "stl"
    if _looks_like_obj(data[:65536]):
        return "obj"
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    # Formats without a magic number: the name decides, and the reader says what is wrong (a binary STL
    # whose triangle count does not match its size, an OBJ of comments only) instead of "unknown format".
    if ext == ".stl":
        return "stl"
    if ext == ".obj" and _is_text(data[:65536]):
        return "obj"
    raise UnsupportedFormatError(
        f"{filename or 'input'}: not a recognised 3D format (expected OBJ, PLY, STL, glTF, GLB or a zip of them)"
        + (f"; the name says {ext} but the content does not match" if ext in EXTENSIONS else "")
    )


_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))


def _is_text(head: bytes) -> bool:
    """Text in any 8-bit encoding: at most 1% control characters."""
    return len(head) - len(head.translate(None, _CONTROL_BYTES)) <= len(head) // 100


def _looks_like_obj(head: bytes) -> bool:
    if not _is_text(head):
        return False
    text = head.decode("utf-8", errors="replace")
    keys = {line.split(maxsplit=1)[0] for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return "v" in keys


def read(data: bytes, filename: str = "", limits: Limits = DEFAULT_LIMITS, resources: dict[str, bytes] | None = None) -> Asset:
    """Read any supported input into an `Asset`, with provenance filled in."""
    if len(data) > limits.max_input_bytes:
        raise LimitExceededError(
            f"{filename or 'input'} is {len(data):,} bytes; the limit is {limits.max_input_bytes:,}"
        )
    fmt = sniff(data, filename)
    ctx = ReadContext(filename=filename, limits=limits, resources=dict(resources or {}))
    asset = _resolve(READERS[fmt])(data, ctx)
    inner = asset.provenance.format if asset.provenance else fmt
    asset.provenance = Provenance(
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        format=inner if fmt != "zip" else f"zip:{inner}",
        notes=asset.provenance.notes if asset.provenance else [],
    )
    return asset


def model_files(inputs) -> list:
    """Paths as given; a folder contributes every model file directly inside it (by name, sorted), so side
    files (.mtl, .bin, textures) are not mistaken for products."""
    from pathlib import Path

    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files.extend(sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS))
        else:
            files.append(item)
    return files


def read_path(path, limits: Limits = DEFAULT_LIMITS) -> Asset:
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        from ..errors import PipelineError

        raise PipelineError(f"{p}: no such file")
    size = p.stat().st_size
    if size > limits.max_input_bytes:
        raise LimitExceededError(f"{p.name} is {size:,} bytes; the limit is {limits.max_input_bytes:,}")
    data = p.read_bytes()
    # A loose .obj/.gltf next to its .mtl/.bin/textures: offer the folder's small side files.
    resources: dict[str, bytes] = {}
    if sniff(data, p.name) in ("obj", "gltf", "ply"):
        for side in p.parent.iterdir():
            if side.is_file() and side != p and side.stat().st_size <= limits.max_input_bytes:
                if side.suffix.lower() in (".mtl", ".bin", ".png", ".jpg", ".jpeg", ".webp", ".tga", ".bmp"):
                    resources[side.name] = side.read_bytes()
    return read(data, p.name, limits, resources)
