"""LOD textures (stages/lod_textures.py through the lods stage): each coarse level's textures scaled down in
LOD0's format, role-aware, shared textures and materials (transforms, variants) untouched, LOD0 unchanged; and
a USDZ made from a LOD keeps LOD0's textures."""

from __future__ import annotations

import copy
import io
import json
import zipfile

import numpy as np
import pytest
import trimesh
from PIL import Image

from asset_pipeline import optimize
from asset_pipeline.asset import Asset, Provenance, Texture, single_mesh_asset
from asset_pipeline.errors import OptionError
from asset_pipeline.images import open_image
from asset_pipeline.io import read
from asset_pipeline.io.gltf import write_glb
from asset_pipeline.limits import DEFAULT_LIMITS
from asset_pipeline.profiles import get_profile
from asset_pipeline.stages.lod_textures import LodTextureOptions, max_texture_size
from asset_pipeline.stages.lods import LodOptions, generate_lods
from asset_pipeline.stages.repair import RepairOptions, repair
from asset_pipeline.stages.textures import TextureOptions, image_size, ssim, textures

from .test_gltf import validator_results
from .test_textures import encode, fabric, normal_map

TRANSFORM = {"KHR_texture_transform": {"offset": [0.5, 0], "scale": [0.5, 1]}}


def rough_normals(size: int) -> np.ndarray:
    """A normal map of strongly tilted random directions: resampling averages them into shorter vectors."""
    rng = np.random.default_rng(1)
    n = np.concatenate([rng.normal(0, 1, (size, size, 2)), np.full((size, size, 1), 0.8)], axis=2)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.round((n + 1) * 127.5).astype(np.uint8)


def product(base: np.ndarray, normals: np.ndarray) -> Asset:
    """A textured sphere: a base colour shared by two materials (the second through a KHR_texture_transform, as
    variant "B"), a normal map, an occlusion/metallicRoughness pair (packed by the textures stage) and a
    64 px emissive map no level needs to scale."""
    sphere = trimesh.creation.icosphere(subdivisions=5)
    v = np.asarray(sphere.vertices)
    u = 0.5 + np.arctan2(v[:, 2], v[:, 0]) / (2 * np.pi)
    uv = np.stack([u, 0.5 + np.arcsin(np.clip(v[:, 1], -1, 1)) / np.pi], axis=1)
    material = {
        "name": "A",
        "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}, "metallicRoughnessTexture": {"index": 3}},
        "normalTexture": {"index": 1, "scale": 0.8},
        "occlusionTexture": {"index": 4},
        "emissiveTexture": {"index": 2},
        "emissiveFactor": [1, 1, 1],
    }
    asset = single_mesh_asset(v, sphere.faces, uvs=[uv.astype(np.float32)], material=material)
    shared = {"index": 0, "extensions": TRANSFORM}
    asset.materials.append({"name": "B", "pbrMetallicRoughness": {"baseColorTexture": shared}})
    asset.variants = ["A", "B"]
    mappings = [{"material": 0, "variants": [0]}, {"material": 1, "variants": [1]}]
    asset.meshes[0].primitives[0].variant_mappings = mappings
    orm = fabric(normals.shape[1], normals.shape[0], seed=3)
    occlusion = orm[..., :1].repeat(3, axis=2)
    images = [encode(base), encode(normals), encode(fabric(64, 64, seed=2)), encode(orm), encode(occlusion)]
    asset.textures = [Texture(data=data, mime_type="image/png", name=f"t{i}") for i, data in enumerate(images)]
    repair(asset, RepairOptions())
    return asset


def lod_textures_of(asset, texture_options: TextureOptions, sizes=(512, 256)):
    textures(asset, texture_options)
    lod0 = copy.deepcopy(asset.textures)
    lods, report = generate_lods(asset, LodOptions(textures=LodTextureOptions(sizes=sizes)))
    assert asset.textures == lod0, "LOD0's textures are unchanged"
    return lods, report


@pytest.mark.parametrize(
    "texture_options",
    [
        TextureOptions(format="webp"),
        TextureOptions(format="webp", fallback=True),
        TextureOptions(format="ktx2"),
        TextureOptions(format="keep"),
    ],
    ids=["webp", "webp+fallback", "ktx2", "keep-png"],
)
def test_each_level_gets_smaller_textures_in_lod0s_format(texture_options):
    base = fabric(1024, 512)
    asset = product(base, rough_normals(1024))
    lods, report = lod_textures_of(asset, texture_options)
    assert len(lods) == 2 and len(asset.textures) == 4  # occlusion packed into metallicRoughness
    edges = [(1024, 512), (1024, 1024), (64, 64), (1024, 1024)]
    assert [image_size(t.data) for t in asset.textures] == edges
    for lod, limit, entry in zip(lods, (512, 256), report.changes["levels"]):
        assert len(lod.textures) == len(asset.textures)
        for texture, source, (w, h) in zip(lod.textures, asset.textures, edges):
            scale = min(1.0, limit / max(w, h))
            assert image_size(texture.data) == (int(w * scale), int(h * scale)), "power of two, aspect kept"
            assert texture.mime_type == source.mime_type and texture.sampler == source.sampler
            assert (texture.fallback is None) == (source.fallback is None)
            if texture.fallback is not None:
                assert Image.open(io.BytesIO(texture.fallback)).size == image_size(texture.data)
        assert lod.textures[2] == asset.textures[2], "a texture at or below the level's size keeps its bytes"
        assert lod.materials == asset.materials, "texture references, transforms, extensions unchanged"
        assert lod.variants == asset.variants
        assert [p.variant_mappings for p in lod.primitives()] == [p.variant_mappings for p in asset.primitives()]
        assert entry["texture_size"] == limit and entry["max_texture_size"] == limit == max_texture_size(lod)
        assert [s["texture"] for s in entry["textures_scaled"]] == [0, 1, 3]
        assert entry["texture_bytes"] == sum(len(t.data) + len(t.fallback or b"") for t in lod.textures)

    lod2 = lods[1]
    pixels = np.asarray(open_image(lod2.textures[0].data, DEFAULT_LIMITS).convert("RGB"))
    expected = np.asarray(Image.fromarray(base).resize((256, 128), Image.Resampling.LANCZOS))
    score = ssim(expected, pixels)
    assert score > (0.8 if texture_options.format == "ktx2" else 0.93), score  # ETC1S is blocky
    normals = np.asarray(open_image(lod2.textures[1].data, DEFAULT_LIMITS).convert("RGB"))
    vectors = normals.astype(np.float64) / 127.5 - 1
    length = np.linalg.norm(vectors, axis=-1)
    # Lanczos alone leaves these at 0.61; renormalized they are 0.95-1.0 after lossy encoding.
    assert abs(float(np.median(length)) - 1) < 0.1, "normal maps are renormalized after resampling"

    results = validator_results({f"lod{i}.glb": write_glb(level) for i, level in enumerate([asset, *lods])})
    warnings = [{m["code"] for m in r.messages if m["severity"] == "warning"} for r in results]
    assert all(r.errors == 0 for r in results), [r.messages for r in results]
    assert warnings[1] <= warnings[0] and warnings[2] <= warnings[0], "no warning LOD0 does not have"
    back = read(write_glb(lod2), "lod2.glb")
    assert [image_size(t.data) for t in back.textures] == [image_size(t.data) for t in lod2.textures]
    assert back.variants == ["A", "B"]
    assert back.materials[1]["pbrMetallicRoughness"]["baseColorTexture"]["extensions"] == TRANSFORM


def test_default_sizes_are_1024_and_512_and_a_level_past_them_keeps_lod0s_textures():
    assert LodTextureOptions().sizes == (1024, 512)
    assert get_profile("web-ar").lod_texture_sizes == (1024, 512)
    asset = product(fabric(2048, 1024), normal_map(256))
    lods, _ = generate_lods(asset, LodOptions(ratios=(0.25, 0.06, 0.02)))
    assert [max_texture_size(lod) for lod in [asset, *lods]] == [2048, 1024, 512, 2048]
    assert lods[2].textures == asset.textures


def test_sizes_must_not_grow_from_level_to_level():
    with pytest.raises(OptionError, match="at most the previous level"):
        LodTextureOptions(sizes=(512, 1024))
    with pytest.raises(ValueError):
        LodTextureOptions(sizes=(0,))


def test_a_usdz_made_from_a_lod_keeps_lod0s_textures(monkeypatch):
    """Quick Look's triangle budget can send model.usdz to a LOD: it takes that LOD's geometry with LOD0's
    textures (the LOD's are scaled for the web viewer)."""
    asset = product(fabric(2048, 256), normal_map(256))
    asset.provenance = Provenance(filename="sphere.glb", sha256="0" * 64, size_bytes=1, format="glb")
    quick = get_profile("web-ar").model_copy(update={"max_usdz_triangles": 10_000})
    monkeypatch.setattr("asset_pipeline.pipeline.get_profile", lambda name: quick)
    bundle = optimize(asset, "web-ar", poster=False, validate=False)
    assert [lod.max_texture_size for lod in bundle.metadata.lods] == [2048, 1024, 512]
    with zipfile.ZipFile(io.BytesIO(bundle.files["model.usdz"])) as usdz:
        sizes = [Image.open(io.BytesIO(usdz.read(n))).size for n in usdz.namelist() if n.startswith("textures/")]
    assert max(max(size) for size in sizes) == 2048
    assert json.loads(bundle.files["metadata.json"])["lods"][2]["max_texture_size"] == 512
    assert bundle.metadata.geometry.triangles > quick.max_usdz_triangles, "so the USDZ was made from a LOD"
