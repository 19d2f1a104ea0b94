"""Server-side try-on compositing on the CPU: a product's model drawn over a photo, with the occluders that hide
its parts behind the wearer, and the lipstick effect.

Rendering is pyrender through EGL on Mesa's llvmpipe (no GPU, no display), with the product materials, the
studio lights and the corrections of the pipeline's poster renderer (asset_pipeline/io/poster.py). One
`Renderer` per process: a single thread owns the GL context (an EGL context is current in one thread at a
time), requests from any thread are queued to it, and it keeps the models it last drew read and converted
(keyed by the content-addressed storage key of the model file and the variant; pyrender keeps the GL buffers of
the last scene drawn, so a repeated product is not even uploaded again).

How a frame is made (camera: the photo's pinhole camera, fit.Camera; products placed by fit.py's transforms):
- Only the product's projected bounding box is rendered (an off-centre camera over that crop), not the photo.
- Occluders (the head and neck from `head_occluder.glb`, a finger or wrist cylinder) are drawn with alpha 0 and
  black, so they write depth and leave no colour: product parts behind the wearer disappear and the photo
  shows there.
- See-through parts: KHR_materials_transmission materials (lenses, gems) transmit `transmissionFactor` of the
  light behind them tinted by their base colour, and keep their specular reflection; BLEND materials let
  1 - alpha through untinted. Three passes give that: (1) every part lit, see-through parts with their diffuse
  weighted by 1 - transmission; (2) without the see-through parts (what is behind them: the far temple, or the
  photo); (3) unlit, see-through parts as transmission x tint, others black: the transmittance per pixel.
  In linear light: out = pass1 + transmittance x behind + (1 - coverage) x photo. Products with no see-through
  part need pass 1 only. Transmission textures, IOR and roughness-blurred transmission are not modelled.

Lipstick colours the lips: `tint_lips` fills the lip contour (outer lip line minus the mouth opening) from the
Face Landmarker's landmarks with the shade (colour and finish), keeping the photo's own lip shading.

Frames are processed in memory only; nothing here writes an image anywhere."""

from __future__ import annotations

import copy
import io
import math
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Callable, Literal

import numpy as np

from asset_pipeline.asset import Asset
from asset_pipeline.io import read as read_model
from asset_pipeline.io.poster import AMBIENT, STUDIO_LIGHTS, _light_rotation, _primitive, _pyrender, _renderer, _Textures

from ..errors import InvalidRequest
from . import fit

HEAD_OCCLUDER_FILE = "head_occluder.glb"
"""Package data (immersive/tryon/data/): a byte-identical copy of samples/head_occluder.glb, which
`python -m samples.head_occluder immersive/tryon/data` regenerates (a test keeps the two equal). The service
reads it from the package, so it needs no samples/ folder at run time."""

MODEL_CACHE_SIZE = 16  # models kept read and converted (a product page's try-on repeats the same few)
CROP_PAD_PX = 2
CROP_STEP_PX = 32  # crops are rounded up to this, so the renderer's framebuffer is rarely reallocated
TEXTURE_MAX_EDGE = 1024
# Finger and wrist occluders: a cylinder slightly inside the ring's or strap's inner outline (the band's own
# inner surface would fight with it for depth), long enough to cover the band or strap from any view.
LIMB_INSET = 0.96
FINGER_HALF_LENGTH_M = 0.035
WRIST_HALF_LENGTH_M = 0.06

# MediaPipe face mesh lip contours (FACEMESH_LIPS), in order around each loop.
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
LIP_OPACITY = 0.85
LIP_SUPERSAMPLE = 4
LIP_FEATHER = 0.06  # edge softness, as a fraction of the mouth's width
# Finish -> (contrast of the photo's lip shading kept, highlight strength). Matte flattens the shading, gloss
# adds a clear highlight where the lips already catch the light, metallic a tinted one.
LIP_FINISHES = {"matte": (0.55, 0.0), "satin": (0.9, 0.15), "gloss": (1.1, 0.6), "metallic": (1.0, 0.45)}


class RenderError(InvalidRequest):
    """The product's model cannot be drawn as asked (a variant it lacks, a node it lacks)."""

    code = "tryon_render_failed"


# ---- what to draw ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    """The model, or one node's subtree of it, placed in the camera frame: `transform` maps the model's frame
    (or that node's own frame, whose origin the spec fixes, e.g. an earring's hook point) to camera space."""

    transform: np.ndarray
    node: str | None = None


@dataclass(frozen=True)
class Occluder:
    """What hides the product behind the wearer, in camera space. kind "head": the head-and-neck mesh in the
    canonical face frame (`transform` = HeadPose.matrix(), scale included). kind "cylinder": radii (ry, rz) of
    an elliptic cylinder along `axis` of `transform`'s frame, from -half_length to +half_length."""

    kind: Literal["head", "cylinder"]
    transform: np.ndarray
    radii_m: tuple[float, float] = (0.0, 0.0)
    axis: Literal["x", "z"] = "z"
    half_length_m: float = 0.0


@dataclass(frozen=True)
class ModelRef:
    """A product model by its content-addressed key (the cache key) and how to get its bytes when not cached."""

    key: str
    load: Callable[[], bytes]
    variant: str | None = None


# ---- colour ---------------------------------------------------------------------------------

def srgb_to_linear(srgb8: np.ndarray) -> np.ndarray:
    c = srgb8.astype(np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb8(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    s = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return np.round(s * 255.0).astype(np.uint8)


def _lit_to_linear(rgba8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(premultiplied linear RGB, coverage) of a lit pass. pyrender's lit shader ends with pow(colour, 1/2.2) and
    multisampling averages those values with the transparent background's zeros, so the colour is divided by
    the coverage before it is decoded (else edges come out dark). Its unlit (FLAT) shader writes linear values."""
    coverage = rgba8[..., 3:4].astype(np.float32) / 255.0
    encoded = rgba8[..., :3].astype(np.float32) / 255.0
    return (np.clip(encoded / np.maximum(coverage, 1e-3), 0.0, 1.0) ** 2.2) * coverage, coverage


# ---- models ready to draw -------------------------------------------------------------------

@dataclass
class _Part:
    """One primitive of one mesh instance: drawn as its own pyrender node, so passes can treat it on its own."""

    mesh: Any  # pyrender.Mesh with one primitive
    world: np.ndarray  # model frame
    corners: np.ndarray  # (8, 3) its bounding box, model frame
    lit: Any  # pass 1 material
    transmittance: Any  # pass 3 material (unlit)
    see_through: bool
    node_path: tuple[str, ...]  # names of the nodes from the root down to its own


@dataclass
class _Model:
    parts: list[_Part]
    node_worlds: dict[str, np.ndarray]  # node name -> world matrix in the model frame


def _see_through(material: dict[str, Any]) -> tuple[float, np.ndarray] | None:
    """(share of the light behind passed through, its tint in linear RGB), or None for an opaque material."""
    pbr = material.get("pbrMetallicRoughness", {})
    base = np.asarray(pbr.get("baseColorFactor", [1, 1, 1, 1]), dtype=np.float64)
    transmission = float(material.get("extensions", {}).get("KHR_materials_transmission", {}).get("transmissionFactor", 0.0))
    if transmission > 0:
        return transmission, base[:3]
    if material.get("alphaMode") == "BLEND" and base[3] < 1:
        return 1.0 - float(base[3]), np.ones(3)
    return None


def _variant_materials(asset: Asset, variant: str | None) -> Callable[[Any], int | None]:
    if variant is None:
        return lambda prim: prim.material
    if variant not in asset.variants:
        known = ", ".join(asset.variants) or "none"
        raise RenderError(f"the model has no variant {variant!r} (its variants: {known})")
    index = asset.variants.index(variant)

    def material(prim) -> int | None:
        for mapping in prim.variant_mappings:
            if index in mapping.get("variants", []):
                return mapping["material"]
        return prim.material

    return material


def _node_paths(asset: Asset) -> dict[int, tuple[str, ...]]:
    paths: dict[int, tuple[str, ...]] = {}
    stack = [(root, ()) for root in asset.roots]
    while stack:
        index, above = stack.pop()
        if index in paths:
            continue
        paths[index] = above + (asset.nodes[index].name,)
        stack.extend((child, paths[index]) for child in asset.nodes[index].children)
    return paths


def _build_model(pyrender, asset: Asset, variant: str | None) -> _Model:
    material_of = _variant_materials(asset, variant)
    textures = _Textures(asset, max_edge=TEXTURE_MAX_EDGE)
    materials: dict = {}
    paths = _node_paths(asset)
    parts: list[_Part] = []
    for node_index, mesh, world in asset.mesh_instances():
        for prim in mesh.primitives:
            if prim.mode != "triangles" or not prim.triangle_count:
                continue
            chosen = copy.copy(prim)
            chosen.material = material_of(prim)
            gltf = asset.materials[chosen.material] if chosen.material is not None else {}
            primitive = _primitive(pyrender, asset, chosen, textures, materials)
            lit = primitive.material
            transmittance = copy.copy(lit)
            through = _see_through(gltf)
            if through is None:
                transmittance.baseColorFactor = np.zeros(4)
            else:
                share, tint = through
                lit = copy.copy(lit)
                base = np.asarray(lit.baseColorFactor, dtype=np.float64)
                lit.baseColorFactor = np.concatenate([base[:3] * (1.0 - share), [1.0]])
                lit.alphaMode = "OPAQUE"
                transmittance.baseColorFactor = np.concatenate([np.clip(share * tint, 0.0, 1.0), [1.0]])
                transmittance.alphaMode = "OPAQUE"
            primitive.material = lit
            lo, hi = prim.positions.min(0).astype(np.float64), prim.positions.max(0).astype(np.float64)
            corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
            parts.append(
                _Part(
                    mesh=pyrender.Mesh(primitives=[primitive]),
                    world=world,
                    corners=corners,
                    lit=lit,
                    transmittance=transmittance,
                    see_through=through is not None,
                    node_path=paths[node_index],
                )
            )
    node_worlds = {asset.nodes[i].name: w for i, w in asset.walk()}
    return _Model(parts, node_worlds)


def _occluder_material(pyrender):
    """Black, metallic (no specular either) and alpha 0, opaque: writes depth and nothing visible."""
    return pyrender.MetallicRoughnessMaterial(
        baseColorFactor=[0.0, 0.0, 0.0, 0.0], metallicFactor=1.0, roughnessFactor=1.0, alphaMode="OPAQUE", doubleSided=True
    )


def head_occluder_bytes() -> bytes:
    return (resources.files("immersive.tryon") / "data" / HEAD_OCCLUDER_FILE).read_bytes()


def _cylinder(radii: tuple[float, float], axis: str, half_length: float, segments: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """An open elliptic cylinder's (vertices, triangles) along x or z."""
    angles = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    a, b = radii[0] * np.cos(angles), radii[1] * np.sin(angles)
    ring = []
    for along in (-half_length, half_length):
        if axis == "x":
            ring.append(np.stack([np.full(segments, along), a, b], 1))
        else:
            ring.append(np.stack([a, b, np.full(segments, along)], 1))
    vertices = np.concatenate(ring)
    k = np.arange(segments)
    nxt = (k + 1) % segments
    triangles = np.concatenate([np.stack([k, nxt, k + segments], 1), np.stack([nxt, nxt + segments, k + segments], 1)])
    return vertices, triangles


# ---- the renderer ---------------------------------------------------------------------------

class Renderer:
    """Composites products over photos. Thread-safe: every GL call runs on the renderer's own thread."""

    def __init__(self):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tryon-render")
        self._models: OrderedDict[tuple[str, str | None], _Model] = OrderedDict()
        self._occluders: dict[Any, Any] = {}
        self._gl = None
        self._pyrender = None
        self._closed = False
        self._lock = threading.Lock()

    def composite(
        self, photo: np.ndarray, camera: fit.Camera, model: ModelRef, placements: list[Placement], occluders: list[Occluder]
    ) -> np.ndarray:
        """The photo (RGB uint8) with the product drawn over it, as a new array."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the renderer is closed")
            future = self._executor.submit(self._composite, photo, camera, model, placements, occluders)
        return future.result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._executor.submit(self._release).result()
            self._executor.shutdown()

    # -- on the render thread --

    def _release(self) -> None:
        self._models.clear()
        self._occluders.clear()
        if self._gl is not None:
            self._gl.delete()
            self._gl = None

    def _model(self, ref: ModelRef) -> _Model:
        key = (ref.key, ref.variant)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        asset = read_model(ref.load(), filename=ref.key.rsplit("/", 1)[-1])
        model = _build_model(self._pyrender, asset, ref.variant)
        self._models[key] = model
        while len(self._models) > MODEL_CACHE_SIZE:
            self._models.popitem(last=False)
        return model

    def _occluder_mesh(self, occluder: Occluder):
        pyrender = self._pyrender
        key = "head" if occluder.kind == "head" else (occluder.kind, occluder.radii_m, occluder.axis, occluder.half_length_m)
        if key not in self._occluders:
            if occluder.kind == "head":
                vertices, triangles = read_model(head_occluder_bytes(), filename=HEAD_OCCLUDER_FILE).world_geometry()
            else:
                vertices, triangles = _cylinder(occluder.radii_m, occluder.axis, occluder.half_length_m)
            primitive = pyrender.Primitive(positions=vertices, indices=triangles, material=_occluder_material(pyrender))
            self._occluders[key] = pyrender.Mesh(primitives=[primitive])
            if len(self._occluders) > 4 * MODEL_CACHE_SIZE:  # cylinders of many ring sizes: keep a bounded set
                self._occluders.pop(next(k for k in self._occluders if k != "head"))
        return self._occluders[key]

    def _composite(
        self, photo: np.ndarray, camera: fit.Camera, ref: ModelRef, placements: list[Placement], occluders: list[Occluder]
    ) -> np.ndarray:
        if self._pyrender is None:
            self._pyrender = _pyrender()
        pyrender = self._pyrender
        model = self._model(ref)
        drawn = _posed_parts(model, placements)
        out = photo.copy()
        crop = _crop(drawn, camera)
        if crop is None:
            return out  # the product is outside the photo
        x0, y0, x1, y1 = crop
        width, height = _round_up(x1 - x0), _round_up(y1 - y0)
        if self._gl is None:
            self._gl = _renderer(pyrender, max(width, height))
        self._gl.viewport_width, self._gl.viewport_height = width, height

        depths = np.array([-(pose[:3, :3] @ part.corners.T + pose[:3, 3:4])[2] for part, pose in drawn]).ravel()
        near = max(float(depths.min()) * 0.5, 0.005)
        scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[AMBIENT] * 3)
        far = float(depths.max()) + 1.0
        scene.add(pyrender.IntrinsicsCamera(camera.focal_px, camera.focal_px, camera.cx - x0, camera.cy - y0, znear=near, zfar=far))
        for _, towards_light, intensity in STUDIO_LIGHTS:
            light_pose = np.eye(4)
            light_pose[:3, :3] = _light_rotation(np.asarray(towards_light, dtype=np.float64))
            scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=intensity), pose=light_pose)
        for occluder in occluders:
            scene.add(self._occluder_mesh(occluder), pose=occluder.transform)
        nodes = [(part, scene.add(part.mesh, pose=pose)) for part, pose in drawn]

        flags = pyrender.RenderFlags.RGBA
        lit, _ = self._gl.render(scene, flags=flags)
        photo_linear = srgb_to_linear(photo[y0:y1, x0:x1])
        colour, coverage = _lit_to_linear(lit[: y1 - y0, : x1 - x0])
        result = colour + (1.0 - coverage) * photo_linear

        see_through = [(part, node) for part, node in nodes if part.see_through]
        if see_through:
            try:
                for _, node in see_through:
                    node.mesh.is_visible = False
                behind, _ = self._gl.render(scene, flags=flags)
                for _, node in see_through:
                    node.mesh.is_visible = True
                for part, _ in nodes:
                    part.mesh.primitives[0].material = part.transmittance
                transmitted, _ = self._gl.render(scene, flags=flags | pyrender.RenderFlags.FLAT)
            finally:  # the cached meshes are drawn lit and visible by the next request
                for part, _ in nodes:
                    part.mesh.is_visible = True
                    part.mesh.primitives[0].material = part.lit
            behind_colour, behind_coverage = _lit_to_linear(behind[: y1 - y0, : x1 - x0])
            transmittance = transmitted[: y1 - y0, : x1 - x0, :3].astype(np.float32) / 255.0
            result += transmittance * (behind_colour + (1.0 - behind_coverage) * photo_linear)
        out[y0:y1, x0:x1] = linear_to_srgb8(result)
        return out


def _posed_parts(model: _Model, placements: list[Placement]) -> list[tuple[_Part, np.ndarray]]:
    drawn = []
    for placement in placements:
        if placement.node is None:
            drawn.extend((part, placement.transform @ part.world) for part in model.parts)
            continue
        if placement.node not in model.node_worlds:
            raise RenderError(f"the model has no node {placement.node!r}")
        to_node = placement.transform @ np.linalg.inv(model.node_worlds[placement.node])
        drawn.extend((part, to_node @ part.world) for part in model.parts if placement.node in part.node_path)
    return drawn


def _crop(drawn: list[tuple[_Part, np.ndarray]], camera: fit.Camera) -> tuple[int, int, int, int] | None:
    """The pixel box (x0, y0, x1, y1) the posed parts can cover, clipped to the photo; None when empty."""
    if not drawn:
        return None
    corners = np.concatenate([part.corners @ pose[:3, :3].T + pose[:3, 3] for part, pose in drawn])
    if np.any(corners[:, 2] >= -1e-3):  # a part reaches behind the camera: draw the whole photo
        x0, y0, x1, y1 = 0.0, 0.0, float(camera.width), float(camera.height)
    else:
        pixels = camera.project(corners)
        (x0, y0), (x1, y1) = pixels.min(0) - CROP_PAD_PX, pixels.max(0) + CROP_PAD_PX
    box = (
        max(int(math.floor(x0)), 0),
        max(int(math.floor(y0)), 0),
        min(int(math.ceil(x1)), camera.width),
        min(int(math.ceil(y1)), camera.height),
    )
    return box if box[2] > box[0] and box[3] > box[1] else None


def _round_up(size: int) -> int:
    return -(-size // CROP_STEP_PX) * CROP_STEP_PX


# ---- lipstick -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LipShade:
    colour_srgb: tuple[int, int, int]
    finish: str  # matte | satin | gloss | metallic (asset_pipeline.tryon.Shade.finish)


def lip_mask(face: fit.FaceObservation) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """((x0, y0, x1, y1), coverage in [0, 1] over that box) of the lips: the outer lip line less the mouth
    opening, anti-aliased and feathered. None when the lips are outside the photo."""
    from PIL import Image, ImageDraw, ImageFilter

    outer, inner = face.pixels(list(LIPS_OUTER)), face.pixels(list(LIPS_INNER))
    mouth_width = float(np.ptp(outer[:, 0]))
    pad = int(math.ceil(mouth_width * LIP_FEATHER * 2)) + 2
    x0, y0 = np.floor(outer.min(0)).astype(int) - pad
    x1, y1 = np.ceil(outer.max(0)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, face.image_width), min(y1, face.image_height)
    if x1 <= x0 or y1 <= y0:
        return None
    s = LIP_SUPERSAMPLE
    canvas = Image.new("L", ((x1 - x0) * s, (y1 - y0) * s), 0)
    draw = ImageDraw.Draw(canvas)
    draw.polygon([tuple(p) for p in (outer - (x0, y0)) * s], fill=255)
    draw.polygon([tuple(p) for p in (inner - (x0, y0)) * s], fill=0)
    canvas = canvas.resize((x1 - x0, y1 - y0), Image.Resampling.BOX)
    canvas = canvas.filter(ImageFilter.GaussianBlur(max(mouth_width * LIP_FEATHER / 2, 0.5)))
    return (int(x0), int(y0), int(x1), int(y1)), np.asarray(canvas, dtype=np.float32) / 255.0


def tint_lips(photo: np.ndarray, face: fit.FaceObservation, shade: LipShade) -> np.ndarray:
    """The photo with the lips in `shade`: the shade's colour carrying the photo's own lip shading (its
    luminance relative to the lips' mean, with the finish's contrast) and the finish's highlight."""
    out = photo.copy()
    found = lip_mask(face)
    if found is None:
        return out
    (x0, y0, x1, y1), mask = found
    region = srgb_to_linear(photo[y0:y1, x0:x1])
    luminance = region @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    weight = mask.sum()
    if weight < 1.0:
        return out
    mean = float((luminance * mask).sum() / weight)
    contrast, highlight = LIP_FINISHES.get(shade.finish, LIP_FINISHES["satin"])
    relative = np.clip(luminance / max(mean, 1e-4), 0.0, 4.0)
    colour = srgb_to_linear(np.asarray(shade.colour_srgb, dtype=np.uint8))
    tinted = colour * relative[..., None] ** contrast
    spread = float(np.sqrt(((luminance - mean) ** 2 * mask).sum() / weight))
    shine = np.clip((luminance - mean - spread) / max(spread, 1e-4), 0.0, 1.0)[..., None]
    shine_colour = colour if shade.finish == "metallic" else np.ones(3, dtype=np.float32)
    tinted = tinted + highlight * shine * shine_colour
    alpha = (mask * LIP_OPACITY)[..., None]
    out[y0:y1, x0:x1] = linear_to_srgb8(region * (1.0 - alpha) + tinted * alpha)
    return out


# ---- image files ----------------------------------------------------------------------------

JPEG_QUALITY = 90


def encode_image(image: np.ndarray, fmt: Literal["jpeg", "png"]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    if fmt == "png":
        Image.fromarray(image).save(out, format="PNG", compress_level=3)
    else:
        Image.fromarray(image).save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


@cache
def shared_renderer() -> Renderer:
    """The process's renderer (a GL context and its thread per process, made at first use)."""
    return Renderer()

