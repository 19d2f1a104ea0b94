"""Safe image decoding for every reader and stage that touches texture bytes.

Textures arrive from untrusted uploads, so an image is sized from its header *before* any pixel is decoded
(a 40000x40000 PNG of one colour is a few kilobytes and expands to 6 GB), and every Pillow failure becomes a
typed `CorruptFileError` instead of a traceback.

Readers keep PNG, JPEG and WebP bytes exactly as they came (no re-encode, no quality loss); other formats
Pillow can read (TGA, BMP, GIF, TIFF, ...) are converted to PNG because glTF cannot reference them. KTX2
(which only glTF carries, and Pillow cannot decode) is checked as a container by `check_ktx2` at read time;
`open_image` decodes it (its base level) with the Basis Universal transcoder of the optional `alktx2`
package, for the writers and measures that need its pixels."""

from __future__ import annotations

import io
import struct
import threading
import warnings

from PIL import Image, UnidentifiedImageError

from .asset import Texture
from .errors import CorruptFileError, LimitExceededError, MissingDependencyError, UnsupportedFormatError
from .limits import Limits

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KTX2_MAGIC = b"\xabKTX 20\xbb\r\n\x1a\n"
# Identifier, nine header fields, then the dfd/kvd/sgd byte ranges; the mip level index follows.
_KTX2_INDEX_END = 80

# glTF core (PNG, JPEG) plus the formats of EXT_texture_webp and KHR_texture_basisu.
GLTF_IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/ktx2")

# Everything Pillow raises for bytes it cannot decode: truncated streams, bad chunks/CRCs, bad headers.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, TypeError)


def sniff_image_mime(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG, WebP or KTX2 bytes from their magic number; None for anything else."""
    if data[:8] == PNG_MAGIC:
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:12] == KTX2_MAGIC:
        return "image/ktx2"
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header of a PNG, JPEG, WebP, KTX2, GIF or BMP without decoding pixels;
    None when the format is not one of these or the header is too short to say."""
    try:
        mime = sniff_image_mime(data)
        if mime == "image/png":
            if data[12:16] == b"IHDR":
                return struct.unpack(">II", data[16:24])
            return None
        if mime == "image/jpeg":
            return _jpeg_size(data)
        if mime == "image/webp":
            return _webp_size(data)
        if mime == "image/ktx2":
            return struct.unpack("<II", data[20:28])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM" and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        # SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


# Serializes the rare decodes that must lift Pillow's process-wide pixel limit (see `_decode_over_pillow_limit`).
_PILLOW_LIMIT_LOCK = threading.Lock()


def _check_pixels(size: tuple[int, int], limits: Limits) -> None:
    width, height = size
    if width * height > limits.max_image_pixels:
        raise LimitExceededError(
            f"image {width}x{height} = {width * height:,} pixels is over the {limits.max_image_pixels:,} pixel limit "
            "(treated as a decompression bomb)"
        )


def open_image(data: bytes, limits: Limits) -> Image.Image:
    """Decode `data` fully, refusing images over `limits.max_image_pixels` before decoding them.

    `limits` alone decides: Pillow's own process-wide limit (`Image.MAX_IMAGE_PIXELS`) neither refuses an
    image the configured limit allows nor words the refusal. Raises LimitExceededError for oversized images,
    CorruptFileError for anything Pillow cannot decode (including truncated files, which Pillow would
    otherwise pad with grey)."""
    if not data:
        raise CorruptFileError("image is empty (0 bytes)")
    if sniff_image_mime(data) == "image/ktx2":
        return decode_ktx2(data, limits)
    size = header_size(data)
    if size is not None:
        _check_pixels(size, limits)
    try:
        try:
            return _decode(data, limits)
        except Image.DecompressionBombError:
            return _decode_over_pillow_limit(data, limits)
    except Image.DecompressionBombError:
        # Pillow still refuses with its limit raised to ours: the image is over twice our limit (a size
        # the header did not tell, or the check above would have named it).
        raise LimitExceededError(
            f"image is over the {limits.max_image_pixels:,} pixel limit (treated as a decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise CorruptFileError("not an image format that can be read (expected PNG, JPEG or WebP)") from None
    except _DECODE_ERRORS as exc:
        raise CorruptFileError(f"image cannot be decoded: {exc}") from None
    except MemoryError:
        raise LimitExceededError("image does not fit in memory once decoded; lower max_image_pixels") from None


def _decode(data: bytes, limits: Limits) -> Image.Image:
    with warnings.catch_warnings():
        # Our own limit decides; Pillow's only warns between its value and twice it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
        _check_pixels(image.size, limits)
        image.load()
    return image


def _decode_over_pillow_limit(data: bytes, limits: Limits) -> Image.Image:
    """Decode an image Pillow refused although the configured limit allows it (a limit above twice Pillow's
    default of ~89M pixels). Pillow reads its limit from a module global, at open and for some formats
    (TIFF) at load, so the global is raised to the configured limit around both, under a lock, and
    restored: other threads meanwhile see a limit no lower than before, and `_check_pixels` guards ours."""
    with _PILLOW_LIMIT_LOCK:
        pillow_limit = Image.MAX_IMAGE_PIXELS
        if pillow_limit is not None:
            Image.MAX_IMAGE_PIXELS = max(pillow_limit, limits.max_image_pixels)
        try:
            return _decode(data, limits)
        finally:
            Image.MAX_IMAGE_PIXELS = pillow_limit


def check_ktx2(data: bytes, limits: Limits) -> tuple[int, int]:
    """(width, height) of KTX2 bytes after checking them as far as can be without a Basis Universal
    transcoder: the pixel limit, and that the data format descriptor, key/value data, supercompression data
    and every mip level lie inside the file (so a truncated or forged file is refused at read time).

    Raises LimitExceededError for oversized images, CorruptFileError for a broken container."""
    if len(data) < _KTX2_INDEX_END:
        raise CorruptFileError(f"KTX2 image is truncated: {len(data)} bytes, shorter than its {_KTX2_INDEX_END}-byte header")
    width, height, _depth, _layers, _faces, levels = struct.unpack_from("<6I", data, 20)
    if width == 0:
        raise CorruptFileError("KTX2 image has a width of 0")
    _check_pixels((width, max(height, 1)), limits)  # a height of 0 is a 1D texture
    level_count = max(levels, 1)  # 0 asks the loader to generate mips from the one level stored
    if _KTX2_INDEX_END + 24 * level_count > len(data):
        raise CorruptFileError(
            f"KTX2 image is truncated: its {level_count:,} mip levels' index ends past the file's {len(data):,} bytes"
        )
    dfd_offset, dfd_length, kvd_offset, kvd_length, sgd_offset, sgd_length = struct.unpack_from("<4I2Q", data, 48)
    ranges = [
        ("data format descriptor", dfd_offset, dfd_length),
        ("key/value data", kvd_offset, kvd_length),
        ("supercompression data", sgd_offset, sgd_length),
    ]
    for level in range(level_count):
        offset, length, _uncompressed = struct.unpack_from("<3Q", data, _KTX2_INDEX_END + 24 * level)
        ranges.append((f"mip level {level}", offset, length))
    for what, offset, length in ranges:
        if length and offset + length > len(data):
            raise CorruptFileError(
                f"KTX2 image is truncated: its {what} (bytes {offset:,}..{offset + length:,}) "
                f"ends past the file's {len(data):,} bytes"
            )
    return width, height


def ktx2_module():
    """The `alktx2` package (Basis Universal encoder and transcoder), or MissingDependencyError."""
    try:
        import alktx2
    except ImportError:
        raise MissingDependencyError(
            "KTX2 textures need the Basis Universal encoder/transcoder: pip install alktx2"
        ) from None
    return alktx2


def decode_ktx2(data: bytes, limits: Limits) -> Image.Image:
    """The base level of a KTX2 (Basis Universal ETC1S/UASTC) image as RGB, or RGBA when it has alpha.

    The container is checked first (`check_ktx2`: pixel limit, every range inside the file), so the
    transcoder only sees well-formed files; what it still refuses is a CorruptFileError."""
    check_ktx2(data, limits)
    alktx2 = ktx2_module()
    try:
        info = alktx2.inspect_ktx2(data)
        # Uncompressed TIFF is the cheapest container the binding writes and Pillow reads.
        tiff, _ = alktx2.decode_ktx2_to_bytes(data, format="tif")
        image = Image.open(io.BytesIO(tiff))
        image.load()
    except (RuntimeError, *_DECODE_ERRORS) as exc:
        raise CorruptFileError(f"KTX2 image cannot be transcoded: {exc}") from None
    return image if info["has_alpha"] else image.convert("RGB")


def texture_from_bytes(data: bytes, name: str, limits: Limits) -> tuple[Texture, Image.Image]:
    """A `Texture` for an image file a model refers to, plus the decoded image (for readers that inspect
    or combine pixels). PNG/JPEG/WebP bytes are kept as they are; other formats Pillow decodes become PNG.

    Errors name the file: LimitExceededError (too many pixels), CorruptFileError (undecodable),
    UnsupportedFormatError (KTX2, which only a glTF can carry)."""
    mime = sniff_image_mime(data)
    if mime == "image/ktx2":
        raise UnsupportedFormatError(f"texture {name}: KTX2 images can only be carried by glTF files")
    try:
        image = open_image(data, limits)
    except (CorruptFileError, LimitExceededError) as exc:
        raise type(exc)(f"texture {name}: {exc.message}") from None
    if mime is None:
        data, mime = encode_png(image), "image/png"
    return Texture(data=data, mime_type=mime, name=name), image


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes for `image`, in a mode PNG and glTF viewers accept (L, LA, RGB, RGBA)."""
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()
