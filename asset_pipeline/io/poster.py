"""Poster and thumbnail: a studio render of the product on a transparent background, on the CPU.

pyrender draws the asset with its glTF PBR materials through EGL on Mesa's llvmpipe (no GPU, no display).
The view is the commerce three-quarter shot: the camera 30 degrees round from the product's front (+Z)
towards +X and 15 degrees above it, perspective, fitted so the product fills the frame up to a small
margin. Lights are a studio set fixed to the camera (key, fill, rim and a soft ambient) so every product
and every angle is lit the same way.

pyrender differs from glTF in four places that are corrected here: it uploads images bottom row first
(trimesh's UV origin; glTF's is the top), it reads roughness from R and metalness from G of the
metallic-roughness texture (glTF: G and B), it applies the emissive factor twice, and it has no
KHR_texture_transform (the base colour's transform is applied to the UVs instead)."""

from __future__ import annotations

import io
import math
import os
from typing import Any

import numpy as np

from ..asset import Asset, Primitive, Texture
from ..errors import CorruptFileError, InvalidGeometryError, LimitExceededError, MissingDependencyError, OptionError, PipelineError
from ..images import open_image, sniff_image_mime
from ..limits import DEFAULT_LIMITS
from .usdz import face_normals, sheen_diffuse

FOV_DEG = 30.0  # a product-photography lens: little perspective distortion, still reads as 3D
MARGIN = 0.1  # empty border on each side, as a fraction of half the frame
WEBP_QUALITY = 90
# Studio lights fixed to the camera: (name, direction towards the light in camera space with x right,
# y up, z towards the viewer, intensity).
STUDIO_LIGHTS = (
    ("key", (-0.6, 0.7, 0.8), 2.4),  # from upper left, in front
    ("fill", (0.8, 0.2, 0.6), 1.0),  # from the right, lower and softer
    ("rim", (0.2, 0.8, -1.0), 1.8),  # from behind and above: separates the silhouette
    ("top", (0.0, 1.0, 0.1), 0.6),  # overhead softbox
)
# pyrender adds ambient x base colour, which also keeps metals (no environment map here) from going black.
# Balanced so a white diffuse surface facing the key light stays just below clipping.
AMBIENT = 0.3
GL_WRAP_MODES = (33071, 33648, 10497)  # glTF sampler wrap values are the GL enums: clamp, mirror, repeat


def _pyrender():
    """pyrender on headless EGL. PyOpenGL picks its platform at import, so the variable is set first (a
    deployment may choose another, e.g. osmesa, by setting it itself)."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    # pyrender 0.1.45 still uses np.infty, which numpy 2 removed.
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]
    try:
        import pyrender
    except ImportError as exc:
        raise MissingDependencyError(f"posters need pyrender and PyOpenGL (pip install pyrender): {exc}") from None
    return pyrender


def _renderer(pyrender, size: int):
    try:
        return pyrender.OffscreenRenderer(size, size)
    except Exception as exc:  # PyOpenGL/EGL raise a variety of types when no GL driver can be loaded
        raise MissingDependencyError(
            "posters need an EGL OpenGL driver (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri): "
            f"{type(exc).__name__}: {exc}"
        ) from None


# ---- materials -------------------------------------------------------------------------------

class _Textures:
    """Decoded textures for one render, sized for the poster (a 2048 map on a 256 thumbnail only costs)."""

    def __init__(self, asset: Asset, max_edge: int):
        self.asset = asset
        self.max_edge = max_edge
        self.cache: dict[tuple[int, str], Any] = {}

    def pixels(self, index: int) -> np.ndarray:
        """RGBA pixels no larger than max_edge. JPEGs are decoded at reduced scale (libjpeg's DCT scaling
        through Pillow's draft mode), which makes a 2048 map cost a quarter of a full decode."""
        from PIL import Image

        texture: Texture = self.asset.textures[index]
        name = f"texture {texture.name or index}"
        try:
            if sniff_image_mime(texture.data) == "image/ktx2":  # Pillow cannot read KTX2: Basis Universal transcoder
                image = open_image(texture.data, DEFAULT_LIMITS)
            else:  # opened lazily, so thumbnail() below can decode a JPEG in draft mode
                image = Image.open(io.BytesIO(texture.data))
                if image.width * image.height > DEFAULT_LIMITS.max_image_pixels:
                    raise LimitExceededError(f"{name}: {image.width}x{image.height} is over the pixel limit")
            image.thumbnail((self.max_edge, self.max_edge), Image.Resampling.BILINEAR, reducing_gap=2.0)
            return np.asarray(image.convert("RGBA"))
        except PipelineError as exc:
            raise exc if exc.message.startswith(name) else type(exc)(f"{name}: {exc.message}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptFileError(f"{name}: cannot decode the image: {exc}") from None

    def get(self, pyrender, index: int, role: str):
        """A pyrender texture; role 'mr' repacks glTF's (G roughness, B metal) into pyrender's (R, G)."""
        key = (index, role)
        if key not in self.cache:
            rgba = self.pixels(index)
            if role == "mr":
                rgba = np.ascontiguousarray(np.stack([rgba[..., 1], rgba[..., 2], rgba[..., 2]], axis=-1))
                channels = "RGB"
            elif role in ("normal", "emissive"):
                rgba = np.ascontiguousarray(rgba[..., :3])
                channels = "RGB"
            elif role == "occlusion":
                rgba = np.ascontiguousarray(rgba[..., :1])
                channels = "R"
            else:
                channels = "RGBA"
            sampler = self.asset.textures[index].sampler or {}
            wrap_s, wrap_t = sampler.get("wrapS", 10497), sampler.get("wrapT", 10497)
            gl_sampler = pyrender.Sampler(
                wrapS=wrap_s if wrap_s in GL_WRAP_MODES else 10497,
                wrapT=wrap_t if wrap_t in GL_WRAP_MODES else 10497,
            )
            self.cache[key] = pyrender.Texture(source=rgba, source_channels=channels, sampler=gl_sampler)
        return self.cache[key]


def _uv_key(info: dict[str, Any] | None) -> tuple | None:
    """What decides which UVs a texture reads: its set and its KHR_texture_transform."""
    if info is None:
        return None
    transform = info.get("extensions", {}).get("KHR_texture_transform") or {}
    return (
        int(transform.get("texCoord", info.get("texCoord", 0))),
        tuple(transform.get("offset", (0.0, 0.0))),
        float(transform.get("rotation", 0.0)),
        tuple(transform.get("scale", (1.0, 1.0))),
    )


def _transformed_uvs(prim: Primitive, key: tuple | None) -> np.ndarray | None:
    """The UVs a texture with `key` reads, with KHR_texture_transform applied (uv' = T * R * S * uv), in
    pyrender's convention: it uploads images bottom row first (trimesh's UV origin), so V is flipped."""
    set_index, offset, rotation, scale = key if key is not None else (0, (0.0, 0.0), 0.0, (1.0, 1.0))
    if set_index >= len(prim.uvs):
        return None
    uv = prim.uvs[set_index].astype(np.float64) * np.asarray(scale)
    c, s = math.cos(rotation), math.sin(rotation)
    uv = uv @ np.array([[c, -s], [s, c]]) + np.asarray(offset)  # rows: (u, v) @ R^T with R = [[c, s], [-s, c]]
    uv[:, 1] = 1.0 - uv[:, 1]
    return uv.astype(np.float32)


def _material(pyrender, gltf: dict[str, Any], textures: _Textures, uv_key: tuple | None):
    """A pyrender material for glTF material JSON. pyrender samples every map with one UV set, so only
    maps that read the same UVs (set and transform) as the base colour are used; the rest (a tiled
    fabric normal map, an occlusion map on a second UV set) are left out of the poster."""
    pbr = gltf.get("pbrMetallicRoughness", {})
    base = np.asarray(pbr.get("baseColorFactor", [1, 1, 1, 1]), dtype=np.float64)
    base[:3] = np.clip(base[:3] + sheen_diffuse(gltf), 0.0, 1.0)
    emissive = np.asarray(gltf.get("emissiveFactor", [0, 0, 0]), dtype=np.float64)
    emissive = emissive * float(gltf.get("extensions", {}).get("KHR_materials_emissive_strength", {}).get("emissiveStrength", 1.0))
    kwargs: dict[str, Any] = {
        "baseColorFactor": base,
        "metallicFactor": float(pbr.get("metallicFactor", 1.0)),
        "roughnessFactor": float(pbr.get("roughnessFactor", 1.0)),
        # pyrender multiplies the emissive factor in twice; its square root comes out right.
        "emissiveFactor": np.sqrt(np.clip(emissive, 0.0, None)),
        "alphaMode": gltf.get("alphaMode", "OPAQUE"),
        "alphaCutoff": float(gltf.get("alphaCutoff", 0.5)),
        # Scans often have inconsistent winding: culling would punch holes in the product shot, while
        # closed meshes look the same either way.
        "doubleSided": True,
    }
    slots = {
        "baseColorTexture": (pbr.get("baseColorTexture"), "base"),
        "metallicRoughnessTexture": (pbr.get("metallicRoughnessTexture"), "mr"),
        "normalTexture": (gltf.get("normalTexture"), "normal"),
        "occlusionTexture": (gltf.get("occlusionTexture"), "occlusion"),
        "emissiveTexture": (gltf.get("emissiveTexture"), "emissive"),
    }
    for slot, (info, role) in slots.items():
        if info is not None and _uv_key(info) == uv_key and info["index"] < len(textures.asset.textures):
            kwargs[slot] = textures.get(pyrender, info["index"], role)
    return pyrender.MetallicRoughnessMaterial(**kwargs)


def _uv_source(gltf: dict[str, Any]) -> tuple | None:
    """The UV key the poster samples with: the base colour's, else the first textured slot's."""
    pbr = gltf.get("pbrMetallicRoughness", {})
    for info in (
        pbr.get("baseColorTexture"),
        pbr.get("metallicRoughnessTexture"),
        gltf.get("emissiveTexture"),
        gltf.get("normalTexture"),
        gltf.get("occlusionTexture"),
    ):
        if info is not None:
            return _uv_key(info)
    return None


def _primitive(pyrender, asset: Asset, prim: Primitive, textures: _Textures, materials: dict):
    gltf = asset.materials[prim.material] if prim.material is not None else {}
    uv_key = _uv_source(gltf)
    if prim.material not in materials:
        materials[prim.material] = _material(pyrender, gltf, textures, uv_key)
    uvs = _transformed_uvs(prim, uv_key)
    material = materials[prim.material]
    if prim.mode == "points":
        return pyrender.Primitive(
            positions=prim.positions, color_0=prim.colors, material=material, mode=pyrender.constants.GLTF.POINTS
        )
    positions, normals, colors, indices = prim.positions, prim.normals, prim.colors, prim.indices
    if normals is None:
        # glTF shades a primitive without normals flat: give every triangle its own three vertices.
        corners = prim.indices.ravel()
        positions, normals = positions[corners], np.repeat(face_normals(prim), 3, axis=0)
        uvs = None if uvs is None else uvs[corners]
        colors = None if colors is None else colors[corners]
        indices = None
    return pyrender.Primitive(
        positions=positions,
        normals=normals,
        texcoord_0=uvs,
        color_0=colors,
        indices=indices,
        material=material,
        mode=pyrender.constants.GLTF.TRIANGLES,
    )


# ---- camera ----------------------------------------------------------------------------------

def _camera_frame(azimuth_deg: float, elevation_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(towards-camera, right, up) unit vectors for a camera at `azimuth` from +Z towards +X, `elevation` up."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    back = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    world_up = np.array([0.0, 1.0, 0.0]) if abs(back[1]) < 0.999 else np.array([0.0, 0.0, -1.0])
    right = np.cross(world_up, back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    return back, right, up


def _silhouette_points(vertices: np.ndarray) -> np.ndarray:
    """The points that can touch the frame: the convex hull's vertices (all points when qhull cannot)."""
    if len(vertices) < 5:
        return vertices
    try:
        from scipy.spatial import ConvexHull, QhullError

        return vertices[ConvexHull(vertices).vertices]
    except (ImportError, QhullError, ValueError):
        return vertices


def fit_camera(vertices: np.ndarray, azimuth_deg: float, elevation_deg: float, fov_deg: float = FOV_DEG, margin: float = MARGIN):
    """(camera pose 4x4, distance, znear, zfar) framing `vertices` with `margin` left on the tighter side.

    Perspective framing has no closed form: the camera is aimed and moved back iteratively until the
    projected silhouette is centred and spans 1 - margin of the frame."""
    back, right, up = _camera_frame(azimuth_deg, elevation_deg)
    points = _silhouette_points(vertices)
    center = (points.min(0) + points.max(0)) / 2
    radius = float(np.linalg.norm(points - center, axis=1).max()) or 1.0
    tan_half = math.tan(math.radians(fov_deg) / 2)
    target = center.copy()
    distance = radius / math.sin(math.radians(fov_deg) / 2)
    for _ in range(6):
        eye = target + back * distance
        rel = points - eye
        depth = -(rel @ back)
        depth = np.maximum(depth, 1e-6 * radius)
        sx = (rel @ right) / depth / tan_half
        sy = (rel @ up) / depth / tan_half
        mid_x, mid_y = (sx.max() + sx.min()) / 2, (sy.max() + sy.min()) / 2
        half_span = max(sx.max() - sx.min(), sy.max() - sy.min()) / 2
        target = target + (mid_x * right + mid_y * up) * distance * tan_half
        # Keep the whole object in front of the camera while pulling in or out to the wanted span.
        distance = max(distance * half_span / (1.0 - margin), radius * 1.05)
    eye = target + back * distance
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, back, eye
    depth = -((points - eye) @ back)
    znear = max(float(depth.min()) * 0.9, distance * 1e-3)
    zfar = float(depth.max()) * 1.1
    return pose, distance, znear, zfar


# ---- render ----------------------------------------------------------------------------------

def render_poster(asset: Asset, size: int = 1024, *, azimuth_deg: float = 30, elevation_deg: float = 15) -> bytes:
    """A `size` x `size` RGBA WebP of the product on a transparent background, three-quarter front view."""
    if not 16 <= size <= 8192:
        raise OptionError(f"poster size {size} px: expected 16 to 8192")
    vertices, _ = asset.world_geometry(include_points=True)
    if len(vertices) == 0:
        raise InvalidGeometryError("nothing to render: the asset draws no triangles or points")
    pyrender = _pyrender()

    scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[AMBIENT] * 3)
    textures = _Textures(asset, max_edge=max(256, min(1024, size)))
    materials: dict = {}
    meshes: dict[int, Any] = {}
    has_points = False
    for _, mesh, world in asset.mesh_instances():
        key = id(mesh)
        if key not in meshes:
            prims = [
                _primitive(pyrender, asset, p, textures, materials)
                for p in mesh.primitives
                if len(p.positions) and (p.mode == "points" or p.triangle_count)
            ]
            meshes[key] = pyrender.Mesh(primitives=prims) if prims else None
            has_points |= any(p.mode == "points" for p in mesh.primitives)
        if meshes[key] is not None:
            scene.add(meshes[key], pose=world)

    pose, _, znear, zfar = fit_camera(vertices, azimuth_deg, elevation_deg)
    camera = pyrender.PerspectiveCamera(yfov=math.radians(FOV_DEG), aspectRatio=1.0, znear=znear, zfar=zfar)
    scene.add(camera, pose=pose)
    for _, towards_light, intensity in STUDIO_LIGHTS:
        light_pose = np.eye(4)
        light_pose[:3, :3] = _light_rotation(pose[:3, :3] @ np.asarray(towards_light, dtype=np.float64))
        scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=intensity), pose=light_pose)

    renderer = _renderer(pyrender, size)
    if has_points:
        renderer.point_size = max(1.0, size / 300)
    try:
        color, _ = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
    finally:
        renderer.delete()
    return _encode_webp(color)


def _light_rotation(towards_light: np.ndarray) -> np.ndarray:
    """A rotation whose +Z axis is `towards_light`: pyrender's directional lights shine along their -Z."""
    z = towards_light / np.linalg.norm(towards_light)
    helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def _encode_webp(rgba: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()
