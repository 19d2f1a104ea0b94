"""USDZ writer for Apple AR Quick Look, and USD's own validation of the result.

`write_usdz(asset)` builds a stage that mirrors the glTF scene: a root Xform (the default prim) holding one
Xform per node (names kept, made valid and unique) and one UsdGeom.Mesh per primitive, with glTF PBR
materials translated to UsdPreviewSurface networks the way Apple's and Khronos' converters do it
(texture channels: metallic = B, roughness = G, occlusion = R; 8-bit normal maps scaled by 2 and biased
by -1; V flipped because USD's st origin is bottom-left). USDZ takes PNG and JPEG only, so WebP textures
are replaced by their fallback or re-encoded, and every texture is resized to power-of-two edges no
larger than `max_texture_size`. KHR_materials_variants becomes a `materialVariant` variantSet on the
root prim (Quick Look shows the default binding; other USD tools can switch).

The package is zipped here rather than by UsdUtils' packager, which in usd-core 26 renames every texture
into a `0/` folder and warns about each: entries are stored uncompressed, 64-byte aligned, the root
.usdc first (the USDZ spec), with fixed timestamps so the same asset gives the same bytes.

`validate_usdz(data)` opens the package and runs every validator registered with `pxr.UsdValidation`
(usd-core 26 no longer has UsdUtils.ComplianceChecker), plus the ARKit rules that `usdchecker --arkit`
applied and that have no UsdValidation counterpart: package layout, prim types, shader ids.
"""

from __future__ import annotations

import io
import math
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..asset import Asset, Primitive, Texture
from ..errors import InvalidGeometryError, MissingDependencyError, PipelineError
from ..images import open_image
from ..limits import DEFAULT_LIMITS

ROOT_PRIM = "Root"
SHEEN_ALBEDO = 0.25
PADDING_FIELD_ID = 0x1986  # the zip extra field id USD pads with
VARIANT_SET = "materialVariant"
# glTF sampler wrap enums -> UsdUVTexture wrap tokens
WRAP_MODES = {33071: "clamp", 33648: "mirror", 10497: "repeat"}
# What AR Quick Look reads: the shader ids and prim types of the ARKit profile of usdchecker, and the
# file types a USDZ may hold (USDZ spec: usdc/usda layers, PNG/JPEG images, M4A/MP3/WAV audio).
ARKIT_SHADER_IDS = {
    "UsdPreviewSurface",
    "UsdUVTexture",
    "UsdTransform2d",
    *(f"UsdPrimvarReader_{t}" for t in ("float", "float2", "float3", "float4", "int", "string", "normal", "point", "vector", "matrix")),
}
ARKIT_PRIM_TYPES = {
    "", "Scope", "Xform", "Camera", "Shader", "Material", "Mesh", "Sphere", "Cube", "Cylinder", "Cone",
    "Capsule", "GeomSubset", "Points", "SkelRoot", "Skeleton", "SkelAnimation", "BlendShape", "SpatialAudio",
}
ARKIT_FILE_TYPES = {".usdc", ".png", ".jpg", ".jpeg", ".m4a", ".mp3", ".wav"}


def _require_usd() -> None:
    try:
        import pxr.Usd  # noqa: F401
    except ImportError as exc:  # usd-core is a declared dependency; a broken install still gets a clear message
        raise MissingDependencyError(f"USDZ needs usd-core (pip install usd-core): {exc}") from None


def sheen_diffuse(material: dict[str, Any]) -> np.ndarray:
    """The colour a KHR_materials_sheen layer adds on average, for shading models without sheen
    (UsdPreviewSurface, the poster's PBR). Velvet product models (GlamVelvetSofa, SheenChair) put most of
    their visible colour in the sheen layer over a near-black base; dropping it turns a navy sofa black.
    The Charlie sheen lobe's hemispherical albedo is roughly a quarter of sheenColor at the roughness
    fabrics use, so that is what is added to the diffuse colour."""
    sheen = material.get("extensions", {}).get("KHR_materials_sheen")
    if not sheen:
        return np.zeros(3)
    return SHEEN_ALBEDO * np.asarray(sheen.get("sheenColorFactor", [0.0, 0.0, 0.0]), dtype=np.float64)[:3]


# ---- names -----------------------------------------------------------------------------------

class _Names:
    """Valid, sibling-unique prim names (USD identifiers: letters, digits, '_', not starting with a digit)."""

    def __init__(self) -> None:
        self.used: dict[str, set[str]] = {}

    def take(self, parent: str, wanted: str, default: str) -> str:
        from pxr import Tf

        base = Tf.MakeValidIdentifier(wanted) if wanted else default
        if not base.strip("_"):
            base = default
        siblings = self.used.setdefault(parent, set())
        name, n = base, 1
        while name in siblings:
            name = f"{base}_{n}"
            n += 1
        siblings.add(name)
        return name


def _variant_name(name: str) -> str:
    """Variant names allow letters, digits, '_', '-' and '|'; anything else becomes '_'."""
    clean = "".join(c if c.isalnum() or c in "_-|" else "_" for c in name)
    return clean or "variant"


# ---- textures --------------------------------------------------------------------------------

@dataclass
class _WrittenTexture:
    path: str  # package-relative, e.g. textures/baseColor.jpg
    has_alpha: bool


def _pow2_size(width: int, height: int, cap: int) -> tuple[int, int]:
    """Power-of-two edges closest (in log scale) to the image's, with the longer edge <= cap."""
    cap_pow2 = 1 << max(0, int(math.floor(math.log2(max(cap, 1)))))
    shrink = min(1.0, cap_pow2 / max(width, height))

    def edge(n: int) -> int:
        return min(cap_pow2, 1 << max(0, round(math.log2(max(n * shrink, 1)))))

    return edge(width), edge(height)


def _encode_texture(texture: Texture, cap: int, normal_scale: float = 1.0) -> tuple[bytes, str, bool]:
    """(bytes, extension, has_alpha) of a PNG/JPEG version of `texture` with power-of-two edges <= cap.

    PNG/JPEG already at a valid size are kept byte for byte; WebP/KTX2 use the PNG/JPEG fallback when there is
    one (no second lossy generation), else is decoded with Pillow. A normal map with a glTF
    `normalTexture.scale` other than 1 gets the scale baked into its pixels, because UsdPreviewSurface
    only accepts the standard 8-bit decode (scale 2, bias -1) on normal textures."""
    from PIL import Image

    if texture.mime_type in ("image/webp", "image/ktx2") and texture.fallback is not None:
        data, mime = texture.fallback, texture.fallback_mime_type or ""
    else:
        data, mime = texture.data, texture.mime_type
    try:
        image = open_image(data, DEFAULT_LIMITS)
    except PipelineError as exc:
        raise type(exc)(f"texture {texture.name or '(unnamed)'}: {exc.message}") from None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    target = _pow2_size(image.width, image.height, cap)
    # Quick Look reads RGB(A) 8-bit reliably; grey or palette images are widened so .g/.b reads work too.
    unchanged = target == image.size and normal_scale == 1.0
    if mime in ("image/png", "image/jpeg") and unchanged and image.mode in ("RGB", "RGBA"):
        return data, ".png" if mime == "image/png" else ".jpg", has_alpha
    image = image.convert("RGBA" if has_alpha else "RGB")
    if normal_scale != 1.0:
        image = _scale_normal_map(image, normal_scale)
    if target != image.size:
        image = image.resize(target, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if has_alpha or mime == "image/png":
        image.save(out, format="PNG", optimize=True)
        return out.getvalue(), ".png", has_alpha
    image.save(out, format="JPEG", quality=90, optimize=True)
    return out.getvalue(), ".jpg", has_alpha


def _scale_normal_map(image, scale: float):
    """glTF's scaled normal, normalize((texel * 2 - 1) * (scale, scale, 1)), re-encoded into [0, 1]."""
    from PIL import Image

    pixels = np.asarray(image, dtype=np.float32) / 255.0
    normal = pixels[..., :3] * 2.0 - 1.0
    normal[..., :2] *= scale
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)
    pixels[..., :3] = normal * 0.5 + 0.5
    return Image.fromarray(np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8), mode=image.mode)


# ---- geometry --------------------------------------------------------------------------------

def face_normals(prim: Primitive) -> np.ndarray:
    """Unit normals (M, 3) of a primitive's triangles. glTF says a primitive without normals is shaded
    flat, so the writers give such primitives per-face normals rather than smoothing them."""
    pos = prim.positions.astype(np.float64)
    tri = prim.indices.astype(np.int64)
    normals = np.cross(pos[tri[:, 1]] - pos[tri[:, 0]], pos[tri[:, 2]] - pos[tri[:, 0]])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    # Degenerate triangles cover no pixels; any unit vector will do for them.
    normals = np.divide(normals, length, out=np.tile([0.0, 1.0, 0.0], (len(tri), 1)), where=length > 0)
    return normals.astype(np.float32)


class _StageWriter:
    def __init__(self, asset: Asset, stage, max_texture_size: int):
        from pxr import Gf, Sdf, Usd, UsdGeom, UsdShade, Vt

        self.Gf, self.Sdf, self.Usd, self.UsdGeom, self.UsdShade, self.Vt = Gf, Sdf, Usd, UsdGeom, UsdShade, Vt
        self.asset = asset
        self.stage = stage
        self.files: dict[str, bytes] = {}  # package path -> texture bytes
        self.max_texture_size = max_texture_size
        self.names = _Names()
        self.textures: dict[tuple[int, float], _WrittenTexture] = {}  # (texture, baked normal scale)
        self.normal_scales = self._normal_scales()
        self.materials: dict[tuple[int | None, bool], Any] = {}  # (material index, reads displayColor)
        self.root_path = self.Sdf.Path("/" + ROOT_PRIM)
        self.materials_path = self.root_path.AppendChild(self.names.take(str(self.root_path), "Materials", "Materials"))
        # (mesh prim, primitive) pairs, for the variant bindings written last
        self.bound: list[tuple[Any, Primitive]] = []

    # -- scene ---------------------------------------------------------------------------------
    def write(self) -> None:
        UsdGeom = self.UsdGeom
        UsdGeom.SetStageUpAxis(self.stage, UsdGeom.Tokens.y)
        UsdGeom.SetStageMetersPerUnit(self.stage, 1.0)
        root = UsdGeom.Xform.Define(self.stage, self.root_path)
        self.stage.SetDefaultPrim(root.GetPrim())
        self.Usd.ModelAPI(root.GetPrim()).SetKind("component")
        lo, hi = self.asset.bounds()
        bottom_centre = np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
        if np.all(np.isfinite(bottom_centre)) and np.abs(bottom_centre).max() > 1e-6:
            # Try-on items keep their category anchor as origin (asset_pipeline/tryon.py), but AR Quick Look
            # stands a model on the detected surface by its origin: the USDZ is re-based on its bottom centre.
            root.AddTranslateOp().Set(self.Gf.Vec3d(*(-bottom_centre).tolist()))
        UsdGeom.Scope.Define(self.stage, self.materials_path)
        for index in self.asset.roots:
            self._write_node(index, self.root_path, set())
        if not self.bound:
            raise InvalidGeometryError("nothing to write to USDZ: the asset draws no triangles or points")
        self._write_variants(root.GetPrim())

    def _write_node(self, index: int, parent, ancestors: set[int]) -> None:
        if index in ancestors:  # a cycle in a hostile file: readers reject it, never recurse forever
            return
        node = self.asset.nodes[index]
        path = parent.AppendChild(self.names.take(str(parent), node.name, f"node_{index}"))
        xform = self.UsdGeom.Xform.Define(self.stage, path)
        matrix = np.asarray(node.matrix, dtype=np.float64)
        if not np.allclose(matrix, np.eye(4)):
            # glTF matrices act on column vectors, USD's on row vectors: the same numbers transposed.
            xform.AddTransformOp().Set(self.Gf.Matrix4d(matrix.T.tolist()))
        if node.mesh is not None:
            mesh = self.asset.meshes[node.mesh]
            drawn = [p for p in mesh.primitives if len(p.positions) and (p.mode == "points" or p.triangle_count)]
            for i, prim in enumerate(drawn):
                wanted = mesh.name or node.name or "mesh"
                name = self.names.take(str(path), wanted if len(drawn) == 1 else f"{wanted}_{i}", "mesh")
                self._write_primitive(path.AppendChild(name), prim)
        for child in node.children:
            self._write_node(child, path, ancestors | {index})

    def _write_primitive(self, path, prim: Primitive) -> None:
        Vt, UsdGeom, Sdf = self.Vt, self.UsdGeom, self.Sdf
        positions = np.ascontiguousarray(prim.positions, dtype=np.float32)
        if prim.mode == "points":
            gprim = UsdGeom.Points.Define(self.stage, path)
            gprim.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(positions))
            # Splat size: 1/500 of the cloud's size, enough to read as a surface when viewed whole.
            width = float(np.ptp(positions, axis=0).max()) / 500 or 1e-3
            gprim.CreateWidthsAttr(Vt.FloatArray([width]))
            gprim.SetWidthsInterpolation(UsdGeom.Tokens.constant)
        else:
            gprim = UsdGeom.Mesh.Define(self.stage, path)
            gprim.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)  # scans are final triangles: never subdivide
            gprim.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(positions))
            gprim.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(prim.triangle_count, 3, dtype=np.int32)))
            gprim.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(prim.indices.astype(np.int32).ravel()))
            if prim.normals is not None:
                normals, interpolation = prim.normals, UsdGeom.Tokens.vertex
            else:  # flat, as glTF shades a primitive without normals: one normal per face corner
                normals, interpolation = np.repeat(face_normals(prim), 3, axis=0), UsdGeom.Tokens.faceVarying
            gprim.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(normals, dtype=np.float32)))
            gprim.SetNormalsInterpolation(interpolation)
        pad = width / 2 if prim.mode == "points" else 0.0
        lo, hi = positions.min(0) - pad, positions.max(0) + pad
        gprim.CreateExtentAttr(Vt.Vec3fArray([tuple(map(float, lo)), tuple(map(float, hi))]))
        primvars = UsdGeom.PrimvarsAPI(gprim.GetPrim())
        for set_index, uv in enumerate(prim.uvs):
            st = np.ascontiguousarray(uv, dtype=np.float32).copy()
            st[:, 1] = 1.0 - st[:, 1]  # glTF's uv origin is top-left, USD's st origin bottom-left
            pv = primvars.CreatePrimvar(self._st_name(set_index), Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex)
            pv.Set(Vt.Vec2fArray.FromNumpy(st))
        material = self.asset.materials[prim.material] if prim.material is not None else {}
        reads_colors = self._reads_colors(prim, prim.material)
        if prim.colors is not None:
            rgb = np.ascontiguousarray(prim.colors[:, :3], dtype=np.float32)
            if reads_colors:
                # UsdPreviewSurface cannot multiply, so glTF's baseColorFactor x COLOR_0 is baked into the primvar.
                factor = np.asarray(self._base_color_factor(material)[:3], dtype=np.float32)
                rgb = rgb * factor + sheen_diffuse(material).astype(np.float32)
            gprim.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex).Set(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(rgb)))
            if prim.colors.shape[1] == 4 and float(prim.colors[:, 3].min()) < 1.0:
                alpha = np.ascontiguousarray(prim.colors[:, 3], dtype=np.float32)
                gprim.CreateDisplayOpacityPrimvar(UsdGeom.Tokens.vertex).Set(Vt.FloatArray.FromNumpy(alpha))
        else:
            # For viewers without material support (and Quick Look's thumbnails): the flat base colour.
            flat = np.asarray(self._base_color_factor(material)[:3]) + sheen_diffuse(material)
            gprim.CreateDisplayColorPrimvar(UsdGeom.Tokens.constant).Set(Vt.Vec3fArray([tuple(map(float, flat))]))
        gprim.CreateDoubleSidedAttr(bool(material.get("doubleSided", False)))
        default_material = self._material(prim.material, reads_colors)
        if self._has_variants(prim):
            # Variant opinions are weaker than local ones: a local binding would hide every variant, so
            # the default binding is authored inside the variant set too (see _write_variants).
            self.UsdShade.MaterialBindingAPI.Apply(gprim.GetPrim())
        else:
            self._bind(gprim.GetPrim(), default_material)
        self.bound.append((gprim.GetPrim(), prim))

    def _reads_colors(self, prim: Primitive, material: int | None) -> bool:
        """Whether the primitive's colour comes from its vertex colours (UsdPreviewSurface can read a
        primvar or a texture for diffuseColor, not both)."""
        gltf = self.asset.materials[material] if material is not None else {}
        return prim.colors is not None and self._base_color_texture(gltf) is None

    @staticmethod
    def _st_name(set_index: int) -> str:
        return "st" if set_index == 0 else f"st{set_index}"

    def _bind(self, prim, material) -> None:
        self.UsdShade.MaterialBindingAPI.Apply(prim).Bind(material)

    def _has_variants(self, prim: Primitive) -> bool:
        return bool(self.asset.variants) and any(m.get("variants") for m in prim.variant_mappings)

    def _variant_material(self, prim: Primitive, variant: int | None) -> int | None:
        """glTF KHR_materials_variants: the mapped material for `variant`, else the primitive's own."""
        for mapping in prim.variant_mappings:
            if variant is not None and variant in mapping.get("variants", []):
                return mapping["material"]
        return prim.material

    def _write_variants(self, root) -> None:
        varying = [(gprim, prim) for gprim, prim in self.bound if self._has_variants(prim)]
        if not varying:
            return
        variant_set = root.GetVariantSets().AddVariantSet(VARIANT_SET)
        names = _Names()
        labels: dict[str, str] = {}
        choices: list[tuple[str, int | None]] = []
        for v_index, label in enumerate(self.asset.variants):
            name = names.take("variants", _variant_name(label), f"variant_{v_index}")
            labels[name] = label
            choices.append((name, v_index))
        # USD needs a selection to bind anything; glTF's "no variant selected" state (each primitive's own
        # material) is the variant that matches it, or an added "default" variant when none does.
        default = next(
            (name for name, v in choices if all(self._variant_material(p, v) == p.material for _, p in varying)), None
        )
        if default is None:
            default = names.take("variants", "default", "default")
            labels[default] = "default"
            choices.insert(0, (default, None))
        for name, v_index in choices:
            # Materials are defined outside the variant, so every variant can bind them.
            bindings = []
            for gprim, prim in varying:
                material = self._variant_material(prim, v_index)
                bindings.append((gprim, self._material(material, self._reads_colors(prim, material))))
            variant_set.AddVariant(name)
            variant_set.SetVariantSelection(name)
            with variant_set.GetVariantEditContext():
                for gprim, material in bindings:
                    self.UsdShade.MaterialBindingAPI(gprim).Bind(material)
        variant_set.SetVariantSelection(default)
        root.SetCustomDataByKey("materialVariantNames", labels)

    # -- materials -----------------------------------------------------------------------------
    @staticmethod
    def _base_color_factor(material: dict[str, Any]) -> list[float]:
        return [float(x) for x in material.get("pbrMetallicRoughness", {}).get("baseColorFactor", [1, 1, 1, 1])]

    @staticmethod
    def _base_color_texture(material: dict[str, Any]) -> dict[str, Any] | None:
        return material.get("pbrMetallicRoughness", {}).get("baseColorTexture")

    def _material(self, index: int | None, reads_colors: bool):
        key = (index, reads_colors)
        if key in self.materials:
            return self.materials[key]
        gltf = self.asset.materials[index] if index is not None else {}
        wanted = gltf.get("name") or (f"material_{index}" if index is not None else "default_material")
        if reads_colors:
            wanted += "_vertex_color"
        path = self.materials_path.AppendChild(self.names.take(str(self.materials_path), wanted, "material"))
        material = self.UsdShade.Material.Define(self.stage, path)
        _MaterialBuilder(self, material, gltf, reads_colors).build()
        self.materials[key] = material
        return material

    def _normal_scales(self) -> dict[int, float]:
        """The one normal scale baked into each normal texture. Materials that share a normal map with
        different scales (variants of one fabric) would otherwise multiply the package size, so the scale
        of the first material drawn by default (what Quick Look shows) wins."""
        drawn = [p.material for p in self.asset.primitives() if p.material is not None]
        order = list(dict.fromkeys(drawn + list(range(len(self.asset.materials)))))
        scales: dict[int, float] = {}
        for index in order:
            info = self.asset.materials[index].get("normalTexture")
            if info is not None:
                scales.setdefault(info["index"], float(info.get("scale", 1.0)))
        return scales

    def texture_file(self, index: int, normal_scale: float = 1.0) -> _WrittenTexture:
        key = (index, normal_scale)
        if key not in self.textures:
            texture = self.asset.textures[index]
            data, ext, has_alpha = _encode_texture(texture, self.max_texture_size, normal_scale)
            wanted = Path(texture.name).stem if texture.name else f"texture_{index}"
            if normal_scale != 1.0:
                wanted += f"_scale{normal_scale:g}"
            stem = self.names.take("textures", wanted, f"texture_{index}")
            rel = f"textures/{stem}{ext}"
            self.files[rel] = data
            self.textures[key] = _WrittenTexture(rel, has_alpha)
        return self.textures[key]


class _MaterialBuilder:
    """One glTF material -> one UsdPreviewSurface network."""

    def __init__(self, writer: _StageWriter, material, gltf: dict[str, Any], reads_colors: bool):
        self.w = writer
        self.material = material
        self.gltf = gltf
        self.reads_colors = reads_colors
        self.path = material.GetPath()
        self.readers: dict[str, Any] = {}  # st primvar name -> UsdPrimvarReader_float2 output
        self.shader_names = _Names()
        self.slots: dict[str, Any] = {}  # slot name -> its UsdUVTexture shader

    def _shader(self, wanted: str, shader_id: str):
        name = self.shader_names.take("", wanted, "shader")
        shader = self.w.UsdShade.Shader.Define(self.w.stage, self.path.AppendChild(name))
        shader.CreateIdAttr(shader_id)
        return shader

    def build(self) -> None:
        Sdf = self.w.Sdf
        gltf = self.gltf
        pbr = gltf.get("pbrMetallicRoughness", {})
        ext = gltf.get("extensions", {})
        surface = self._shader("PreviewSurface", "UsdPreviewSurface")
        self.material.CreateSurfaceOutput().ConnectToSource(surface.ConnectableAPI(), "surface")

        def set_input(name: str, type_name, value=None, source=None) -> None:
            inp = surface.CreateInput(name, type_name)
            if source is not None:
                inp.ConnectToSource(*source)
            else:
                inp.Set(value)

        base_factor = self.w._base_color_factor(gltf)
        sheen = tuple(float(x) for x in sheen_diffuse(gltf))
        alpha_mode = gltf.get("alphaMode", "OPAQUE")
        base_tex = pbr.get("baseColorTexture")
        base_file = None
        if base_tex is not None:
            tex, base_file = self._texture(
                "diffuseColor", base_tex, "sRGB", scale=tuple(base_factor), bias=sheen + (0.0,)
            )
            set_input("diffuseColor", Sdf.ValueTypeNames.Color3f, source=(tex.ConnectableAPI(), "rgb"))
        elif self.reads_colors:
            reader = self._shader("displayColorReader", "UsdPrimvarReader_float3")
            reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
            reader.CreateInput("fallback", Sdf.ValueTypeNames.Float3).Set(tuple(b + s for b, s in zip(base_factor[:3], sheen)))
            reader.CreateOutput("result", Sdf.ValueTypeNames.Float3)
            set_input("diffuseColor", Sdf.ValueTypeNames.Color3f, source=(reader.ConnectableAPI(), "result"))
        else:
            set_input("diffuseColor", Sdf.ValueTypeNames.Color3f, tuple(b + s for b, s in zip(base_factor[:3], sheen)))

        if alpha_mode in ("BLEND", "MASK"):
            if base_file is not None and base_file.has_alpha:
                set_input("opacity", Sdf.ValueTypeNames.Float, source=(self.slots["diffuseColor"].ConnectableAPI(), "a"))
            else:
                set_input("opacity", Sdf.ValueTypeNames.Float, base_factor[3])
            if alpha_mode == "MASK":
                set_input("opacityThreshold", Sdf.ValueTypeNames.Float, float(gltf.get("alphaCutoff", 0.5)))

        metallic = float(pbr.get("metallicFactor", 1.0))
        roughness = float(pbr.get("roughnessFactor", 1.0))
        mr_tex = pbr.get("metallicRoughnessTexture")
        if mr_tex is not None:
            tex, _ = self._texture("metallicRoughness", mr_tex, "raw", scale=(1.0, roughness, metallic, 1.0))
            set_input("metallic", Sdf.ValueTypeNames.Float, source=(tex.ConnectableAPI(), "b"))
            set_input("roughness", Sdf.ValueTypeNames.Float, source=(tex.ConnectableAPI(), "g"))
        else:
            set_input("metallic", Sdf.ValueTypeNames.Float, metallic)
            set_input("roughness", Sdf.ValueTypeNames.Float, roughness)

        normal_tex = gltf.get("normalTexture")
        if normal_tex is not None:
            # 8-bit tangent-space normals: [0,1] -> [-1,1]; glTF's normal scale is baked into the texture.
            tex, _ = self._texture(
                "normal", normal_tex, "raw", scale=(2.0, 2.0, 2.0, 1.0), bias=(-1.0, -1.0, -1.0, 0.0),
                normal_scale=self.w.normal_scales[normal_tex["index"]],
            )
            set_input("normal", Sdf.ValueTypeNames.Normal3f, source=(tex.ConnectableAPI(), "rgb"))

        occlusion_tex = gltf.get("occlusionTexture")
        if occlusion_tex is not None:
            # glTF: occlusion = 1 + strength * (texel - 1)
            strength = float(occlusion_tex.get("strength", 1.0))
            tex, _ = self._texture(
                "occlusion", occlusion_tex, "raw", scale=(strength,) * 3 + (1.0,), bias=(1.0 - strength,) * 3 + (0.0,)
            )
            set_input("occlusion", Sdf.ValueTypeNames.Float, source=(tex.ConnectableAPI(), "r"))

        emissive = [float(x) for x in gltf.get("emissiveFactor", [0, 0, 0])]
        strength = float(ext.get("KHR_materials_emissive_strength", {}).get("emissiveStrength", 1.0))
        emissive = [c * strength for c in emissive]
        emissive_tex = gltf.get("emissiveTexture")
        if emissive_tex is not None and any(emissive):
            tex, _ = self._texture("emissive", emissive_tex, "sRGB", scale=tuple(emissive) + (1.0,))
            set_input("emissiveColor", Sdf.ValueTypeNames.Color3f, source=(tex.ConnectableAPI(), "rgb"))
        elif any(emissive):
            set_input("emissiveColor", Sdf.ValueTypeNames.Color3f, tuple(emissive))

        clearcoat = ext.get("KHR_materials_clearcoat")
        if clearcoat:
            set_input("clearcoat", Sdf.ValueTypeNames.Float, float(clearcoat.get("clearcoatFactor", 0.0)))
            set_input("clearcoatRoughness", Sdf.ValueTypeNames.Float, float(clearcoat.get("clearcoatRoughnessFactor", 0.0)))
        if "KHR_materials_ior" in ext:
            set_input("ior", Sdf.ValueTypeNames.Float, float(ext["KHR_materials_ior"].get("ior", 1.5)))

    def _texture(
        self, slot: str, info: dict[str, Any], color_space: str, scale=(1.0,) * 4, bias=(0.0,) * 4, normal_scale: float = 1.0
    ):
        Sdf = self.w.Sdf
        written = self.w.texture_file(info["index"], normal_scale)
        texture = self.w.asset.textures[info["index"]]
        shader = self._shader(f"{slot}Texture", "UsdUVTexture")
        shader.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(Sdf.AssetPath(written.path))
        shader.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set(color_space)
        sampler = texture.sampler or {}
        shader.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set(WRAP_MODES.get(sampler.get("wrapS", 10497), "repeat"))
        shader.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set(WRAP_MODES.get(sampler.get("wrapT", 10497), "repeat"))
        if any(abs(a - b) > 1e-6 for a, b in zip(scale, (1, 1, 1, 1))):
            shader.CreateInput("scale", Sdf.ValueTypeNames.Float4).Set(tuple(float(x) for x in scale))
        if any(abs(b) > 1e-6 for b in bias):
            shader.CreateInput("bias", Sdf.ValueTypeNames.Float4).Set(tuple(float(x) for x in bias))
        shader.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(self._st_source(slot, info))
        for channel in ("r", "g", "b", "a"):
            shader.CreateOutput(channel, Sdf.ValueTypeNames.Float)
        shader.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
        self.slots[slot] = shader
        return shader, written

    def _st_source(self, slot: str, info: dict[str, Any]):
        Sdf = self.w.Sdf
        transform = info.get("extensions", {}).get("KHR_texture_transform")
        set_index = int((transform or {}).get("texCoord", info.get("texCoord", 0)))
        varname = self.w._st_name(set_index)
        if varname not in self.readers:
            reader = self._shader(f"{varname}Reader", "UsdPrimvarReader_float2")
            reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set(varname)
            self.readers[varname] = reader.CreateOutput("result", Sdf.ValueTypeNames.Float2)
        source = self.readers[varname]
        if not transform:
            return source
        # glTF: uv' = T * R * S * uv in a top-left-origin space with R = [[c, s], [-s, c]]. Conjugated by the
        # V flip (st = (u, 1 - v)) this is USD's Transform2d (scale, then counter-clockwise rotation by the
        # same angle, then translation) with translation (ox + sin(r) * sy, 1 - oy - cos(r) * sy).
        ox, oy = (float(x) for x in transform.get("offset", [0.0, 0.0]))
        sx, sy = (float(x) for x in transform.get("scale", [1.0, 1.0]))
        rotation = float(transform.get("rotation", 0.0))
        node = self._shader(f"{slot}Transform", "UsdTransform2d")
        node.CreateInput("in", Sdf.ValueTypeNames.Float2).ConnectToSource(source)
        node.CreateInput("rotation", Sdf.ValueTypeNames.Float).Set(math.degrees(rotation))
        node.CreateInput("scale", Sdf.ValueTypeNames.Float2).Set((sx, sy))
        node.CreateInput("translation", Sdf.ValueTypeNames.Float2).Set(
            (ox + math.sin(rotation) * sy, 1.0 - oy - math.cos(rotation) * sy)
        )
        return node.CreateOutput("result", Sdf.ValueTypeNames.Float2)


# ---- public API ------------------------------------------------------------------------------

# Product placement (asset_pipeline.categories) -> the plane AR Quick Look anchors the model to.
PLANE_ALIGNMENT = {"floor": "horizontal", "table": "horizontal", "wall": "vertical"}


def write_usdz(asset: Asset, max_texture_size: int = 2048, placement: str | None = None) -> bytes:
    """The asset as an ARKit-compatible USDZ package (bytes). Units are metres, +Y up.

    `placement` (floor | table | wall | ...) sets Apple's Preliminary_AnchoringAPI on the default prim, so
    AR Quick Look hangs wall products on walls (vertical planes) instead of standing them on the floor."""
    _require_usd()
    from pxr import Usd

    stage = Usd.Stage.CreateInMemory("model.usda")
    writer = _StageWriter(asset, stage, max_texture_size)
    writer.write()
    if placement in PLANE_ALIGNMENT:
        _anchor_to_plane(stage.GetDefaultPrim(), PLANE_ALIGNMENT[placement])
    with tempfile.TemporaryDirectory(prefix="usdz-") as tmp:
        # Crate (.usdc) encoding is only reachable through a file export.
        layer_path = Path(tmp) / "model.usdc"
        if not stage.GetRootLayer().Export(str(layer_path)):
            raise RuntimeError("usd-core could not export the stage as model.usdc")
        layer = layer_path.read_bytes()
    return _zip_usdz([("model.usdc", layer), *writer.files.items()])


def _anchor_to_plane(prim, alignment: str) -> None:
    """Apple's AR anchoring schema (as Reality Composer writes it): anchor to a plane of this alignment."""
    from pxr import Sdf

    prim.AddAppliedSchema("Preliminary_AnchoringAPI")
    prim.CreateAttribute("preliminary:anchoring:type", Sdf.ValueTypeNames.Token, custom=False, variability=Sdf.VariabilityUniform).Set("plane")
    prim.CreateAttribute(
        "preliminary:planeAnchoring:alignment", Sdf.ValueTypeNames.Token, custom=False, variability=Sdf.VariabilityUniform
    ).Set(alignment)


def _zip_usdz(files: list[tuple[str, bytes]]) -> bytes:
    """A USDZ archive (USDZ spec): stored, uncompressed entries whose data starts on a 64-byte boundary,
    the root layer first. Alignment is padded with an extra field, as USD's own zip writer does; fixed
    timestamps keep the output byte-identical for the same asset."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            data_start = out.tell() + 30 + len(name.encode())
            pad = (-(data_start + 4)) % 64
            info.extra = struct.pack("<HH", PADDING_FIELD_ID, pad) + bytes(pad)
            archive.writestr(info, data)
    return out.getvalue()


def _arkit_package_errors(data: bytes) -> list[str]:
    """The package rules of `usdchecker --arkit` that UsdValidation does not cover."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        return [f"package: not a zip archive ({exc})"]
    names = archive.namelist()
    if not names:
        return ["package: empty archive"]
    errors = []
    for info in archive.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            errors.append(f"usdz: {info.filename!r} is compressed; USDZ entries must be stored uncompressed")
    if Path(names[0]).suffix.lower() != ".usdc":
        errors.append(f"arkit: the first file in the package must be the root .usdc layer, found {names[0]!r}")
    layers = [n for n in names if Path(n).suffix.lower() in (".usd", ".usda", ".usdc", ".usdz")]
    if len(layers) != 1:
        errors.append(f"arkit: the package must hold exactly one USD layer, found {layers}")
    for name in names:
        if Path(name).suffix.lower() not in ARKIT_FILE_TYPES:
            errors.append(f"arkit: {name!r} is not a file type AR Quick Look reads (usdc, png, jpg, m4a, mp3, wav)")
    return errors


def _arkit_stage_errors(stage) -> list[str]:
    """ARKit's prim type and shader id whitelists (the old ARKitPrimTypeChecker / ARKitShaderChecker)."""
    from pxr import UsdShade

    errors = []
    for prim in stage.Traverse():
        type_name = str(prim.GetTypeName())
        if type_name not in ARKIT_PRIM_TYPES:
            errors.append(f"arkit: prim {prim.GetPath()} has type {type_name!r}, which AR Quick Look does not read")
        if prim.IsA(UsdShade.Shader):
            shader_id = UsdShade.Shader(prim).GetIdAttr().Get()
            if shader_id not in ARKIT_SHADER_IDS:
                errors.append(f"arkit: shader {prim.GetPath()} has id {shader_id!r}, which AR Quick Look does not read")
    return errors


def validate_usdz(data: bytes) -> list[str]:
    """Problems USD's validators (every registered `pxr.UsdValidation` validator: usdUtils package and
    encapsulation rules, usdGeom stage metadata, usdShade bindings and normal maps, usdSkel, ...) and the
    ARKit package rules find in a USDZ. Errors and warnings are both returned, as `usdchecker` fails on
    both; an empty list means the package passes."""
    _require_usd()
    from pxr import Tf, Usd, UsdValidation

    errors = _arkit_package_errors(data)
    if errors and errors[0].startswith("package:"):
        return errors
    with tempfile.TemporaryDirectory(prefix="usdz-check-") as tmp:
        # The package validators inspect the zip on disk (alignment, compression), so the stage is opened
        # from a file rather than from memory.
        path = Path(tmp) / "model.usdz"
        path.write_bytes(data)
        try:
            stage = Usd.Stage.Open(str(path))
        except Tf.ErrorException as exc:
            return errors + [f"package: USD cannot open the package: {str(exc).strip().splitlines()[-1].strip()}"]
        validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
        found = UsdValidation.ValidationContext(validators).Validate(stage)
        for error in found:
            if error.GetType() in (UsdValidation.ValidationErrorType.Error, UsdValidation.ValidationErrorType.Warn):
                sites = ", ".join(str(s.GetPrim().GetPath()) for s in error.GetSites() if s.IsPrim())
                where = f" [{sites}]" if sites else ""
                errors.append(f"{error.GetIdentifier()}: {error.GetMessage()}{where}")
        errors += _arkit_stage_errors(stage)
        del stage
    return errors
