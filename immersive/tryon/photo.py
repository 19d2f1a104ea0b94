"""Photo try-on: one photo and one product in, the composited photo and the measurements out.

    photo = decode_photo(data, limits)                       # bytes -> upright RGB + its camera
    result = try_on(photo, product, face_index=0)            # track, fit, render / tint
    result.image (RGB uint8), result.measurements, result.subject, result.timings_ms

- Decoding: JPEG, PNG or WebP (Pillow), sized before it is decoded (a pixel bomb is refused from its
  header), turned upright by its EXIF orientation, scaled down to `max_edge` on its longer side (processing and
  answer size). The camera is a pinhole at the image centre whose focal length comes from the EXIF 35 mm
  equivalent focal length when the photo has it, else fit.DEFAULT_HORIZONTAL_FOV_DEG across the longer side.
- Tracking: the Face Landmarker (glasses, sunglasses, hat, earrings, necklace, lipstick) or the Hand Landmarker
  (ring, watch, bracelet) in IMAGE mode; several faces or hands: the largest (index 0) or a chosen one.
- Fit: fit.py's transforms per category; the head occluder follows the head pose, rings and watches get a
  finger / wrist cylinder of the model's own measured inner size (the try-on spec's occluders).
- Render: immersive.tryon.render over the photo; lipstick tints the lips with the shade of the model's Bullet
  material (per variant) from the asset's anchor metadata.

Privacy: the photo, its landmarks and the measurements live in memory for the call; nothing here stores or
logs them (the caller returns them to the client and drops them)."""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np

from ..errors import DomainError, InvalidRequest, TooLarge, UnsupportedMediaType
from . import fit
from .render import LIMB_INSET, FINGER_HALF_LENGTH_M, WRIST_HALF_LENGTH_M, LipShade, ModelRef, Occluder, Placement, shared_renderer, tint_lips

FACE_CATEGORIES = ("glasses", "sunglasses", "hat", "earrings", "necklace", "lipstick")
HAND_CATEGORIES = ("ring", "watch", "bracelet")
TRYON_CATEGORIES = FACE_CATEGORIES + HAND_CATEGORIES
EYEWEAR = ("glasses", "sunglasses")
EARRING_NODES = {"left": "EarringL", "right": "EarringR"}  # the person's side -> the spec's node
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_FACES = 6  # faces looked for in a photo (one of them is chosen)
MAX_HANDS = 2
FULL_FRAME_DIAGONAL_MM = 43.27  # of a 36 x 24 mm frame: what "35 mm equivalent" focal lengths refer to
EXIF_IFD, EXIF_FOCAL_35MM = 0x8769, 0xA405


class NotAnImage(UnsupportedMediaType):
    pass


class CorruptImage(InvalidRequest):
    code = "corrupt_image"


class SubjectNotFound(DomainError):
    """No face (or hand) in the photo, or fewer than the index asked for."""

    status = 422

    def __init__(self, message: str, kind: Literal["face", "hand"]):
        super().__init__(message)
        self.code = f"no_{kind}"


class TryOnUnavailable(DomainError):
    """The product cannot be tried on: not a try-on category, no 3D model, or a model not prepared for it."""

    code = "tryon_unavailable"
    status = 422


# ---- the photo ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int
    max_pixels: int  # of the file as sent, checked from its header before decoding
    max_edge: int  # longer side the photo is scaled down to


@dataclass(frozen=True)
class Photo:
    pixels: np.ndarray  # (h, w, 3) RGB uint8, upright
    camera: fit.Camera
    focal_from_exif: bool


def decode_photo(data: bytes, limits: PhotoLimits) -> Photo:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(data) > limits.max_bytes:
        raise TooLarge(f"the photo is {len(data):,} bytes; at most {limits.max_bytes:,}")
    if not data:
        raise NotAnImage("the photo is empty: send a JPEG, PNG or WebP image")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise NotAnImage("the photo is not an image this service reads: send a JPEG, PNG or WebP image") from None
    except Image.DecompressionBombError as exc:  # Pillow's own guard, far above ours, refuses at open
        raise TooLarge(f"the photo is too many pixels: {exc}") from None
    if image.format not in PHOTO_FORMATS:
        raise NotAnImage(f"the photo is {image.format}: send a JPEG, PNG or WebP image")
    if image.width * image.height > limits.max_pixels:
        raise TooLarge(f"the photo is {image.width}x{image.height} pixels; at most {limits.max_pixels:,} pixels")
    try:
        focal_35mm = float(image.getexif().get_ifd(EXIF_IFD).get(EXIF_FOCAL_35MM) or 0)
        if image.format == "JPEG":
            image.draft("RGB", (limits.max_edge, limits.max_edge))  # decode at a reduced scale when it is much larger
        image = ImageOps.exif_transpose(image)
        if image.mode != "RGB":
            image = image.convert("RGBA").convert("RGB") if "A" in image.getbands() or image.mode == "P" else image.convert("RGB")
        if max(image.size) > limits.max_edge:
            image.thumbnail((limits.max_edge, limits.max_edge), Image.Resampling.LANCZOS)
        pixels = np.asarray(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImage(f"the photo cannot be decoded: {exc}") from None
    height, width = pixels.shape[:2]
    if min(width, height) < 32:
        raise InvalidRequest(f"the photo is {width}x{height} pixels: too small to find a face or hand in")
    if focal_35mm > 0:
        focal_px = focal_35mm * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
        camera = fit.Camera(width, height, focal_px, width / 2, height / 2)
    else:
        camera = fit.Camera.for_image(width, height)
    return Photo(np.ascontiguousarray(pixels), camera, focal_35mm > 0)


# ---- the product ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TryOnProduct:
    """What try-on needs of a product: its try-on category, the asset's anchor metadata (metadata.Anchor as
    JSON: sizes, shades) and its model file."""

    sku: str
    category: str
    anchor: dict[str, Any]
    model: ModelRef

    @classmethod
    def check(cls, sku: str, category: str, anchor: dict[str, Any] | None, model: ModelRef | None) -> "TryOnProduct":
        if category not in TRYON_CATEGORIES:
            raise TryOnUnavailable(f"{sku}: category {category!r} has no try-on (try-on categories: {', '.join(TRYON_CATEGORIES)})")
        if model is None:
            raise TryOnUnavailable(f"{sku} has no 3D model yet")
        if not anchor or anchor.get("category") != category:
            raise TryOnUnavailable(
                f"{sku}: its 3D model was not prepared for try-on as {category!r} (no try-on anchor): upload it again with category={category}"
            )
        if category == "earrings" and set(EARRING_NODES.values()) & set(anchor.get("missing_nodes") or ()):
            raise TryOnUnavailable(f"{sku}: the model lacks the nodes EarringL and EarringR the try-on hangs on the ears")
        if category == "lipstick" and not anchor.get("shades"):
            raise TryOnUnavailable(f"{sku}: the model has no shade (a Bullet node with a coloured material)")
        return cls(sku, category, anchor, model)

    def shade(self) -> LipShade:
        shades = self.anchor["shades"]
        variant = self.model.variant
        chosen = next((s for s in shades if s.get("variant") == variant), None)
        if chosen is None:
            if variant is not None:
                known = ", ".join(s["variant"] for s in shades if s.get("variant")) or "none"
                raise InvalidRequest(f"{self.sku} has no shade for variant {variant!r} (its variants: {known})")
            chosen = shades[0]
        return LipShade(tuple(chosen["base_color_srgb"]), chosen["finish"])  # type: ignore[arg-type]

    def size_m(self, name: str) -> float | None:
        value = (self.anchor.get("sizes_m") or {}).get(name)
        return float(value) if value else None


# ---- trackers -------------------------------------------------------------------------------

class Trackers:
    """The process's IMAGE-mode landmarkers, made at first use (each loads its model once). They serialize
    their own calls, so requests share them."""

    def __init__(self):
        self._face = self._hand = None

    def face(self):
        if self._face is None:
            from .tracking import FaceTracker

            self._face = FaceTracker("image", max_faces=MAX_FACES)
        return self._face

    def hand(self):
        if self._hand is None:
            from .tracking import HandTracker

            self._hand = HandTracker("image", max_hands=MAX_HANDS)
        return self._hand


@cache
def shared_trackers() -> Trackers:
    return Trackers()


# ---- try-on ---------------------------------------------------------------------------------

@dataclass
class TryOnResult:
    image: np.ndarray
    subject: dict[str, Any]
    measurements: dict[str, Any] | None
    timings_ms: dict[str, float]


def _measure(value: fit.Measurement) -> dict[str, float]:
    return {"mm": round(value.value_mm, 2), "sd_mm": round(value.uncertainty_mm, 2)}


def face_measurements(face_fit: fit.FaceFit, frame_width_mm: float | None) -> dict[str, Any]:
    """PD, far PD and face width with their 1-sigma uncertainty, the distance, and for eyewear the frame-size
    advice (the same shape as the kiosk stream's)."""
    advice = None
    if frame_width_mm:
        a = fit.frame_size_advice(face_fit.face_width, frame_width_mm)
        advice = {
            "size": a.size,
            "frame_width_mm": round(a.frame_width_mm, 1),
            "difference_mm": round(a.difference_mm, 1),
            "tolerance_mm": round(a.tolerance_mm, 1),
        }
    return {
        "pd": _measure(face_fit.pd),
        "far_pd": _measure(face_fit.far_pd),
        "face_width": _measure(face_fit.face_width),
        "distance_m": round(face_fit.distance_m, 4),
        "frame_size": advice,
    }


def _face_items(product: TryOnProduct, face_fit: fit.FaceFit) -> tuple[list[Placement], list[Occluder]]:
    category = product.category
    if category in EYEWEAR:
        placements = [Placement(fit.glasses_transform(face_fit))]
    elif category == "hat":
        placements = [Placement(fit.hat_transform(face_fit))]
    elif category == "necklace":
        placements = [Placement(fit.necklace_transform(face_fit))]
    else:  # earrings: each on its lobe, an ear turned away shows none
        placements = [Placement(e.transform, EARRING_NODES[e.side]) for e in fit.earring_transforms(face_fit) if e.visible]
    return placements, [Occluder("head", face_fit.pose.matrix())]


def _hand_items(product: TryOnProduct, hand_fit: fit.HandFit, finger: str) -> tuple[list[Placement], list[Occluder]]:
    if product.category == "ring":
        transform = fit.ring_transform(hand_fit, finger)
        inner = product.size_m("inner_diameter_m")
        occluders = [Occluder("cylinder", transform, (inner / 2 * LIMB_INSET,) * 2, "z", FINGER_HALF_LENGTH_M)] if inner else []
    else:
        transform = fit.watch_transform(hand_fit)
        width, depth = product.size_m("inner_width_m"), product.size_m("inner_depth_m")
        occluders = (
            [Occluder("cylinder", transform, (width / 2 * LIMB_INSET, depth / 2 * LIMB_INSET), "x", WRIST_HALF_LENGTH_M)]
            if width and depth
            else []
        )
    return [Placement(transform)], occluders


def _pick(found: list, index: int, kind: Literal["face", "hand"]):
    if not found:
        raise SubjectNotFound(f"no {kind} found in the photo", kind)
    if index >= len(found):
        raise SubjectNotFound(
            f"the photo has {len(found)} {kind}{'s' if len(found) > 1 else ''}; {kind}={index} asks for number {index + 1} (0 is the largest)",
            kind,
        )
    return found[index]


def try_on(photo: Photo, product: TryOnProduct, *, face_index: int = 0, hand_index: int = 0, finger: str = "ring") -> TryOnResult:
    """The photo with the product on the chosen face (or hand), and what was measured."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    trackers = shared_trackers()
    if product.category in HAND_CATEGORIES:
        if finger not in fit.FINGERS or finger == "thumb":
            raise InvalidRequest(f"finger {finger!r}: expected index, middle, ring or pinky")
        hands = trackers.hand().detect(photo.pixels)
        timings["track"] = time.perf_counter() - started
        hand = _pick(hands, hand_index, "hand")
        try:
            hand_fit = fit.fit_hand(hand, photo.camera)
            placements, occluders = _hand_items(product, hand_fit, finger)
        except fit.FitError as exc:
            raise SubjectNotFound(f"the hand cannot be fitted: {exc}", "hand") from None
        subject = {
            "kind": "hand",
            "count": len(hands),
            "index": hand_index,
            "handedness": hand.handedness,
            "finger": finger if product.category == "ring" else None,
        }
        measurements = None
    else:
        faces = trackers.face().detect(photo.pixels)
        timings["track"] = time.perf_counter() - started
        face = _pick(faces, face_index, "face")
        try:
            face_fit = fit.fit_face(face, photo.camera)
        except fit.FitError as exc:
            raise SubjectNotFound(f"the face cannot be fitted: {exc}", "face") from None
        frame_width = product.size_m("frame_width_m") if product.category in EYEWEAR else None
        measurements = face_measurements(face_fit, frame_width * 1000.0 if frame_width else None)
        subject = {"kind": "face", "count": len(faces), "index": face_index}
        if product.category == "lipstick":
            shade = product.shade()
            fitted = time.perf_counter()
            timings["fit"] = fitted - started - timings["track"]
            image = tint_lips(photo.pixels, face, shade)
            timings["render"] = time.perf_counter() - fitted
            return TryOnResult(image, subject, measurements, _ms(timings))
        placements, occluders = _face_items(product, face_fit)
    fitted = time.perf_counter()
    timings["fit"] = fitted - started - timings["track"]
    image = shared_renderer().composite(photo.pixels, photo.camera, product.model, placements, occluders)
    timings["render"] = time.perf_counter() - fitted
    return TryOnResult(image, subject, measurements, _ms(timings))


def _ms(timings: dict[str, float]) -> dict[str, float]:
    return {name: round(seconds * 1000, 2) for name, seconds in timings.items()}
