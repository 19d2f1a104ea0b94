"""Zip uploads: a model with its side files (.mtl, .bin, textures), extracted safely in memory.

Nothing touches the disk. Before any byte is inflated the central directory is checked: member count,
names (absolute paths, `..` traversal and symlinks are refused), total declared size and each member's
compression ratio (zip bombs). Sizes in a zip header can lie, so bytes are counted again while
inflating. The main model is found by extension (.gltf/.glb, then .obj, .ply, .stl; the largest when
there are several), the other members become the reader's resources, keyed by their path relative to
the model's folder and by their full path.
"""

from __future__ import annotations

import io
import posixpath
import stat
import zipfile
import zlib

from ..asset import Asset, Provenance
from ..errors import CorruptFileError, LimitExceededError, UnsafeArchiveError, UnsupportedFormatError
from . import READERS, ReadContext, _resolve, sniff

# Formats a zip may hold as its model, in order of preference (glTF keeps the most: PBR, hierarchy).
MODEL_PREFERENCE = (("gltf", ".gltf", ".glb"), ("obj", ".obj"), ("ply", ".ply"), ("stl", ".stl"))
_MODEL_SUFFIXES = tuple(s for _, *suffixes in MODEL_PREFERENCE for s in suffixes)
# A high ratio on a small member is harmless (a .mtl of repeated lines compresses 50x): the ratio
# limit applies from this uncompressed size on, which any bomb worth the name exceeds.
RATIO_CHECK_MIN_BYTES = 1024 * 1024
_CHUNK = 1024 * 1024


def read_zip(data: bytes, ctx: ReadContext) -> Asset:
    what = ctx.filename or "zip"
    limits = ctx.limits
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise CorruptFileError(f"{what}: not a readable zip ({exc})") from None
    except NotImplementedError as exc:  # e.g. "zip file version 6.3" (features Python cannot read)
        raise UnsupportedFormatError(f"{what}: {exc}") from None

    if len(infos) > limits.max_zip_members:
        raise LimitExceededError(f"{what} has {len(infos):,} members; the limit is {limits.max_zip_members:,}")
    members: list[zipfile.ZipInfo] = []
    skipped: list[str] = []
    for info in infos:
        name = _check_name(info, what)
        if info.is_dir():
            continue
        if _is_junk(name):
            skipped.append(name)
            continue
        members.append(info)
    _check_declared_sizes(members, what, limits.max_zip_uncompressed_bytes, limits.max_zip_ratio)

    models = [m for m in members if m.filename.lower().endswith(_MODEL_SUFFIXES)]
    if not models:
        found = ", ".join(sorted(m.filename for m in members)[:12]) or "nothing"
        if not members and skipped:
            found = "only macOS/hidden metadata files (" + ", ".join(sorted(skipped)[:5]) + ")"
        raise UnsupportedFormatError(
            f"{what} holds no 3D model (.gltf, .glb, .obj, .ply or .stl); found: {found}"
            + (" ..." if len(members) > 12 else "")
        )
    model, notes = _pick_model(models)
    if skipped:
        notes.append(f"skipped {len(skipped)} macOS/hidden metadata files in the zip")

    contents = _extract(archive, members, what, limits.max_zip_uncompressed_bytes, limits.max_zip_ratio)
    model_data = contents.pop(model.filename)
    model_dir = posixpath.dirname(model.filename)
    resources: dict[str, bytes] = {}
    for path, content in contents.items():
        relative = posixpath.relpath(path, model_dir) if model_dir else path
        resources.setdefault(relative, content)
    for path, content in contents.items():
        resources.setdefault(path, content)

    inner_name = posixpath.basename(model.filename)
    fmt = sniff(model_data, inner_name)
    if fmt == "zip":
        raise UnsupportedFormatError(f"{what}: the model {model.filename} is itself a zip; nested zips are not read")
    inner_ctx = ReadContext(filename=inner_name, limits=limits, resources={**ctx.resources, **resources})
    asset = _resolve(READERS[fmt])(model_data, inner_ctx)
    inner = asset.provenance
    asset.provenance = Provenance(
        filename=ctx.filename,
        sha256="",
        size_bytes=0,
        format=inner.format if inner else fmt,
        notes=notes + (inner.notes if inner else []),
    )
    return asset


def _check_name(info: zipfile.ZipInfo, what: str) -> str:
    """The member's name with forward slashes, refusing anything that would land outside the folder."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or name.startswith("//"):
        raise UnsafeArchiveError(f"{what}: member {info.filename!r} has an absolute path")
    if ".." in name.split("/"):
        raise UnsafeArchiveError(f"{what}: member {info.filename!r} climbs out of the archive with '..'")
    if "\x00" in name:
        raise UnsafeArchiveError(f"{what}: member {info.filename!r} has a NUL byte in its name")
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):  # made on Unix, and a symlink
        raise UnsafeArchiveError(f"{what}: member {info.filename!r} is a symbolic link")
    return name


def _is_junk(name: str) -> bool:
    """macOS resource forks (__MACOSX/, ._*), .DS_Store and other hidden files."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts if part)


def _check_declared_sizes(members: list[zipfile.ZipInfo], what: str, max_total: int, max_ratio: float) -> None:
    total = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise UnsupportedFormatError(f"{what}: member {info.filename} is password-protected")
        total += info.file_size
        if total > max_total:
            raise LimitExceededError(
                f"{what} expands to more than {max_total:,} bytes (declared sizes); the limit is {max_total:,}"
            )
        if info.file_size >= RATIO_CHECK_MIN_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > max_ratio:
                raise LimitExceededError(
                    f"{what}: member {info.filename} expands {ratio:,.0f}x ({info.compress_size:,} -> "
                    f"{info.file_size:,} bytes); the limit is {max_ratio:,.0f}x (zip bomb?)"
                )


def _pick_model(models: list[zipfile.ZipInfo]) -> tuple[zipfile.ZipInfo, list[str]]:
    for _, *suffixes in MODEL_PREFERENCE:
        tier = [m for m in models if m.filename.lower().endswith(tuple(suffixes))]
        if tier:
            chosen = max(tier, key=lambda m: m.file_size)
            notes = []
            others = [m.filename for m in models if m is not chosen]
            if others:
                notes.append(
                    f"the zip holds {len(models)} models; read {chosen.filename} "
                    f"({'the largest ' + suffixes[0] if len(tier) > 1 else 'by format preference'}), "
                    f"ignored {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}"
                )
            return chosen, notes
    raise AssertionError("models is never empty here")


def _extract(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], what: str, max_total: int, max_ratio: float
) -> dict[str, bytes]:
    """Every member's bytes, counting what actually inflates: a forged header cannot get past the
    limits (zipfile itself stops at the declared size and checks the CRC)."""
    out: dict[str, bytes] = {}
    total = 0
    for info in members:
        chunks = []
        size = 0
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    total += len(chunk)
                    if total > max_total:
                        raise LimitExceededError(f"{what} expands to more than {max_total:,} bytes; the limit is {max_total:,}")
                    if size >= RATIO_CHECK_MIN_BYTES and size / max(info.compress_size, 1) > max_ratio:
                        raise LimitExceededError(
                            f"{what}: member {info.filename} expands more than {max_ratio:,.0f}x (zip bomb?)"
                        )
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            raise CorruptFileError(f"{what}: member {info.filename} is damaged ({exc})") from None
        except NotImplementedError as exc:
            raise UnsupportedFormatError(f"{what}: member {info.filename}: {exc}") from None
        except RuntimeError as exc:  # encrypted members that slipped past the flag check
            raise UnsupportedFormatError(f"{what}: member {info.filename}: {exc}") from None
        out[info.filename.replace("\\", "/")] = b"".join(chunks)
    return out
